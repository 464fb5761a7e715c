"""Build a :class:`~core.curves.table.CurveTable` from a raw long table: type, validate, sort, merge."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.curves.cells import parse_column
from core.curves.columns import Given, find_id_column, find_step_column, metric_candidates, parse_hints
from core.curves.table import CurveTable
from core.curves.trial_columns import trial_columns
from core.errors import InputError
from core.loading import FIRST_DATA_LINE, RawTable
from core.roles import MetricInfo, list_columns
from core.values import describe_value, format_number


def build_curve_table(raw: RawTable, hints: dict[str, str] | None = None) -> CurveTable:
    """Type, validate and sort a long curves table.

    Parameters
    ----------
    raw : RawTable
        One row per (trial, step). Cells are text (``str``, or None/empty for "not
        logged at this step"); typed columns are accepted too: a numeric column of a
        nullable or Arrow dtype keeps null (missing) apart from NaN (reported), while in
        a plain ``float64`` column NaN can only be read as missing.
    hints : dict, optional
        Column -> role, winning over inference: ``id``, ``step``, ``metric`` (or
        ``metric:val_loss``, ``metric:objective:min``, see
        :func:`core.roles.parse_role_spec`), ``hyperparameter``, ``status``, ``runtime``,
        ``error``, ``seed`` or ``ignore``.

    Returns
    -------
    CurveTable

    Raises
    ------
    InputError
        One line naming the file, column and line: no id, step or metric column; an
        empty trial id; a step that is text, non-finite or missing on a row that logged a
        metric; text in a metric cell; two values of one metric at the same (trial,
        step); a hinted hyperparameter that varies within a trial.
    """
    source, frame = raw.source, raw.frame
    if frame.empty:
        raise InputError(f"{source}: has a header but no rows of curves")
    given = parse_hints(frame, hints or {}, source)
    id_col = find_id_column(frame, given, source)
    step_col = find_step_column(frame, given, source, {id_col})
    candidates = metric_candidates(frame, given, {id_col, step_col})
    ignored: dict[str, str] = {c: "ignored by hint" for c, (r, _) in given.items() if r == "ignore"}
    values, missing, info = _metric_columns(frame, candidates, given, ignored, source)
    taken = {id_col, step_col} | set(candidates) | set(ignored)

    rows, step, notes = _logged_steps(frame, step_col, missing, source)
    dropped = len(rows) < len(frame)
    codes, trial_ids = _trial_codes(frame[id_col], rows, source, id_col)
    metric_values = {c: v[rows] for c, v in values.items()} if dropped else values
    metric_missing = {c: m[rows] for c, m in missing.items()} if dropped else missing

    order = _sort_order(codes, step)
    if order is not None:
        codes, step, rows = codes[order], step[order], rows[order]
        metric_values = {c: v[order] for c, v in metric_values.items()}
        metric_missing = {c: m[order] for c, m in metric_missing.items()}
    per_trial, more_ignored = trial_columns(
        frame, None if order is None and not dropped else rows, codes, len(trial_ids),
        [c for c in frame.columns if c not in taken], given, source, trial_ids,
    )
    ignored.update(more_ignored)
    duplicate = (codes[1:] == codes[:-1]) & (step[1:] == step[:-1])
    if duplicate.any():
        codes, step, metric_values, metric_missing = _merge_same_step(
            duplicate, codes, step, rows, metric_values, metric_missing, trial_ids, source, step_col
        )
        notes.append(f"{source}: rows logging different metrics at the same {step_col} were merged")
    index = pd.RangeIndex(len(codes))
    return CurveTable(
        trial_ids=trial_ids,
        codes=codes,
        step=step,
        metrics=pd.DataFrame(metric_values, index=index),
        missing=pd.DataFrame(metric_missing, index=index),
        info=info,
        id_column=id_col,
        step_column=step_col,
        trial_columns=per_trial,
        ignored=ignored,
        source=source,
        notes=[*raw.notes, *notes],
    )


def _metric_columns(
    frame: pd.DataFrame, candidates: dict[str, MetricInfo], given: Given, ignored: dict[str, str], source: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, MetricInfo]]:
    """Values, missing masks and info of the metric columns; a metric-like column of text goes to ``ignored``.

    Text in a hinted metric, or in a few cells of a numeric one, is an error.
    """
    values: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    info: dict[str, MetricInfo] = {}
    for col, col_info in candidates.items():
        v, m, bad = parse_column(frame[col])
        if bad.any():
            if col not in given and bad.sum() > 0.5 * (~m).sum():
                ignored[col] = "metric-like name but text values"
                continue
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{source}: column {col!r}, line {row + FIRST_DATA_LINE}: "
                f"{str(frame[col].iloc[row]).strip()!r} is not a number"
            )
        values[col], missing[col], info[col] = v, m, col_info
    if not info:
        raise InputError(
            f"{source}: no metric column in the curves (a loss or accuracy such as val_loss, "
            f"train_loss, val_accuracy); columns are: {list_columns(frame.columns)}"
        )
    return values, missing, info


def _logged_steps(
    frame: pd.DataFrame, step_col: str, missing: dict[str, np.ndarray], source: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The rows kept, their steps, and a note on the rows dropped.

    Text or non-finite steps are errors; a row without a step is dropped when it logged
    no metric (W&B media/summary rows), and an error otherwise.
    """
    n = len(frame)
    step, step_missing, step_bad = parse_column(frame[step_col])
    logged = np.zeros(n, dtype=bool)
    for m in missing.values():
        logged |= ~m
    if step_bad.any():
        row = int(np.flatnonzero(step_bad)[0])
        raise InputError(f"{source}: column {step_col!r}, line {row + FIRST_DATA_LINE}: "
                         f"{str(frame[step_col].iloc[row]).strip()!r} is not a step number")
    nonfinite_step = ~step_missing & ~np.isfinite(step)
    if nonfinite_step.any():
        row = int(np.flatnonzero(nonfinite_step)[0])
        raise InputError(f"{source}: column {step_col!r}, line {row + FIRST_DATA_LINE}: "
                         f"step {describe_value(step[row])} is not a finite number")
    if (step_missing & logged).any():
        row = int(np.flatnonzero(step_missing & logged)[0])
        raise InputError(f"{source}: line {row + FIRST_DATA_LINE} logs a metric but has no step "
                         f"(column {step_col!r} is empty)")
    notes: list[str] = []
    keep = ~step_missing
    n_dropped = int(n - keep.sum())
    if n_dropped:
        notes.append(f"{source}: {n_dropped} row(s) without a step and without metric values were skipped")
    rows = np.flatnonzero(keep) if n_dropped else np.arange(n)
    return rows, step[rows], notes


def _trial_codes(cells: pd.Series, rows: np.ndarray, source: str, column: str) -> tuple[np.ndarray, pd.Index]:
    """Trial codes in order of first appearance, for the kept ``rows``; ids are stripped text."""
    subset = cells.iloc[rows] if len(rows) != len(cells) else cells
    codes, uniques = pd.factorize(subset, use_na_sentinel=True)
    text = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.strip()
    empty = (text == "").to_numpy()
    if (codes < 0).any() or empty.any():
        bad = (codes < 0) | (empty[np.maximum(codes, 0)] & (codes >= 0))
        line = int(rows[np.flatnonzero(bad)[0]]) + FIRST_DATA_LINE
        raise InputError(f"{source}: line {line} has an empty trial id (column {column!r})")
    merged, ids = pd.factorize(text)  # ids equal once stripped are one trial
    if len(ids) != len(text):
        codes = merged[codes]
        codes, order = pd.factorize(codes)  # keep first-appearance order
        ids = pd.Index(np.asarray(ids, dtype=object)[order])
    return codes.astype(np.int64), pd.Index(np.asarray(ids, dtype=object), dtype=object)


def _sort_order(codes: np.ndarray, step: np.ndarray) -> np.ndarray | None:
    """Permutation sorting rows by (trial, step), or None when they already are."""
    if len(codes) < 2:
        return None
    same = codes[1:] == codes[:-1]
    if (codes[1:] >= codes[:-1]).all() and not (same & (step[1:] < step[:-1])).any():
        return None
    lo, hi = float(step.min()), float(step.max())
    integral = hi - lo < 2**31 and bool(np.all(step == np.round(step)))
    if integral and (int(codes.max()) + 1) * (hi - lo + 1) < 2**62:
        key = codes * np.int64(hi - lo + 1) + (step - lo).astype(np.int64)
        return np.argsort(key, kind="stable")
    return np.lexsort((step, codes))


def _merge_same_step(
    duplicate: np.ndarray,
    codes: np.ndarray,
    step: np.ndarray,
    rows: np.ndarray,
    values: dict[str, np.ndarray],
    missing: dict[str, np.ndarray],
    trial_ids: pd.Index,
    source: str,
    step_col: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Merge rows of one (trial, step) that log different metrics; two values of one metric is an error."""
    new = np.r_[True, ~duplicate]
    starts = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    merged_values, merged_missing = {}, {}
    for col, v in values.items():
        present = ~missing[col]
        count = np.add.reduceat(present.astype(np.int64), starts)
        if (count > 1).any():
            g = int(np.flatnonzero(count > 1)[0])
            members = np.flatnonzero((group == g) & present)
            lines = ", ".join(str(int(r) + FIRST_DATA_LINE) for r in np.sort(rows[members])[:5])
            raise InputError(
                f"{source}: trial {trial_ids[codes[starts[g]]]!r} has {int(count[g])} values of {col!r} at "
                f"{step_col} {format_number(step[starts[g]])} (lines {lines}); one value per trial and step is expected"
            )
        merged_values[col] = np.add.reduceat(np.where(present, v, 0.0), starts)
        merged_values[col][count == 0] = np.nan
        merged_missing[col] = count == 0
    return codes[starts], step[starts], merged_values, merged_missing
