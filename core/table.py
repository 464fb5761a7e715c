"""The typed trial table every detector and statistic works on.

Built once from raw text cells and column roles; validation of ids and metric
cells happens here, so detectors can assume clean input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from core.errors import InputError
from core.loading import FIRST_DATA_LINE, RawTable
from core.roles import ColumnRoles, flag_values
from core.status import normalize_status
from core.values import all_distinct, parse_cells, parse_columns


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
    seeds : pd.Series of str or None
        The random seed column as stripped text (Arrow-backed, missing where empty),
        when there is one (``roles.seed``). Only a few rows are ever shown, so it is not
        made a million Python strings.
    budget : pd.Series of float64 or None
        The trial's planned budget (``roles.budget``: ``max_epochs``, ``max_iter``...).
    best_epoch : pd.Series of float64 or None
        The epoch of the held-out best (``roles.best_epoch``).
    outcomes : pd.DataFrame of bool
        One column per outcome flag (``roles.outcomes``): True where the trial's flag is set.
    logged : (str, np.ndarray of float64) or None
        With per-step curves: their step column and the last step each row logged (NaN
        without a curve; :func:`core.curves.last_logged_steps`), set by
        :func:`core.summary.analyze_sweep`. The steps a trial logged are the budget it used.
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
    budget: pd.Series | None = None
    best_epoch: pd.Series | None = None
    outcomes: pd.DataFrame | None = None
    logged: tuple[str, np.ndarray] | None = None
    _extents: dict[str, Extent] | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.ids)

    def extents(self, sorted_columns: Mapping[str, np.ndarray] | None = None) -> dict[str, Extent]:
        """:func:`numeric_extents` of the hyperparameters, computed once (the summary, findings and pictures ask).

        ``sorted_columns``, as for :func:`numeric_extents`, is read only by the first call.
        """
        if self._extents is None:
            self._extents = numeric_extents(self.hyperparameters, sorted_columns)
        return self._extents

    def flagged(self, issues: pd.DataFrame) -> np.ndarray:
        """True for each row whose trial ``issues`` names (columns ``trial_id`` and, when known, ``row``).

        The detectors give each issue its ``row``; a bool mask built from those needs no
        look-up of text ids (hashing a million ids costs ~0.3 s). Without ``row``, the
        ``trial_id`` are looked up.
        """
        if "row" not in issues.columns:
            return self.ids.isin(set(issues["trial_id"])).to_numpy(dtype=bool)
        mask = np.zeros(len(self), dtype=bool)
        rows = issues["row"].to_numpy(dtype=np.int64)
        mask[rows[rows >= 0]] = True
        return mask

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each of a few ``ids`` (-1 where the table has none), in one pass over the table's ids."""
        hits = np.flatnonzero(self.ids.isin(ids).to_numpy(dtype=bool))
        where = dict(zip(self.ids.to_numpy()[hits], hits))
        return np.array([where.get(i, -1) for i in ids], dtype=np.intp)


def build_trial_table(raw: RawTable, roles: ColumnRoles) -> TrialTable:
    """Type and validate a raw table according to its column roles.

    Raises
    ------
    InputError
        Empty or duplicate trial ids, and metric or budget cells that are text
        rather than numbers; the message names the column and the line of the file.
    """
    frame = raw.frame if isinstance(raw.frame.index, pd.RangeIndex) and raw.frame.index.start == 0 \
        and raw.frame.index.step == 1 else raw.frame.reset_index(drop=True)
    columns = dict(frame.items())  # one Series per column (each costs ~50 us: 10,000 columns are read often)
    parse_columns(columns.values())
    ids = _trial_ids(frame[roles.id], raw.source, roles.id)
    if roles.status:
        cells = frame[roles.status]
        status_raw = pd.Series(_objects(cells, strip=False), index=frame.index, name=cells.name, dtype=object)
        status = normalize_status(cells)
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
        hyperparameters=_hyperparameters([columns[col] for col in roles.hyperparameters], frame.index),
        roles=roles,
        errors=_text(frame[roles.error]) if roles.error else None,
        seeds=_compact_text(frame[roles.seed]) if roles.seed else None,
        budget=_budget(frame, roles.budget, raw.source),
        best_epoch=_budget(frame, roles.best_epoch, raw.source),
        outcomes=pd.DataFrame({col: flag_values(frame[col]) for col in roles.outcomes}, index=frame.index),
    )


