"""MLflow: ``search_runs()`` tables, the UI's CSV download, an ``mlruns/`` file store and an ``mlflow.db`` store.

All give one row per run with ``run_id``, ``run_name`` (the ``mlflow.runName`` tag),
``status``, ``start_time``, ``end_time``, ``duration_s``, ``metrics.<k>`` (the latest
value), ``params.<k>`` (strings, cast later like any cell) and ``tags.<k>``; the
``params.``/``metrics.`` prefixes are dropped where no name collides. The stores also
give every metric's history as curves (``trial_id, step, <metric>...``).

MLflow writes a NaN metric as ``nan`` in a file store, as ``is_nan`` in a database,
and an infinite one in a database as +/-1.7976931348623157e308 (the largest float),
which is read back as +/-inf. The file store is read without mlflow, following its
layout: ``<experiment_id>/meta.yaml`` and ``<experiment_id>/<run_id>/{meta.yaml,
params/<key>, metrics/<key>, tags/<key>}`` with ``timestamp value step`` lines in a
metric file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import InputError
from core.loading import RawTable
from core.roles import canonical, classify_metric
from core.sources._common import frame_of, mark_abandoned, readable_names, rename_note, text
from core.sources.optuna import connect
from core.sweep import Sweep

_STATUS_CODES = {"1": "RUNNING", "2": "SCHEDULED", "3": "FINISHED", "4": "FAILED", "5": "KILLED"}
_MAX_FLOAT = 1.7976931348623157e308
_EPOCH_KEYS = {"epoch", "epochs", "step", "steps", "training_iteration"}
_ERROR_KEYS = {"error", "error_message", "error_msg", "exception", "traceback", "failure_reason", "fail_reason"}
_UI_IGNORE = {"Start Time", "Source Type", "Source Name", "User", "Version", "Models", "Dataset", "Source Version",
              "Entry Point", "Git Commit", "Source", "Created", "Lifecycle Stage", "Experiment ID", "Experiment Name"}


# --- tables ----------------------------------------------------------------------------------

def from_search_runs(raw: RawTable) -> tuple[Sweep, dict[str, str]]:
    """A ``mlflow.search_runs().to_csv()`` table as a :class:`Sweep`."""
    frame = raw.frame.copy()
    if "tags.mlflow.runName" in frame.columns and "run_name" not in frame.columns:
        frame.insert(1, "run_name", frame["tags.mlflow.runName"])
        frame = frame.drop(columns=["tags.mlflow.runName"])
    if "start_time" in frame.columns and "end_time" in frame.columns and "duration_s" not in frame.columns:
        start = pd.to_datetime(frame["start_time"], errors="coerce", utc=True, format="mixed")
        end = pd.to_datetime(frame["end_time"], errors="coerce", utc=True, format="mixed")
        seconds = (end - start).dt.total_seconds()
        frame.insert(list(frame.columns).index("end_time") + 1, "duration_s",
                     [None if pd.isna(s) else text(float(s)) for s in seconds])
    return _finish(RawTable(frame=frame, source=raw.source, notes=list(raw.notes)), "mlflow-csv")


def from_ui_export(raw: RawTable) -> tuple[Sweep, dict[str, str]]:
    """The MLflow UI's CSV download (``Start Time, Duration, Run ID, Name, ..., Status``, then unprefixed columns)."""
    frame = raw.frame
    hints: dict[str, str] = {}
    names = frame["Name"].astype("string").str.strip() if "Name" in frame.columns else None
    use_name = names is not None and not (names.isna() | (names == "")).any() and names.is_unique
    hints["Name" if use_name else "Run ID"] = "id"
    if use_name:
        hints["Run ID"] = "ignore"
    hints["Status"] = "status"
    if "Duration" in frame.columns:
        hints["Duration"] = "runtime"
    hints.update({c: "ignore" for c in frame.columns if c in _UI_IGNORE})
    if names is not None and not use_name:
        hints["Name"] = "ignore"
    return Sweep(trials=raw, role_hints=hints, format="mlflow-ui-csv"), {}


