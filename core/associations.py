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

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from core.stats import fisher_greater, wilson_interval
from core.table import TrialTable
from core.values import format_number

_MAX_CUTS = 64
_NO_PAIRS = ("running", "pruned")
"""Issue types not searched for pairs: where a tuner happens to be sampling when the
sweep is exported (running) or what its pruner stops is tuner behaviour, not a
training pathology; their marginal associations are still computed."""
_MAX_VALUES = 20


@dataclass(frozen=True)
class Group:
    """A set of trials defined by one hyperparameter: a bucket, a value or a threshold."""

    rule: str  # "bucket", "value" or "threshold"
    condition: str
    mask: np.ndarray = field(repr=False)
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
    min_support: int = 3,
    pairs: bool = True,
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
    min_support : int
        Pair cells (``rule="pair"``) with fewer affected trials are tested (and count in
        the Benjamini-Hochberg correction) but not listed.
    pairs : bool
        Also test every pair of regions of two different hyperparameters, and within
        each value of one hyperparameter the best threshold of a numeric other one
        (issue types in ``_NO_PAIRS`` excepted).

    Returns
    -------
    list of dict
        One per (region, issue type), JSON-native: ``id`` (``A1``...),
        ``hyperparameter`` (the first one for pairs), ``hyperparameters`` (all),
        ``rule`` (bucket/value/threshold/pair), ``condition``, ``lo``, ``hi``,
        ``value``, ``direction``, ``issue_type``, ``k``, ``n``, ``rate``, ``ci``
        (95 % Wilson interval of ``rate``), ``k_rest``, ``n_rest``, ``rate_rest``,
        ``risk_ratio`` (None when the rest has no such issue), ``p`` (one-sided Fisher,
        times the cut points tried for thresholds), ``q`` (Benjamini-Hochberg over every
        test of the sweep) and ``trial_ids``; pairs also carry ``parts``: for each of the
        two conditions alone (without the other), ``{condition, k, n}``.
    """
    n_trials = len(table)
    if n_trials == 0 or issues.empty:
        return []
    ids = table.ids.to_numpy()
    row_of = pd.Series(np.arange(n_trials), index=ids)
    flags = {}
    for kind, group in issues.groupby("type", sort=False):
        flagged = np.zeros(n_trials, dtype=bool)
        flagged[row_of[group["trial_id"]].to_numpy()] = True
        flags[kind] = flagged
    results: list[dict[str, object]] = []
    untested_p: list[float] = []
    partitions: dict[str, list[Group]] = {}
    for hp in table.hyperparameters.columns:
        values = table.hyperparameters[hp]
        groups = _groups(hp, values, max_buckets)
        partitions[hp] = [g for g in groups if g.rule != "threshold"]
        order = _sorted_values(values) if any(g.rule == "threshold" for g in groups) else None
        for kind, flagged in flags.items():
            for group in groups:
                if group.rule == "threshold":
                    group = _best_threshold(hp, order, flagged, group.direction)
                    if group is None:
                        continue
                results.append(_record([hp], kind, group, flagged, ids, max_ids))
    if pairs:
        frequent = {kind: f for kind, f in flags.items() if f.sum() >= min_support and kind not in _NO_PAIRS}
        for (a, groups_a), (b, groups_b) in combinations([(h, g) for h, g in partitions.items() if len(g) >= 2], 2):
            for kind, flagged in frequent.items():
                listed, unlisted = _pair_records(a, groups_a, b, groups_b, kind, flagged, ids, max_ids, min_support)
                results.extend(listed)
                untested_p.extend(unlisted)
        for a, groups_a in partitions.items():
            for b in table.hyperparameters.columns:
                if b == a or table.hyperparameters[b].dtype == object:
                    continue
                for kind, flagged in frequent.items():
                    listed, unlisted = _conditional_thresholds(
                        a, [g for g in groups_a if g.rule == "value"], b, table.hyperparameters[b],
                        kind, flagged, ids, max_ids, min_support,
                    )
                    results.extend(listed)
                    untested_p.extend(unlisted)
    if results:
        p_all = np.array([r["p"] for r in results] + untested_p)
        q = false_discovery_control(p_all, method="bh")
        for r, qv in zip(results, q):
            r["q"] = float(qv)
    for i, r in enumerate(results, start=1):
        r["id"] = f"A{i}"
    return results


def _record(
    hps: list[str], kind: str, group: Group, flagged: np.ndarray, ids: np.ndarray, max_ids: int
) -> dict[str, object]:
    n_total, k_total = len(flagged), int(flagged.sum())
    n = int(group.mask.sum())
    hit = group.mask & flagged
    k = int(hit.sum())
    n_rest, k_rest = n_total - n, k_total - k
    rate = k / n if n else 0.0
    rate_rest = k_rest / n_rest if n_rest else 0.0
    p = min(1.0, float(fisher_greater(k, n, k_total, n_total)) * group.n_tried)
    lo, hi = wilson_interval(k, n)
    return {
        "id": "",
        "hyperparameter": hps[0],
        "hyperparameters": list(hps),
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
        "ci": [lo, hi],
        "k_rest": k_rest,
        "n_rest": n_rest,
        "rate_rest": rate_rest,
        "risk_ratio": rate / rate_rest if rate_rest > 0 else None,
        "p": p,
        "q": p,
        "trial_ids": [str(t) for t in ids[hit][:max_ids]],
    }


def _pair_records(
    a: str, groups_a: list[Group], b: str, groups_b: list[Group], kind: str, flagged: np.ndarray,
    ids: np.ndarray, max_ids: int, min_support: int,
) -> tuple[list[dict[str, object]], list[float]]:
    """Test every cell (region of ``a``) x (region of ``b``) for one issue type.

    Counts come from one ``bincount`` over cell codes, so this is linear in the number
    of trials. Returns the records of cells with at least ``min_support`` affected
    trials, and the p-values of the other tested cells (for the BH correction).
    """
    code_a, code_b = _codes(groups_a), _codes(groups_b)
    both = (code_a >= 0) & (code_b >= 0)
    cells = np.where(both, code_a * len(groups_b) + code_b, -1)
    size = len(groups_a) * len(groups_b)
    n_cell = np.bincount(cells[both], minlength=size)
    k_cell = np.bincount(cells[both], weights=flagged[both], minlength=size).astype(int)
    n_total, k_total = len(flagged), int(flagged.sum())
    p_cell = np.asarray(fisher_greater(k_cell, n_cell, k_total, n_total), dtype=float)
    listed, unlisted = [], []
    for cell in np.flatnonzero(n_cell):
        if k_cell[cell] < min_support:
            unlisted.append(float(p_cell[cell]))
            continue
        ga, gb = groups_a[cell // len(groups_b)], groups_b[cell % len(groups_b)]
        mask = ga.mask & gb.mask
        group = Group("pair", f"{ga.condition} and {gb.condition}", mask)
        record = _record([a, b], kind, group, flagged, ids, max_ids)
        record["parts"] = [
            {"condition": g.condition, "k": int((only & flagged).sum()), "n": int(only.sum())}
            for g, only in ((ga, ga.mask & ~gb.mask), (gb, gb.mask & ~ga.mask))
        ]
        listed.append(record)
    return listed, unlisted


def _conditional_thresholds(
    a: str, values_a: list[Group], b: str, values_b: pd.Series, kind: str, flagged: np.ndarray,
    ids: np.ndarray, max_ids: int, min_support: int,
) -> tuple[list[dict[str, object]], list[float]]:
    """Within each value of ``a`` (``optimizer = adam``), the best threshold of numeric ``b``.

    This finds conditional effects such as "with adam, learning_rate ≥ 0.016 kills the
    network" that neither marginal shows cleanly. The cell is tested against the rest
    of the sweep like any pair; its p-value is corrected for the cuts tried. Returns
    the listed records (at least ``min_support`` affected trials) and the p-values of
    the other searches (for the BH correction).
    """
    listed, unlisted = [], []
    x_all = values_b.to_numpy(dtype=float)
    for g in values_a:
        inside = pd.Series(np.where(g.mask, x_all, np.nan))
        s = _sorted_values(inside)
        if len(s.uniques) < 3:
            continue
        for direction in ("above", "below"):
            threshold = _best_threshold(b, s, flagged, direction)
            if threshold is None:
                continue
            cell = Group("pair", f"{g.condition} and {threshold.condition}", threshold.mask & g.mask,
                         lo=threshold.lo, hi=threshold.hi, direction=direction, n_tried=threshold.n_tried)
            k = int((cell.mask & flagged).sum())
            if k < min_support:
                p = min(1.0, float(fisher_greater(k, int(cell.mask.sum()), int(flagged.sum()), len(flagged))) * cell.n_tried)
                unlisted.append(p)
                continue
            with np.errstate(invalid="ignore"):
                beyond = (x_all >= threshold.lo) if direction == "above" else (x_all <= threshold.hi)
            record = _record([a, b], kind, cell, flagged, ids, max_ids)
            record["parts"] = [
                {"condition": g.condition, "k": int((g.mask & ~beyond & flagged).sum()), "n": int((g.mask & ~beyond).sum())},
                {"condition": threshold.condition, "k": int((beyond & ~g.mask & flagged).sum()),
                 "n": int((beyond & ~g.mask).sum())},
            ]
            listed.append(record)
    return listed, unlisted


def _codes(groups: list[Group]) -> np.ndarray:
    """Index of the (disjoint) group each trial falls in, -1 for none."""
    codes = np.full(len(groups[0].mask), -1, dtype=np.int64)
    for i, g in enumerate(groups):
        codes[g.mask] = i
    return codes


def _groups(hp: str, values: pd.Series, max_buckets: int) -> list[Group]:
    """Buckets or values of one hyperparameter (disjoint), plus threshold placeholders if numeric."""
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
    x = values.to_numpy(dtype=float)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        last = i == len(edges) - 2
        mask = (x >= a) & ((x <= b) if last else (x < b))
        closing = "]" if last else ")"
        groups.append(
            Group("bucket", f"{hp} in [{format_number(a)}, {format_number(b)}{closing}", mask, lo=float(a), hi=float(b))
        )
    return groups


@dataclass(frozen=True)
class _Sorted:
    """A numeric hyperparameter's finite values, sorted once for every threshold search."""

    x: np.ndarray = field(repr=False)  # all values (NaN where missing)
    order: np.ndarray = field(repr=False)  # indices of finite values, ascending by value
    uniques: np.ndarray = field(repr=False)


