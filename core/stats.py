"""Small exact statistics shared by the associations and the findings."""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom, norm


def wilson_interval(k: int | np.ndarray, n: int | np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a rate ``k/n`` (sensible at 0/n and n/n, unlike Wald's).

    Returns ``(lo, hi)``; ``(0.0, 1.0)`` when ``n`` is 0.
    """
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return float(lo), float(hi)


def fisher_greater(k: np.ndarray | int, n: np.ndarray | int, k_total: int, n_total: int) -> np.ndarray | float:
    """One-sided Fisher exact p-value that a group of ``n`` holds ``k`` or more of ``k_total`` flagged.

    The group is drawn from ``n_total`` trials; this is the hypergeometric upper tail
    (is the issue over-represented in the group?). ``k = 0`` gives 1.
    """
    k = np.asarray(k)
    p = np.where(k > 0, hypergeom.sf(k - 1, n_total, k_total, n), 1.0)
    return float(p) if p.ndim == 0 else p
