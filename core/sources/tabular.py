"""Plain tables: which tool's columns a table has, and long-format curves files.

A table is recognised by its header: Optuna's ``trials_dataframe()`` (``number``,
``state``, ``params_*``), a W&B runs export (``Name``, ``State``, ``Runtime``), MLflow's
``search_runs()`` (``run_id``, ``metrics.*``, ``params.*``) or UI download (``Run ID``,
``Status``), a long curves file (trial ids repeat, a step or epoch column), else a
plain results table whose roles are inferred from the column names.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.loading import RawTable
from core.sources._common import read_table
from core.sweep import Sweep

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

    The trial table (:func:`core.curves.trials_from_curves`) has one row per trial:
    columns constant within a trial, each metric's last logged value (a reported NaN
    counts, an empty cell does not) and the last step as ``epochs`` (or ``steps``).
    """
    from core.curves import build_curve_table, trials_from_curves

    curves = build_curve_table(raw)
    trials = trials_from_curves(curves)
    budget = [c for c in trials.frame.columns if str(c).startswith(("epochs", "steps"))][-1]
    hints = {curves.id_column: "id", budget: "epochs"}
    table = RawTable(frame=trials.frame, source=raw.source, notes=list(trials.notes))
    return Sweep(trials=table, role_hints=hints, curves=raw, format="curves"), {}


def read_long_curves(path: Path) -> RawTable:
    """A long-format curves file given with ``--curves`` (CSV/TSV, .gz, Parquet), as it is."""
    from core.curves import looks_like_curves

    raw = read_table(path)
    if not looks_like_curves(raw.frame):
        raise InputError(f"{path}: not long-format curves (needs a trial id column, e.g. trial_id, whose values "
                         f"repeat and a step or epoch column); columns are: {', '.join(map(str, raw.frame.columns[:12]))}")
    return raw