def _text(cells: pd.Series) -> pd.Series:
    """Stripped text cells, ``None`` where empty."""
    return pd.Series(_objects(cells, strip=True, empty_is_none=True), index=cells.index, name=cells.name, dtype=object)


def _compact_text(cells: pd.Series) -> pd.Series:
    """Stripped text cells as Arrow-backed strings, missing where empty (:func:`_text` without Python objects)."""
    text = cells.astype("str").str.strip()
    return text.mask(text == "")


def _objects(cells: pd.Series, *, strip: bool, empty_is_none: bool = False) -> np.ndarray:
    """Cells as an object array (``None`` where missing); stripped ``str`` if ``strip``.

    A categorical column is factorised and each distinct cell converted once, shared by
    the rows that hold it; a column of mostly distinct cells is converted directly.
    """
    if strip:
        cells = cells.astype("string").str.strip()
    if _mostly_distinct(cells):
        words = cells.to_numpy(dtype=object, na_value=None)
    else:
        codes, uniques = pd.factorize(cells, use_na_sentinel=True)
        words = np.empty(len(uniques) + 1, dtype=object)  # the last slot is code -1: missing
        words[:-1] = np.asarray(uniques, dtype=object)
        words = words[codes]
    if empty_is_none:
        words[words == ""] = None
    return words


def _mostly_distinct(cells: pd.Series, sample: int = 10_000) -> bool:
    return len(cells) > sample and cells.iloc[:sample].nunique() > sample // 2


def _trial_ids(cells: pd.Series, source: str, column: str) -> pd.Series:
    ids = cells.astype("string").str.strip()
    empty = (ids.isna() | (ids == "")).to_numpy(dtype=bool)
    if empty.any():
        line = int(np.flatnonzero(empty)[0]) + FIRST_DATA_LINE
        raise InputError(f"{source}: line {line} has an empty trial id (column {column!r})")
    # Role inference already asked whether the cells are distinct; stripping that removed
    # nothing (same total length) cannot have made two of them equal.
    unchanged = ids.str.len().sum() == cells.astype("string").str.len().sum()
    if not (unchanged and all_distinct(cells)) and ids.duplicated().any():
        duplicated = ids.duplicated(keep=False)
        first = ids[duplicated].iloc[0]
        lines = (np.flatnonzero((ids == first).to_numpy()) + FIRST_DATA_LINE).tolist()
        n_dupes = int(ids[duplicated].nunique())
        more = f" ({n_dupes} ids are repeated)" if n_dupes > 1 else ""
        raise InputError(
            f"{source}: duplicate trial id {first!r} in column {column!r} on lines "
            f"{', '.join(map(str, lines[:5]))}{more}"
        )
    return pd.Series(ids.to_numpy(dtype=object), index=cells.index, name=cells.name, dtype=object)


def _not_a_number(cells: pd.Series, row: int, source: str, column: str) -> InputError:
    return InputError(
        f"{source}: column {column!r}, line {row + FIRST_DATA_LINE}: "
        f"{str(cells.iloc[row]).strip()!r} is not a number"
    )


def _numeric_column(cells: pd.Series, source: str, column: str) -> tuple[pd.Series, pd.Series]:
    parsed = parse_cells(cells)
    if not parsed.numeric:
        raise _not_a_number(cells, int(np.argmax(parsed.unparsed)), source, column)
    return (  # read-only views of the parse: build_trial_table copies them into its frames
        pd.Series(parsed.values, index=cells.index, name=cells.name, copy=False),
        pd.Series(parsed.missing, index=cells.index, name=cells.name, copy=False),
    )


def _budget(frame: pd.DataFrame, column: str | None, source: str) -> pd.Series | None:
    """Epochs or runtime as float64; durations such as Optuna's ``0 days 00:01:40`` in seconds."""
    if column is None:
        return None
    cells = frame[column]
    parsed = parse_cells(cells)
    values = parsed.values.copy()
    if not parsed.numeric:
        rows = np.flatnonzero(parsed.unparsed)
        seconds = pd.to_timedelta(cells.iloc[rows].astype(object), errors="coerce").dt.total_seconds().to_numpy()
        if np.isnan(seconds).any():
            raise _not_a_number(cells, int(rows[np.isnan(seconds)][0]), source, column)
        values[rows] = seconds
    return pd.Series(values, index=cells.index, name=cells.name)


