"""Keras Tuner: a project directory of ``trial_<id>/trial.json``, per-epoch observations as curves.

``trial.json`` holds ``trial_id``, ``hyperparameters.values``, ``metrics.metrics.<name>``
(``direction`` and ``observations``: ``[{"value": [v, ...], "step": epoch}]``, one value
per execution, averaged here as Keras Tuner does), ``score`` (the objective's best
value), ``best_step``, ``status`` (COMPLETED, FAILED, INVALID, RUNNING, IDLE, STOPPED)
and ``message`` (the traceback of a failed trial). The objective's name is not on
disk; its direction is taken from the metric whose best value is the score.

A tuner fitting a Keras model stores one observation per metric, at the best epoch
(``best_step``): that is the trial's best value, not a curve, and says nothing of how
long it trained. So curves are kept only when some metric was observed at two steps
or more, and the epochs are Hyperband's ``tuner/epochs`` (what it trained the model
to), else the observed steps when there is a curve, else unknown. Hyperband's other
bookkeeping (``tuner/initial_epoch``, ``tuner/bracket``, ``tuner/round``,
``tuner/trial_id``) is context, and a trial it trained to a rung below
``max_epochs`` (in ``oracle.json``) was stopped there by design: it is read as pruned.
The declared space (``hyperparameters.space``: Int, Float, Choice, Boolean, Fixed)
becomes :attr:`~core.sweep.Sweep.space`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.loading import RawTable
from core.sources._common import frame_of, read_json, space_entry, text
from core.sweep import Sweep


def _project(path: Path) -> Path | None:
    if any(path.glob("trial_*/trial.json")):
        return path
    subdirs = [p for p in path.iterdir() if p.is_dir() and any(p.glob("trial_*/trial.json"))] if path.is_dir() else []
    return subdirs[0] if len(subdirs) == 1 else None


def is_project_dir(path: Path) -> bool:
    """A Keras Tuner project directory (or the tuner ``directory`` holding exactly one project)."""
    try:
        return _project(path) is not None
    except OSError:
        return False


def _object(data: dict[str, Any], key: str, file: Path) -> dict[str, Any]:
    """``data[key]`` when it is a JSON object ({} when absent); anything else is an InputError naming the file."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{file}: {key!r} is a {type(value).__name__}, expected a JSON object; not a Keras Tuner trial")
    return value


def read_project(path: Path) -> tuple[Sweep, dict[str, str]]:
    """A Keras Tuner project as a :class:`Sweep` with per-epoch curves."""
    name = str(path)
    project = _project(path)
    if project is None:
        raise InputError(f"{name}: no Keras Tuner project (trial_*/trial.json) in it")
    notes = [] if project == path else [f"{name}: read the Keras Tuner project {project.name}/"]
    trials, empty = [], 0
    for file in sorted(project.glob("trial_*/trial.json"), key=lambda f: _order(f.parent.name)):
        data = read_json(file, "Keras Tuner trial")
        if not isinstance(data, dict):
            raise InputError(f"{file}: not a Keras Tuner trial (expected a JSON object)")
        values = _object(_object(data, "hyperparameters", file), "values", file)
        metrics = _object(_object(data, "metrics", file), "metrics", file)
        if not values and not metrics and str(data.get("status")) in {"IDLE", "STOPPED"}:
            empty += 1  # an empty placeholder trial, not a run
            continue
        trials.append((str(data.get("trial_id") or file.parent.name.removeprefix("trial_")), data, values, metrics))
    if empty:
        notes.append(f"{name}: {empty} empty IDLE/STOPPED trial(s) (no hyperparameters, no metrics) left out")
    if not trials:
        raise InputError(f"{name}: the Keras Tuner project has no trials with hyperparameters or metrics")
    oracle = _oracle(project)
    notes += _hyperband_stops(name, trials, oracle)
    hp_names = list(dict.fromkeys(k for _, _, values, _ in trials for k in values))
    metric_names = list(dict.fromkeys(k for _, _, _, metrics in trials for k in metrics))
    shown = {k: (k if k not in metric_names and k not in _RESERVED else f"hp/{k}") for k in hp_names}
    rows, curve_rows, directions = [], [], {}
    has_curves = any(len(_history(spec)) > 1 for _, _, _, metrics in trials for spec in metrics.values())
    for trial_id, data, values, metrics in trials:
        row: dict[str, str | None] = {"trial_id": trial_id, "status": text(data.get("status"))}
        row.update({shown[k]: text(values.get(k)) for k in hp_names})
        histories = {m: _history(spec) for m, spec in metrics.items()}
        for metric in metric_names:
            history = histories.get(metric) or []
            row[metric] = text(history[-1][1]) if history else None
        row["score"] = text(data.get("score"))
        steps = [step for history in histories.values() for step, _ in history]
        row["epochs"] = text(max(steps) + 1) if steps and has_curves else None
        message = data.get("message")
        row["error"] = str(message).strip().splitlines()[-1] if message and str(message).strip() else None
        rows.append(row)
        for metric, spec in metrics.items():
            directions.setdefault(metric, spec.get("direction"))
        by_step: dict[int, dict[str, str | None]] = {}
        for metric, history in histories.items():
            for step, value in history:
                by_step.setdefault(step, {})[metric] = text(value)
        if has_curves:
            curve_rows += [{"trial_id": trial_id, "epoch": text(step + 1), **cells}
                           for step, cells in sorted(by_step.items())]
    frame = frame_of(rows)
    hints = {"trial_id": "id", "status": "status", "epochs": "epochs", "error": "error"}
    hints.update({shown[k]: "hyperparameter" for k in hp_names})
    if "tuner/epochs" in hp_names:  # what Hyperband trained the model to: the trial's epochs
        hints = {c: r for c, r in hints.items() if r != "epochs"} | {shown["tuner/epochs"]: "epochs"}
    hints.update({shown[k]: "ignore" for k in hp_names if k.startswith("tuner/") and k != "tuner/epochs"})
    if not has_curves and any(d.get("best_step") is not None for _, d, _, _ in trials):
        notes.append(f"{name}: Keras Tuner kept each metric at its best epoch only (no per-epoch curves)")
    goal = _score_goal(trials, directions)
    hints["score"] = "metric:objective" + (f":{goal}" if goal else "")
    for col in ("error", "epochs", "score"):
        if frame[col].isna().all():
            frame = frame.drop(columns=[col])
            hints.pop(col, None)
    sweep = Sweep(trials=RawTable(frame=frame, source=name, notes=notes), role_hints=hints, format="kerastuner")
    sweep.space = {shown[k]: v for k, v in _space(oracle, trials).items() if k in shown}
    if curve_rows:
        sweep.curves = RawTable(frame=frame_of(curve_rows), source=name)
    return sweep, {k: v for k, v in shown.items() if k != v}


