"""The typed trial table every detector and statistic works on.

Built once from raw text cells and column roles; validation of ids and metric
cells happens here, so detectors can assume clean input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import InputError
from core.loading import RawTable
from core.roles import ColumnRoles
from core.status import normalize_status
from core.values import parse_numeric, unparsed_mask

_FIRST_DATA_LINE = 2  # line 1 of the file is the header


@dataclass
class TrialTable:
    """One row per trial, typed, indexed 0..n-1 in file order.

    Attributes
    ----------
    ids : pd.Series of str
        Trial ids as text (``"7"``, ``"run_1_c0"``), unique.
    status : pd.Series of str
        Normalised status (see :mod:`core.status`); ``"unknown"`` without a status column.
    status_raw : pd.Series of str or None
        The status word as written.
    metrics : pd.DataFrame of float64
        Metric columns (see ``roles.metrics``); NaN and +/-inf as reported.
    missing : pd.DataFrame of bool
        Same shape as ``metrics``: True where the cell was empty (nothing reported).
    epochs, runtime : pd.Series of float64 or None
        Budget actually used, when the table has such a column.
    hyperparameters : pd.DataFrame
        Numeric columns as float64, the others as text (``None`` where empty).
    roles : ColumnRoles
    errors : pd.Series of str or None
        The error message of each trial (``None`` where empty), when the table has an
        error column (``roles.error``); else None.
    seeds : pd.Series or None
        The random seed column as given (text), when there is one (``roles.seed``).
    """

    ids: pd.Series
    status: pd.Series
    status_raw: pd.Series
    metrics: pd.DataFrame
    missing: pd.DataFrame
    epochs: pd.Series | None
    runtime: pd.Series | None
    hyperparameters: pd.DataFrame
    roles: ColumnRoles
    errors: pd.Series | None = None
    seeds: pd.Series | None = None

    def __len__(self) -> int:
        return len(self.ids)


def build_trial_table(raw: RawTable, roles: ColumnRoles) -> TrialTable:
    """Type and validate a raw table according to its column roles.

    Raises
    ------
    InputError
        Empty or duplicate trial ids, and metric or budget cells that are text
        rather than numbers; the message names the column and the line of the file.
    """
    frame = raw.frame.reset_index(drop=True)
    ids = _trial_ids(frame[roles.id], raw.source, roles.id)
    if roles.status:
        status_raw = frame[roles.status].astype(object).where(frame[roles.status].notna(), None)
        status = normalize_status(frame[roles.status])
    else:
        status_raw = pd.Series([None] * len(frame), dtype=object)
        status = pd.Series(["unknown"] * len(frame), dtype=object)

    metrics, missing = {}, {}
    for col in roles.metrics:
        metrics[col], missing[col] = _numeric_column(frame[col], raw.source, col)
    return TrialTable(
        ids=ids,
        status=status,
        status_raw=status_raw,
        metrics=pd.DataFrame(metrics, index=frame.index),
        missing=pd.DataFrame(missing, index=frame.index),
        epochs=_budget(frame, roles.epochs, raw.source),
        runtime=_budget(frame, roles.runtime, raw.source),
        hyperparameters=pd.DataFrame(
            {col: _hyperparameter(frame[col]) for col in roles.hyperparameters}, index=frame.index
        ),
        roles=roles,
        errors=_text(frame[roles.error]) if roles.error else None,
        seeds=_text(frame[roles.seed]) if roles.seed else None,
    )


def _text(cells: pd.Series) -> pd.Series:
    """Stripped text cells, ``None`` where empty."""
    text = cells.astype("string").str.strip()
    present = (text.notna() & (text != "")).to_numpy(dtype=bool)
    return text.astype(object).where(present, None)


def _trial_ids(cells: pd.Series, source: str, column: str) -> pd.Series:
    ids = cells.astype("string").str.strip()
    empty = ids.isna() | (ids == "")
    if empty.any():
        line = int(np.flatnonzero(empty.to_numpy())[0]) + _FIRST_DATA_LINE
        raise InputError(f"{source}: line {line} has an empty trial id (column {column!r})")
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        first = ids[duplicated].iloc[0]
        lines = (np.flatnonzero((ids == first).to_numpy()) + _FIRST_DATA_LINE).tolist()
        n_dupes = int(ids[duplicated].nunique())
        more = f" ({n_dupes} ids are repeated)" if n_dupes > 1 else ""
        raise InputError(
            f"{source}: duplicate trial id {first!r} in column {column!r} on lines "
            f"{', '.join(map(str, lines[:5]))}{more}"
        )
    return ids.astype(object)


def _numeric_column(cells: pd.Series, source: str, column: str) -> tuple[pd.Series, pd.Series]:
    values, missing = parse_numeric(cells)
    bad = unparsed_mask(cells)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{source}: column {column!r}, line {row + _FIRST_DATA_LINE}: "
            f"{str(cells.iloc[row]).strip()!r} is not a number"
        )
    return values, missing


def _budget(frame: pd.DataFrame, column: str | None, source: str) -> pd.Series | None:
    if column is None:
        return None
    cells = frame[column]
    values, missing = parse_numeric(cells)
    durations = pd.to_timedelta(cells.where(values.isna() & ~missing), errors="coerce")
    values = values.fillna(durations.dt.total_seconds())
    if (values.isna() & ~missing).any():
        return _numeric_column(cells, source, column)[0]
    return values


def _hyperparameter(cells: pd.Series) -> pd.Series:
    """Numeric hyperparameters as float64; the others as stripped text, ``None`` where empty."""
    values, missing = parse_numeric(cells)
    if not unparsed_mask(cells).any() and values[~missing].notna().any():
        return values
    # A categorical value spelled "none"/"null" ("activation = none") is a real category;
    # only an empty cell is missing here.
    return _text(cells)