def _hyperparameters(columns: list[pd.Series], index: pd.Index) -> pd.DataFrame:
    """Numeric hyperparameters as float64; the others as stripped text, ``None`` where empty.

    The numeric columns are stacked into one block first: a frame built from 10,000
    separate columns costs seconds.
    """
    numbers, texts = {}, {}
    for cells in columns:
        parsed = parse_cells(cells)
        if parsed.numeric and (~np.isnan(parsed.values) & ~parsed.missing).any():
            numbers[cells.name] = parsed.values
        else:  # "none"/"null" in a categorical column ("activation = none") is a real category
            texts[cells.name] = _text(cells)
    block = np.empty((len(index), len(numbers)), order="F")  # column by column, as the frame keeps it: no second copy
    for j, values in enumerate(numbers.values()):
        block[:, j] = values
    frame = pd.DataFrame(block, index=index, columns=pd.Index(list(numbers), dtype=object), copy=False)
    if texts:
        frame = pd.concat([frame, pd.DataFrame(texts, index=index)], axis=1)[[cells.name for cells in columns]]
    return frame



class Extent(NamedTuple):
    """What one numeric hyperparameter spans, over its finite values (see :func:`numeric_extents`)."""

    min: float
    """Smallest finite value; NaN when none is finite."""
    max: float
    """Largest finite value; NaN when none is finite."""
    n_values: int
    """Distinct finite values."""
    n_finite: int
    """Trials with a finite value."""
    integral: bool
    """Every finite value is a whole number."""


def numeric_extents(hyperparameters: pd.DataFrame,
                    sorted_columns: Mapping[str, np.ndarray] | None = None) -> dict[str, Extent]:
    """The :class:`Extent` of every numeric hyperparameter, computed for all columns at once.

    ``hyperparameters`` is :attr:`TrialTable.hyperparameters`: its float64 columns are
    numeric, its object (text) columns are left out. One sort of the whole block:
    10,000 columns cost milliseconds, not a few pandas calls per column.
    ``sorted_columns`` holds, for some numeric columns, their finite values already in
    ascending order (the association statistics sort them to code them): those columns
    are not sorted again.
    """
    numeric = [col for col, dtype in hyperparameters.dtypes.items() if pd.api.types.is_numeric_dtype(dtype)]
    known = {col: np.asarray(sorted_columns[col], dtype=float) for col in numeric if col in (sorted_columns or {})}
    if known:
        rest = numeric_extents(hyperparameters[[col for col in numeric if col not in known]])
        return {col: _sorted_extent(known[col]) if col in known else rest[col] for col in numeric}
    values = np.asarray(hyperparameters[numeric].to_numpy(dtype=float), order="F")  # each column's values contiguous
    finite = np.isfinite(values)
    ordered = np.sort(np.where(finite, values, np.nan), axis=0)  # NaN last
    n_finite = finite.sum(axis=0)
    if not len(values):
        return {col: Extent(np.nan, np.nan, 0, 0, True) for col in numeric}
    lowest, highest = ordered[0], ordered[np.maximum(n_finite - 1, 0), np.arange(len(numeric))]
    n_values = (n_finite > 0) + (ordered[1:] > ordered[:-1]).sum(axis=0)  # NaN compares False; no overflow at 1e308
    whole = np.where(finite, values, 0)
    integral = (np.trunc(whole) == whole).all(axis=0)
    return {col: Extent(float(lo), float(hi), int(k), int(n), bool(is_int))
            for col, lo, hi, k, n, is_int in zip(numeric, lowest, highest, n_values, n_finite, integral)}


def _sorted_extent(finite: np.ndarray) -> Extent:
    """The :class:`Extent` of a column from its finite values in ascending order (:func:`numeric_extents`' figures)."""
    if not len(finite):
        return Extent(np.nan, np.nan, 0, 0, True)
    return Extent(float(finite[0]), float(finite[-1]), 1 + int(np.count_nonzero(finite[1:] > finite[:-1])), len(finite),
                  bool((np.trunc(finite) == finite).all()))