def _sorted_values(values: pd.Series) -> _Sorted:
    x = values.to_numpy(dtype=float)
    finite = np.flatnonzero(np.isfinite(x))
    order = finite[np.argsort(x[finite], kind="stable")]
    return _Sorted(x=x, order=order, uniques=np.unique(x[order]))


def _best_threshold(hp: str, s: _Sorted, flagged: np.ndarray, direction: str | None) -> Group | None:
    """The cut ``hp >= c`` (above) or ``hp <= c`` (below) with the smallest Fisher p.

    Cut points are the observed values (at most 64, at quantiles of the distinct
    values, so evenly spread on a log scale for log-searched parameters). Counts come
    from cumulative sums over the sorted values (linear in the trials). The p-value of
    the winner is later multiplied by the number of cuts tried in both directions.
    """
    cuts = s.uniques[1:] if direction == "above" else s.uniques[:-1]
    if len(cuts) > _MAX_CUTS:
        cuts = np.unique(np.quantile(cuts, np.linspace(0, 1, _MAX_CUTS), method="nearest"))
    if len(cuts) == 0:
        return None
    sorted_x = s.x[s.order]
    cum_k = np.concatenate([[0], np.cumsum(flagged[s.order])])
    n_total, k_total = len(s.x), int(flagged.sum())
    if direction == "above":
        start = np.searchsorted(sorted_x, cuts, side="left")
        n, k = len(sorted_x) - start, cum_k[-1] - cum_k[start]
    else:
        stop = np.searchsorted(sorted_x, cuts, side="right")
        n, k = stop, cum_k[stop]
    p = fisher_greater(k, n, k_total, n_total)
    best = int(np.lexsort((-k, p))[0])
    cut = float(cuts[best])
    with np.errstate(invalid="ignore"):
        mask = (s.x >= cut) if direction == "above" else (s.x <= cut)
    sign = "≥" if direction == "above" else "≤"
    return Group(
        "threshold",
        f"{hp} {sign} {format_number(cut)}",
        mask,
        lo=cut if direction == "above" else None,
        hi=cut if direction == "below" else None,
        direction=direction,
        n_tried=2 * len(cuts),
    )
