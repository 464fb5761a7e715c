"""Which hyperparameter regions concentrate which issue: counts and exact tests.

For every hyperparameter and every issue type seen in the sweep this computes, per
bucket (numeric) or value (categorical), how many trials have the issue (``k``) out
of how many are there (``n``), against the rest of the sweep, with a one-sided
Fisher exact p-value (is the issue over-represented here?). For numeric
hyperparameters it also finds the best single threshold ("lr >= 0.4") and corrects
its p-value for the number of cut points tried. Pairs of regions of two
hyperparameters, and the best threshold of a numeric one within each value of
another ("with adam, lr >= 0.016"), are tested the same way. Benjamini-Hochberg
q-values are taken across every test of the sweep, so a sweep of noise yields no
small q.

Everything is counted, not masked: each hyperparameter is coded once (region index
per trial, and a sort order for thresholds) and every count is a ``bincount`` or a
cumulative sum, so the cost is linear in the number of trials.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from core.stats import fisher_greater, wilson_intervals
from core.table import TrialTable
from core.values import format_number

_MAX_CUTS = 64
_MAX_VALUES = 20
_NO_PAIRS = ("running", "pruned")
"""Issue types not searched for pairs: where a tuner happens to be sampling when the
sweep is exported (running) or what its pruner stops is tuner behaviour, not a
training pathology; their marginal associations are still computed."""


_Untested = tuple[int, int, int, int, int]
"""A test that is counted in the correction but not listed: k, n, k_total, n_total, cuts tried."""


@dataclass(frozen=True)
class Group:
    """A set of trials defined by one hyperparameter: a bucket, a value or a threshold."""

    rule: str  # "bucket", "value", "threshold" or "pair"
    condition: str
    lo: float | None = None
    hi: float | None = None
    value: str | None = None
    direction: str | None = None  # "above" / "below" for thresholds
    n_tried: int = 1  # cut points tried to find this threshold (for the correction)


@dataclass
class _Coded:
    """One hyperparameter, coded once for every count.

    ``codes`` holds the index of each trial's region in ``groups`` (-1 for none), and
    ``n`` the trials per region; for numeric parameters ``x`` holds the values and
    ``order`` the rows of the finite ones in ascending order.
    """

    name: str
    groups: list[Group]
    codes: np.ndarray = field(repr=False)
    n: np.ndarray = field(repr=False)
    x: np.ndarray | None = field(default=None, repr=False)
    order: np.ndarray | None = field(default=None, repr=False)
    n_unique: int = 0


@dataclass
class _Flags:
    """One issue type: which trials have it, their rows, and the totals."""

    kind: str
    flagged: np.ndarray = field(repr=False)
    rows: np.ndarray = field(repr=False)  # flagged rows, ascending
    k_total: int = 0
    n_total: int = 0


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
        Output of :func:`core.detectors.detect_issues` (``trial_id``, ``type``, and
        ``row``, the trial's position in the table, when present).
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
    if "row" in issues.columns:  # row positions from the detectors: no id lookup needed
        issue_rows = issues["row"].to_numpy(dtype=np.int64)
    else:
        issue_rows = pd.Index(ids).get_indexer(issues["trial_id"])
    all_flags = []
    for kind, positions in pd.Series(issue_rows).groupby(issues["type"].to_numpy(), sort=False):
        flagged = np.zeros(n_trials, dtype=bool)
        flagged[positions.to_numpy()] = True
        rows = np.flatnonzero(flagged)
        all_flags.append(_Flags(str(kind), flagged, rows, len(rows), n_trials))
    coded = [c for c in (_code(hp, table.hyperparameters[hp], max_buckets) for hp in table.hyperparameters.columns) if c]

    results: list[dict[str, object]] = []
    for c in coded:
        for f in all_flags:
            results += _marginals(c, f, ids, max_ids)
    untested: list[_Untested] = []
    if pairs:
        frequent = [f for f in all_flags if f.k_total >= min_support and f.kind not in _NO_PAIRS]
        for a, b in combinations([c for c in coded if len(c.groups) >= 2], 2):
            both = (a.codes >= 0) & (b.codes >= 0)
            cells = a.codes[both] * len(b.groups) + b.codes[both]
            n_cell = np.bincount(cells, minlength=len(a.groups) * len(b.groups))
            for f in frequent:
                listed, unlisted = _pair_cells(a, b, both, cells, n_cell, f, ids, max_ids, min_support)
                results += listed
                untested += unlisted
        for a in coded:
            values = [i for i, g in enumerate(a.groups) if g.rule == "value"]
            for b in coded:
                if b is a or b.order is None or b.n_unique < 3 or not values:
                    continue
                codes_in_order = a.codes[b.order]
                strata = [(i, b.order[codes_in_order == i]) for i in values]
                for f in frequent:
                    listed, unlisted = _conditional_thresholds(a, b, strata, f, ids, max_ids, min_support)
                    results += listed
                    untested += unlisted
    _test(results)
    if results:
        k, n, k_total, n_total, tried = np.array(untested, dtype=float).reshape(-1, 5).T
        untested_p = np.minimum(1.0, np.asarray(fisher_greater(k, n, k_total, n_total), dtype=float) * tried)
        q = false_discovery_control(np.concatenate([[r["p"] for r in results], untested_p]), method="bh")
        for r, qv in zip(results, q):
            r["q"] = float(qv)
    for i, r in enumerate(results, start=1):
        r["id"] = f"A{i}"
    return results


def _test(results: list[dict[str, object]]) -> None:
    """Fill ``p``, ``q`` and ``ci`` of every record in one vectorised pass.

    ``p`` is the one-sided Fisher p-value times the cuts tried, ``q`` equals ``p``
    until the Benjamini-Hochberg correction.
    """
    if not results:
        return
    k, n, k_rest, n_rest, tried = (np.array([r[key] for r in results], dtype=float)
                                   for key in ("k", "n", "k_rest", "n_rest", "_tried"))
    p = np.minimum(1.0, np.asarray(fisher_greater(k, n, k + k_rest, n + n_rest), dtype=float) * tried)
    lo, hi = wilson_intervals(k, n)
    for r, pv, a, b in zip(results, p, lo, hi):
        del r["_tried"]
        r["p"] = r["q"] = float(pv)
        r["ci"] = [float(a), float(b)]


def _record(hps: list[str], f: _Flags, group: Group, k: int, n: int, trial_rows: np.ndarray,
            ids: np.ndarray, max_ids: int) -> dict[str, object]:
    n_rest, k_rest = f.n_total - n, f.k_total - k
    rate = k / n if n else 0.0
    rate_rest = k_rest / n_rest if n_rest else 0.0
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
        "issue_type": f.kind,
        "k": int(k),
        "n": int(n),
        "rate": rate,
        "ci": None,
        "k_rest": int(k_rest),
        "n_rest": int(n_rest),
        "rate_rest": rate_rest,
        "risk_ratio": rate / rate_rest if rate_rest > 0 else None,
        "p": None,
        "q": None,
        "trial_ids": [str(t) for t in ids[trial_rows[:max_ids]]],
        "_tried": group.n_tried,
    }


def _marginals(c: _Coded, f: _Flags, ids: np.ndarray, max_ids: int) -> list[dict[str, object]]:
    """Every region of one hyperparameter, and its best thresholds, for one issue type."""
    inside = c.codes >= 0
    k = np.bincount(c.codes[inside], weights=f.flagged[inside], minlength=len(c.groups)).astype(int)
    codes_f = c.codes[f.rows]
    out = [_record([c.name], f, g, int(k[i]), int(c.n[i]), f.rows[codes_f == i], ids, max_ids)
           for i, g in enumerate(c.groups)]
    if c.order is not None and c.n_unique >= 3:
        for direction in ("above", "below"):
            found = _best_threshold(c.name, c.x, c.order, f.flagged, direction)
            if found:
                group, k_cut, n_cut, beyond = found
                out.append(_record([c.name], f, group, k_cut, n_cut, f.rows[beyond(c.x[f.rows])], ids, max_ids))
    return out


def _pair_cells(a: _Coded, b: _Coded, both: np.ndarray, cells: np.ndarray, n_cell: np.ndarray, f: _Flags,
                ids: np.ndarray, max_ids: int, min_support: int) -> tuple[list[dict[str, object]], list[_Untested]]:
    """Test every cell (region of ``a``) x (region of ``b``) for one issue type.

    ``cells`` is the cell code of the trials in both (``both``) and ``n_cell`` their
    counts. Returns the records of cells with at least ``min_support`` affected
    trials, and the p-values of the other tested cells (for the BH correction).
    """
    width = len(b.groups)
    k_cell = np.bincount(cells, weights=f.flagged[both], minlength=len(n_cell)).astype(int)
    k_a = np.bincount(a.codes[a.codes >= 0], weights=f.flagged[a.codes >= 0], minlength=len(a.groups)).astype(int)
    k_b = np.bincount(b.codes[b.codes >= 0], weights=f.flagged[b.codes >= 0], minlength=width).astype(int)
    listed, unlisted = [], []
    for cell in np.flatnonzero(n_cell):
        if k_cell[cell] < min_support:
            unlisted.append((int(k_cell[cell]), int(n_cell[cell]), f.k_total, f.n_total, 1))
            continue
        i, j = divmod(int(cell), width)
        ga, gb = a.groups[i], b.groups[j]
        group = Group("pair", f"{ga.condition} and {gb.condition}")
        first = _first_rows(f.rows, lambda r, i=i, j=j: (a.codes[r] == i) & (b.codes[r] == j), max_ids)
        record = _record([a.name, b.name], f, group, int(k_cell[cell]), int(n_cell[cell]), first, ids, max_ids)
        record["parts"] = [
            {"condition": ga.condition, "k": int(k_a[i] - k_cell[cell]), "n": int(a.n[i] - n_cell[cell])},
            {"condition": gb.condition, "k": int(k_b[j] - k_cell[cell]), "n": int(b.n[j] - n_cell[cell])},
        ]
        listed.append(record)
    return listed, unlisted


def _conditional_thresholds(a: _Coded, b: _Coded, strata: list[tuple[int, np.ndarray]], f: _Flags, ids: np.ndarray,
                            max_ids: int, min_support: int) -> tuple[list[dict[str, object]], list[_Untested]]:
    """Within each value of ``a`` (``optimizer = adam``), the best threshold of numeric ``b``.

    This finds conditional effects such as "with adam, learning_rate ≥ 0.016 kills the
    network" that neither marginal shows cleanly. The cell is tested against the rest
    of the sweep like any pair, its p-value corrected for the cuts tried. Returns the
    listed records (at least ``min_support`` affected trials) and the p-values of the
    other searches (for the BH correction).
    """
    assert b.x is not None
    listed, unlisted = [], []
    codes_f = a.codes[f.rows]
    for i, order in strata:
        g = a.groups[i]
        if len(_distinct(b.x[order])) < 3:
            continue
        for direction in ("above", "below"):
            found = _best_threshold(b.name, b.x, order, f.flagged, direction)
            if found is None:
                continue
            threshold, k, n, beyond = found
            cell = Group("pair", f"{g.condition} and {threshold.condition}", lo=threshold.lo, hi=threshold.hi,
                         direction=direction, n_tried=threshold.n_tried)
            if k < min_support:
                unlisted.append((k, n, f.k_total, f.n_total, cell.n_tried))
                continue
            beyond_all = beyond(b.x)
            k_beyond, n_beyond = int((beyond_all & f.flagged).sum()), int(beyond_all.sum())
            k_g = int((codes_f == i).sum())
            first = _first_rows(f.rows, lambda r, i=i, beyond=beyond: (a.codes[r] == i) & beyond(b.x[r]), max_ids)
            record = _record([a.name, b.name], f, cell, k, n, first, ids, max_ids)
            record["parts"] = [
                {"condition": g.condition, "k": k_g - k, "n": int(a.n[i]) - n},
                {"condition": threshold.condition, "k": k_beyond - k, "n": n_beyond - n},
            ]
            listed.append(record)
    return listed, unlisted


def _first_rows(rows: np.ndarray, keep: Callable[[np.ndarray], np.ndarray], limit: int) -> np.ndarray:
    """The first ``limit`` of ``rows`` that ``keep`` accepts, scanning in growing chunks.

    Listing 20 example ids must not cost a pass over a million flagged trials.
    """
    found, start, step = [], 0, 1024
    while start < len(rows) and sum(len(x) for x in found) < limit:
        chunk = rows[start:start + step]
        found.append(chunk[keep(chunk)])
        start, step = start + step, step * 4
    return np.concatenate(found)[:limit] if found else rows[:0]


def _code(hp: str, values: pd.Series, max_buckets: int) -> _Coded | None:
    """Regions of one hyperparameter (disjoint: values or buckets) and, if numeric, its sort order."""
    if values.dtype == object:
        text = values.where(values.notna(), "(missing)").astype(str)
        uniques, inverse, counts = np.unique(text.to_numpy(dtype=object), return_inverse=True, return_counts=True)
        if len(uniques) < 2:
            return None
        keep = np.argsort(-counts, kind="stable")[:_MAX_VALUES]
        remap = np.full(len(uniques), -1)
        remap[keep] = np.arange(len(keep))
        groups = [Group("value", f"{hp} = {uniques[u]}", value=str(uniques[u])) for u in keep]
        codes = remap[inverse]
        return _Coded(hp, groups, codes, np.bincount(codes[codes >= 0], minlength=len(groups)))
    x = values.to_numpy(dtype=float)
    finite = np.isfinite(x)
    uniques = np.unique(x[finite])
    if len(uniques) < 2:
        return None
    codes = np.full(len(x), -1)
    if len(uniques) <= max_buckets + 1 and finite.sum() >= 2 * len(uniques):
        groups = [Group("value", f"{hp} = {format_number(v)}", lo=float(v), hi=float(v)) for v in uniques]
        codes[finite] = np.searchsorted(uniques, x[finite])
    else:
        edges = _bucket_edges(x[finite], max_buckets)
        groups = [
            Group("bucket", f"{hp} in [{format_number(lo)}, {format_number(hi)}{']' if i == len(edges) - 2 else ')'}",
                  lo=float(lo), hi=float(hi))
            for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))
        ]
        codes[finite] = np.clip(np.searchsorted(edges, x[finite], side="right") - 1, 0, len(groups) - 1)
    rows = np.flatnonzero(finite)
    order = rows[np.argsort(x[rows])]
    return _Coded(hp, groups, codes, np.bincount(codes[codes >= 0], minlength=len(groups)), x, order, len(uniques))


def _bucket_edges(finite: np.ndarray, max_buckets: int) -> np.ndarray:
    """Log-spaced edges when a positive parameter spans two decades or more, else quantiles."""
    lo, hi = float(finite.min()), float(finite.max())
    if lo > 0 and hi / lo >= 100:
        n_bins = int(min(max_buckets, max(2, np.ceil(np.log10(hi / lo)))))
        return np.geomspace(lo, hi, n_bins + 1)
    return np.unique(np.quantile(finite, np.linspace(0, 1, max_buckets + 1)))


def _distinct(sorted_values: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array (no sort needed)."""
    if len(sorted_values) == 0:
        return sorted_values
    return sorted_values[np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]])]