def _finish(raw: RawTable, format: str, logged_inf: int = 0) -> tuple[Sweep, dict[str, str]]:
    """Hints and readable names for the normalised run table every MLflow source yields.

    ``logged_inf`` counts the +/-1.797e308 values already read as +/-inf in the
    metric histories (the curves), for the one note on them.
    """
    frame, notes = _without_parents(raw.frame, raw.source)
    notes = list(raw.notes) + notes + mark_abandoned(frame, "status", "start_time", raw.source, end="end_time",
                                                     runtime="duration_s")
    columns = [str(c) for c in frame.columns]
    n_inf = 0
    for col in columns:
        if col.startswith("metrics."):
            fixed = frame[col].map(_unclamp)
            n_inf += int((frame[col].notna() & (fixed != frame[col])).sum())  # a missing cell is no infinity
            frame[col] = fixed
    if n_inf or logged_inf:
        where = f" ({n_inf} of them latest values)" if logged_inf else ""
        notes.append(f"{raw.source}: {max(n_inf, logged_inf)} metric value(s) of +/-1.7976931348623157e308 (how an "
                     f"MLflow database stores infinity) were read as +/-inf{where}")
    hints: dict[str, str] = {}
    names = frame["run_name"].astype("string").str.strip() if "run_name" in columns else None
    use_name = names is not None and not (names.isna() | (names == "")).any() and names.is_unique
    hints["run_name" if use_name else "run_id"] = "id"
    hints["run_id" if use_name else "run_name"] = "ignore"
    hints.update({"status": "status", "duration_s": "runtime", "start_time": "ignore", "end_time": "ignore",
                  "artifact_uri": "ignore", "experiment_id": "ignore"})
    epochs_taken = error_taken = False
    for col in columns:
        if col.startswith("params."):
            hints[col] = "hyperparameter"
        elif col.startswith("metrics."):
            key = col[len("metrics."):]
            if canonical(key) in _EPOCH_KEYS and not epochs_taken:
                hints[col], epochs_taken = "epochs", True
            elif classify_metric(key) is not None:
                hints[col] = f"metric:{key}"
            elif canonical(key) in _EPOCH_KEYS or canonical(key) in {"lr", "learning_rate", "time", "timestamp"}:
                hints[col] = "ignore"
            else:
                hints[col] = "metric:objective"
        elif col.startswith("tags.mlflow."):
            hints[col] = "ignore"
        elif col.startswith("tags."):  # user tags: an error message, a label (inferred), never a metric
            key = canonical(col[len("tags."):])
            if key in _ERROR_KEYS and not error_taken:
                hints[col], error_taken = "error", True
            elif classify_metric(key) is not None or key in _ERROR_KEYS:
                hints[col] = "ignore"
    renames = readable_names(columns, ["params.", "metrics."])
    hints = {renames.get(c, c): spec for c, spec in hints.items() if c in columns}
    if "run_name" not in columns:
        hints.pop("run_name", None)
    notes += rename_note(raw.source, renames, "MLflow params./metrics.")
    table = RawTable(frame=frame.rename(columns=renames), source=raw.source, notes=notes)
    return Sweep(trials=table, role_hints=hints, format=format), renames


_PARENT_TAG = "tags.mlflow.parentRunId"


def parent_runs(frame: pd.DataFrame) -> set[str]:
    """Run ids that other runs of the table name as their parent (``mlflow.parentRunId``)."""
    if _PARENT_TAG not in frame.columns or "run_id" not in frame.columns:
        return set()
    named = {str(v).strip() for v in frame[_PARENT_TAG].dropna()} - {""}
    return named & set(frame["run_id"].astype(str))


def _without_parents(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str]]:
    """The runs without the parents of nested runs (a tuning driver is the sweep, not a trial), and a note.

    Columns only the parents filled (the driver's own params) go with them; the parent
    tag itself is context.
    """
    parents = parent_runs(frame)
    if not parents:
        return frame.copy(), []
    is_parent = frame["run_id"].astype(str).isin(parents)
    names = frame.loc[is_parent, "run_name"] if "run_name" in frame.columns else frame.loc[is_parent, "run_id"]
    children = frame[~is_parent]
    kept = [c for c in frame.columns if c in ("run_id", "run_name", _PARENT_TAG)
            or children[c].astype("string").str.strip().fillna("").ne("").any()]
    shown = ", ".join(repr(str(n)) for n in names.head(3)) + (", ..." if len(names) > 3 else "")
    n_children = int(frame[_PARENT_TAG].astype("string").isin(list(parents)).sum())
    return children[kept].reset_index(drop=True), [
        f"{source}: {len(parents)} parent run(s) of {n_children} nested runs ({shown}) are the sweep, not trials: "
        "left out"]


