"""Small exact statistics shared by the associations and the findings.

Built on ``scipy.special`` only: importing ``scipy.stats`` (which pulls in scipy.spatial,
linalg and optimize) was a third of a run's start-up, for a normal quantile, a
hypergeometric tail and Benjamini-Hochberg, which are a few lines on the special
functions (each checked against ``scipy.stats`` in tests/test_stats.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import bdtrc, gammaln, ndtri


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p) (``scipy.stats.binom.sf(k - 1, n, p)``, without importing scipy.stats)."""
    return 1.0 if k <= 0 else float(bdtrc(k - 1, n, p))


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

    It gives what ``scipy.stats.hypergeom.logsf(x, total, good, draws)`` gives, without
    its Python loop per element (650 tests on a million trials: 25 s;
    ``benchmarks/bench_hypergeom.py``) or the import of ``scipy.stats`` (a second of
    start-up); ``hypergeom.sf`` would not do, as it underflows to 0 for the strong cuts
    that must still be ranked. The tail is summed outward from its start, as ratios to the first
    (largest) term so that nothing underflows, until every remaining term is below
    ``tol`` times the sum (:func:`_ratio_sums`). A tail that starts before the mode is
    taken as one minus the lower tail (such a tail is never small, so nothing is lost
    there), and the lower tail of X is summed as the upper tail of ``draws - X``.
    """
    x, total, good, draws = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, total, good, draws)))
    shape = x.shape
    x, total, good, draws = (np.ravel(v) for v in (x, total, good, draws))
    lo = np.maximum(0.0, draws - (total - good))
    hi = np.minimum(good, draws)
    mode = np.floor((draws + 1) * (good + 1) / (total + 2))
    upper = x + 1 > mode  # sum P(X = x+1 ...) upwards, else P(X = x), P(X = x-1) ... downwards
    start = np.clip(np.where(upper, x + 1, x), lo, hi)
    first = _log_pmf(start, total, good, draws)
    # X <= j is draws - X >= draws - j, and draws - X ~ Hypergeometric(total, total - good, draws)
    sums = _ratio_sums(np.where(upper, start, draws - start), total, np.where(upper, good, total - good), draws,
                       np.where(upper, hi, draws - lo), tol)
    with np.errstate(divide="ignore"):
        log_tail = first + np.log(sums)
        log_sf = np.where(upper, log_tail, np.log1p(-np.minimum(1.0, np.exp(log_tail))))
        log_sf = np.where(x >= hi, -np.inf, np.where(x < lo, 0.0, log_sf))
    return np.minimum(log_sf, 0.0).reshape(shape)


def _log_pmf(j: np.ndarray, total: np.ndarray, good: np.ndarray, draws: np.ndarray) -> np.ndarray:
    return (_log_choose(good, j) + _log_choose(total - good, draws - j) - _log_choose(total, draws))


def _log_choose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)


_FIRST_BLOCK_SDS = 10.0  # a first block spans at most this many standard deviations ...
_FIRST_BLOCK_PAD = 16.0  # ... plus this many terms (tests set both low to exercise the later, wider blocks)


def _ratio_sums(start: np.ndarray, total: np.ndarray, good: np.ndarray, draws: np.ndarray, end: np.ndarray,
                tol: float, block_cells: int = 1 << 19) -> np.ndarray:
    """The sum of P(X = j) / P(X = start) for j = start ... end, until the terms are below ``tol`` times the sum.

    ``start`` lies at or past the mode, so the terms fall (faster than geometrically).
    Each is the running product of the ratios of neighbouring probabilities, a rational
    function of ``j`` (no logarithm or exponential per term). Rows are summed in blocks
    whose width is about the number of terms they need (the first ratio's geometric
    bound, or ten standard deviations: past the mode a tail is within that, so one block
    is all a row needs in practice), rounded up to a power of two so that rows of a
    width go together (at most ``block_cells`` terms at once); a row not done after its
    block goes on with a block twice as wide.
    """
    acc, term, j = np.ones(start.shape), np.ones(start.shape), start.copy()
    first_ratio = _ratio(start, total, good, draws)
    share = good / np.maximum(total, 1)  # an empty population (total 0) has no terms to sum
    sd = np.sqrt(draws * share * (1 - share) * (total - draws) / np.maximum(total - 1, 1))
    with np.errstate(divide="ignore"):
        width = np.where(first_ratio < 1, np.log(tol) / np.log(np.maximum(first_ratio, 1e-300)), np.inf)
    width = np.minimum(np.minimum(width, _FIRST_BLOCK_SDS * sd + _FIRST_BLOCK_PAD), end - start)
    active = (j < end) & (first_ratio > 0)
    while active.any():
        idx = np.flatnonzero(active)
        log2_width = np.ceil(np.log2(np.maximum(width[idx], 1))).astype(int)
        for w in np.unique(log2_width):
            same = idx[log2_width == w]
            for rows in np.array_split(same, -(-len(same) * 2 ** w // block_cells)):  # a few MB at a time
                js = j[rows, None] + np.arange(2 ** w, dtype=float)
                ratios = _ratio(js, total[rows, None], good[rows, None], draws[rows, None])
                ratios[js >= end[rows, None]] = 0.0
                terms = term[rows, None] * np.cumprod(ratios, axis=1)
                acc[rows] += terms.sum(axis=1)
                term[rows] = terms[:, -1]
                j[rows] += 2 ** w
        active[idx] = (j[idx] < end[idx]) & (term[idx] > tol * acc[idx])
        width[idx] *= 2
    return acc


def _ratio(j: np.ndarray, total: np.ndarray, good: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """P(X = j + 1) / P(X = j) for X ~ Hypergeometric(total, good, draws)."""
    return ((good - j) * (draws - j)) / ((j + 1) * (total - good - draws + j + 1))


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
