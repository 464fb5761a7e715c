"""Which hyperparameter regions concentrate which issue: counts and exact tests.

For every hyperparameter and every issue type seen in the sweep this computes, per
bucket (numeric) or value (categorical), how many trials have the issue (``k``) out
of how many are there (``n``), against the rest of the sweep, with a one-sided
Fisher exact p-value (is the issue over-represented here?). For numeric
hyperparameters it also finds the best single threshold ("lr >= 0.4") and corrects
its p-value for the number of cut points tried. Benjamini-Hochberg q-values are taken
across every test of the sweep, so a sweep of noise yields no small q.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, hypergeom

from core.table import TrialTable
from core.values import format_number

_MAX_CUTS = 64
_MAX_VALUES = 20


@dataclass(frozen=True)
class Group:
    """A set of trials defined by one hyperparameter: a bucket, a value or a threshold."""

    rule: str  # "bucket", "value" or "threshold"
    condition: str
    mask: np.ndarray
    lo: float | None = None
    hi: float | None = None
    value: str | None = None
    direction: str | None = None  # "above" / "below" for thresholds
    n_tried: int = 1  # cut points tried to find this threshold (for the correction)


def associate_issues(
    table: TrialTable,
    issues: pd.DataFrame,
    *,
    max_buckets: int = 5,
    max_ids: int = 20,
) -> list[dict[str, object]]:
    """Issue counts and tests per hyperparameter region and issue type.

    Parameters
    ----------
    table : TrialTable
    issues : pd.DataFrame
        Output of :func:`core.detectors.detect_issues` (``trial_id``, ``type``).
    max_buckets : int
        Most buckets per numeric hyperparameter.
    max_ids : int
        Most trial ids listed per association (``k`` is always the full count).

    Returns
    -------
    list of dict
        One per (hyperparameter region, issue type), JSON-native, with keys ``id``,
        ``hyperparameter``, ``rule``, ``condition``, ``lo``, ``hi``, ``value``,
        ``direction``, ``issue_type``, ``k``, ``n``, ``rate``, ``k_rest``, ``n_rest``,
        ``rate_rest``, ``risk_ratio`` (None when the rest has no such issue), ``p``,
        ``q`` and ``trial_ids``; sorted by
        hyperparameter, issue type and region.
    """
    n_trials = len(table)
    if n_trials == 0 or issues.empty:
        return []
    ids = table.ids.to_numpy()
    row_of = pd.Series(np.arange(n_trials), index=ids)
    flags = {
        kind: np.isin(np.arange(n_trials), row_of[group["trial_id"]].to_numpy())
        for kind, group in issues.groupby("type", sort=False)
    }
    results: list[dict[str, object]] = []
    for hp in table.hyperparameters.columns:
        groups = _groups(hp, table.hyperparameters[hp], max_buckets)
        for kind, flagged in flags.items():
            for group in groups:
                if group.rule == "threshold":
                    group = _best_threshold(hp, table.hyperparameters[hp], flagged, group.direction)
                    if group is None:
                        continue
                results.append(_record(hp, kind, group, flagged, ids, max_ids))
    if results:
        q = false_discovery_control([r["p"] for r in results], method="bh")
        for r, qv in zip(results, q):
            r["q"] = float(qv)
    for i, r in enumerate(results, start=1):
        r["id"] = f"A{i}"
    return results


def _record(
    hp: str, kind: str, group: Group, flagged: np.ndarray, ids: np.ndarray, max_ids: int
) -> dict[str, object]:
    n_total, k_total = len(flagged), int(flagged.sum())
    n = int(group.mask.sum())
    hit = group.mask & flagged
    k = int(hit.sum())
    n_rest, k_rest = n_total - n, k_total - k
    rate = k / n if n else 0.0
    rate_rest = k_rest / n_rest if n_rest else 0.0
    p = float(hypergeom.sf(k - 1, n_total, k_total, n)) if k else 1.0
    p = min(1.0, p * group.n_tried)
    return {
        "id": "",
        "hyperparameter": hp,
        "rule": group.rule,
        "condition": group.condition,
        "lo": group.lo,
        "hi": group.hi,
        "value": group.value,
        "direction": group.direction,
        "issue_type": kind,
        "k": k,
        "n": n,
        "rate": rate,
        "k_rest": k_rest,
        "n_rest": n_rest,
        "rate_rest": rate_rest,
        "risk_ratio": rate / rate_rest if rate_rest > 0 else None,
        "p": p,
        "q": p,
        "trial_ids": [str(t) for t in ids[hit][:max_ids]],
    }


def _groups(hp: str, values: pd.Series, max_buckets: int) -> list[Group]:
    """Buckets or values of one hyperparameter, plus threshold placeholders if numeric."""
    present = values.notna().to_numpy()
    if values.dtype != object:
        finite = values[np.isfinite(values)]
        n_unique = finite.nunique()
        if n_unique < 2:
            return []
        if n_unique <= max_buckets + 1 and len(finite) >= 2 * n_unique:
            groups = [
                Group("value", f"{hp} = {format_number(v)}", (values == v).to_numpy(), lo=float(v), hi=float(v))
                for v in sorted(finite.unique())
            ]
        else:
            groups = _numeric_buckets(hp, values, max_buckets)
        if n_unique >= 3:
            groups += [Group("threshold", "", present, direction=d) for d in ("above", "below")]
        return groups
    text = values.where(present, "(missing)").astype(str)
    counts = text.value_counts()
    if len(counts) < 2:
        return []
    return [
        Group("value", f"{hp} = {v}", (text == v).to_numpy(), value=str(v))
        for v in counts.index[:_MAX_VALUES]
    ]


def _numeric_buckets(hp: str, values: pd.Series, max_buckets: int) -> list[Group]:
    finite = values[np.isfinite(values)]
    lo, hi = float(finite.min()), float(finite.max())
    if lo > 0 and hi / lo >= 100:  # spans two decades or more: log-spaced edges
        decades = np.log10(hi / lo)
        n_bins = int(min(max_buckets, max(2, np.ceil(decades))))
        edges = np.geomspace(lo, hi, n_bins + 1)
    else:
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, max_buckets + 1)))
    groups = []
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        last = i == len(edges) - 2
        mask = (values >= a) & ((values <= b) if last else (values < b))
        closing = "]" if last else ")"
        groups.append(
            Group("bucket", f"{hp} in [{format_number(a)}, {format_number(b)}{closing}",
                  mask.to_numpy(), lo=float(a), hi=float(b))
        )
    return groups


def _best_threshold(hp: str, values: pd.Series, flagged: np.ndarray, direction: str | None) -> Group | None:
    """The cut ``hp >= c`` (above) or ``hp <= c`` (below) with the smallest Fisher p.

    Cut points are the observed values (at most 64, at quantiles). The p-value of the
    winner is later multiplied by the number of cuts tried in both directions.
    """
    present = np.isfinite(values.to_numpy(dtype=float))
    x = values.to_numpy(dtype=float)
    uniques = np.unique(x[present])
    cuts = uniques[1:] if direction == "above" else uniques[:-1]
    if len(cuts) > _MAX_CUTS:
        cuts = np.unique(np.quantile(cuts, np.linspace(0, 1, _MAX_CUTS), method="nearest"))
    if len(cuts) == 0:
        return None
    n_total, k_total = len(x), int(flagged.sum())
    xs = x[:, None]
    inside = (xs >= cuts) if direction == "above" else (xs <= cuts)
    n = inside.sum(axis=0)
    k = (inside & flagged[:, None]).sum(axis=0)
    p = np.where(k > 0, hypergeom.sf(k - 1, n_total, k_total, n), 1.0)
    best = int(np.lexsort((-k, p))[0])
    cut = float(cuts[best])
    sign = "≥" if direction == "above" else "≤"
    return Group(
        "threshold",
        f"{hp} {sign} {format_number(cut)}",
        inside[:, best],
        lo=cut if direction == "above" else None,
        hi=cut if direction == "below" else None,
        direction=direction,
        n_tried=2 * len(cuts),
    )
