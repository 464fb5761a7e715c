"""Small exact statistics shared by the associations and the findings."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.stats import hypergeom, norm


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
    return float(norm.ppf(0.5 + confidence / 2))


def fisher_greater(
    k: np.ndarray | int, n: np.ndarray | int, k_total: np.ndarray | int, n_total: np.ndarray | int
) -> np.ndarray | float:
    """One-sided Fisher exact p-value that a group of ``n`` holds ``k`` or more of ``k_total`` flagged.

    The group is drawn from ``n_total`` trials; this is the hypergeometric upper tail
    (is the issue over-represented in the group?). ``k = 0`` gives 1. Every argument
    may be an array (broadcast), so many tests cost one call.
    """
    k = np.asarray(k)
    p = np.where(k > 0, hypergeom.sf(k - 1, n_total, k_total, n), 1.0)
    return float(p) if p.ndim == 0 else p
