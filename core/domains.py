"""The natural domain of a hyperparameter: where any value of it can lie at all.

A next sweep may widen a range, but never past these bounds: a rate, a decay or a
dropout is never below 0, a dropout or another fraction never reaches 1, a count
(units, layers, batch size, patience) is at least 1. The domain is told from the
name (fractions) and from the values searched (non-negative, integral); a declared
search space (``summary["search_space"]``) adds its own type and bounds elsewhere.
"""

from __future__ import annotations

import math
import re

FRACTION = re.compile(
    r"dropout|drop[_\-. ]?(rate|prob|path|connect)|(^|[_\-. ])p[_\-]?drop|fraction|(^|[_\-. ])frac($|[_\-. ])|"
    r"ratio|momentum|(^|[_\-. ])beta[_\-]?[12]?($|[_\-. ])|subsample|colsample|label[_\-. ]?smoothing|"
    r"keep[_\-. ]?prob|(^|[_\-. ])rho($|[_\-. ])|val(idation)?[_\-. ]?split|test[_\-. ]?size",
    re.IGNORECASE,
)
"""Names of hyperparameters that are fractions in [0, 1): dropout, momentum, Adam's betas, subsampling..."""


def natural_domain(name: str, low: float | None, integral: bool) -> tuple[float, float, bool]:
    """``(lowest, highest, highest_open)`` any value of this hyperparameter may take.

    ``low`` is the smallest value searched and ``integral`` says whether every value
    searched was an integer. Fractions live in [0, 1) (``highest_open``: 1 itself is
    never allowed), integral parameters searched from 1 or more are counts (>= 1), a
    parameter searched from 0 or more is non-negative; anything else is unbounded.
    """
    if FRACTION.search(name) and (low is None or low >= 0):
        return 0.0, 1.0, True
    if integral and low is not None and low >= 1:
        return 1.0, math.inf, False
    if low is not None and low >= 0:
        return 0.0, math.inf, False
    return -math.inf, math.inf, False


def at_natural_edge(name: str, value: float, side: str, low: float | None, integral: bool) -> bool:
    """True when ``value`` already sits on the natural bound of that side (nothing lies beyond it)."""
    lowest, highest, _ = natural_domain(name, low, integral)
    return value <= lowest if side == "low" else value >= highest


LOG_SPAN = 100.0
"""A positive range spanning two decades or more is searched, bucketed and halved on a log scale."""


def log_scaled(low: float | None, high: float | None) -> bool:
    """Whether a numeric range ``[low, high]`` is read on a log scale (positive, spanning :data:`LOG_SPAN` or more)."""
    return low is not None and high is not None and low > 0 and high / low >= LOG_SPAN


def edge_cut(low: float, high: float, side: str, log: bool) -> float:
    """Where the outer tenth of ``[low, high]`` on ``side`` (``low``/``high``) begins.

    On a log scale when ``log`` and ``low > 0``: the edge finding's ``edge_share`` and the
    next sweep's count of top trials at that edge read the same tenth.
    """
    share = 0.1 if side == "low" else 0.9
    if log and low > 0:
        return math.exp(math.log(low) + share * (math.log(high) - math.log(low)))
    return low + share * (high - low)


def midpoint(low: float, high: float) -> float:
    """The middle of a searched range: geometric on a log scale (:func:`log_scaled`), else arithmetic."""
    return math.sqrt(low * high) if log_scaled(low, high) else (low + high) / 2
