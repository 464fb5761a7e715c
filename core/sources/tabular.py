"""Plain tables: which tool's columns a table has, and long-format curves files.

A table is recognised by its header: Optuna's ``trials_dataframe()`` (``number``,
``state``, ``params_*``), a W&B runs export (``Name``, ``State``, ``Runtime``), MLflow's
``search_runs()`` (``run_id``, ``metrics.*``, ``params.*``) or UI download (``Run ID``,
``Status``), a long curves file (trial ids repeat, a step or epoch column), else a
plain results table whose roles are inferred from the column names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.errors import InputError
from core.loading import RawTable
from core.roles import tokens
from core.sources._common import read_table
from core.sweep import Sweep

if TYPE_CHECKING:
    from core.curves import CurveTable

_WANDB_META = {"Name", "State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep"}


def table_kind(raw: RawTable, *, parquet: bool = False) -> str:
    """Which format a table's header (and ids) say it is; ``csv``/``parquet`` for a plain table."""
    columns = [str(c) for c in raw.frame.columns]
    names = set(columns)
    if "number" in names and "state" in names and any(
        c in ("value", "values") or c.startswith(("value_", "values_", "params_")) for c in columns
    ):
        return "optuna-csv"
    if {"Name", "State"} <= names and len(names & _WANDB_META) >= 4:
        return "wandb-csv"
    if "run_id" in names and any(c.startswith(("metrics.", "params.")) for c in columns):
        return "mlflow-csv"
    if "Run ID" in names and "Status" in names:
        return "mlflow-ui-csv"
    from core.curves import looks_like_curves

    if looks_like_curves(raw.frame):
        return "curves"
    return "parquet" if parquet else "csv"


def from_long_curves(raw: RawTable) -> tuple[Sweep, dict[str, str]]:
    """A long curves file on its own: the curves, and the trial table derived from them.

    The trial table (:func:`trials_from_curves`) has one row per trial:
    columns constant within a trial, each metric's last logged value (a reported NaN
    counts, an empty cell does not) and the last step as ``epochs`` (or ``steps``).
    """
    from core.curves import build_curve_table

    curves = build_curve_table(raw)
    trials = trials_from_curves(curves)
    budget = [c for c in trials.frame.columns if str(c).startswith(("epochs", "steps"))][-1]
    hints = {curves.id_column: "id", budget: "epochs"}
    table = RawTable(frame=trials.frame, source=raw.source, notes=list(trials.notes))
    return Sweep(trials=table, role_hints=hints, curves=raw, format="curves", curve_table=curves), {}


def trials_from_curves(curves: CurveTable) -> RawTable:
    """The one-row-per-trial table of a long curves file, for when it comes alone.

    Columns: the trial id; every column constant within each trial (hyperparameters,
    seed) and the last status/runtime/error value; an outcome flag logged per step
    (``epoch_diverged``) as set when it was set at any step; for each metric its last logged
    value (non-finite kept as ``nan``/``inf``/``-inf``); and the budget used, as the
    last logged step, named ``epochs`` when the step column counts epochs and
    ``steps`` otherwise (both are budget names for :func:`core.roles.infer_roles`).

    The budget is the last step rather than the number of distinct steps because the
    step column is training progress in its own unit: DeepOBS logs epochs 0..100 for a
    100-epoch run (101 distinct steps), nanoGPT evaluates every 250 of 5000 iterations,
    DeepCAVE budgets are 2.67/5.33/8 epochs. Zero-based epoch counters are one short,
    which the budget rules (ratios to the sweep's median) do not notice.

    Cells are text, like :func:`core.loading.read_results` produces.
    """
    from core.curves.cells import exact_text

    n = curves.n_trials
    columns: dict[str, object] = {curves.id_column: curves.trial_ids.to_numpy(dtype=object)}
    for col in curves.trial_columns.columns:
        columns[col] = curves.trial_columns[col].to_numpy(dtype=object)
    for col in curves.metrics.columns:
        last = curves.last_logged_row(col)
        vals = curves.metrics[col].to_numpy()[np.maximum(last, 0)]
        columns[col] = np.where(last >= 0, exact_text(vals), None)
    budget = "epochs" if {"epoch", "epochs"} & set(tokens(curves.step_column)) else "steps"
    if budget in columns:
        budget = f"{budget}_logged"
    columns[budget] = exact_text(curves.last_step())
    frame = pd.DataFrame(columns, dtype=object)
    note = (f"{curves.source}: one row per trial derived from the curves ({n} trials, {len(curves)} rows): "
            f"last logged value of each metric, {budget} = last {curves.step_column}")
    return RawTable(frame=frame, source=curves.source, notes=[*curves.notes, note])


