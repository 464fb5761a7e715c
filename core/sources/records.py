"""In-memory trials: records (one dict per trial), a pandas DataFrame, or a live ``optuna.Study``.

Plain records follow the records contract (:func:`core.loading.records_to_raw`): ``None``
(or a key a record lacks) is missing, ``float("nan")`` is a NaN the trial reported.
pandas' own missing markers (``pd.NA``, ``NaT``) are missing too. An Optuna
``study.trials_dataframe()`` (columns ``number``, ``state``, ``params_*``, ``value``...)
is read as Optuna's table, where NaN only ever means missing: Optuna stores no NaN
(a trial that returns NaN fails and keeps no value), so a parameter a trial did not
sample or the value of a failed trial is not called a non-finite metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from core.errors import InputError
from core.loading import records_to_raw
from core.sources import optuna
from core.sweep import Sweep


def read_records(records: Sequence[dict[str, Any]], source: str = "<records>") -> Sweep:
    """Records (one dict per trial) as a :class:`Sweep`; an Optuna ``trials_dataframe()``'s as Optuna's."""
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes)) or not all(
            isinstance(r, dict) for r in records):
        raise InputError(f"{source}: records must be a list of dicts, one per trial")
    if records and _optuna_shaped(records):
        rows = [{k: _optuna_cell(v) for k, v in r.items()} for r in records]
        sweep, _ = optuna.from_trials_dataframe(records_to_raw(rows, source))
        sweep.format = sweep.trials.format = "optuna-records"
        return sweep
    rows = [{k: None if _missing(v) else v for k, v in r.items()} for r in records]
    raw = records_to_raw(rows, source)
    raw.format = "records"
    return Sweep(trials=raw, format="records")


def read_frame(frame: pd.DataFrame, source: str = "<DataFrame>") -> Sweep:
    """A pandas DataFrame, one row per trial, read like records (see the module's docstring)."""
    if not isinstance(frame.columns, pd.Index) or isinstance(frame.columns, pd.MultiIndex):
        raise InputError(f"{source}: expected one header row (the DataFrame has a column MultiIndex)")
    return read_records(frame.to_dict("records"), source)


def read_study(study: Any) -> Sweep:
    """A live ``optuna.Study`` (in memory or on any storage), as a storage of it is read."""
    sweep, _ = optuna.from_study(study, study.get_trials(deepcopy=False), f"<study {study.study_name}>",
                                 format="optuna-study")
    sweep.trials.format = sweep.format
    return sweep


def _optuna_shaped(records: Sequence[dict[str, Any]]) -> bool:
    keys = set(records[0])
    return {"number", "state"} <= keys and any(
        k.startswith(("params_", "values_", "value_")) or k == "value" for k in map(str, keys))


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT


def _optuna_cell(value: Any) -> Any:
    if _missing(value) or (isinstance(value, float) and math.isnan(value)):
        return None
    return value
