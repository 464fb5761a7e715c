"""Segment reductions: per-trial quantities of long arrays sorted by trial, without a loop over trials.

Rows are sorted by trial code (``codes``, non-decreasing), so each trial is one contiguous
segment; a per-trial quantity is a reduction over segments (``np.bincount``,
``ufunc.reduceat``, accumulations with a per-segment offset). ``n`` is the number of
trials (codes ``0..n-1``); a trial without rows gets a fill value. The curve detectors
(:mod:`core.curves.detectors`) are written in these terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class View:
    """The finite (optionally positive) logged values of one metric, as sorted segments.

    ``y``, ``codes`` and ``step`` have one entry per kept row; ``starts`` is the first row of each non-empty segment.
    """

    y: np.ndarray
    codes: np.ndarray
    step: np.ndarray
    starts: np.ndarray


def subset_rows(view: View, keep: np.ndarray) -> View:
    """The rows of a view where the row mask ``keep`` is True."""
    rows = np.flatnonzero(keep)
    return make_view(view.y[rows], view.codes[rows], view.step[rows])


def subset_trials(view: View, trials: np.ndarray, at_most: float = 1.0) -> View:
    """The rows of a view whose trial is True in the per-trial mask ``trials``.

    When more than ``at_most`` of the rows would be kept, the whole view is returned
    instead (a prefilter that keeps most rows is not worth a copy; callers mask anyway).
    """
    keep = trials[view.codes]
    if keep.all() or keep.mean() > at_most:
        return view
    return subset_rows(view, keep)


def make_view(y: np.ndarray, codes: np.ndarray, step: np.ndarray) -> View:
    """A view of rows already sorted by ``codes``."""
    return View(y=y, codes=codes, step=step, starts=segment_starts(codes))


def segment_starts(codes: np.ndarray) -> np.ndarray:
    """The first row of each segment of sorted ``codes``."""
    return np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.zeros(0, np.int64)


def first_rows_where(mask: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """For each trial with a row where ``mask`` holds, the first such row (sorted ``codes``)."""
    rows = np.flatnonzero(mask)
    return rows[segment_starts(codes[rows])]


def seg_reduce(
    ufunc: np.ufunc, values: np.ndarray, codes: np.ndarray, n: int, fill: float, starts: np.ndarray | None = None
) -> np.ndarray:
    """``ufunc`` reduced over each trial's rows (``codes`` sorted, segments starting at ``starts``).

    ``fill`` for trials without rows; ``starts`` is computed from ``codes`` when not given.
    """
    out = np.full(n, fill, dtype=np.result_type(values, np.asarray(fill)))
    if len(values):
        starts = segment_starts(codes) if starts is None else starts
        out[codes[starts]] = ufunc.reduceat(values, starts)
    return out


def seg_last_row(view: View, n: int) -> np.ndarray:
    """The last row of each trial's segment in ``view`` (-1 for a trial without rows)."""
    out = np.full(n, -1, dtype=np.int64)
    if len(view.starts):
        out[view.codes[view.starts]] = np.r_[view.starts[1:], len(view.codes)] - 1
    return out


def take(values: np.ndarray, index: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``values[index]`` as float where ``valid``, NaN elsewhere (``index`` may be out of range there)."""
    out = np.full(len(index), np.nan)
    out[valid] = values[index[valid]]
    return out


def seg_last_at_or_below(
    codes: np.ndarray, step: np.ndarray, rows: np.ndarray, target: np.ndarray, first: np.ndarray
) -> np.ndarray:
    """For each of ``rows``, the last row of its trial whose step is ``<= target`` (at least the row itself).

    A segmented ``searchsorted``: rows are sorted by (code, step), so the key
    ``code * K + (step - first step)`` with ``K`` above every trial's span is sorted;
    the float key may land one row off at an exact tie, which is then corrected by
    comparing the steps themselves.
    """
    m = len(step)
    if not m or not len(rows):
        return np.zeros(len(rows), dtype=np.int64)
    base = first[codes]
    own = codes[rows]
    width = float(max(np.max(target - first[own]), np.max(step - base))) * 2 + 1
    key = codes * width + (step - base)
    j = np.searchsorted(key, own * width + (target - first[own]), side="right") - 1
    j = np.clip(j, 0, m - 1)
    nxt = np.minimum(j + 1, m - 1)
    j = np.where((nxt > j) & (codes[nxt] == own) & (step[nxt] <= target), nxt, j)
    j = np.where(((step[j] > target) | (codes[j] != own)) & (j > 0), j - 1, j)
    return np.maximum(j, rows)


def seg_mean(values: np.ndarray, codes: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per trial, the mean of ``values`` over the rows where ``mask`` holds (NaN where none does)."""
    count = np.bincount(codes, weights=mask, minlength=n)
    total = np.bincount(codes, weights=np.where(mask, values, 0.0), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def seg_median(values: np.ndarray, codes: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per trial, the median of ``values`` over the rows where ``mask`` holds (NaN where none does)."""
    rows = np.flatnonzero(mask)
    out = np.full(n, np.nan)
    if not len(rows):
        return out
    order = rows[np.lexsort((values[rows], codes[rows]))]
    c = codes[order]
    starts = segment_starts(c)
    k = np.diff(np.r_[starts, len(c)])
    y = values[order]
    out[c[starts]] = 0.5 * (y[starts + (k - 1) // 2] + y[starts + k // 2])
    return out


def seg_argmin(values: np.ndarray, view: View, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per trial: minimum of ``values`` (finite) and the row (in the view) of its first occurrence, -1 if none."""
    low = seg_reduce(np.minimum, values, view.codes, n, np.nan, view.starts)
    at = np.where(values == low[view.codes], np.arange(len(values)), len(values))
    row = seg_reduce(np.minimum, at, view.codes, n, -1, view.starts)
    return low, np.where(row >= len(values), -1, row)


def seg_cummin_row(z: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """For every row, the row of its trial's running minimum of ``z`` so far (first reached).

    One accumulation over the whole array: each segment is shifted below every earlier
    one (by its index times more than the range of ``z``), so the running minimum
    restarts at each segment. Only positions are read back, never shifted values; ``z``
    is a log-loss, whose range is small, so the shift merges no values that differ by
    more than ~1e-8 relative.
    """
    if not len(z):
        return np.zeros(0, dtype=np.int64)
    new = np.r_[True, codes[1:] != codes[:-1]]
    gap = float(z.max() - z.min()) + 1.0
    w = z - (np.cumsum(new) - 1) * gap
    acc = np.minimum.accumulate(w)
    lower = new.copy()
    lower[1:] |= w[1:] < acc[:-1]
    return np.maximum.accumulate(np.where(lower, np.arange(len(z)), 0))


def smooth3(y: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Centred 3-point moving average within each trial (2 points at a trial's ends)."""
    if not len(y):
        return y
    same = codes[1:] == codes[:-1]
    total = y.copy()
    count = np.ones(len(y))
    total[1:] += np.where(same, y[:-1], 0.0)
    total[:-1] += np.where(same, y[1:], 0.0)
    count[1:] += same
    count[:-1] += same
    return total / count