def read_long_curves(path: Path, mapping: dict[str, str] | None = None) -> RawTable:
    """A long-format curves file given with ``--curves`` (CSV/TSV, .gz, Parquet), as it is.

    ``mapping`` (``--map``) may name its id or step column (``config_id=id``).
    """
    from core.curves import looks_like_curves

    raw = read_table(path)
    if not looks_like_curves(raw.frame, mapping):
        raise InputError(f"{path}: not long-format curves (needs a trial id column, e.g. trial_id, whose values "
                         f"repeat and a step or epoch column); columns are: {', '.join(map(str, raw.frame.columns[:12]))}")
    return raw


_SEED_SUFFIX = re.compile(r"^(?P<base>.*?[^_\-. /])[_\-. /]*seed[_\-]?(?P<seed>\d+)$", re.IGNORECASE)
_SEED_PREFIX = re.compile(r"^seed[_\-]?(?P<seed>\d+)[_\-. /]+(?P<base>.+)$", re.IGNORECASE)
_ID_WORDS = ("id", "trial_id", "config_id", "run_id", "configuration", "config", "trial", "name", "run")


def seed_groups(columns: list[str]) -> dict[str, dict[int, str]]:
    """Base name -> {seed: column} for columns that repeat a quantity per seed (``val_loss_seed0``, ``seed1/acc``).

    Only bases logged for the same two or more seeds count (the most common seed set).
    """
    found: dict[str, dict[int, str]] = {}
    for col in columns:
        match = _SEED_SUFFIX.match(col) or _SEED_PREFIX.match(col)
        if match:
            found.setdefault(match["base"], {})[int(match["seed"])] = col
    sets = [tuple(sorted(s)) for s in found.values() if len(s) >= 2]
    if not sets:
        return {}
    common = max(set(sets), key=lambda s: (sets.count(s), len(s)))
    return {base: cols for base, cols in found.items() if tuple(sorted(cols)) == common}


def reshape_seed_columns(raw: RawTable) -> tuple[RawTable, dict[str, str]] | None:
    """A table with one column per seed of a quantity, reshaped to one row per (row, seed); None if it has none.

    ``metric_seed0..3`` and ``train_time_seed0..3`` become ``metric`` and
    ``train_time`` on four rows per original row, with a ``seed`` column and a unique
    ``trial_id`` (the row's own id, or its line number, then ``:seed<k>``), so that
    runs of one configuration are seen as seeds of it. Every other column repeats.
    Returns the new table (with a note) and role hints (``trial_id`` id, ``seed`` seed,
    the original id column as context).
    """
    frame = raw.frame
    columns = [str(c) for c in frame.columns]
    groups = seed_groups(columns)
    if not groups:
        return None
    seeds = sorted(next(iter(groups.values())))
    grouped = {c for cols in groups.values() for c in cols.values()}
    shared = [c for c in columns if c not in grouped and c not in groups]
    seed_col = next(n for n in ("seed", "seed_index", "seed_column") if n not in columns)
    id_col = next(n for n in ("trial_id", "trial_seed_id", "row_seed_id") if n not in columns)
    own_id = next((c for w in _ID_WORDS for c in shared if c.lower() == w and frame[c].notna().all()
                   and frame[c].is_unique), None)
    base_ids = (frame[own_id].astype(str) if own_id else pd.Series(range(1, len(frame) + 1), index=frame.index)
                .astype(str).radd("row"))
    parts = []
    for seed in seeds:
        part = frame[shared].copy()
        part.insert(0, id_col, (base_ids + f":seed{seed}").to_numpy(dtype=object))
        part[seed_col] = str(seed)
        for base, cols in groups.items():
            part[base] = frame[cols[seed]].to_numpy(dtype=object)
        part["_order"] = np.arange(len(frame))
        parts.append(part)
    long = pd.concat(parts, ignore_index=True).sort_values("_order", kind="stable").drop(columns="_order")
    long = long.reset_index(drop=True).astype(object)
    long = long.where(long.notna(), None)  # a missing cell stays None (a reported NaN is the text "nan")
    shown = ", ".join(f"{base}_seed{{{seeds[0]}..{seeds[-1]}}}" if len(seeds) > 2 else base for base in list(groups)[:4])
    note = (f"{raw.source}: {len(groups)} quantit{'y' if len(groups) == 1 else 'ies'} logged once per seed as columns "
            f"({shown}{', ...' if len(groups) > 4 else ''}; seeds {', '.join(map(str, seeds))}): reshaped to one row "
            f"per seed ({len(frame)} rows -> {len(long)} trials, columns {id_col} and {seed_col})")
    hints = {id_col: "id", seed_col: "seed"}
    if own_id:
        hints[own_id] = "ignore"
    return RawTable(frame=long, source=raw.source, notes=[*raw.notes, note], format=raw.format), hints
