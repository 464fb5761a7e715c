"""Ray Tune: an experiment directory, one row per trial, per-iteration results as curves.

Layout (Ray 2.x; 1.x is the same per trial): ``experiment_state-<date>.json`` at the
root holds every trial with its status (TERMINATED, ERROR, RUNNING, PENDING, PAUSED)
and config, including trials that errored before reporting anything; each trial
directory holds ``params.json`` (config), ``result.json`` (one JSON object per
reported iteration), ``progress.csv`` (the same, as a table) and ``error.txt`` when
it failed. Config keys become hyperparameter columns (nested ones joined with ``/``),
the last result gives the metric columns, ``training_iteration`` the epochs and
``time_total_s`` the runtime; the last line of ``error.txt`` is the error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import InputError
from core.loading import RawTable
from core.roles import canonical
from core.sources._common import frame_of, last_line, mark_abandoned, read_json, read_table, text
from core.sources.raytune_space import read_space
from core.sweep import Sweep

_BOOKKEEPING = {
    "timestamp", "date", "pid", "hostname", "node_ip", "done", "trial_id", "config", "time_this_iter_s",
    "time_since_restore", "iterations_since_restore", "checkpoint_dir_name", "experiment_tag", "should_checkpoint",
    "experiment_id", "timesteps_since_restore", "warmup_time", "episodes_this_iter", "timesteps_this_iter",
    "trial_resources", "num_failures", "training_iteration", "time_total_s", "status", "error",
}
_BUDGET = ("training_iteration", "time_total_s")
_TRIAL_FILES = ("params.json", "result.json", "progress.csv", "error.txt")


def _trial_dirs(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and any((p / f).exists() for f in _TRIAL_FILES))
    except OSError:
        return []


def _is_experiment(path: Path) -> bool:
    if any(path.glob("experiment_state*.json")):
        return True
    return any((p / "params.json").exists() for p in _trial_dirs(path))


def _experiment(path: Path) -> Path | None:
    """The experiment directory: ``path`` itself, or its only subdirectory that is one (``~/ray_results``)."""
    if _is_experiment(path):
        return path
    try:
        subdirs = [p for p in path.iterdir() if p.is_dir() and _is_experiment(p)]
    except OSError:
        return None
    return subdirs[0] if len(subdirs) == 1 else None


def is_experiment_dir(path: Path) -> bool:
    """A Ray Tune experiment directory, or a results directory holding exactly one.

    An experiment directory has ``experiment_state-*.json`` or trial directories with ``params.json``.
    """
    return _experiment(path) is not None


def read_experiment(path: Path) -> tuple[Sweep, dict[str, str]]:
    """A Ray Tune experiment directory as a :class:`Sweep` with per-iteration curves."""
    name = str(path)
    experiment = _experiment(path)
    if experiment is None:
        raise InputError(f"{name}: no Ray Tune experiment (experiment_state-*.json or trial directories) in it")
    notes = [] if experiment == path else [f"{name}: read the Ray Tune experiment {experiment.name}/"]
    path = experiment
    states = sorted(path.glob("experiment_state*.json"))
    known = _state_trials(states[-1]) if states else {}
    if len(states) > 1:
        notes.append(f"{name}: {len(states)} experiment_state files; statuses are taken from the latest, {states[-1].name}")
    if not states:
        notes.append(f"{name}: no experiment_state-*.json; statuses are guessed from the trial directories "
                     "(error.txt = ERROR, a final result with done = TERMINATED, else unknown)")
    by_dir = {d.name: d for d in _trial_dirs(path)}
    rows, curve_rows = [], []
    seen_dirs: set[str] = set()
    for trial_id, info in known.items():
        folder = by_dir.get(Path(info.get("logdir") or "").name)
        if folder is not None:
            seen_dirs.add(folder.name)
        row, curves = _trial(trial_id, info, folder)
        rows.append(row)
        curve_rows += curves
    for dirname, folder in by_dir.items():
        if dirname in seen_dirs:
            continue
        row, curves = _trial(None, {}, folder)
        rows.append(row)
        curve_rows += curves
    if not rows:
        raise InputError(f"{name}: a Ray Tune experiment directory with no trials")
    notes += _scheduler_stops(name, rows) + _abandoned(name, rows)
    sweep, renames = _sweep_of_rows(rows, name, notes)
    columns = set(sweep.trials.frame.columns)
    shown = {k: renames.get(f"config/{k}", f"config/{k}") for k in read_space(path)}
    sweep.space = {shown[k]: entry for k, entry in read_space(path).items() if shown[k] in columns}
    if curve_rows:
        sweep.curves = RawTable(frame=frame_of(curve_rows), source=name)
    return sweep, renames


def from_trial_infos(infos: dict[str, dict[str, Any]], name: str) -> Sweep:
    """Trials held in memory (a running Tuner's): trial_id -> ``{status, config, last_result, error_msg, stop}``."""
    if not infos:
        raise InputError(f"{name}: no trials yet")
    rows = [_trial(trial_id, info, None)[0] for trial_id, info in infos.items()]
    return _sweep_of_rows(rows, name, _scheduler_stops(name, rows))[0]


def _sweep_of_rows(rows: list[dict[str, Any]], name: str, notes: list[str]) -> tuple[Sweep, dict[str, str]]:
    """The trial table of rows made by :func:`_trial`, with the roles Ray Tune gives."""
    configs = sorted({k for r in rows for k in r["config"]})
    metrics = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
    renames = {}
    for key in configs:
        renames[key] = key if key not in metrics and key not in ("trial_id", "status", "error") else f"config/{key}"
    table_rows = []
    for r in rows:
        out: dict[str, str | None] = {"trial_id": r["trial_id"], "status": r["status"]}
        out.update({renames[k]: text(r["config"].get(k)) for k in configs})
        out.update({k: text(r["metrics"].get(k)) for k in metrics})
        out["error"] = r["error"]
        table_rows.append(out)
    hints = {"trial_id": "id", "status": "status", "error": "error"}
    hints.update({renames[k]: "hyperparameter" for k in configs})
    if "training_iteration" in metrics:
        hints["training_iteration"] = "epochs"
    if "time_total_s" in metrics:
        hints["time_total_s"] = "runtime"
    frame = frame_of(table_rows)
    if frame["error"].isna().all():
        frame = frame.drop(columns=["error"])
        hints.pop("error")
    sweep = Sweep(trials=RawTable(frame=frame, source=name, notes=notes), role_hints=hints, format="raytune")
    return sweep, {f"config/{k}": v for k, v in renames.items() if v != f"config/{k}"}


_BUDGET_KEYS = {"epochs", "num_epochs", "n_epochs", "max_epochs", "max_t", "budget", "max_iter", "max_iters",
                "max_iterations", "num_iterations", "n_iterations", "iterations", "training_iteration", "max_steps"}
"""Config keys that set a trial's own budget in iterations (a trial that reached it was not stopped early)."""


def _scheduler_stops(name: str, rows: list[dict[str, Any]]) -> list[str]:
    """Mark TERMINATED trials that a scheduler or stopper ended early as ``PRUNED``; one note saying so.

    Ray Tune writes TERMINATED (and ``done``) both for a trial that ran its training
    loop to the end and for one a scheduler (ASHA, HyperBand, median stopping, PBT) or
    a stopper ended at a rung. The scheduler is not on disk (only pickled), so a trial
    counts as stopped early when it finished without error after fewer iterations than
    the longest finished trial and than its own budget (``stop={"training_iteration":
    n}``, or a config key such as ``max_epochs`` / ``max_t``), when it has one.
    """
    def iterations(row: dict[str, Any]) -> float | None:
        value = row["metrics"].get("training_iteration")
        return float(value) if _is_number(value) else None

    finished = [r for r in rows if str(r["status"]).upper() == "TERMINATED" and not r["error"] and iterations(r)]
    if len(finished) < 2:
        return []
    longest = max(iterations(r) or 0 for r in finished)
    stopped = []
    for row in finished:
        own = [v for k, v in [*row["stop"].items(), *row["config"].items()]
               if canonical(k.rsplit("/", 1)[-1]) in _BUDGET_KEYS and _is_number(v)]
        budget = min([longest, *own])
        if (iterations(row) or 0) < budget:
            row["status"] = "PRUNED"
            stopped.append(row)
    if not stopped:
        return []
    reached = sorted({int(iterations(r) or 0) for r in stopped})
    return [f"{name}: {len(stopped)} of {len(finished)} TERMINATED trials ended after fewer iterations "
            f"({', '.join(map(str, reached))}) than the longest ({int(longest)}) and their own budget: stopped by "
            "the scheduler (ASHA, HyperBand, median stopping) or a stopper, by design; read as pruned"]


def _abandoned(name: str, rows: list[dict[str, Any]]) -> list[str]:
    """RUNNING trials left by a driver that stopped (experiment_state's start times, ``time_total_s``): ``ABANDONED``."""
    if not any(str(r["status"]).upper() == "RUNNING" for r in rows):
        return []
    starts = [datetime.fromtimestamp(r["start"], tz=UTC).isoformat() if _is_number(r.get("start")) else None
              for r in rows]
    took = [text(r["metrics"].get("time_total_s")) for r in rows]
    frame = pd.DataFrame({"status": [r["status"] for r in rows], "start": starts, "took": took}, dtype=object)
    notes = mark_abandoned(frame, "status", "start", name, runtime="took")
    for row, status in zip(rows, frame["status"]):
        row["status"] = status
    return notes


def _state_trials(state_file: Path) -> dict[str, dict[str, Any]]:
    """trial_id -> {status, config, logdir, last_result, error_file} from an experiment_state file."""
    data = read_json(state_file, "the Ray Tune experiment state")
    if not isinstance(data, dict):
        raise InputError(f"{state_file}: not a Ray Tune experiment state (expected a JSON object)")
    entries: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for item in data.get("trial_data", []):  # Ray 2.x: [trial json, runtime metadata json]
        trial = _loads(item[0]) if isinstance(item, list) and item else {}
        runtime = _loads(item[1]) if isinstance(item, list) and len(item) > 1 else {}
        entries.append((trial, runtime))
    for item in data.get("checkpoints", []):  # Ray 1.x: one json string (or dict) per trial
        trial = _loads(item) if isinstance(item, str) else dict(item)
        entries.append((trial, trial))
    out: dict[str, dict[str, Any]] = {}
    for trial, runtime in entries:
        trial_id = trial.get("trial_id")
        if not trial_id:
            continue
        out[str(trial_id)] = {
            "status": trial.get("status"),
            "config": trial.get("config") if isinstance(trial.get("config"), dict) else {},
            "logdir": trial.get("relative_logdir") or trial.get("logdir") or trial.get("local_dir"),
            "last_result": runtime.get("last_result") if isinstance(runtime.get("last_result"), dict) else {},
            "error_file": runtime.get("error_filename") or trial.get("error_file"),
            "error_msg": trial.get("error_msg"),
            "stop": trial.get("stopping_criterion") if isinstance(trial.get("stopping_criterion"), dict) else {},
            "start_time": runtime.get("start_time"),
        }
    return out


def _loads(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _trial(trial_id: str | None, info: dict[str, Any], folder: Path | None) -> tuple[dict[str, Any], list[dict]]:
    results = _results(folder) if folder is not None else []
    last = results[-1] if results else dict(info.get("last_result") or {})
    config = dict(info.get("config") or {})
    if folder is not None and (folder / "params.json").exists() and not config:
        loaded = read_json(folder / "params.json", "Ray Tune trial params")
        config = loaded if isinstance(loaded, dict) else {}
    if not config and isinstance(last.get("config"), dict):
        config = last["config"]
    trial_id = trial_id or str(last.get("trial_id") or (folder.name if folder else ""))
    error = None
    error_file = folder / "error.txt" if folder is not None else None
    if error_file is not None and error_file.exists():
        error = last_line(error_file)
    elif info.get("error_msg"):
        error = str(info["error_msg"]).strip().splitlines()[-1]
    status = info.get("status")
    if status is None:
        status = "ERROR" if error else ("TERMINATED" if last.get("done") else None)
    metrics = {k: v for k, v in _flat(last).items()
               if not k.startswith("config/") and (k not in _BOOKKEEPING or k in _BUDGET)}
    row = {"trial_id": trial_id, "status": status, "config": _flat(config), "metrics": metrics, "error": error,
           "stop": dict(info.get("stop") or {}), "start": info.get("start_time")}
    curves = []
    for i, result in enumerate(results, 1):
        flat = {k: v for k, v in _flat(result).items()
                if k not in _BOOKKEEPING and not k.startswith("config/") and _is_number(v)}
        step = result.get("training_iteration", i)
        curves.append({"trial_id": trial_id, "step": text(step), **{k: text(v) for k, v in flat.items()}})
    return row, curves


def _results(folder: Path) -> list[dict[str, Any]]:
    """Every reported result of a trial: result.json lines, else progress.csv rows."""
    result_file = folder / "result.json"
    out: list[dict[str, Any]] = []
    if result_file.exists():
        for line in result_file.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
                if isinstance(item, dict):
                    out.append(item)
        if out:
            return out
    progress = folder / "progress.csv"
    if progress.exists() and progress.stat().st_size:
        try:
            frame = read_table(progress).frame
        except InputError:
            return out
        for record in frame.to_dict("records"):
            out.append({k: _number_or_text(v) for k, v in record.items()})
    return out


def _number_or_text(cell: Any) -> Any:
    if cell is None or cell == "":
        return None
    try:
        return float(cell) if any(ch in str(cell) for ch in ".eEnN") else int(cell)
    except ValueError:
        return cell


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict) and key != "config":
            out.update(_flat(value, name))
        elif isinstance(value, dict):
            out.update(_flat(value, "config"))
        else:
            out[name] = value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
