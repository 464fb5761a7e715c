"""Keras Tuner: a project directory of ``trial_<id>/trial.json``, per-epoch observations as curves.

``trial.json`` holds ``trial_id``, ``hyperparameters.values``, ``metrics.metrics.<name>``
(``direction`` and ``observations``: ``[{"value": [v, ...], "step": epoch}]``, one value
per execution, averaged here as Keras Tuner does), ``score`` (the objective's best
value), ``best_step``, ``status`` (COMPLETED, FAILED, INVALID, RUNNING, IDLE, STOPPED)
and ``message`` (the traceback of a failed trial). The objective's name is not on
disk; its direction is taken from the metric whose best value is the score.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.loading import RawTable
from core.sources._common import frame_of, read_json, text
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
        values = (data.get("hyperparameters") or {}).get("values") or {}
        metrics = ((data.get("metrics") or {}).get("metrics")) or {}
        if not values and not metrics and str(data.get("status")) in {"IDLE", "STOPPED"}:
            empty += 1  # an empty placeholder trial, not a run
            continue
        trials.append((str(data.get("trial_id") or file.parent.name.removeprefix("trial_")), data, values, metrics))
    if empty:
        notes.append(f"{name}: {empty} empty IDLE/STOPPED trial(s) (no hyperparameters, no metrics) left out")
    if not trials:
        raise InputError(f"{name}: the Keras Tuner project has no trials with hyperparameters or metrics")
    hp_names = list(dict.fromkeys(k for _, _, values, _ in trials for k in values))
    metric_names = list(dict.fromkeys(k for _, _, _, metrics in trials for k in metrics))
    shown = {k: (k if k not in metric_names and k not in _RESERVED else f"hp/{k}") for k in hp_names}
    rows, curve_rows, directions = [], [], {}
    for trial_id, data, values, metrics in trials:
        row: dict[str, str | None] = {"trial_id": trial_id, "status": text(data.get("status"))}
        row.update({shown[k]: text(values.get(k)) for k in hp_names})
        histories = {m: _history(spec) for m, spec in metrics.items()}
        for metric in metric_names:
            history = histories.get(metric) or []
            row[metric] = text(history[-1][1]) if history else None
        row["score"] = text(data.get("score"))
        steps = [step for history in histories.values() for step, _ in history]
        row["epochs"] = text(max(steps) + 1) if steps else None
        message = data.get("message")
        row["error"] = str(message).strip().splitlines()[-1] if message and str(message).strip() else None
        rows.append(row)
        for metric, spec in metrics.items():
            directions.setdefault(metric, spec.get("direction"))
        by_step: dict[int, dict[str, str | None]] = {}
        for metric, history in histories.items():
            for step, value in history:
                by_step.setdefault(step, {})[metric] = text(value)
        curve_rows += [{"trial_id": trial_id, "epoch": text(step + 1), **cells} for step, cells in sorted(by_step.items())]
    frame = frame_of(rows)
    hints = {"trial_id": "id", "status": "status", "epochs": "epochs", "error": "error"}
    hints.update({shown[k]: "hyperparameter" for k in hp_names})
    goal = _score_goal(trials, directions)
    hints["score"] = "metric:objective" + (f":{goal}" if goal else "")
    for col in ("error", "epochs", "score"):
        if frame[col].isna().all():
            frame = frame.drop(columns=[col])
            hints.pop(col)
    sweep = Sweep(trials=RawTable(frame=frame, source=name, notes=notes), role_hints=hints, format="kerastuner")
    if curve_rows:
        sweep.curves = RawTable(frame=frame_of(curve_rows), source=name)
    return sweep, {k: v for k, v in shown.items() if k != v}


_RESERVED = {"trial_id", "status", "score", "epochs", "error"}


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
