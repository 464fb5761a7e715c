"""The graph's state: JSON-native data only, so any checkpointer can store it."""

from __future__ import annotations

from typing import Annotated, Any

from typing_extensions import TypedDict


def add_notes(current: list[str] | None, update: list[str] | dict[str, list[str]]) -> list[str]:
    """Reducer of ``notes``: a list is appended; ``{"replace": [...]}`` starts over.

    The load node starts over, so a thread that runs the graph again (Studio reuses
    threads) does not carry the previous run's notices into the new report.
    """
    if isinstance(update, dict):
        return list(update["replace"])
    return [*(current or []), *update]


class InputState(TypedDict, total=False):
    """What a caller gives the graph: a results file path, or the rows themselves."""

    results_path: str
    """Path of a CSV/TSV results table, one row per trial."""
    records: list[dict[str, Any]]
    """Alternatively, the trials as records (``None`` is missing, ``"nan"``/NaN non-finite)."""
    format: str
    """Input format to read ``results_path`` as (``optuna``, ``wandb``, ``mlflow``, ``raytune``, ...); detected if absent."""
    study: str
    """The Optuna study (or MLflow experiment) to read when the storage holds several."""
    curves_path: str
    """Per-step curves kept apart: a long-format CSV, or a directory of W&B history CSVs."""
    mapping: dict[str, str]
    """Column -> role (``id``, ``status``, ``hyperparameter``, ``metric:val_loss``, ...), over inference and the reader's."""


class OutputState(TypedDict, total=False):
    """What the graph returns."""

    report: str
    """The markdown report (``hparam_report.md``)."""
    summary: dict[str, Any]
    """The JSON summary (``hparam_summary.json``): every fact the report states."""


class State(InputState, OutputState, total=False):
    """Everything the nodes share."""

    source: str
    """Name of the input, used in messages and the report."""
    raw: dict[str, list[str | None]]
    """The results table as raw text cells, column by column."""
    curves: dict[str, list[str | None]] | None
    """Per-step curves in long format (``trial_id``, step, metrics) as raw text cells, or None."""
    sweep_format: str
    """The format the input was read as (``csv``, ``optuna-sqlite``, ``raytune``, ...)."""
    role_hints: dict[str, str]
    """Roles the reader knew for certain, merged with ``mapping`` (given to role inference)."""
    curve_hints: dict[str, str]
    """Roles of curve columns the reader knew, merged with ``mapping`` (given to the curve table)."""
    search_space: dict[str, dict[str, Any]]
    """The search space the input declares (``core.sweep.Sweep.space``), empty when it declares none."""
    roles: dict[str, Any]
    """Column roles (see ``core.roles.ColumnRoles.to_dict``)."""
    notes: Annotated[list[str], add_notes]
    """One-line notices for the user (file encoding, model fallbacks), appended by nodes
    (the load node starts the list over, see :func:`add_notes`)."""
    analysis: dict[str, Any]
    """The analyst's patterns, leads and recommendations, possibly phrased by a model."""
    invalid_citations: list[str]
    """Trial ids the last draft cited that the summary does not hold (empty: draft is fine)."""
    revisions: int
    """How many times the writer sent the analysis back."""
    model_started: float | None
    """When this run first called a model (epoch seconds): the one time budget of the run counts from it."""