_RESERVED = {"trial_id", "status", "score", "epochs", "error"}


def _oracle(project: Path) -> dict[str, Any]:
    """``oracle.json`` of the project (the tuner's settings and space), or empty."""
    file = project / "oracle.json"
    data = read_json(file, "Keras Tuner oracle") if file.is_file() else {}
    return data if isinstance(data, dict) else {}


def _hyperband_stops(name: str, trials: list[tuple[str, dict, dict, dict]], oracle: dict[str, Any]) -> list[str]:
    """Mark trials Hyperband trained to a rung below ``max_epochs`` as ``PRUNED``; one note saying so."""
    max_epochs = oracle.get("max_epochs")
    if not isinstance(max_epochs, int | float) or not any("tuner/epochs" in values for _, _, values, _ in trials):
        return []
    continued = {str(values["tuner/trial_id"]) for _, _, values, _ in trials if values.get("tuner/trial_id")}
    stopped = []
    for trial_id, data, values, _ in trials:
        epochs = values.get("tuner/epochs")
        if str(data.get("status")) == "COMPLETED" and isinstance(epochs, int | float) and epochs < max_epochs:
            data["status"] = "PRUNED"
            stopped.append((trial_id, epochs))
    if not stopped:
        return []
    rungs = ", ".join(str(int(e)) for e in sorted({e for _, e in stopped}))
    promoted = sum(t in continued for t, _ in stopped)
    return [f"{name}: Hyperband (max_epochs={int(max_epochs)}, factor={oracle.get('factor')}) trained {len(stopped)} "
            f"of {len(trials)} trials only to a rung ({rungs} epochs), by design: read as pruned ({promoted} of them "
            "were continued as later trials)"]


def _space(oracle: dict[str, Any], trials: list[tuple[str, dict, dict, dict]]) -> dict[str, dict[str, Any]]:
    """The declared ``hyperparameters.space`` (the oracle's, else the last trial's) as search-space entries."""
    space = (oracle.get("hyperparameters") or {}).get("space")
    if not space and trials:
        space = (trials[-1][1].get("hyperparameters") or {}).get("space")
    out: dict[str, dict[str, Any]] = {}
    for item in space or []:
        config = item.get("config") if isinstance(item, dict) else None
        if not isinstance(config, dict) or not config.get("name"):
            continue
        kind, sampling = item.get("class_name"), config.get("sampling")
        if kind in ("Int", "Float"):
            log = sampling in ("log", "reverse_log")
            step = config.get("step") if kind == "Float" or not log else None
            out[str(config["name"])] = space_entry("int" if kind == "Int" else "float", "kerastuner",
                                                   config.get("min_value"), config.get("max_value"), log,
                                                   step if kind == "Float" else (step or 1) if not log else None)
        elif kind in ("Choice", "Boolean", "Fixed"):
            choices = {"Choice": config.get("values"), "Boolean": [False, True], "Fixed": [config.get("value")]}[kind]
            out[str(config["name"])] = space_entry("categorical", "kerastuner", choices=list(choices or []))
    return out


def _order(dirname: str) -> tuple[int, str]:
    suffix = dirname.removeprefix("trial_")
    return (int(suffix), suffix) if suffix.isdigit() else (1 << 30, suffix)


def _history(spec: Any) -> list[tuple[int, float]]:
    """(step, mean over executions) per observation, by step."""
    out = []
    for obs in (spec or {}).get("observations", []) if isinstance(spec, dict) else []:
        value = obs.get("value")
        values = value if isinstance(value, list) else [value]
        numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers:
            out.append((int(obs.get("step") or 0), math.fsum(numbers) / len(numbers)))
    return sorted(out)


def _score_goal(trials: list[tuple[str, dict, dict, dict]], directions: dict[str, Any]) -> str | None:
    """The direction of the metric whose best value equals the score, in every trial where both exist."""
    for metric, direction in directions.items():
        if direction not in ("min", "max"):
            continue
        checked = 0
        for _, data, _, metrics in trials:
            score = data.get("score")
            history = _history(metrics.get(metric))
            values = [v for _, v in history if not math.isnan(v)]
            if score is None or not values:
                continue
            best = min(values) if direction == "min" else max(values)
            if not math.isclose(best, float(score), rel_tol=1e-9, abs_tol=1e-12):
                break
            checked += 1
        else:
            if checked:
                return str(direction)
    return None
