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

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from core.detectors import regularisers
from core.domains import log_scaled
from core.issue_types import (
    AVOIDABLE,
    CUT_WHILE_TRAINING,
    NEEDS_OWN_END,
    NEEDS_RESULT,
    NO_OUTCOME,
    NO_RESULT,
    names_where,
)
from core.records import SAME_VALUE_RTOL, Association, Band, Part, Region
from core.stats import bh_qvalues, fisher_greater, log_fisher_greater, wilson_intervals
from core.table import TrialTable

_MAX_CUTS = 64
_MAX_VALUES = 20


_Untested = tuple[int, int, int, int, int]
"""A test that is counted in the correction but not listed: k, n, k_total, n_total, cuts tried."""


@dataclass
class _Draft:
    """An association before its tests: one region or a pair of regions, and its counts.

    ``n_tried`` is the number of cut points tried to find a threshold (the p-value is
    multiplied by it); ``part_counts`` holds, for a pair, ``(k, n, m)`` of each region
    without the other, ``m`` of the ``n`` trials ended by another no-result issue.
    """

    regions: tuple[Region, ...]
    issue_type: str
    k: int
    n: int
    k_rest: int
    n_rest: int
    trial_ids: list[str]
    n_tried: int = 1
    part_counts: tuple[tuple[int, int, int], ...] = ()
    band: Band | None = None


@dataclass
class _Cuts:
    """Threshold candidates of a numeric hyperparameter over a set of trials.

    The set is the whole sweep or one stratum (one value of another hyperparameter).
    First-pass cut points are observed values (at most ``_MAX_CUTS`` per direction, at
    quantiles of the distinct values, so evenly spread on a log scale for log-searched
    parameters); ``n_above``/``n_below`` count the set's trials at or beyond each. The
    set's values (``sorted_x``) and distinct values (``distinct``) are kept so that the
    best cut can be refined between its neighbours (see :func:`_best_threshold`).
    """

    above: np.ndarray = field(repr=False)
    below: np.ndarray = field(repr=False)
    n_above: np.ndarray = field(repr=False)
    n_below: np.ndarray = field(repr=False)
    sorted_x: np.ndarray = field(repr=False)
    distinct: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, sorted_x: np.ndarray) -> _Cuts | None:
        """Cuts over finite values given in ascending order; None with fewer than 3 distinct values."""
        uniques = _distinct(sorted_x)
        if len(uniques) < 3:
            return None
        above, below = _spread(uniques[1:]), _spread(uniques[:-1])
        return cls(above, below, _n_beyond(sorted_x, above, "above"), _n_beyond(sorted_x, below, "below"),
                   sorted_x, uniques)

    def candidates(self, direction: str) -> np.ndarray:
        """Every cut point of one direction: the distinct values but the lowest (above) or the highest (below)."""
        return self.distinct[1:] if direction == "above" else self.distinct[:-1]

    def beyond(self, direction: str, bound: float) -> _Cuts | None:
        """The cuts of one direction that leave ``bound`` out (``x >= c`` with ``c > bound``, or ``c < bound``).

        None when no such cut exists. The other direction's cuts are kept as they are.
        """
        if direction == "above":
            distinct = np.concatenate([self.distinct[self.distinct <= bound][-1:], self.distinct[self.distinct > bound]])
        else:
            distinct = np.concatenate([self.distinct[self.distinct < bound], self.distinct[self.distinct >= bound][:1]])
        if len(distinct) < 2:
            return None
        values = _spread(distinct[1:] if direction == "above" else distinct[:-1])
        above, below = (values, self.below) if direction == "above" else (self.above, values)
        return _Cuts(above, below, _n_beyond(self.sorted_x, above, "above"), _n_beyond(self.sorted_x, below, "below"),
                     self.sorted_x, distinct)


def _n_beyond(sorted_x: np.ndarray, cuts: np.ndarray, direction: str) -> np.ndarray:
    """How many of the ascending ``sorted_x`` lie at or above (at or below) each cut."""
    if direction == "above":
        return len(sorted_x) - np.searchsorted(sorted_x, cuts, side="left")
    return np.searchsorted(sorted_x, cuts, side="right")


@dataclass
class Coded:
    """One hyperparameter, coded once for every count.

    ``codes`` holds the index of each trial's region in ``groups`` (-1 for none), and
    ``n`` the trials per region; numeric parameters also keep their values ``x``, the
    rows of the finite ones in ascending order (``order``) and their threshold cuts.
    """

    name: str
    groups: list[Region]
    codes: np.ndarray = field(repr=False)
    n: np.ndarray = field(repr=False)
    x: np.ndarray | None = field(default=None, repr=False)
    order: np.ndarray | None = field(default=None, repr=False)
    cuts: _Cuts | None = None
    kept: np.ndarray | None = field(default=None, repr=False)
    """The trials counted (:meth:`within`), None for all: ``x`` stays the sweep's and is read through :meth:`values`."""

    def within(self, keep: np.ndarray) -> Coded:
        """The hyperparameter over the trials ``keep`` marks; any other trial is treated as one that left it unset.

        The regions stay the sweep's; their sizes and the threshold cuts are counted over
        the trials kept, so a trial left out is neither inside a region nor in the rest.
        Only the codes and the order are new (a byte and four bytes per trial); the
        values are the sweep's, read through :meth:`values`.
        """
        codes = np.where(keep, self.codes, -1).astype(self.codes.dtype, copy=False)
        n = np.bincount(codes[codes >= 0], minlength=len(self.groups))
        if self.x is None or self.order is None:
            return Coded(self.name, self.groups, codes, n)
        in_order = keep[self.order]
        order = self.order[in_order]
        # the kept values in ascending order: the sweep's, already sorted, masked (no gather of a million values)
        sorted_x = self.x[order] if self.cuts is None else self.cuts.sorted_x[in_order]
        return Coded(self.name, self.groups, codes, n, self.x, order, _Cuts.of(sorted_x), keep)

    def values(self, rows: np.ndarray) -> np.ndarray:
        """The values of ``rows`` (numeric only), NaN for a trial this population leaves out."""
        assert self.x is not None
        x = self.x[rows]
        return x if self.kept is None else np.where(self.kept[rows], x, np.nan)

    def sorted_values(self) -> np.ndarray:
        """The finite values counted here in ascending order (numeric only)."""
        assert self.x is not None and self.order is not None
        return self.x[self.order] if self.cuts is None else self.cuts.sorted_x

    def is_set(self) -> np.ndarray:
        """Trials counted here with a finite value (numeric only)."""
        assert self.x is not None
        finite = np.isfinite(self.x)
        return finite if self.kept is None else finite & self.kept


