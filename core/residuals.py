"""A second look per issue type: where it concentrates among the trials its patterns leave unexplained.

Once one mechanism of an issue type is found, look again at the trials it does not
explain. A second mechanism is often hidden because the first one's trials sit in "the
rest" of every other region and inflate its rate: breast cancer's divergence at
``scale_inputs = no and batch_size = 128`` (10 of 12) leaves 9 diverged runs among the
other 88, and a region holding some of those is compared with a rest that holds the
first ten too.

For each issue type with standing patterns (:func:`core.patterns.standing_associations`),
every region, pair and conditional threshold is tested again among the trials outside
those patterns' regions (:func:`core.associations.associate_issues` with ``left_out``),
with the populations of the first pass (a trial with no outcome, or without a result
for a type that needs one, is compared nowhere). The Benjamini-Hochberg correction runs
over this second look's tests alone, every issue type's together: the first pass's
q-values are not touched, and a residual association must reach the same ``alpha`` and
support as any other to become a pattern (:func:`core.patterns.find_patterns`).

A residual region next to a first one is the same mechanism's edge, not a second one,
and is not listed (its test still counts in the correction; :func:`is_neighbour`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from core.associations import Coded, associate_issues
from core.domains import midpoint
from core.patterns import standing_associations
from core.records import SAME_VALUE_RTOL, Association, Region
from core.table import TrialTable


def residual_associations(
    table: TrialTable,
    issues: pd.DataFrame,
    associations: list[Association],
    top: list[dict[str, Any]] | None = None,
    *,
    protect: np.ndarray | None = None,
    alpha: float = 0.05,
    min_support: int = 3,
    max_ids: int = 20,
    coded: list[Coded] | None = None,
) -> list[Association]:
    """The associations of the second look, numbered after ``associations``, each with ``outside`` set.

    Parameters
    ----------
    table, issues : as for :func:`core.associations.associate_issues`
    associations : list of Association
        The first pass's associations (their ids are ``A1``...).
    top : list of dict, optional
        The sweep's best trials (``top_trials``): the first pass's patterns are chosen
        as :func:`core.patterns.find_patterns` chooses them.
    protect : array of int, optional
        Rows of the best trials (see :func:`core.associations.associate_issues`).
    alpha, min_support : float, int
        The analysis' settings the standing patterns are chosen with. An issue type with
        fewer than ``min_support`` affected trials outside its patterns is not looked at.
    coded : list, optional
        The first pass's coding of the hyperparameters
        (:func:`core.associations.code_hyperparameters`), counted over again.

    Returns
    -------
    list of Association
        The second look's associations of the issue types where one of them is
        significant (q below ``alpha``, at least ``min_support`` affected trials, a rate
        above the rest's): nothing for a type where no second cause can stand.
        ``outside`` holds the ids of the associations whose regions' trials were left
        out (that issue type's standing patterns); ``k``, ``n``, ``k_rest``, ``n_rest``
        count the other trials, ``q`` is corrected over the second look's tests.
    """
    if issues.empty:
        return []
    standing = standing_associations(associations, alpha=alpha, min_support=min_support, top=top)
    masks = {}
    for kind, firsts in standing.items():
        mask = np.zeros(len(table), dtype=bool)
        for a in firsts:
            mask |= rows_in(table, a.regions)
        if np.count_nonzero(table.flagged(issues[issues["type"] == kind]) & ~mask) >= min_support:
            masks[kind] = mask
    if not masks:
        return []
    found = associate_issues(table, issues, max_ids=max_ids, min_support=min_support, protect=protect, left_out=masks,
                             coded=coded)
    spans = {hp: (e.min, e.max) for hp, e in table.extents().items() if e.n_finite}
    found = [a for a in found if not any(is_neighbour(a.regions, f.regions, spans) for f in standing[a.issue_type])]
    # only an issue type where a second cause may stand is kept: the others' tests say nothing new
    kept = {a.issue_type for a in found if a.q < alpha and a.k >= min_support and a.rate > a.rate_rest}
    start = max((int(a.id[1:]) for a in associations), default=0)
    return [replace(a, id=f"A{start + i}", outside=[f.id for f in standing[a.issue_type]])
            for i, a in enumerate((a for a in found if a.issue_type in kept), start=1)]


def is_neighbour(regions: tuple[Region, ...], first: tuple[Region, ...],
                 spans: dict[str, tuple[float, float]] | None = None) -> bool:
    """True when a residual association's ``regions`` restate or extend a first pattern's regions (``first``).

    Restate: every region of it is one of the first's (``scale_inputs = no`` beside
    ``scale_inputs = no and batch_size = 128``: the first pattern's condition seen
    overall). Extend: any region of a numeric hyperparameter the first pattern bounds,
    unless it lies at the other end of the range. The residual trials all lie on the
    other side of the first bound, so ``lr ≥ 0.05`` among the trials below ``lr ≥ 0.1``
    is the band next to the first cut, the same mechanism fading out (and
    ``batch_size = 32`` next to ``batch_size = 128``). At the other end of the range
    lies a mechanism of its own (``lr ≤ 1e-4`` beside ``lr ≥ 0.1``, or beside the top
    bucket ``lr in [0.16, 4)``: no learning both where networks die and where they
    barely move): a region wholly in the other half of the searched range (``spans``:
    each numeric hyperparameter's searched ``(low, high)``; halved on a log scale where
    :func:`core.domains.log_scaled`), or, where the range is not known, a threshold in
    the opposite direction of a first threshold. Another value of a categorical hyperparameter (a
    second bad optimizer), or the first's value with a condition on another
    hyperparameter (``scale_inputs = no and lr ≥ 0.3`` outside ``scale_inputs = no and
    batch_size = 128``), is a region of its own.
    """
    for r in regions:
        for s in first:
            numeric = r.value is None and s.value is None
            if r.hyperparameter == s.hyperparameter and numeric and not _other_end(r, s, (spans or {}).get(s.hyperparameter)):
                return True
    return all(any(r.key == s.key for s in first) for r in regions)


def _other_end(r: Region, s: Region, span: tuple[float, float] | None) -> bool:
    """Whether numeric region ``r`` lies at the other end of the searched range from ``s`` (see :func:`is_neighbour`)."""
    if span is None:  # the range unknown: only a threshold pointing the other way is known to be the other end
        return r.rule == s.rule == "threshold" and r.direction != s.direction
    mid = midpoint(*span)
    below = r.high is not None and r.high <= mid and s.low is not None and s.low >= mid
    above = r.low is not None and r.low >= mid and s.high is not None and s.high <= mid
    return below or above


def rows_in(table: TrialTable, regions: tuple[Region, ...]) -> np.ndarray:
    """Which trials lie in every one of ``regions`` (:meth:`core.records.Region.contains`, vectorised)."""
    inside = np.ones(len(table), dtype=bool)
    for r in regions:
        values = table.hyperparameters[r.hyperparameter]
        if r.rule == "value":
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            held = np.array([r.contains(u) for u in uniques] + [r.contains(None)], dtype=bool)
            inside &= held[codes]  # code -1 (a missing cell) reads the last entry
            continue
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            here = ~np.isnan(x)
            if r.low is not None:
                here &= x >= r.low - SAME_VALUE_RTOL * abs(r.low)
            if r.high is not None:
                here &= (x <= r.high + SAME_VALUE_RTOL * abs(r.high)) if r.closed else (x < r.high)
        inside &= here
    return inside
