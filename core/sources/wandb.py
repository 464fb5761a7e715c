"""Weights & Biases: the runs table exported from the UI, and per-run history CSVs as curves.

The UI export (``wandb_export_<timestamp>.csv``) has ``Name, State, Notes, User, Tags,
Created, Runtime, Sweep``, then config and summary columns unprefixed, nested keys
joined with dots (``optimizer.lr``) and metric names as logged (``val/loss``,
``val/loss.min``). It has no run id unless the ``ID`` column was shown, and names
repeat across seeds: runs are then told apart as ``Name:1``, ``Name:2``, ... in order
of ``Created``. A history CSV (``run.history()`` or the UI's panel download) has one
row per ``_step``; it is matched to its run by the run id in its file name, else by
name and start time (``_timestamp - _runtime`` against ``Created``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from core.errors import InputError
from core.loading import RawTable
from core.roles import classify_metric, is_step_count
from core.sources._common import mark_abandoned, read_table
from core.sweep import Sweep
from core.values import parse_numeric, unparsed_mask

_META = {"Name", "State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep", "ID", "Group", "Job Type",
         "Hostname", "Host", "GPU Type", "GPU Count", "Commit", "GitHub", "Updated", "Heartbeat", "End Time",
         "Start Time", "Project", "Entity", "Command", "Python", "OS", "Git Remote", "CPU Count", "Agent", "Sweep ID",
         "Description"}
_STATUS = "State"
_RUNTIME = "Runtime"
_START_TOLERANCE_S = 180.0


def from_export(raw: RawTable) -> tuple[Sweep, dict[str, str]]:
    """A W&B runs table export as a :class:`Sweep` (no curves; see :func:`read_histories`)."""
    frame = raw.frame.copy()
    notes = list(raw.notes)
    hints: dict[str, str] = {}
    id_col = _id_column(frame)
    if id_col is None:
        id_col = next(c for c in ("trial_id", "run", "wandb_run") if c not in frame.columns)
        frame.insert(0, id_col, _numbered_names(frame))
        n_names = frame["Name"].nunique()
        notes.append(f"{raw.source}: the export has no ID column and {len(frame)} runs share {n_names} names; "
                     f"runs are told apart as Name:1, Name:2, ... in order of Created (column {id_col})")
    hints[id_col] = "id"
    if _STATUS in frame.columns:
        hints[_STATUS] = "status"
        notes += mark_abandoned(frame, _STATUS, "Created", raw.source, runtime=_RUNTIME)
    if _RUNTIME in frame.columns:
        hints[_RUNTIME] = "runtime"
    for col in frame.columns:
        if col in hints:
            continue
        if col in _META or col.startswith("_"):
            hints[col] = "ignore"
    return Sweep(trials=RawTable(frame=frame, source=raw.source, notes=notes), role_hints=hints,
                 format="wandb-csv"), {}


def _id_column(frame: pd.DataFrame) -> str | None:
    for col in ("ID", "Run ID", "run_id", "Name"):
        if col in frame.columns:
            cells = frame[col].astype("string").str.strip()
            if not (cells.isna() | (cells == "")).any() and cells.is_unique:
                return col
    if "Name" not in frame.columns:
        raise InputError("W&B export without a Name column")  # pragma: no cover - _read_table requires Name
    return None


def _numbered_names(frame: pd.DataFrame) -> list[str]:
    names = frame["Name"].astype("string").fillna("").str.strip().replace("", "run")
    created = pd.to_datetime(frame["Created"], errors="coerce", utc=True) if "Created" in frame.columns else None
    order = pd.DataFrame({"name": names, "created": created, "row": range(len(frame))})
    order = order.sort_values(["name", "created", "row"], kind="stable", na_position="last")
    order["k"] = order.groupby("name").cumcount() + 1
    labels = (order["name"] + ":" + order["k"].astype(str)).sort_index()
    if not labels.is_unique:  # a Name already ending in ":2"; fall back to the row number
        labels = names + ":row" + pd.Series(range(2, len(frame) + 2)).astype(str)
    return labels.tolist()


def looks_like_history(path: Path) -> bool:
    """A directory holding CSVs with W&B's ``_step`` column (or a single such file)."""
    files = [path] if path.is_file() else sorted(path.glob("*.csv"))[:3]
    for file in files:
        try:
            with file.open(encoding="utf-8", errors="replace") as handle:
                header = handle.readline()
        except OSError:
            continue
        if "_step" in [h.strip().strip('"') for h in header.split(",")]:
            return True
    return False


def read_histories(path: Path, sweep: Sweep) -> RawTable:
    """Per-run W&B history CSVs (a directory of them, or one file) as long curves matched to the export's runs.

    Columns are kept as W&B wrote them (``_step`` counts ``log`` calls; ``iter`` or
    ``epoch``, when logged, is the training step), except ``_timestamp`` and text
    columns (media, generated samples). Files that match no run of the
    export are left out, and a note says how many.
    """
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix.lower() in {".csv", ".gz"})
    if not files:
        raise InputError(f"{path}: no CSV files; --curves takes W&B history CSVs (one per run) or a long-format CSV")
    runs = _run_index(sweep)
    pieces: list[pd.DataFrame] = []
    unmatched: list[str] = []
    matched: set[str] = set()
    for file in files:
        history = read_table(file)
        frame = history.frame
        if "_step" not in frame.columns:
            raise InputError(f"{file}: not a W&B history CSV (no _step column); columns are: "
                             f"{', '.join(map(str, frame.columns[:10]))}")
        trial = _match(file, frame, runs, matched)
        if trial is None:
            unmatched.append(file.name)
            continue
        matched.add(trial)
        pieces.append(_curve_rows(frame, trial))
    notes = []
    if unmatched:
        notes.append(f"{path}: {len(unmatched)} of {len(files)} history files match no run of the export "
                     f"(e.g. {unmatched[0]}) and were left out")
    if not pieces:
        raise InputError(f"{path}: none of the {len(files)} history files matches a run of {sweep.source} "
                         "(by run id in the file name, or by name and start time)")
    curves = pd.concat(pieces, ignore_index=True, sort=False)
    notes += _summaries_of_logged_keys(sweep, curves)
    sweep.trials.notes.extend(notes)
    return RawTable(frame=curves.astype(object).where(curves.notna(), None), source=str(path))