@dataclass
class _Flags:
    """One issue type: which trials have it (``rows``, ascending) and the totals."""

    kind: str
    rows: np.ndarray = field(repr=False)
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
    protect: np.ndarray | None = None,
    left_out: Mapping[str, np.ndarray] | None = None,
    coded: list[Coded] | None = None,
) -> list[Association]:
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
        (issue types that are not :attr:`~core.issue_types.IssueType.pairable` excepted:
        tuner behaviour, whose marginal associations are still computed). An issue
        type is never tested against a hyperparameter its own rule reads
        (:class:`_NoCause`).
    protect : array of int, optional
        Rows of trials no advice may throw away (the sweep's best trials,
        :func:`core.summary.rank_trials`). Where a hyperparameter's best threshold
        holds one of them, the best threshold beyond all of them in that direction is
        tested too (``lr ≥ 0.25`` beside ``lr ≥ 0.063``), its p-value corrected for
        every cut tried for both: the narrower cut a next sweep can act on.
    left_out : mapping of issue type to array of bool, optional
        A residual test (:func:`core.residuals.residual_associations`): only these issue
        types are tested, each among the trials its mask leaves in (a trial left out is
        compared in no population, as a trial still running), and the
        Benjamini-Hochberg correction runs over these tests alone.
    coded : list, optional
        The table's hyperparameters as :func:`code_hyperparameters` codes them (with the
        same ``max_buckets``), when the caller already has them: the first and second
        looks count over one coding.

    Returns
    -------
    list of Association
        One per (region, issue type) (:class:`core.records.Association`; ``to_dict`` is
        the summary's form): ``id`` (``A1``...), the region's fields (``hyperparameter``,
        ``rule`` bucket/value/threshold/pair, ``lo``, ``hi``, ``value``, ``direction``,
        ``closed``; the display text ``condition``), ``issue_type``, ``k``, ``n``,
        ``rate``, ``ci`` (95 % Wilson interval of ``rate``), ``k_rest``, ``n_rest``,
        ``rate_rest``, ``risk_ratio`` (None when the rest has no such issue), ``p``
        (one-sided Fisher, times the cut points tried for thresholds), ``log_p`` (its
        natural log, finite where ``p`` underflows to 0 on large sweeps: rank on it),
        ``q`` (Benjamini-Hochberg over every test of the sweep) and ``trial_ids``;
        pairs carry their two regions in ``parts``, each with ``k``/``n`` of that
        region without the other (and, for a no-result type, ``n_no_result``: how many
        of those ``n`` another no-result issue ended, runs that could not show it).
    """
    n_trials = len(table)
    if n_trials == 0 or issues.empty:
        return []
    ids = table.ids.to_numpy()
    if "row" in issues.columns:  # row positions from the detectors: no id lookup needed
        issue_rows = issues["row"].to_numpy(dtype=np.int64)
    else:
        issue_rows = pd.Index(ids).get_indexer(issues["trial_id"])
    all_flags = [
        _Flags(str(kind), np.unique(positions.to_numpy()), 0, n_trials)
        for kind, positions in pd.Series(issue_rows).groupby(issues["type"].to_numpy(), sort=False)
    ]
    for f in all_flags:
        f.k_total = len(f.rows)
    coded = code_hyperparameters(table, max_buckets) if coded is None else coded

    results: list[_Draft] = []
    untested: list[_Untested] = []
    protected = np.asarray(protect if protect is not None else [], dtype=np.int64)
    no_cause = _NoCause.of(table, coded)
    testable = no_cause.testable

    runs = [(None, all_flags)] if left_out is None else [
        (mask, [f for f in all_flags if f.kind == kind]) for kind, mask in left_out.items()]
    for mask, flags_run in (run for run in runs if run[1]):
        for coded_here, flags in _populations(coded, flags_run, issue_rows, issues["type"].to_numpy(), n_trials,
                                              mask):
            for c in coded_here:
                for f in flags:
                    if testable(f, c):
                        results += _marginals(c, f, ids, max_ids, protected,
                                              [b for b in coded_here if b is not c and testable(f, b)])
            if pairs:
                found, unlisted = _pairs(coded_here, [f for f in flags if f.k_total >= min_support], testable, ids,
                                         max_ids, min_support, _ended_otherwise(flags))
                results += found
                untested += unlisted
            coded_here = c = None  # let this population go (its last column too) before the next is built
    apart = [(d.k, d.n, d.k + d.k_rest, d.n + d.n_rest, d.n_tried) for d in results if not no_cause.listed(d)]
    return _tested([d for d in results if no_cause.listed(d)], untested + apart)


def _ended_otherwise(flags: list[_Flags]) -> dict[str, np.ndarray]:
    """Per no-result type, the rows another no-result issue ended (and not this one): runs that could not show it.

    A run that crashed or went NaN never reached the end where it could be found to have
    learned nothing: counted in a pair's "X without Y" cell as a run without the issue,
    it made breast cancer's "scale_inputs = no without batch_size ≤ 32" read 1 of 24
    when 22 of the 24 had crashed or diverged.
    """
    no_result = [f for f in flags if f.kind in NO_RESULT]
    if len(no_result) < 2:
        return {}
    every = np.unique(np.concatenate([f.rows for f in no_result]))
    return {f.kind: np.setdiff1d(every, f.rows, assume_unique=True) for f in no_result}


def _pairs(coded: list[Coded], frequent: list[_Flags], testable: Callable[..., bool], ids: np.ndarray,
           max_ids: int, min_support: int,
           ended: Mapping[str, np.ndarray] | None = None) -> tuple[list[_Draft], list[_Untested]]:
    """Every pair of regions of two hyperparameters, and every conditional threshold, for the ``frequent`` types.

    ``ended`` (:func:`_ended_otherwise`) gives, per no-result type, the rows counted apart in each part's ``m``.
    """
    ended = ended or {}
    none = np.zeros(0, dtype=np.int64)
    unpaired = names_where(lambda t: not t.pairable)
    frequent = [f for f in frequent if f.kind not in unpaired]
    results: list[_Draft] = []
    untested: list[_Untested] = []
    if not frequent:
        return results, untested
    for a, b in combinations([c for c in coded if len(c.groups) >= 2], 2):
        both = (a.codes >= 0) & (b.codes >= 0)
        n_cell = np.bincount(a.codes[both].astype(np.intp) * len(b.groups) + b.codes[both],
                             minlength=len(a.groups) * len(b.groups))
        for f in (f for f in frequent if testable(f, a, b)):
            listed, unlisted = _pair_cells(a, b, n_cell, f, ids, max_ids, min_support, ended.get(f.kind, none))
            results += listed
            untested += unlisted
    for a in coded:
        values = [i for i, g in enumerate(a.groups) if g.rule == "value"]
        for b in coded:
            if b is a or b.cuts is None or not values:
                continue
            assert b.x is not None and b.order is not None
            strata = [(i, cuts) for i, x in zip(values, _sorted_within(a.codes, b, values)) if (cuts := _Cuts.of(x))]
            for f in (f for f in frequent if testable(f, a, b)):
                listed, unlisted = _conditional_thresholds(a, b, strata, f, ids, max_ids, min_support,
                                                           ended.get(f.kind, none))
                results += listed
                untested += unlisted
    return results, untested


def _populations(coded: list[Coded], flags: list[_Flags], issue_rows: np.ndarray, kinds: np.ndarray,
                 n_trials: int, left_out: np.ndarray | None = None) -> Iterator[tuple[list[Coded], list[_Flags]]]:
    """The trials each issue type is compared among: the hyperparameters and flags counted over them.

    A trial with no outcome yet (:attr:`~core.issue_types.IssueType.no_outcome`: still
    running or waiting at export, or left running by a dead worker) is compared in no
    population: counted among "the rest" or inside a region, it would pass for a trial
    that ran without the issue. A type only a run with a result can show
    (:attr:`~core.issue_types.IssueType.needs_result`: overfitting, a generalisation
    gap...) is compared among the trials with no ``no_result`` issue either (not failed,
    non-finite, diverged or dead). Against the whole sweep, the runs that never trained
    sit in "the rest" with a rate of 0 by construction, so the region where runs train at
    all looks like a cause: DeepOBS fmnist_2c2d's "overfitting at learning_rate ≤ 0.398"
    was 59 of 99 against 0 of 36, the 36 being nearly all dead or diverged runs; among the
    89 runs that trained the contrast is another one (learning_rate ≥ 1.6e-4: 56 of 71
    against 3 of 18, the slowest runs had not converged). A type only a run that ended of
    its own accord can show (:attr:`~core.issue_types.IssueType.needs_own_end`: still
    improving) is compared among those runs that were not cut either (a time limit or the
    scheduler: :data:`~core.issue_types.CUT_WHILE_TRAINING`), when the sweep has such runs: a
    run cut while its loss still fell is no evidence that its region needs more epochs
    (synthetic: 5 of the 20 listed runs of "sgd and lr ≤ 0.0084" were time-limited); an
    early-stopped run stays, as its own criterion ended it. A
    trial left out is neither
    inside a region nor in the rest, as a trial that left a hyperparameter unset. Every
    other type is compared over the trials with an outcome. The ``left_out`` trials
    (a residual test's, see :func:`associate_issues`) are compared in no population.
    """
    def marked(names: tuple[str, ...]) -> np.ndarray:
        mask = np.zeros(n_trials, dtype=bool)
        mask[issue_rows[np.isin(kinds, list(names)) & (issue_rows >= 0)]] = True
        return mask

    def among(kept: np.ndarray, kinds_here: list[_Flags]) -> list[_Flags]:
        return [_Flags(f.kind, f.rows[kept[f.rows]], int(np.count_nonzero(kept[f.rows])), int(np.count_nonzero(kept)))
                for f in kinds_here]

    unfinished = marked(NO_OUTCOME) if left_out is None else marked(NO_OUTCOME) | left_out
    flags = [f for f in flags if f.kind not in NO_OUTCOME]
    without = marked(NO_RESULT) | unfinished
    needing = [f for f in flags if f.kind in NEEDS_RESULT]
    others = [f for f in flags if f.kind not in NEEDS_RESULT]
    own_end = [f for f in needing if f.kind in NEEDS_OWN_END]
    cut = marked(CUT_WHILE_TRAINING) & ~without if own_end else np.zeros(n_trials, dtype=bool)
    if not cut.any():
        own_end = []
    if not unfinished.any() and (not without.any() or not needing) and not own_end:
        yield coded, flags
        return
    # one population at a time: each is a copy of every coded hyperparameter (at a million trials, ~150 MB)
    yield ([c.within(~unfinished) for c in coded], among(~unfinished, others)) if unfinished.any() else (coded, others)
    if needing := [f for f in needing if f not in own_end]:
        yield [c.within(~without) for c in coded], among(~without, needing)
    if own_end:  # still improving: a run cut by a time limit or a pruner was still improving by construction
        yield [c.within(~(without | cut)) for c in coded], among(~(without | cut), own_end)


_MORE_BUDGET_NEVER_CAUSES = ("no_learning",)


@dataclass(frozen=True)
class _NoCause:
    """The regions that are never a cause of an issue type, and how each is kept out of the advice.

    - ``read``: per issue type, the hyperparameters its own rule reads. They are never
      tested against it: the association holds by construction, so it is no test and is
      not counted in the Benjamini-Hochberg correction. ``suspicious_validation`` is
      flagged only where no train-only regulariser (:func:`core.detectors.regularisers`:
      dropout, augmentation, label smoothing...) is on, so "suspicious validation at
      dropout = 0" holds whatever the data: with the hyperparameters shuffled across
      trials it came out at q = 0.02 (digits, 11 of 43 against 0 of 77).
      ``still_improving`` reads a trend over the last 20 % of the run with at least 5
      points, so a 15-epoch run can never be flagged and "still improving at max_epochs
      ≥ 30" holds by construction against the planned budget (``roles.budget``: digits,
      44 of 78 against 0 of 42); and its advice, more epochs, is a change of that very budget.
    - ``budget`` and ``lowest``: a region of the planned budget that leaves out its lowest
      value is no cause of the :data:`_MORE_BUDGET_NEVER_CAUSES` types. It is tested and
      counted in the correction (a real test of a real region) but never listed: a run
      given more epochs passes through what a shorter run reached, so "no learning at
      max_epochs = 80 and lr ≤ 4.85e-05" (diabetes: beside 40-epoch top trials at the same
      learning rates) names the budget for trials that failed for another reason. Too
      short a budget stays a cause.
    """

    read: dict[str, list[str]]
    budget: str | None = None
    lowest: float = float("nan")

    @classmethod
    def of(cls, table: TrialTable, coded: list[Coded]) -> _NoCause:
        """The exclusions of a sweep: its regularisers and planned budget, as ``coded`` (the whole sweep's) codes them."""
        budget = next((c for c in coded if c.name == table.roles.budget and c.x is not None), None)
        read = {"suspicious_validation": regularisers(table)[1],
                "still_improving": [table.roles.budget] if table.roles.budget in table.hyperparameters.columns else []}
        return cls(read, budget.name, float(np.nanmin(budget.x))) if budget is not None else cls(read)

    def testable(self, f: _Flags, *coded: Coded) -> bool:
        """Whether issue flags ``f`` may be tested against the hyperparameters ``coded`` at all."""
        return not any(c.name in self.read.get(f.kind, ()) for c in coded)

    def listed(self, d: _Draft) -> bool:
        """Whether a tested draft may be listed (else it only counts in the correction)."""
        return not (d.issue_type in _MORE_BUDGET_NEVER_CAUSES and any(
            r.hyperparameter == self.budget and r.low is not None and r.low > self.lowest for r in d.regions))


def _tested(drafts: list[_Draft], untested: list[_Untested]) -> list[Association]:
    """The associations of the drafts, tested in one vectorised pass.

    ``p`` is the one-sided Fisher p-value times the cuts tried; ``q`` is
    Benjamini-Hochberg over the drafts and the ``untested`` cells (counted in the
    correction, not listed).
    """
    if not drafts:
        return []
    k, n, k_rest, n_rest, tried = (np.array([getattr(d, key) for d in drafts], dtype=float)
                                   for key in ("k", "n", "k_rest", "n_rest", "n_tried"))
    log_p = np.minimum(0.0, np.asarray(log_fisher_greater(k, n, k + k_rest, n + n_rest), dtype=float) + np.log(tried))
    p = np.exp(log_p)
    lo, hi = wilson_intervals(k, n)
    uk, un, uk_total, un_total, utried = np.array(untested, dtype=float).reshape(-1, 5).T
    untested_p = np.minimum(1.0, np.asarray(fisher_greater(uk, un, uk_total, un_total), dtype=float) * utried)
    q = bh_qvalues(np.concatenate([p, untested_p]))
    return [_association(f"A{i}", d, float(pv), float(lp), float(qv), [float(a), float(b)])
            for i, (d, pv, lp, qv, a, b) in enumerate(zip(drafts, p, log_p, q, lo, hi), start=1)]


def _association(id_: str, d: _Draft, p: float, log_p: float, q: float, ci: list[float]) -> Association:
    """The record of one tested draft: a region's fields, or a pair's (its regions in ``parts``)."""
    rate = d.k / d.n if d.n else 0.0
    rate_rest = d.k_rest / d.n_rest if d.n_rest else 0.0
    first = d.regions[0]
    if len(d.regions) == 1:
        where = {"rule": first.rule, "condition": first.condition, "lo": first.low, "hi": first.high,
                 "value": first.value, "direction": first.direction, "closed": first.closed, "parts": None}
    else:
        second = d.regions[1]
        threshold = second.rule == "threshold"
        where = {"rule": "pair", "condition": " and ".join(r.condition for r in d.regions),
                 "lo": second.low if threshold else None, "hi": second.high if threshold else None, "value": None,
                 "direction": second.direction, "closed": None,
                 "parts": [Part(**r.fields(), k=k, n=n, n_no_result=m) for r, (k, n, m) in zip(d.regions, d.part_counts)]}
    return Association(
        id=id_, hyperparameter=first.hyperparameter, hyperparameters=[r.hyperparameter for r in d.regions],
        issue_type=d.issue_type, k=d.k, n=d.n, rate=rate, ci=ci, k_rest=d.k_rest, n_rest=d.n_rest,
        rate_rest=rate_rest, risk_ratio=rate / rate_rest if rate_rest > 0 else None, p=p, log_p=log_p, q=q,
        trial_ids=d.trial_ids, band=d.band, **where)


def _draft(f: _Flags, regions: tuple[Region, ...], k: int, n: int, trial_rows: np.ndarray, ids: np.ndarray,
           max_ids: int, n_tried: int = 1, part_counts: tuple[tuple[int, int, int], ...] = ()) -> _Draft:
    return _Draft(regions, f.kind, int(k), int(n), int(f.k_total - k), int(f.n_total - n),
                  [str(t) for t in ids[trial_rows[:max_ids]]], n_tried, part_counts)


def _marginals(c: Coded, f: _Flags, ids: np.ndarray, max_ids: int,
               protected: np.ndarray | None = None, others: list[Coded] = ()) -> list[_Draft]:
    """Every region of one hyperparameter, and its best thresholds, for one issue type.

    Counts come from the flagged trials alone (the region sizes are known), so this
    costs in proportion to the number of affected trials. A numeric hyperparameter
    left unset in some trials (a conditional parameter, or one added or dropped while
    the study ran) is judged only over the trials that set it: a trial without a
    value is neither inside a region nor in "the rest", so ``k_rest``/``n_rest`` count
    the other trials that set it. Where a best threshold
    holds a ``protected`` row, the best threshold beyond every protected value is
    added (see :func:`associate_issues`), and the wider one carries the trials between
    the two cuts per value of each of ``others`` (:func:`_band`).
    """
    if c.x is not None and not (is_set := c.is_set()).all():
        f = _Flags(f.kind, f.rows[is_set[f.rows]], int(np.count_nonzero(is_set[f.rows])), int(np.count_nonzero(is_set)))
    codes_f = c.codes[f.rows]
    k = np.bincount(codes_f[codes_f >= 0], minlength=len(c.groups))
    out = [_draft(f, (g,), int(k[i]), int(c.n[i]), f.rows[codes_f == i], ids, max_ids)
           for i, g in enumerate(c.groups)]
    if c.cuts is not None:
        assert c.x is not None
        xf = c.values(f.rows)
        flagged_sorted = np.sort(xf[np.isfinite(xf)])
        kept = c.values(protected) if protected is not None and len(protected) else np.array([])
        kept = kept[np.isfinite(kept)]
        directions = ("above", "below")
        firsts = _best_thresholds(c.name, f, [(c.cuts, flagged_sorted, direction) for direction in directions])
        for direction, (region, tried, k_cut, n_cut, beyond) in zip(directions, firsts):
            out.append(_draft(f, (region,), k_cut, n_cut, f.rows[beyond(xf)], ids, max_ids, tried))
            if not len(kept) or f.kind not in AVOIDABLE or not beyond(_nudged(kept, direction)).any():
                continue
            # one grid value written two ways is one value: the narrower cut lies past both
            edge = _nudged(np.array([kept.max() if direction == "above" else kept.min()]), direction)
            narrower = c.cuts.beyond(direction, float(edge[0]))
            if narrower is None:
                continue
            wide = out[-1]
            region, more, k_cut, n_cut, beyond = _best_threshold(c.name, narrower, flagged_sorted, f, direction)
            if k_cut > 0:
                out.append(_draft(f, (region,), k_cut, n_cut, f.rows[beyond(xf)], ids, max_ids, tried + more))
                wide.band = _band(c, f, others, direction, wide.regions[0], region)
    return out


def _band(c: Coded, f: _Flags, others: list[Coded], direction: str, wide: Region, narrow: Region) -> Band | None:
    """The trials of ``c`` between a wider threshold and a narrower one, counted per value of each of ``others``.

    ``x ≥ wide`` and short of ``x ≥ narrow`` (``[wide, narrow)``), or below: ``x ≤ wide`` and
    past ``x ≤ narrow`` (from the first value above the narrower cut up to the wider one).
    Only the rows in the band are counted (one ``bincount`` per other hyperparameter):
    whether a setting's own runs fail there, which neither its marginal nor its own best
    cut says (adam failing only at lr ≥ 0.32, far past a wider cut at 0.0026). None
    when no trial lies between the cuts.
    """
    assert c.x is not None and c.order is not None
    sorted_x = c.sorted_values()
    if direction == "above":
        start, end = np.searchsorted(sorted_x, [wide.low, narrow.low], side="left")
        lo, hi, closed = float(wide.low), float(narrow.low), False
    else:
        start, end = np.searchsorted(sorted_x, [narrow.high, wide.high], side="right")
        lo, hi, closed = (float(sorted_x[start]) if start < end else 0.0), float(wide.high), True
    if start >= end:
        return None
    rows = c.order[start:end]
    xf = c.values(f.rows)
    with np.errstate(invalid="ignore"):
        flagged = f.rows[(xf >= lo) & ((xf < hi) if not closed else (xf <= hi))]
    cells = []
    for b in others:
        values = [i for i, g in enumerate(b.groups) if g.rule == "value"]
        if not values:
            continue
        n = np.bincount(b.codes[rows][b.codes[rows] >= 0], minlength=len(b.groups))
        codes_f = b.codes[flagged]
        k = np.bincount(codes_f[codes_f >= 0], minlength=len(b.groups))
        cells += [Part(**b.groups[i].fields(), k=int(k[i]), n=int(n[i])) for i in values if n[i]]
    condition = Region(hyperparameter=c.name, rule="bucket", low=lo, high=hi, closed=closed).condition
    return Band(condition=condition, lo=lo, hi=hi, closed=closed, cells=cells)


def _nudged(x: np.ndarray, direction: str, rtol: float = SAME_VALUE_RTOL) -> np.ndarray:
    """Values moved by ``rtol`` towards a cut in ``direction`` (up for ``above``).

    0.063095734448 then reaches a cut at 0.06309573444801936: the same grid value, written with more digits.
    """
    step = rtol * np.abs(x)
    return x + step if direction == "above" else x - step


def _pair_cells(a: Coded, b: Coded, n_cell: np.ndarray, f: _Flags, ids: np.ndarray, max_ids: int,
                min_support: int, ended: np.ndarray) -> tuple[list[_Draft], list[_Untested]]:
    """Test every cell (region of ``a``) x (region of ``b``) for one issue type.

    ``n_cell`` counts the trials per cell (code ``i * len(b.groups) + j``). Returns the
    records of cells with at least ``min_support`` affected trials, and the counts of
    the other tested cells (for the BH correction). ``ended`` holds the rows another
    no-result issue ended (:func:`_ended_otherwise`), counted per part.
    """
    width = len(b.groups)
    ca, cb = a.codes[f.rows].astype(np.intp), b.codes[f.rows]
    both = (ca >= 0) & (cb >= 0)
    cell_f = np.where(both, ca * width + cb, -1)
    k_cell = np.bincount(cell_f[both], minlength=len(n_cell))
    k_a = np.bincount(ca[ca >= 0], minlength=len(a.groups))
    k_b = np.bincount(cb[cb >= 0], minlength=width)
    ea, eb = a.codes[ended].astype(np.intp), b.codes[ended]
    e_both = (ea >= 0) & (eb >= 0)
    m_cell = np.bincount(ea[e_both] * width + eb[e_both], minlength=len(n_cell))
    m_a = np.bincount(ea[ea >= 0], minlength=len(a.groups))
    m_b = np.bincount(eb[eb >= 0], minlength=width)
    listed, unlisted = [], []
    for cell in np.flatnonzero(n_cell):
        if k_cell[cell] < min_support:
            unlisted.append((int(k_cell[cell]), int(n_cell[cell]), f.k_total, f.n_total, 1))
            continue
        i, j = divmod(int(cell), width)
        ga, gb = a.groups[i], b.groups[j]
        first = f.rows[_first_rows(len(f.rows), lambda pos, cell=cell: cell_f[pos] == cell, max_ids)]
        listed.append(_draft(f, (ga, gb), k_cell[cell], n_cell[cell], first, ids, max_ids, part_counts=(
            (int(k_a[i] - k_cell[cell]), int(a.n[i] - n_cell[cell]), int(m_a[i] - m_cell[cell])),
            (int(k_b[j] - k_cell[cell]), int(b.n[j] - n_cell[cell]), int(m_b[j] - m_cell[cell])))))
    return listed, unlisted


def _conditional_thresholds(a: Coded, b: Coded, strata: list[tuple[int, _Cuts]], f: _Flags, ids: np.ndarray,
                            max_ids: int, min_support: int, ended: np.ndarray) -> tuple[list[_Draft], list[_Untested]]:
    """Within each value of ``a`` (``optimizer = adam``), the best threshold of numeric ``b``.

    This finds conditional effects such as "with adam, learning_rate ≥ 0.016 kills the
    network" that neither marginal shows cleanly. The cell is tested against the rest
    of the sweep like any pair, its p-value corrected for the cuts tried. ``strata``
    holds the cuts of ``b`` within each value index of ``a``. Returns the listed
    records (at least ``min_support`` affected trials) and the counts of the other
    searches (for the BH correction). ``ended`` holds the rows another no-result issue
    ended (:func:`_ended_otherwise`), counted per part.
    """
    assert b.x is not None and b.cuts is not None and b.order is not None
    e_codes, e_x = a.codes[ended], b.values(ended)
    listed, unlisted = [], []
    ca, xf = a.codes[f.rows], b.values(f.rows)
    finite = np.isfinite(xf)
    all_sorted = np.sort(xf[finite])
    sweep_sorted = b.cuts.sorted_x  # the same as b.x[b.order], sorted once
    directions = ("above", "below")
    in_values = [ca == i for i, _ in strata]
    searches = []
    for (_, cuts), in_value in zip(strata, in_values):
        flagged_sorted = np.sort(xf[in_value & finite])
        searches += [(cuts, flagged_sorted, direction) for direction in directions]
    found = iter(_best_thresholds(b.name, f, searches))
    for (i, _), in_value in zip(strata, in_values):
        g = a.groups[i]
        for direction in directions:
            threshold, tried, k, n, beyond = next(found)
            if k < min_support:
                unlisted.append((k, n, f.k_total, f.n_total, tried))
                continue
            cut = threshold.low if direction == "above" else threshold.high
            n_beyond = _count_beyond(sweep_sorted, cut, direction)
            k_beyond = _count_beyond(all_sorted, cut, direction)
            e_value, e_beyond = e_codes == i, beyond(e_x)
            m_both = int(np.count_nonzero(e_value & e_beyond))
            listed.append(_draft(f, (g, threshold), k, n, f.rows[in_value & beyond(xf)], ids, max_ids, tried,
                                 ((int(in_value.sum()) - k, int(a.n[i]) - n, int(np.count_nonzero(e_value)) - m_both),
                                  (k_beyond - k, n_beyond - n, int(np.count_nonzero(e_beyond)) - m_both))))
    return listed, unlisted


def _sorted_within(codes: np.ndarray, b: Coded, values: list[int]) -> list[np.ndarray]:
    """For each region index in ``values``, the ascending finite values of ``b`` in the trials ``codes`` puts there.

    One stable sort of the codes in ``b``'s order (a radix sort: the codes are small
    integers) groups them, each group still ascending, instead of one pass over the
    sweep per value.
    """
    assert b.order is not None and b.cuts is not None
    in_order = codes[b.order]
    grouped = np.argsort(in_order.astype(np.int16), kind="stable")
    codes_grouped, x_grouped = in_order[grouped], b.cuts.sorted_x[grouped]  # sorted_x is b.x[b.order]
    starts, ends = np.searchsorted(codes_grouped, values, side="left"), np.searchsorted(codes_grouped, values, side="right")
    return [x_grouped[start:end] for start, end in zip(starts, ends)]


def _count_beyond(sorted_x: np.ndarray, cut: float, direction: str) -> int:
    if direction == "above":
        return int(len(sorted_x) - np.searchsorted(sorted_x, cut, side="left"))
    return int(np.searchsorted(sorted_x, cut, side="right"))


def _first_rows(size: int, keep: Callable[[np.ndarray], np.ndarray], limit: int) -> np.ndarray:
    """The first ``limit`` positions in ``range(size)`` that ``keep`` accepts, scanning in growing chunks.

    Listing 20 example ids must not cost a pass over a million flagged trials.
    """
    found, start, step = [], 0, 1024
    while start < size and sum(len(x) for x in found) < limit:
        positions = np.arange(start, min(size, start + step))
        found.append(positions[keep(positions)])
        start, step = start + step, step * 4
    return np.concatenate(found)[:limit] if found else np.arange(0)


def code_hyperparameters(table: TrialTable, max_buckets: int = 5) -> list[Coded]:
    """Every hyperparameter of ``table`` with two regions or more, coded once for every count (see :func:`_code`)."""
    return [c for c in (_code(hp, table.hyperparameters[hp], max_buckets) for hp in table.hyperparameters.columns) if c]


def _code(hp: str, values: pd.Series, max_buckets: int) -> Coded | None:
    """Regions of one hyperparameter (disjoint: values or buckets) and, if numeric, its sort order and cuts.

    Region codes take a byte per trial and the order four (while row numbers fit): at a
    million trials each coded hyperparameter and each population of it (:meth:`Coded.within`)
    is a few MB, not 16 per array.
    """
    if values.dtype == object:
        codes, names = _factorized_text(values)
        if len(names) < 2:
            return None
        counts = np.bincount(codes, minlength=len(names))
        keep = np.lexsort((names, -counts))[:_MAX_VALUES]  # most frequent first, ties by name
        remap = np.full(len(names), -1, dtype=_code_type(len(keep)))
        remap[keep] = np.arange(len(keep))
        groups = [Region(hyperparameter=hp, rule="value", value=str(names[u])) for u in keep]
        codes = remap[codes]
        return Coded(hp, groups, codes, np.bincount(codes[codes >= 0], minlength=len(groups)))
    x = values.to_numpy(dtype=float)
    rows = np.flatnonzero(np.isfinite(x)).astype(_row_type(len(x)), copy=False)
    order = rows[np.argsort(x[rows])]
    sorted_x = x[order]
    uniques = _distinct(sorted_x)
    if len(uniques) < 2:
        return None
    if len(uniques) <= max_buckets + 1 and len(rows) >= 2 * len(uniques):
        groups = [Region(hyperparameter=hp, rule="value", low=float(v), high=float(v)) for v in uniques]
        codes = np.full(len(x), -1, dtype=_code_type(len(groups)))
        codes[rows] = np.searchsorted(uniques, x[rows])
    else:
        edges = _bucket_edges(sorted_x, max_buckets)
        groups = [Region(hyperparameter=hp, rule="bucket", low=float(lo), high=float(hi), closed=i == len(edges) - 2)
                  for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]
        codes = np.full(len(x), -1, dtype=_code_type(len(groups)))
        codes[rows] = np.clip(np.searchsorted(edges, x[rows], side="right") - 1, 0, len(groups) - 1)
    return Coded(hp, groups, codes, np.bincount(codes[codes >= 0], minlength=len(groups)), x, order,
                  _Cuts.of(sorted_x))


def _code_type(n_groups: int) -> type[np.signedinteger]:
    """The smallest integer type of region codes (``-1`` for none, ``0..n_groups-1``); widen before multiplying."""
    return np.int8 if n_groups <= np.iinfo(np.int8).max else np.int32


def _row_type(n_rows: int) -> type[np.signedinteger]:
    """Row numbers in four bytes while they fit."""
    return np.int32 if n_rows <= np.iinfo(np.int32).max else np.int64


def _factorized_text(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes of text cells and their distinct values as text, a missing cell being the value ``"(missing)"``.

    The cells are factorised first and only the distinct values made text (a million
    cells are not each converted); a cell written ``(missing)`` joins the missing ones.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = np.asarray(uniques, dtype=object).astype(str)
    if len(names) and (len(np.unique(names)) < len(names)):  # two objects with one text (1 and "1"): slow path
        codes, uniques = pd.factorize(values.where(values.notna(), "(missing)").astype(str), sort=False)
        return codes, np.asarray(uniques, dtype=object).astype(str)
    missing = codes < 0
    if missing.any():
        named = np.flatnonzero(names == "(missing)")
        if len(named):
            codes[missing] = named[0]
        else:
            names = np.append(names, "(missing)")
            codes[missing] = len(names) - 1
    return codes, names


def _bucket_edges(finite: np.ndarray, max_buckets: int) -> np.ndarray:
    """Log-spaced edges when a positive parameter spans two decades or more, else quantiles."""
    lo, hi = float(finite.min()), float(finite.max())
    if log_scaled(lo, hi):
        n_bins = int(min(max_buckets, max(2, np.ceil(np.log10(hi / lo)))))
        return np.geomspace(lo, hi, n_bins + 1)
    levels = np.linspace(0, 1, max_buckets + 1)
    if np.isfinite(hi - lo):
        return np.unique(np.quantile(finite, levels))
    scale = max(abs(lo), abs(hi))  # -1e308 to 1e308: interpolating would overflow to inf and NaN edges
    return np.unique(np.clip(np.quantile(finite / scale, levels) * scale, lo, hi))


def _distinct(sorted_values: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array (no sort needed)."""
    if len(sorted_values) == 0:
        return sorted_values
    return sorted_values[np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]])]


def _spread(cuts: np.ndarray) -> np.ndarray:
    """At most ``_MAX_CUTS`` of ascending distinct cut points, at evenly spaced quantiles."""
    if len(cuts) <= _MAX_CUTS:
        return cuts
    return cuts[np.unique(np.round(np.linspace(0, 1, _MAX_CUTS) * (len(cuts) - 1)).astype(int))]


def _best_threshold(hp: str, cuts: _Cuts, flagged_sorted: np.ndarray, f: _Flags, direction: str):
    """The cut ``hp >= c`` (above) or ``hp <= c`` (below) with the smallest Fisher p.

    ``flagged_sorted`` holds the ascending values of the flagged trials in the set
    ``cuts`` was made from; counts are ``searchsorted`` over them, so this costs in
    proportion to the affected trials. Cuts are ranked on the log p-value (a million
    trials make every strong cut's p underflow to 0, and a tie would pick the widest
    cut, so the advice flipped with the sweep's size); near-ties go to the sharper cut
    (the higher rate), then to the larger count. The best of the first-pass cuts is
    refined between its neighbours (again at most ``_MAX_CUTS`` points, until every
    distinct value there was tried), so the cut found is the sweep's own boundary
    whatever its size. The p-value is tested against the whole sweep and later
    multiplied by the number of cuts tried (both directions' first pass, plus this
    direction's refinements). Returns ``(region, tried, k, n, beyond)`` where ``beyond`` maps
    values to "past the cut". :func:`_best_thresholds` runs several such searches at once.
    """
    return _best_thresholds(hp, f, [(cuts, flagged_sorted, direction)])[0]


def _best_thresholds(hp: str, f: _Flags, searches: list[tuple[_Cuts, np.ndarray, str]]):
    """:func:`_best_threshold` of each ``(cuts, flagged_sorted, direction)`` of one issue type.

    The searches run round by round side by side, and each round's Fisher tails of all
    of them are one call: a call's cost is mostly fixed, and a sweep makes about 1,400
    rounds of some 60 cuts each (0.7 s one by one at 100,000 trials). The results are
    those of the searches run one by one.
    """
    state = [_Search(cuts, flagged, direction) for cuts, flagged, direction in searches]
    active = state
    while active:
        ks = [_n_beyond(s.flagged_sorted, s.values, s.direction) for s in active]
        ns = [_n_beyond(s.cuts.sorted_x, s.values, s.direction) for s in active]
        log_p = np.asarray(log_fisher_greater(np.concatenate(ks), np.concatenate(ns), f.k_total, f.n_total),
                           dtype=float)
        for s, part, k, n in zip(active, np.split(log_p, np.cumsum([len(k) for k in ks])[:-1]), ks, ns):
            s.narrow(part, k, n)
        active = [s for s in active if not s.done]
    return [s.found(hp) for s in state]


class _Search:
    """One threshold search of :func:`_best_thresholds`: the cuts of this round, the bracket, the best so far."""

    def __init__(self, cuts: _Cuts, flagged_sorted: np.ndarray, direction: str) -> None:
        self.cuts, self.flagged_sorted, self.direction = cuts, flagged_sorted, direction
        self.values = cuts.above if direction == "above" else cuts.below
        self.every = cuts.candidates(direction)
        self.tried = len(cuts.above) + len(cuts.below)
        self.lo, self.hi = -np.inf, np.inf  # the bracket searched, narrowed round by round
        self.cut, self.k, self.n, self.done = 0.0, 0, 0, False

    def narrow(self, log_p: np.ndarray, k: np.ndarray, n: np.ndarray) -> None:
        """Take this round's best cut and the cuts between its neighbours for the next round, if any is new."""
        values = self.values
        best = _sharpest(log_p, k, n)
        self.cut, self.k, self.n = float(values[best]), int(k[best]), int(n[best])
        self.lo = values[best - 1] if best > 0 else self.lo
        self.hi = values[best + 1] if best + 1 < len(values) else self.hi
        between = self.every[np.searchsorted(self.every, self.lo, side="right"):
                             np.searchsorted(self.every, self.hi, side="left")]
        if len(between) <= np.count_nonzero((values > self.lo) & (values < self.hi)):
            self.done = True  # every distinct value around the best cut was tried
            return
        self.values = _spread(between)
        self.tried += len(self.values)

    def found(self, hp: str):
        """``(region, tried, k, n, beyond)`` of the best cut (see :func:`_best_threshold`)."""
        cut, direction = self.cut, self.direction
        region = Region(hyperparameter=hp, rule="threshold", low=cut if direction == "above" else None,
                        high=cut if direction == "below" else None)

        def beyond(x: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore"):
                return (x >= cut) if direction == "above" else (x <= cut)

        return region, self.tried, self.k, self.n, beyond


def _sharpest(log_p: np.ndarray, k: np.ndarray, n: np.ndarray, rtol: float = 1e-9) -> int:
    """Index of the smallest log p; among near-ties the highest rate ``k/n``, then the largest ``k``."""
    smallest = log_p.min()
    tied = np.flatnonzero(log_p <= smallest + rtol * max(1.0, abs(smallest)))
    rate = k[tied] / np.maximum(n[tied], 1)
    return int(tied[np.lexsort((-k[tied], -rate))[0]])
