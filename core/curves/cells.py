"""Cells of a curves file: read as numbers (:func:`parse_column`), written back as exact text (:func:`exact_text`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.values import parse_cells


def parse_column(cells: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Floats, missing mask and "text that is not a number" mask of one column (read-only arrays).

    Text goes through :func:`core.values.parse_cells` (the project's one set of rules:
    ``nan``/``inf`` spellings reported, empty/``NA``/``null`` missing). Numeric columns
    are taken as they are: null is missing, and in a plain float column NaN is missing
    too, since it cannot say otherwise.
    """
    dtype = cells.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = cells.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(values) if isinstance(dtype, np.dtype) else cells.isna().to_numpy(dtype=bool)
        return values, missing, np.zeros(len(cells), dtype=bool)
    parsed = parse_cells(cells)
    return parsed.values, parsed.missing, parsed.unparsed


def exact_text(values: np.ndarray) -> np.ndarray:
    """Floats as text that reads back exactly: ``3``, ``0.001``, ``nan``, ``inf``, ``-inf``."""
    values = np.asarray(values, dtype=float)
    integral = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 1e15)
    text = values.astype(str).astype(object)  # shortest repr that reads back exactly
    text[integral] = values[integral].astype(np.int64).astype(str)
    return text