def _unclamp(cell: Any) -> Any:
    if cell is None:
        return None
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return cell
    if abs(value) == _MAX_FLOAT:
        return "inf" if value > 0 else "-inf"
    return cell


# --- mlruns/ file store ------------------------------------------------------------------------

def _meta(path: Path) -> dict[str, str]:
    """A flat ``meta.yaml`` (``key: value`` lines) as a dict of strings."""
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        if not line or line[0] in " -#" or ":" not in line:
            continue
        key, _, value = line.partition(":")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1].replace("''", "'")
        out[key.strip()] = "" if value in ("null", "~") else value
    return out


def _experiment_dirs(root: Path) -> list[Path]:
    if "experiment_id" in _meta(root / "meta.yaml") and "run_id" not in _meta(root / "meta.yaml"):
        return [root]
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    return [p for p in children if "experiment_id" in _meta(p / "meta.yaml") and "run_id" not in _meta(p / "meta.yaml")]


def _run_dirs(experiment: Path) -> list[Path]:
    return sorted(p for p in experiment.iterdir()
                  if p.is_dir() and ({"run_id", "run_uuid"} & set(_meta(p / "meta.yaml"))))


def is_file_store(path: Path) -> bool:
    """An ``mlruns/`` directory (or one experiment of it, or a folder holding ``mlruns/``) with runs."""
    root = path / "mlruns" if (path / "mlruns").is_dir() and not (path / "meta.yaml").exists() else path
    return any(_run_dirs(e) for e in _experiment_dirs(root))


def read_file_store(path: Path, experiment: str | None = None) -> tuple[Sweep, dict[str, str]]:
    """An MLflow file store: one experiment's runs, their latest metrics and every metric's history."""
    root = path / "mlruns" if (path / "mlruns").is_dir() and not (path / "meta.yaml").exists() else path
    experiments = {e: _meta(e / "meta.yaml") for e in _experiment_dirs(root)}
    with_runs = {e: m for e, m in experiments.items() if _run_dirs(e)}
    chosen = _choose_experiment(str(path), with_runs, experiment, lambda e, m: (m.get("name", ""), e.name))
    runs, curve_rows, deleted = [], [], 0
    for run_dir in sorted(_run_dirs(chosen), key=_start_time):
        meta = _meta(run_dir / "meta.yaml")
        if meta.get("lifecycle_stage") == "deleted":
            deleted += 1
            continue
        run_id = meta.get("run_id") or meta.get("run_uuid") or run_dir.name
        tags = _key_files(run_dir / "tags")
        params = _key_files(run_dir / "params")
        histories = {key: _metric_history(file) for key, file in _key_paths(run_dir / "metrics").items()}
        row = _run_row(run_id, meta.get("run_name") or tags.get("mlflow.runName"),
                       _STATUS_CODES.get(meta.get("status", ""), meta.get("status")),
                       meta.get("start_time"), meta.get("end_time"), meta.get("experiment_id"))
        row.update({f"metrics.{k}": text(_latest(h)) for k, h in sorted(histories.items()) if h})
        row.update({f"params.{k}": v for k, v in sorted(params.items())})
        row.update({f"tags.{k}": v for k, v in sorted(tags.items()) if k != "mlflow.runName"})
        runs.append(row)
        curve_rows += _curve_rows(row, histories)
    name = str(path)
    if not runs:
        raise InputError(f"{name}: the MLflow experiment {with_runs[chosen].get('name', chosen.name)!r} has no "
                         f"active runs ({deleted} deleted)")
    notes = [f"{name}: read experiment {with_runs[chosen].get('name', chosen.name)!r}"
             + (f" (1 of {len(with_runs)} with runs)" if len(with_runs) > 1 else "")
             + (f"; {deleted} deleted run(s) left out" if deleted else "")]
    return _table_and_curves(runs, curve_rows, name, notes, "mlflow-store")


