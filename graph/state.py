"""The graph's state: JSON-native data only, so any checkpointer can store it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
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
    """What a caller gives the graph: ``results_path`` (a file, directory or storage URL) or ``records``.

    Without either the load node stops with an error naming these keys (the CLI's
    ``./results.csv`` default is the CLI's own).
    """

    results_path: Annotated[str, Field(description=(
        "The sweep: a results table (CSV/TSV/Parquet), an Optuna or MLflow SQLite file, a storage URL "
        "(sqlite:///x.db), an MLflow tracking server URL, or a Ray Tune / Keras Tuner / mlruns directory."))]
    records: Annotated[list[dict[str, Any]], Field(description=(
        "Alternatively, the trials as records, one dict per trial (None is missing, NaN a reported non-finite "
        "value; an Optuna trials_dataframe()'s records are read as Optuna's, NaN missing)."))]
    format: Annotated[str, Field(description=(
        "Read results_path as this format (csv, parquet, optuna, wandb, mlflow, raytune, kerastuner, ...); "
        "detected when absent."))]
    study: Annotated[str, Field(description="The Optuna study (or MLflow experiment) to read when the storage holds several.")]
    curves_path: Annotated[str, Field(description=(
        "Per-step curves kept apart: a long-format CSV (trial id, step or epoch, metrics) or a directory of "
        "W&B history CSVs."))]
    mapping: Annotated[dict[str, str], Field(description=(
        "Column -> role over inference and the reader's (id, status, hyperparameter, metric:val_loss, "
        "metric:objective:max, epochs, runtime, error, seed, ignore)."))]


class OutputState(TypedDict, total=False):
    """What the graph returns."""

    report: str
    """The markdown report (``hparam_report.md``)."""
    summary: dict[str, Any]
    """The JSON summary (``hparam_summary.json``): every fact the report states, except that its ``issues``
    are column by column (:meth:`core.records.IssueColumns.to_state`, a few MB for a million trials);
    :func:`core.records.with_issue_rows` gives the rows, and ``Diagnosis.from_dict`` reads either form."""
    report_html: str
    """The same report as one self-contained HTML page (``hparam_report.html``), the pictures inline."""
    pictures: list[dict[str, str]]
    """The report's pictures: ``path`` (as the markdown links it, ``hparam_figures/*.png``), ``title``,
    ``section``; their PNG bytes are inside ``report_html`` (:func:`graph.report.compose.report_files`)."""


class State(InputState, OutputState, total=False):
    """Everything the nodes share: inputs, what was read, roles, notes, the summary, the analysis, the writer's output.

    No table cells: the sweep itself stays in the process's cache (:mod:`graph.inputs`).
    """

    source: str
    """Name of the input, used in messages and the report."""
    sweep_format: str
    """The format the input was read as (``csv``, ``optuna-sqlite``, ``raytune``, ...)."""
    n_trials: int
    """How many trials (rows) were read."""
    n_curve_trials: int | None
    """How many trials the per-step curves hold, or None without curves."""
    roles: dict[str, Any]
    """Column roles (see ``core.roles.ColumnRoles.to_dict``)."""
    notes: Annotated[list[str], add_notes]
    """One-line notices of this run for the user (model fallbacks, removed sentences), appended by nodes
    (the load node starts the list over, see :func:`add_notes`); how the input was read is in the summary."""
    analysis: dict[str, Any]
    """The analyst's patterns, leads and recommendations, possibly phrased by a model."""
    invalid_citations: list[str]
    """Trial ids the last draft cited that the summary does not hold (empty: draft is fine)."""
    revisions: int
    """How many times the writer sent the analysis back."""
    model_started: float | None
    """When this run first called a model (epoch seconds): the one time budget of the run counts from it."""
