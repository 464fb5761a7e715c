"""Small exact statistics shared by the associations and the findings.

Built on ``scipy.special`` only: importing ``scipy.stats`` (which pulls in scipy.spatial,
linalg and optimize) was a third of a run's start-up, for a normal quantile, a
hypergeometric tail and Benjamini-Hochberg, which are a few lines on the special
functions (each checked against ``scipy.stats`` in tests/test_stats.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import gammaln, ndtri


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a rate ``k/n`` (sensible at 0/n and n/n, unlike Wald's).

    Returns ``(lo, hi)``; ``(0.0, 1.0)`` when ``n`` is 0.
    """
    lo, hi = wilson_intervals(np.array([k]), np.array([n]), confidence)
    return float(lo[0]), float(hi[0])


def wilson_intervals(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wilson_interval` for arrays of counts at once."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = _z(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = np.where(k == 0, 0.0, np.maximum(0.0, centre - half))
    hi = np.where(k == n, 1.0, np.minimum(1.0, centre + half))
    empty = n == 0
    return np.where(empty, 0.0, lo), np.where(empty, 1.0, hi)


@lru_cache(maxsize=8)
def _z(confidence: float) -> float:
    return float(ndtri(0.5 + confidence / 2))  # scipy.stats.norm.ppf is this function


def fisher_greater(
    k: np.ndarray | int, n: np.ndarray | int, k_total: np.ndarray | int, n_total: np.ndarray | int
) -> np.ndarray | float:
    """One-sided Fisher exact p-value that a group of ``n`` holds ``k`` or more of ``k_total`` flagged.

    The group is drawn from ``n_total`` trials; this is the hypergeometric upper tail
    (is the issue over-represented in the group?): ``exp`` of :func:`hypergeom_logsf`,
    which agrees with ``scipy.stats.hypergeom.sf`` to 1e-9 (relative). ``k = 0`` gives 1.
    Every argument may be an array (broadcast), so many tests cost one call. The
    p-value underflows to 0 on large sweeps; rank tests on :func:`log_fisher_greater`.
    """
    return np.exp(log_fisher_greater(k, n, k_total, n_total))


def log_fisher_greater(
    k: np.ndarray | int, n: np.ndarray | int, k_total: np.ndarray | int, n_total: np.ndarray | int
) -> np.ndarray | float:
    """The natural log of :func:`fisher_greater`, finite where the p-value itself underflows.

    On a million trials every strong cut has p = 0.0 in double precision; their log
    p-values (-4000, -9000...) still say which is the strongest.
    """
    k, n, k_total, n_total = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k, n, k_total, n_total)))
    log_p = np.where(k > 0, hypergeom_logsf(k - 1, n_total, k_total, n), 0.0)
    return float(log_p) if log_p.ndim == 0 else log_p


def hypergeom_logsf(x: np.ndarray, total: np.ndarray, good: np.ndarray, draws: np.ndarray,
                    tol: float = 1e-17) -> np.ndarray:
    """The log of P(X > x) for X ~ Hypergeometric(total, good, draws), exact to double precision.

    Same as ``scipy.stats.hypergeom.logsf(x, total, good, draws)``, which sums every
    term of the tail in a Python loop per element: 650 tests on a million trials take
    it 25 s, this 17 ms (``benchmarks/bench_hypergeom.py``), and ``hypergeom.sf`` (1 ms)
    underflows to 0 for the strong cuts that must still be ranked (and needs ``scipy.stats``,
    a second of start-up). Here the terms are summed outward from the start of the tail,
    in blocks vectorised over all elements, relative to the first (largest) term so
    that nothing underflows, and stop once every remaining term is below ``tol`` times
    the sum: past the mode the terms fall faster than geometrically. Tails that start
    before the mode are taken as one minus the lower tail, summed the same way
    downwards (such a tail is never small, so nothing is lost there).
    """
    x, total, good, draws = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, total, good, draws)))
    shape = x.shape
    x, total, good, draws = (np.ravel(v) for v in (x, total, good, draws))
    lo = np.maximum(0.0, draws - (total - good))
    hi = np.minimum(good, draws)
    mode = np.floor((draws + 1) * (good + 1) / (total + 2))
    upper = x + 1 > mode  # sum P(X = x+1 ...) upwards
    start = np.clip(np.where(upper, x + 1, x), lo, hi)
    log_tail = _log_tail_sum(start, total, good, draws, lo, hi, np.where(upper, 1.0, -1.0), tol)
    with np.errstate(divide="ignore"):
        log_sf = np.where(upper, log_tail, np.log1p(-np.minimum(1.0, np.exp(log_tail))))
        log_sf = np.where(x >= hi, -np.inf, np.where(x < lo, 0.0, log_sf))
    return np.minimum(log_sf, 0.0).reshape(shape)


def _log_pmf(j: np.ndarray, total: np.ndarray, good: np.ndarray, draws: np.ndarray) -> np.ndarray:
    return (_log_choose(good, j) + _log_choose(total - good, draws - j) - _log_choose(total, draws))


def _log_choose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)


def _log_tail_sum(start: np.ndarray, total: np.ndarray, good: np.ndarray, draws: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray, step: np.ndarray, tol: float, block: int = 32) -> np.ndarray:
    """The log of the sum of P(X = j) for j = start, start + step, ... within [lo, hi], until negligible.

    The terms fall away from ``start`` (it lies on the far side of the mode), so they
    are summed as ratios to the first one, whose log is added at the end. Terms are
    evaluated a block at a time (log-space, vectorised over elements and terms; the
    block starts at ``block`` terms and grows fourfold), so a short tail costs little
    and even one that starts at the mode of a wide distribution takes a handful of
    iterations.
    """
    first = _log_pmf(start, total, good, draws)
    acc = np.zeros(start.shape)
    j0 = start.copy()
    offset = np.zeros(start.shape)  # log of the current block's first term relative to ``first``
    active = np.ones(start.shape, dtype=bool)
    while active.any():
        offsets = np.arange(block, dtype=float)
        idx = np.flatnonzero(active)
        js = j0[idx, None] + step[idx, None] * offsets
        valid = (js >= lo[idx, None]) & (js <= hi[idx, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = _log_ratios(js, total[idx, None], good[idx, None], draws[idx, None], step[idx] > 0)
            log_terms = offset[idx, None] + np.concatenate([np.zeros((len(idx), 1)), np.cumsum(ratio[:, :-1], axis=1)],
                                                           axis=1)
            terms = np.where(valid, np.exp(log_terms), 0.0)
        acc[idx] += terms.sum(axis=1)
        offset[idx] = log_terms[:, -1] + ratio[:, -1]
        j0[idx] += step[idx] * block
        block = min(4 * block, 1024)
        active[idx] = valid[:, -1] & (terms[:, -1] > tol * acc[idx])
    with np.errstate(divide="ignore"):
        return first + np.log(acc)


def _log_ratios(j: np.ndarray, total: np.ndarray, good: np.ndarray, draws: np.ndarray, up: np.ndarray) -> np.ndarray:
    """The log ratio of neighbouring probabilities: to P(j + 1) for rows going up, to P(j - 1) for the others."""
    out = np.empty(j.shape)
    for rows, sign in ((up, 1), (~up, -1)):
        if not rows.any():
            continue
        x, t, g, d = j[rows], total[rows], good[rows], draws[rows]
        if sign > 0:
            out[rows] = np.log((g - x) * (d - x)) - np.log((x + 1) * (t - g - d + x + 1))
        else:
            out[rows] = np.log(x * (t - g - d + x)) - np.log((g - x + 1) * (d - x + 1))
    return out


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q), in the order of ``p`` (a 1-D array of p-values in [0, 1]).

    The algorithm of ``scipy.stats.false_discovery_control(p, method="bh")``, step for
    step (same sort, products and running minimum, so the same floats), without
    importing ``scipy.stats``.
    """
    p = np.asarray(p, dtype=float)
    if p.size <= 1:
        return p
    order = np.argsort(p)
    q = p[order] * (p.size / np.arange(1, p.size + 1, dtype=float))
    np.minimum.accumulate(q[::-1], out=q[::-1])
    out = np.empty_like(q)
    out[order] = q
    return np.clip(out, 0, 1)
