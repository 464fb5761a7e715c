"""The per-trial text of a curves file's non-metric columns (hyperparameters, seeds, status, runtime, errors)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.curves.cells import exact_text, parse_column
from core.curves.columns import Given
from core.curves.segments import segment_starts, take
from core.errors import InputError
from core.roles import flag_values, is_boolean, is_status_runtime_or_error, outcome_kind
from core.values import MISSING_TOKENS


def trial_columns(
    frame: pd.DataFrame,
    rows: np.ndarray | None,
    codes: np.ndarray,
    n: int,
    columns: list[str],
    given: Given,
    source: str,
    trial_ids: pd.Index,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-trial text of the non-metric columns: constant ones, and the last value of status/runtime/error.

    ``rows`` gives the frame row of every (sorted) table row, None when they are the
    frame's rows in order. Rows of one trial may leave a constant column empty; it is
    constant when its non-empty cells within every trial agree. An outcome flag logged per
    step (``epoch_diverged``) is set for the trial when set at any step.

    Returns the table (one row per trial, cells ``str`` or None) and the columns left
    out -> why.
    """
    out: dict[str, np.ndarray] = {}
    ignored: dict[str, str] = {}
    starts = segment_starts(codes)
    for col in columns:
        role = given.get(col, (None, None))[0]
        cells = frame[col] if rows is None else frame[col].iloc[rows]
        if role in (None, "outcome") and outcome_kind(str(col)) and is_boolean(cells):
            flag = flag_values(cells).astype(np.int64)
            out[col] = np.where(np.maximum.reduceat(flag, starts) > 0, "true", "false") if len(flag) else flag
            continue
        last_value = role in {"status", "runtime", "error", "seed"} or is_status_runtime_or_error(str(col))
        numeric = pd.api.types.is_numeric_dtype(cells.dtype) and not pd.api.types.is_bool_dtype(cells.dtype)
        text, empty, constant = (_numbers_per_trial if numeric else _labels_per_trial)(cells, starts, last_value)
        if empty.all() and role is None:
            ignored[col] = "empty"
        elif last_value or constant.all():
            out[col] = text
        elif role == "hyperparameter":
            k = int(np.flatnonzero(~constant)[0])
            raise InputError(f"{source}: column {col!r} is given as a hyperparameter but varies within trial "
                             f"{trial_ids[k]!r}; a hyperparameter must be constant within a trial")
        else:
            ignored[col] = "varies within a trial but is not a metric (a schedule, timestamp or counter)"
    frame_out = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in out.items()}, index=pd.RangeIndex(n))
    return frame_out.where(frame_out.notna(), None), ignored


def _numbers_per_trial(
    cells: pd.Series, starts: np.ndarray, last_value: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A numeric column per trial: (text of its last or largest value, trial empty, trial constant)."""
    values, missing, _ = parse_column(cells)
    values = np.where(missing, np.nan, values) if missing.any() else values
    present = ~np.isnan(values)
    lo, hi = (np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)) if len(values) else ((), ())
    empty, constant = np.isnan(hi), (lo == hi) | np.isnan(hi)
    if last_value:
        index = np.arange(len(values))
        last = np.maximum.reduceat(np.where(present, index, -1), starts) if len(values) else np.zeros(0, int)
        per_trial = take(values, last, last >= 0)
    else:
        per_trial = np.asarray(hi, dtype=float)
    return np.where(np.isnan(per_trial), None, exact_text(per_trial)), empty, constant


def _labels_per_trial(
    cells: pd.Series, starts: np.ndarray, last_value: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A text (or categorical) column per trial: (its last or one value, trial empty, trial constant)."""
    if isinstance(cells.dtype, pd.CategoricalDtype):
        keys = cells.cat.codes.to_numpy(dtype=np.int64)
        uniques = np.asarray(cells.cat.categories, dtype=object)
    else:
        keys, uniques = pd.factorize(cells, use_na_sentinel=True)
        keys, uniques = np.asarray(keys, dtype=np.int64), np.asarray(uniques, dtype=object)
    labels = pd.Series(uniques, dtype=object).map(str)
    blank = labels.str.strip().str.lower().isin(MISSING_TOKENS).to_numpy(dtype=bool)
    if blank.any():
        keys = np.where((keys >= 0) & blank[np.maximum(keys, 0)], -1, keys)
    labels = labels.to_numpy(dtype=object)
    hi = np.maximum.reduceat(keys, starts) if len(keys) else np.zeros(0, np.int64)
    lo = np.minimum.reduceat(np.where(keys < 0, np.iinfo(np.int64).max, keys), starts) if len(keys) else hi
    empty, constant = hi < 0, (hi < 0) | (lo == hi)
    if last_value:
        last = np.maximum.reduceat(np.where(keys >= 0, np.arange(len(keys)), -1), starts) if len(keys) else hi
        pick = np.where(last >= 0, keys[np.maximum(last, 0)], -1) if len(keys) else hi
    else:
        pick = hi
    return np.where(pick >= 0, labels[np.maximum(pick, 0)] if len(labels) else None, None), empty, constant