def _summaries_of_logged_keys(sweep: Sweep, curves: pd.DataFrame) -> list[str]:
    """Export columns the histories log are each run's last logged value (its summary), never its config.

    The export puts config and summary columns side by side, unprefixed, so ``lr`` may be
    the learning rate a run was given or, as in nanoGPT, the schedule's value at the last
    step. A key whose logged value changes within some run is the second: a step count
    (``iter``, ``epoch``) is the steps the run trained (its ``epochs``, unless another
    column already is), anything else that is not a metric is left out of the
    hyperparameters. A key logged at one value per run (``wandb.log({"lr": lr})`` without a
    schedule) stays what the export says it is. Returns the note saying so.
    """
    taken = set(sweep.role_hints.values())
    steps, left = [], []
    for col in sweep.trials.frame.columns:
        if col not in curves.columns or col in sweep.role_hints or classify_metric(col) is not None:
            continue
        values = pd.DataFrame({"trial": curves["trial_id"], "value": parse_numeric(curves[col])[0]}).dropna()
        if not (values.groupby("trial")["value"].nunique() > 1).any():
            continue  # one value per run: config logged alongside the metrics
        if is_step_count(col) and "epochs" not in taken:
            sweep.role_hints[col] = "epochs"
            taken.add("epochs")
            steps.append(col)
        else:
            sweep.role_hints[col] = "ignore"
            left.append(col)
    if not (steps or left):
        return []
    said = [f"{', '.join(steps)} {'is' if len(steps) == 1 else 'are'} read as the steps each run trained"] if steps else []
    said += [f"{', '.join(left)} {'is' if len(left) == 1 else 'are'} left out of the hyperparameters"] if left else []
    return [f"{sweep.source}: {', '.join(steps + left)} {'is' if len(steps + left) == 1 else 'are'} logged in the "
            f"run histories, so the export holds each run's last logged value, not its config: {'; '.join(said)}"]


def _run_index(sweep: Sweep) -> pd.DataFrame:
    frame = sweep.trials.frame
    id_col = next(c for c, spec in sweep.role_hints.items() if spec == "id")
    created = (pd.to_datetime(frame["Created"], errors="coerce", utc=True) if "Created" in frame.columns
               else pd.Series(pd.NaT, index=frame.index))
    return pd.DataFrame({
        "trial": frame[id_col].astype(str),
        "name": frame["Name"].astype(str) if "Name" in frame.columns else frame[id_col].astype(str),
        "run_id": frame["ID"].astype(str) if "ID" in frame.columns else None,
        "start": created.map(lambda t: t.timestamp() if pd.notna(t) else float("nan")),
    })


def _match(file: Path, frame: pd.DataFrame, runs: pd.DataFrame, taken: set[str]) -> str | None:
    stem = file.name.split(".")[0]
    tokens = set(re.split(r"[_\-\s]+", stem))
    if runs["run_id"].notna().any():
        hit = runs[runs["run_id"].isin(tokens)]
        if len(hit) == 1:
            return str(hit["trial"].iloc[0])
    candidates = runs[[stem == n or stem.startswith(n + "_") or stem.startswith(n + "-") for n in runs["name"]]]
    if candidates.empty:
        return None
    longest = candidates["name"].str.len().max()
    candidates = candidates[candidates["name"].str.len() == longest]
    candidates = candidates[~candidates["trial"].isin(taken)]
    if len(candidates) == 1 and candidates["start"].isna().all():
        return str(candidates["trial"].iloc[0])
    start = _history_start(frame)
    if start is None:
        return None
    gap = (candidates["start"] - start).abs()
    close = candidates[gap <= _START_TOLERANCE_S]
    if len(close) >= 1:
        return str(close.loc[gap[close.index].idxmin(), "trial"])
    return None


def _history_start(frame: pd.DataFrame) -> float | None:
    if "_timestamp" not in frame.columns or "_runtime" not in frame.columns:
        return None
    stamp = parse_numeric(frame["_timestamp"])[0]
    runtime = parse_numeric(frame["_runtime"])[0]
    start = (stamp - runtime).dropna()
    return float(start.min()) if len(start) else None


def _curve_rows(frame: pd.DataFrame, trial: str) -> pd.DataFrame:
    """The history's numeric columns (``_step``, ``iter``, metrics, ``_runtime``), with the trial id first."""
    keep = []
    for col in frame.columns:
        if col in ("_timestamp",) or col.startswith("_wandb"):
            continue
        cells = frame[col]
        present = ~parse_numeric(cells)[1]
        if present.any() and not unparsed_mask(cells[present]).any():
            keep.append(col)
    out = frame[keep].copy()
    out.insert(0, "trial_id", trial)
    return out