def _start_time(run_dir: Path) -> tuple[int, str]:
    start = _meta(run_dir / "meta.yaml").get("start_time", "")
    return (int(start) if start.isdigit() else 0, run_dir.name)


def _choose_experiment(name: str, experiments: dict[Any, dict[str, Any]], wanted: str | None, label: Any) -> Any:
    if not experiments:
        raise InputError(f"{name}: an MLflow store with no runs")
    pairs = {e: label(e, m) for e, m in experiments.items()}
    if wanted is not None:
        for e, (exp_name, exp_id) in pairs.items():
            if wanted in (exp_name, str(exp_id)):
                return e
        listing = ", ".join(f"{n} (id {i})" for n, i in pairs.values())
        raise InputError(f"{name}: no experiment named {wanted!r}; experiments with runs: {listing}")
    if len(experiments) > 1:
        listing = ", ".join(f"{n} (id {i})" for n, i in list(pairs.values())[:10])
        raise InputError(f"{name}: {len(experiments)} experiments have runs ({listing}); choose one with --study NAME")
    return next(iter(experiments))


def _key_paths(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {file.relative_to(folder).as_posix(): file for file in sorted(folder.rglob("*")) if file.is_file()}


def _key_files(folder: Path) -> dict[str, str]:
    return {key: file.read_text(encoding="utf-8", errors="replace") for key, file in _key_paths(folder).items()}


def _metric_history(file: Path) -> list[tuple[int, int, str]]:
    """(step, timestamp, value text) per line of a metric file (``timestamp value [step]``)."""
    out = []
    for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        try:
            stamp, step = int(parts[0]), int(parts[2]) if len(parts) > 2 else 0
        except ValueError:
            continue
        out.append((step, stamp, parts[1]))
    return out


def _latest(history: list[tuple[int, int, Any]]) -> Any:
    """MLflow's latest value: the largest step, then the latest timestamp."""
    return max(history, key=lambda item: (item[0], item[1]))[2]


def _run_row(run_id: str, run_name: str | None, status: str | None, start_ms: Any, end_ms: Any,
             experiment_id: Any) -> dict[str, str | None]:
    start, end = _ms(start_ms), _ms(end_ms)
    return {
        "run_id": run_id, "run_name": run_name or None, "experiment_id": text(experiment_id), "status": status,
        "start_time": start.isoformat(sep=" ", timespec="milliseconds") if start else None,
        "end_time": end.isoformat(sep=" ", timespec="milliseconds") if end else None,
        "duration_s": text((end - start).total_seconds()) if start and end else None,
    }


def _ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def _curve_rows(row: dict[str, Any], histories: dict[str, list[tuple[int, int, Any]]]) -> list[dict[str, Any]]:
    by_step: dict[int, dict[str, Any]] = {}
    for key, history in histories.items():
        for step, _stamp, value in sorted(history, key=lambda item: (item[0], item[1])):
            by_step.setdefault(step, {})[f"metrics.{key}"] = text(value) if not isinstance(value, str) else value
    return [{"trial_id": row["run_id"], "step": str(step), **values} for step, values in sorted(by_step.items())]


REPORT_TAG = "hparam_inspector.source"
"""Tag of the runs ``--log-to mlflow`` creates: they hold a report, not a trial."""


def _table_and_curves(runs: list[dict[str, Any]], curve_rows: list[dict[str, Any]], name: str, notes: list[str],
                      format: str) -> tuple[Sweep, dict[str, str]]:
    reports = {r["run_id"] for r in runs if r.get(f"tags.{REPORT_TAG}") is not None}
    if reports:
        runs = [r for r in runs if r["run_id"] not in reports]
        curve_rows = [r for r in curve_rows if r["trial_id"] not in reports]
        notes = [*notes, f"{name}: {len(reports)} hparam-inspector report run(s) (--log-to mlflow) left out"]
        if not runs:
            raise InputError(f"{name}: the experiment holds only hparam-inspector report runs, no trials")
    frame = frame_of(runs)
    parents = parent_runs(frame)
    curve_rows = [r for r in curve_rows if r["trial_id"] not in parents]
    names = frame["run_name"].astype("string").str.strip()
    if not ((names.isna() | (names == "")).any() or not names.is_unique):  # unique names: they are the trial ids
        # Curve rows are keyed by run id (names may repeat); switch to names only when they are unique.
        name_of = dict(zip(frame["run_id"], frame["run_name"].astype(str), strict=False))
        for r in curve_rows:
            r["trial_id"] = name_of.get(r["trial_id"], r["trial_id"])
    curves = None
    logged_inf = 0
    if curve_rows:
        curve_frame = frame_of(curve_rows)
        n_inf = 0
        for col in curve_frame.columns:
            if col.startswith("metrics."):
                fixed = curve_frame[col].map(_unclamp)
                n_inf += int((curve_frame[col].notna() & (fixed != curve_frame[col])).sum())
                curve_frame[col] = fixed
        logged_inf = n_inf
        curves = RawTable(frame=curve_frame.rename(columns=lambda c: c[len("metrics."):] if c.startswith("metrics.")
                                                  else c), source=name)
    sweep, renames = _finish(RawTable(frame=frame, source=name, notes=notes), format, logged_inf)
    sweep.curves = curves  # metric columns named as logged (val_loss, train/loss)
    return sweep, renames


# --- mlflow.db (SQLAlchemy store) ----------------------------------------------------------------

def read_sqlite(name: str, experiment: str | None = None) -> tuple[Sweep, dict[str, str]]:
    """An MLflow SQLite tracking store (``mlflow.db``, MLflow's default backend since 3.x), read with sqlite3."""
    from core.sources.optuna import sqlite_path

    path = sqlite_path(name) if name.lower().startswith("sqlite:") else Path(name)
    with connect(path, name) as con:
        experiments = {row[0]: {"name": row[1]} for row in con.execute(
            "select experiment_id, name from experiments where lifecycle_stage != 'deleted' and experiment_id in "
            "(select experiment_id from runs where lifecycle_stage = 'active')")}
        chosen = _choose_experiment(name, experiments, experiment, lambda e, m: (m["name"], e))
        runs: dict[str, dict[str, Any]] = {}
        for run_id, run_name, status, start, end in con.execute(
            "select run_uuid, name, status, start_time, end_time from runs "
            "where experiment_id = ? and lifecycle_stage = 'active' order by start_time, run_uuid", (chosen,)
        ):
            runs[run_id] = _run_row(run_id, run_name, status, start, end, chosen)
        in_exp = "run_uuid in (select run_uuid from runs where experiment_id = ? and lifecycle_stage = 'active')"
        histories: dict[str, dict[str, list[tuple[int, int, Any]]]] = {r: {} for r in runs}
        for key, value, stamp, run_id, step, is_nan in con.execute(
            f"select key, value, timestamp, run_uuid, step, is_nan from metrics where {in_exp}", (chosen,)
        ):
            histories[run_id].setdefault(key, []).append((int(step or 0), int(stamp or 0),
                                                          "nan" if is_nan else text(float(value))))
        params: dict[str, dict[str, str]] = {r: {} for r in runs}
        for key, value, run_id in con.execute(f"select key, value, run_uuid from params where {in_exp}", (chosen,)):
            params[run_id][key] = value
        tags: dict[str, dict[str, str]] = {r: {} for r in runs}
        for key, value, run_id in con.execute(f"select key, value, run_uuid from tags where {in_exp}", (chosen,)):
            tags[run_id][key] = value
    rows, curve_rows = [], []
    for run_id, row in runs.items():
        row["run_name"] = row["run_name"] or tags[run_id].get("mlflow.runName")
        row.update({f"metrics.{k}": _latest(h) for k, h in sorted(histories[run_id].items()) if h})
        row.update({f"params.{k}": v for k, v in sorted(params[run_id].items())})
        row.update({f"tags.{k}": v for k, v in sorted(tags[run_id].items()) if k != "mlflow.runName"})
        rows.append(row)
        curve_rows += _curve_rows(row, histories[run_id])
    notes = [f"{name}: read experiment {experiments[chosen]['name']!r}"
             + (f" (1 of {len(experiments)} with runs)" if len(experiments) > 1 else "")]
    return _table_and_curves(rows, curve_rows, name, notes, "mlflow-sqlite")