def _best_threshold(hp: str, x: np.ndarray, order: np.ndarray, flagged: np.ndarray, direction: str):
    """The cut ``hp >= c`` (above) or ``hp <= c`` (below) over the rows ``order`` with the smallest Fisher p.

    ``order`` lists the rows considered (finite values, ascending). Cut points are the
    observed values (at most 64, at quantiles of the distinct values, so evenly spread
    on a log scale for log-searched parameters). Counts come from cumulative sums, and
    the p-value is tested against the whole sweep, then multiplied by the number of
    cuts tried in both directions. Returns ``(group, k, n, beyond)`` where ``beyond``
    maps values to the boolean "past the cut", or None.
    """
    sorted_x = x[order]
    uniques = _distinct(sorted_x)
    cuts = uniques[1:] if direction == "above" else uniques[:-1]
    if len(cuts) > _MAX_CUTS:  # quantiles of the (sorted, distinct) cut points
        cuts = cuts[np.unique(np.round(np.linspace(0, 1, _MAX_CUTS) * (len(cuts) - 1)).astype(int))]
    if len(cuts) == 0:
        return None
    cum_k = np.concatenate([[0], np.cumsum(flagged[order])])
    if direction == "above":
        start = np.searchsorted(sorted_x, cuts, side="left")
        n, k = len(sorted_x) - start, cum_k[-1] - cum_k[start]
    else:
        stop = np.searchsorted(sorted_x, cuts, side="right")
        n, k = stop, cum_k[stop]
    p = fisher_greater(k, n, int(flagged.sum()), len(flagged))
    best = int(np.lexsort((-k, p))[0])
    cut = float(cuts[best])
    sign = "≥" if direction == "above" else "≤"
    group = Group(
        "threshold",
        f"{hp} {sign} {format_number(cut)}",
        lo=cut if direction == "above" else None,
        hi=cut if direction == "below" else None,
        direction=direction,
        n_tried=2 * len(cuts),
    )

    def beyond(values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (values >= cut) if direction == "above" else (values <= cut)

    return group, int(k[best]), int(n[best]), beyond
