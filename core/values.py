"""Parsing of metric cells, where "missing" and "non-finite" must never be confused.

Real exports spell NaN and infinity many ways (``nan``, ``NaN``, ``inf``, ``-Infinity``,
``1e999`` ...), and leave cells empty when a run logged nothing. An empty cell is a
*missing* value (the trial never reported it); ``NaN`` is a value the trial reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Spellings read as "no value was reported" (compared case-insensitively, stripped).
MISSING_TOKENS = frozenset({"", "na", "n/a", "null", "none", "nil", "-", "?", "<na>"})

_NAN_TOKENS = {"nan", "+nan", "-nan", "nan%", "#num!", "#value!"}
_POS_INF_TOKENS = {"inf", "+inf", "infinity", "+infinity", "∞", "+∞", "inf%"}
_NEG_INF_TOKENS = {"-inf", "-infinity", "-∞"}


def parse_numeric(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse a column of raw cells into floats and a mask of missing cells.

    Parameters
    ----------
    cells : pd.Series
        Raw cells: ``str``, ``None``, or already numeric values.

    Returns
    -------
    values : pd.Series of float64
        NaN for reported NaN *and* for missing or unparseable cells; use ``missing``
        and ``unparsed`` to tell them apart.
    missing : pd.Series of bool
        True where the cell is empty or spells "no value" (``NA``, ``null``, ``None``).

    Notes
    -----
    Cells that are neither numbers, NaN/inf spellings nor missing tokens come out as
    NaN and not missing; callers that need to tell them apart use
    :func:`unparsed_mask`.
    """
    text = cells.astype("string").str.strip()
    lowered = text.str.lower()
    missing = (cells.isna() | lowered.isin(MISSING_TOKENS)).fillna(True).astype(bool)
    values = pd.to_numeric(text.where(~missing), errors="coerce").astype("float64")
    pos_inf = lowered.isin(_POS_INF_TOKENS).fillna(False).astype(bool)
    neg_inf = lowered.isin(_NEG_INF_TOKENS).fillna(False).astype(bool)
    values = values.mask(pos_inf, np.inf).mask(neg_inf, -np.inf)
    return values, missing


def unparsed_mask(cells: pd.Series) -> pd.Series:
    """True for cells that are present but are neither a number nor a NaN/inf spelling."""
    values, missing = parse_numeric(cells)
    lowered = cells.astype("string").str.strip().str.lower()
    spelled_nan = lowered.isin(_NAN_TOKENS).fillna(False).astype(bool)
    return values.isna() & ~missing & ~spelled_nan


def describe_value(value: float) -> str:
    """Name a non-finite float the way a user reads it: ``NaN``, ``+inf`` or ``-inf``."""
    if np.isnan(value):
        return "NaN"
    if np.isposinf(value):
        return "+inf"
    if np.isneginf(value):
        return "-inf"
    return format_number(value)


def format_number(value: float) -> str:
    """Format a finite number compactly and reproducibly (4 significant digits)."""
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4g}"


def format_p(p: float) -> str:
    """Format a p- or q-value: two significant digits, scientific below 1e-4."""
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def format_rate(rate: float) -> str:
    """A rate in [0, 1] as a whole percentage: ``0.667`` -> ``"67%"``."""
    return f"{100 * rate:.0f}%"
