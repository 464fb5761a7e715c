"""Reading every sweep tool's export as it comes: one entry point, one result.

:func:`read_sweep` takes a file, a directory or a storage URL, finds out which tool
wrote it (or takes ``format=``), and returns a :class:`~core.sweep.Sweep`: the trial
table as text cells, the roles the reader knows for sure, per-step curves when the
tool keeps them, and the format's name. Nothing downstream knows which tool it was.

Formats (``FORMATS``): plain tables (CSV/TSV/Parquet, long-format curves), Optuna
(``trials_dataframe()`` CSV, SQLite storage, other storages through optuna), W&B (UI
export, per-run history CSVs as curves), MLflow (``search_runs()`` CSV, UI CSV,
``mlruns/`` file store, ``mlflow.db``), Ray Tune (experiment directory) and Keras
Tuner (project directory).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from core.errors import InputError
from core.loading import RawTable, check_listable, check_regular
from core.sources import kerastuner, mlflow, mlflow_server, optuna, raytune, tabular, wandb
from core.sources._common import describe_dir, merge_hints, read_table
from core.sources.running import running_best_columns
from core.sweep import Sweep

FORMATS: dict[str, str] = {
    "csv": "results table, one row per trial (CSV/TSV, may be .gz)",
    "parquet": "results table in Parquet",
    "curves": "long-format curves alone (trial id, step/epoch, metrics; one row per trial and step)",
    "optuna-csv": "Optuna trials_dataframe() table",
    "optuna-sqlite": "Optuna SQLite storage (sqlite:///x.db or the .db file)",
    "optuna-storage": "other Optuna storage URL (needs optuna installed)",
    "wandb-csv": "W&B runs table export (wandb_export_*.csv)",
    "mlflow-csv": "MLflow search_runs() table",
    "mlflow-ui-csv": "MLflow UI CSV download",
    "mlflow-store": "MLflow mlruns/ file store",
    "mlflow-sqlite": "MLflow SQLite tracking store (mlflow.db)",
    "mlflow-server": "MLflow tracking server (http://host:5000 --study EXPERIMENT, or MLFLOW_TRACKING_URI)",
    "raytune": "Ray Tune experiment directory",
    "kerastuner": "Keras Tuner project directory",
}
"""Every format :func:`read_sweep` reads, with what it looks like."""

_ALIASES = {
    "tsv": "csv", "table": "csv", "long": "curves", "optuna": "optuna", "wandb": "wandb-csv", "w&b": "wandb-csv",
    "mlflow": "mlflow", "ray": "raytune", "ray-tune": "raytune", "ray_tune": "raytune", "tune": "raytune",
    "keras-tuner": "kerastuner", "keras_tuner": "kerastuner", "kt": "kerastuner",
}
_URL_SCHEMES = ("sqlite://", "postgresql://", "postgres://", "mysql://", "mysql+", "postgresql+", "oracle://", "mssql")


def format_list() -> str:
    """The format names, comma-separated, for messages."""
    return ", ".join(FORMATS)


def read_sweep(
    path: str | os.PathLike[str],
    format: str | None = None,
    study: str | None = None,
    curves: str | os.PathLike[str] | None = None,
    mapping: Mapping[str, str] | None = None,
) -> Sweep:
    """Read a sweep from a file, directory or storage URL.

    Parameters
    ----------
    path : str or path-like
        A table (CSV/TSV/Parquet), an Optuna or MLflow SQLite file, a storage URL
        (``sqlite:///x.db``), or a Ray Tune / Keras Tuner / MLflow ``mlruns`` directory.
    format : str, optional
        Force a format (a name of :data:`FORMATS`, or a tool: ``optuna``, ``wandb``,
        ``mlflow``, ``raytune``, ``kerastuner``); detected when omitted.
    study : str, optional
        The Optuna study (or MLflow experiment) to read when the storage holds several.
    curves : str or path-like, optional
        Per-step values kept elsewhere: a long-format CSV, or W&B per-run history CSVs
        (a directory or one file).
    mapping : mapping of str to str, optional
        ``--map`` entries, column -> role spec (see :func:`core.roles.parse_role_spec`);
        they override the reader's own hints.

    Returns
    -------
    Sweep
        Trials as text cells, role hints (reader's merged with ``mapping``), curves or
        None, and the name of the format read.

    Raises
    ------
    InputError
        One line naming the input, what was found there and the formats that exist.
    """
    name = os.fspath(path)
    server = None if Path(name).exists() else mlflow_server.experiment_from_env(name)
    if server is not None and study is None:  # MLFLOW_TRACKING_URI=http://... and the experiment's name
        name, study = server, name
    shown = without_credentials(name)
    try:
        kind, raw = _resolve(name, format)
        if study is not None and kind not in {"optuna-sqlite", "optuna-storage", "mlflow-store", "mlflow-sqlite",
                                              "mlflow-server"}:
            raise InputError(f"{name}: --study applies to Optuna storages and MLflow stores, not to {kind} input")
        sweep, renames = _read(name, kind, study, raw)
    except InputError as exc:
        if shown == name:
            raise
        raise InputError(str(exc).replace(name, shown)) from None
    if shown != name:  # a storage URL's password must reach no report, summary, state or log
        for table in (sweep.trials, sweep.curves):  # curves read from the storage itself name it too
            if table is not None:
                table.source = table.source.replace(name, shown)
                table.notes[:] = [n.replace(name, shown) for n in table.notes]
    if curves is not None:
        sweep.curves = read_curves(curves, sweep, mapping)
    apply_mapping(sweep, mapping, renames)
    mark_running_best(sweep, mapping, renames)
    sweep.trials.format = sweep.format
    return sweep


def mark_running_best(sweep: Sweep, mapping: Mapping[str, str] | None = None,
                      renames: Mapping[str, str] | None = None) -> None:
    """Running best series in the curves (``best_val_loss`` logged every step) are best values, not curves.

    Each is left out of the curves (``ignore``) and, in the trial table, is an
    objective with its goal (never the held-out loss); ``--map`` entries for a column
    win. One note names them. See :mod:`core.sources.running`.
    """
    curves = sweep.curves
    if curves is None:
        return
    mapped = {dict(renames or {}).get(c, c) for c in (mapping or {})} | set(mapping or {})
    frame = curves.frame
    id_col = next((c for c, s in sweep.curve_hints.items() if s == "id"), "trial_id")
    step_col = next((c for c in ("step", "epoch", "training_iteration") if c in frame.columns), None)
    if id_col not in frame.columns or step_col is None:
        return
    found = {c: g for c, g in running_best_columns(frame, id_col, step_col).items() if c not in mapped}
    if not found:
        return
    table = set(map(str, sweep.trials.frame.columns))
    for col, goal in found.items():
        sweep.curve_hints[col] = "ignore"
        if col in table and sweep.role_hints.get(col, "metric").startswith("metric"):
            sweep.role_hints[col] = f"metric:objective:{goal}"
    names = ", ".join(found)
    sweep.trials.notes.append(f"{sweep.source}: {names} never got worse within any run: a running "
                              f"{'/'.join(sorted(set(found.values())))} (each run's best value), not the "
                              "held-out curve")


_CURVE_ROLES = {"metric", "ignore", "step", "id"}
"""``--map`` roles that mean something for a curve column too."""


def apply_mapping(sweep: Sweep, mapping: Mapping[str, str] | None, renames: Mapping[str, str] | None = None) -> None:
    """Merge ``--map`` entries over the reader's hints, for the trial table and for the curves.

    An entry naming a column of the trial table (as in the file or as shown) goes to
    :attr:`Sweep.role_hints`; one naming a curve column with a role curves have
    (``metric...``, ``ignore``, ``step``) goes to :attr:`Sweep.curve_hints` too. An
    entry naming a column of neither stays in the table's hints, whose check then
    names the columns there are.
    """
    renames = dict(renames or {})
    table_columns = set(map(str, sweep.trials.frame.columns))
    curve_columns = set(map(str, sweep.curves.frame.columns)) if sweep.curves is not None else set()
    for_table: dict[str, str] = {}
    for col, spec in (mapping or {}).items():
        shown = renames.get(col, col)
        in_curves = col in curve_columns or shown in curve_columns
        if in_curves and spec.strip().partition(":")[0].strip().lower() in _CURVE_ROLES:
            sweep.curve_hints[col if col in curve_columns else shown] = spec
        if shown in table_columns or not in_curves:
            for_table[col] = spec
    sweep.role_hints = merge_hints(sweep.role_hints, for_table, renames)
    if sweep.curves is not None:
        sweep.curve_hints = {c: s for c, s in sweep.curve_hints.items() if c in curve_columns}


def without_credentials(name: str) -> str:
    """A storage URL with its user and password removed (``postgresql://u:pw@host/db`` -> ``postgresql://host/db``)."""
    if "://" not in name:
        return name
    parts = urlsplit(name)
    if not (parts.username or parts.password):
        return name
    netloc = parts.netloc.rsplit("@", 1)[1]
    if not netloc:  # a Unix socket (postgresql://u:pw@/db?host=/run/pg): keep the '//' urlunsplit would drop
        return f"{parts.scheme}://{urlunsplit(('', '', parts.path, parts.query, parts.fragment))}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _wanted(name: str, format: str | None) -> str | None:
    if not format:
        return None
    key = format.strip().lower()
    wanted = _ALIASES.get(key, key)
    if wanted not in FORMATS and wanted not in {"optuna", "mlflow"}:
        raise InputError(f"{name}: unknown format {format!r}; formats: {format_list()}")
    return wanted


def _fits(wanted: str | None, found: str) -> bool:
    return wanted in (None, found) or (wanted in ("optuna", "mlflow") and found.startswith(wanted))


def _resolve(name: str, format: str | None) -> tuple[str, RawTable | None]:
    """The format to read ``name`` as (asked for, or found), and the table if one was read to find out."""
    wanted = _wanted(name, format)
    if mlflow_server.is_server_url(name):
        if _fits(wanted, "mlflow-server"):
            return "mlflow-server", None
        raise InputError(f"{name}: an http(s) URL is read as an MLflow tracking server, not as {format}; "
                         f"formats: {format_list()}")
    if name.lower().startswith(_URL_SCHEMES):
        found = _sqlite_kind(optuna.sqlite_path(name), name) if name.lower().startswith("sqlite:") else "optuna-storage"
        if _fits(wanted, found):
            return found, None
        raise InputError(f"{name}: a storage URL is read as {found}, not as {format}; formats: {format_list()}")
    path = Path(name)
    if not path.exists():
        raise InputError(f"{name}: file not found; formats: {format_list()}")
    check_regular(path, name)  # a FIFO, device or socket is refused before anything opens it
    if path.is_dir():
        check_listable(path, name)
        found = _sniff_dir(path, wanted)
        if _fits(wanted, found):
            return found, None
        raise InputError(f"{name}: looks like {found} ({FORMATS[found]}), not {format}; formats: {format_list()}")
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if head.startswith(b"SQLite format 3\x00"):
        found = _sqlite_kind(path, name)
        if _fits(wanted, found):
            return found, None
        raise InputError(f"{name}: looks like {found} ({FORMATS[found]}), not {format}; formats: {format_list()}")
    if path.suffix.lower() in {".db", ".sqlite", ".sqlite3"}:
        what = "an empty file" if not head else f"first bytes {head[:8]!r}"
        raise InputError(f"{name}: not an SQLite database ({what}); formats: {format_list()}")
    if path.suffix.lower() == ".json" or head.lstrip()[:1] in (b"{", b"["):
        raise InputError(_json_hint(path))
    if wanted in {"optuna-sqlite", "optuna-storage", "mlflow-store", "mlflow-sqlite", "raytune", "kerastuner"}:
        raise InputError(f"{name}: a file, but {wanted} is a {FORMATS[wanted]}; formats: {format_list()}")
    raw = read_table(path)
    found = tabular.table_kind(raw, parquet=head.startswith(b"PAR1"))
    if wanted is None:
        return found, raw
    if wanted == "optuna":
        return "optuna-csv", raw
    if wanted == "mlflow":
        return (found if found.startswith("mlflow") else "mlflow-csv"), raw
    if wanted in ("csv", "parquet"):
        return ("parquet" if head.startswith(b"PAR1") else "csv"), raw
    return wanted, raw


def _json_hint(path: Path) -> str:
    parent = path.parent
    if path.name.startswith("experiment_state") or (path.name in {"params.json", "result.json"}):
        where = parent if path.name.startswith("experiment_state") else parent.parent
        return f"{path}: a Ray Tune file; point at the experiment directory {where} instead"
    if path.name in {"trial.json", "oracle.json", "tuner0.json"}:
        where = parent.parent if path.name == "trial.json" else parent
        return f"{path}: a Keras Tuner file; point at the project directory {where} instead"
    return f"{path}: a JSON file, not a sweep export we read; formats: {format_list()}"


def _sqlite_kind(path: Path, name: str) -> str:
    tables = optuna.sqlite_tables(path, name)
    if {"studies", "trials"} <= tables:
        return "optuna-sqlite"
    if {"runs", "experiments"} <= tables and ("latest_metrics" in tables or "metrics" in tables):
        return "mlflow-sqlite"
    shown = ", ".join(sorted(tables)[:6]) or "no tables"
    raise InputError(f"{name}: an SQLite database with {shown}, neither an Optuna storage nor an MLflow store; "
                     f"formats: {format_list()}")


def _sniff_dir(path: Path, wanted: str | None) -> str:
    checks = (("raytune", raytune.is_experiment_dir), ("kerastuner", kerastuner.is_project_dir),
              ("mlflow-store", mlflow.is_file_store))
    for kind, check in checks:
        if wanted in (None, kind, "mlflow") and check(path):
            return kind
    found = [kind for kind, check in checks if check(path)]
    if found:
        return found[0]
    inside = sorted(f"{d.name}/ ({kind})" for d in path.iterdir() if d.is_dir()
                    for kind, check in checks[:2] if check(d))
    if inside:
        raise InputError(f"{path}: holds {len(inside)} sweeps ({', '.join(inside[:5])}); point at one of them")
    raise InputError(f"{path}: {describe_dir(path)}, with no Ray Tune experiment, Keras Tuner project or MLflow "
                     f"mlruns store in it; formats: {format_list()}")


def _read(name: str, kind: str, study: str | None, raw: RawTable | None) -> tuple[Sweep, dict[str, str]]:
    if kind == "optuna-sqlite":
        return optuna.read_sqlite(name, study)
    if kind == "optuna-storage":
        return optuna.read_storage(name, study)
    if kind == "mlflow-sqlite":
        return mlflow.read_sqlite(name, study)
    if kind == "mlflow-store":
        return mlflow.read_file_store(Path(name), study)
    if kind == "mlflow-server":
        return mlflow_server.read_server(name, study, without_credentials(name))
    if kind == "raytune":
        return raytune.read_experiment(Path(name))
    if kind == "kerastuner":
        return kerastuner.read_project(Path(name))
    return _read_table(raw if raw is not None else read_table(Path(name)), kind)


_REQUIRED_COLUMNS = {"optuna-csv": "number", "wandb-csv": "Name", "mlflow-csv": "run_id", "mlflow-ui-csv": "Run ID"}
"""The column a table must have to be read as each export (``--format`` can force a format)."""


def _read_table(raw: RawTable, kind: str) -> tuple[Sweep, dict[str, str]]:
    required = _REQUIRED_COLUMNS.get(kind)
    if required and required not in raw.frame.columns:
        shown = ", ".join(map(str, raw.frame.columns[:10])) + (", ..." if len(raw.frame.columns) > 10 else "")
        raise InputError(f"{raw.source}: cannot be read as {kind} (no {required!r} column; columns are: {shown}); "
                         f"formats: {format_list()}")
    if kind == "optuna-csv":
        return optuna.from_trials_dataframe(raw)
    if kind == "wandb-csv":
        return wandb.from_export(raw)
    if kind == "mlflow-csv":
        return mlflow.from_search_runs(raw)
    if kind == "mlflow-ui-csv":
        return mlflow.from_ui_export(raw)
    if kind == "curves":
        return tabular.from_long_curves(raw)
    reshaped = tabular.reshape_seed_columns(raw)
    if reshaped is not None:
        return Sweep(trials=reshaped[0], role_hints=reshaped[1], format=kind), {}
    return Sweep(trials=raw, format=kind), {}


def read_curves(curves: str | os.PathLike[str], sweep: Sweep, mapping: Mapping[str, str] | None = None) -> RawTable:
    """Curves kept apart from the trial table: a long-format file, or W&B history CSVs matched to ``sweep``'s runs.

    ``mapping`` (``--map``) may name the long file's id or step column.
    """
    path = Path(os.fspath(curves))
    if not path.exists():
        raise InputError(f"{path}: curves file or directory not found")
    check_regular(path, str(path))
    if path.is_dir():
        check_listable(path, str(path))
    if (sweep.format == "wandb-csv" or path.is_dir()) and wandb.looks_like_history(path):
        return wandb.read_histories(path, sweep)
    if path.is_dir():
        raise InputError(f"{path}: {describe_dir(path)}; --curves takes a long-format CSV (trial id, step or epoch, "
                         "metrics) or a directory of W&B history CSVs")
    return tabular.read_long_curves(path, dict(mapping or {}))
