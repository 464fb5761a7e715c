"""The typed long table of per-epoch (or per-step) curves: :class:`CurveTable`.

A curves file is in long format, one row per (trial, step): a trial id column, a step
column (``epoch``, ``step``, ``training_iteration``, ``iter``, W&B's ``_step``, ...) and
one column per metric. As in :mod:`core.values`, an empty cell means *not logged at that
step* (W&B logs each metric at its own steps) and ``nan``/``inf`` are values the run
reported. Column roles (trial id, metrics, status/runtime/error columns) are found
through :mod:`core.roles`; only the step column is the curves' own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.curves.segments import View, make_view, segment_starts, take
from core.errors import InputError
from core.loading import RawTable
from core.roles import (
    MetricInfo,
    canonical,
    classify_metric,
    flag_values,
    id_columns,
    is_boolean,
    is_status_runtime_or_error,
    list_columns,
    no_id_column,
    outcome_kind,
    parse_role_spec,
    tokens,
)
from core.values import describe_value, format_number, parse_cells

_FIRST_DATA_LINE = 2  # line 1 of the file is the header

#: Step column names, best first (compared as :func:`core.roles.canonical` names).
#: Columns whose name starts with ``_`` (W&B's ``_step``, which counts ``log`` calls,
#: not training progress) are only used when nothing else fits.
STEP_NAMES = (
    "epoch", "step", "global_step", "trainer_global_step", "training_iteration", "iteration",
    "iter", "iterations", "it", "budget_epochs", "epochs", "budget",
)

_NOISY_TRAIN_WORDS = {"step", "batch", "minibatch", "iter", "running"}


@dataclass
class CurveTable:
    """Curves in long format, typed and sorted by (trial, step).

    Rows of one trial are contiguous (trials in order of first appearance in the file),
    steps strictly increase within a trial, and rows that logged different metrics at
    the same step have been merged into one. Treat it as immutable: per-metric views
    that the detectors share are memoised on it.

    Attributes
    ----------
    trial_ids : pd.Index of str
        The distinct trial ids, in order of first appearance; ``codes`` index into it.
    codes : np.ndarray of int64, shape (n_rows,)
        Trial of each row (non-decreasing).
    step : np.ndarray of float64, shape (n_rows,)
        Step of each row (finite; strictly increasing within a trial).
    metrics : pd.DataFrame of float64, shape (n_rows, n_metrics)
        Metric values as reported (NaN and +/-inf included); NaN also where missing.
    missing : pd.DataFrame of bool
        Same shape as ``metrics``: True where nothing was logged at that step.
    info : dict of str to MetricInfo
        What each metric column measures (see :func:`core.roles.classify_metric`).
    id_column, step_column : str
        Names of the trial id and step columns in the file.
    trial_columns : pd.DataFrame
        One row per trial (aligned with ``trial_ids``), text cells (``str`` or None):
        columns constant within every trial (hyperparameters, seeds, ...), and the last
        logged value of status, runtime and error-message columns.
    ignored : dict of str to str
        Every other column -> why it was left out (e.g. it varies within a trial but
        is not a metric, like a learning-rate schedule or a timestamp).
    source : str
        File name used in messages.
    notes : list of str
        Things the user should know about how the curves were read.
    """

    trial_ids: pd.Index
    codes: np.ndarray
    step: np.ndarray
    metrics: pd.DataFrame
    missing: pd.DataFrame
    info: dict[str, MetricInfo]
    id_column: str
    step_column: str
    trial_columns: pd.DataFrame
    ignored: dict[str, str] = field(default_factory=dict)
    source: str = "<curves>"
    notes: list[str] = field(default_factory=list)
    _memo: dict[object, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def n_trials(self) -> int:
        """Number of distinct trials."""
        return len(self.trial_ids)

    @property
    def ids(self) -> np.ndarray:
        """Trial id (str) of every row."""
        return self.trial_ids.to_numpy(dtype=object)[self.codes]

    @property
    def offsets(self) -> np.ndarray:
        """Row offsets of the trials: trial ``k`` is rows ``offsets[k]:offsets[k+1]``."""
        if "offsets" not in self._memo:
            self._memo["offsets"] = np.concatenate([[0], np.cumsum(np.bincount(self.codes, minlength=self.n_trials))])
        return self._memo["offsets"]  # type: ignore[return-value]

    def first_step(self) -> np.ndarray:
        """First step of every trial, shape (n_trials,)."""
        return self.step[self.offsets[:-1]]

    def last_step(self) -> np.ndarray:
        """Last step of every trial, shape (n_trials,)."""
        return self.step[self.offsets[1:] - 1]

    def view(self, col: str, positive: bool = False) -> View:
        """The finite (and, if ``positive``, positive) logged values of one metric, as segments (memoised)."""
        key = ("view", col, positive)
        if key not in self._memo:
            y = self.metrics[col].to_numpy()
            keep = ~self.missing[col].to_numpy() & np.isfinite(y)
            if positive:
                keep &= y > 0
            if keep.all():
                self._memo[key] = View(y=y, codes=self.codes, step=self.step, starts=self.offsets[:-1])
            else:
                rows = np.flatnonzero(keep)
                self._memo[key] = make_view(y[rows], self.codes[rows], self.step[rows])
        return self._memo[key]  # type: ignore[return-value]

    def first_view(self, cols: list[str | None], positive: bool = False) -> tuple[View, np.ndarray]:
        """Per trial, the finite values of the first of ``cols`` it logged any finite value of.

        Returns the view and, per trial, the name of the column used (None if none).
        """
        names = [c for c in dict.fromkeys(cols) if c]
        key = ("first", tuple(names), positive)
        if key in self._memo:
            return self._memo[key]  # type: ignore[return-value]
        n = self.n_trials
        views = [self.view(c) for c in names]
        chosen = np.full(n, -1)
        for k, v in enumerate(views):
            has = np.zeros(n, dtype=bool)
            has[v.codes[v.starts]] = True
            chosen[(chosen < 0) & has] = k
        used = np.array([*names, None], dtype=object)[chosen]
        if not views:
            empty = np.zeros(0)
            result = (make_view(empty, empty.astype(np.int64), empty), used)
        elif not (chosen > 0).any():
            result = (self.view(names[0], positive), used)  # every trial uses the first column
        else:
            parts = []
            for k, c in enumerate(names):
                v = self.view(c, positive)
                keep = chosen[v.codes] == k
                parts.append((v.y[keep], v.codes[keep], v.step[keep]))
            y, codes, step = (np.concatenate([p[i] for p in parts]) for i in range(3))
            order = np.argsort(codes, kind="stable")  # each trial comes from one column: step order is kept
            result = (make_view(y[order], codes[order], step[order]), used)
        self._memo[key] = result
        return result

    def blocks(self, rows: int) -> list[CurveTable]:
        """The table cut into consecutive blocks of whole trials of about ``rows`` rows each."""
        if len(self) <= rows:
            return [self]
        offsets = self.offsets
        cuts = np.unique(np.searchsorted(offsets, np.arange(0, len(self), rows), side="left"))
        bounds = [*cuts[cuts < self.n_trials].tolist(), self.n_trials]
        blocks = []
        for k0, k1 in zip(bounds[:-1], bounds[1:]):
            a, b = int(offsets[k0]), int(offsets[k1])
            blocks.append(CurveTable(
                trial_ids=self.trial_ids[k0:k1],
                codes=self.codes[a:b] - k0,
                step=self.step[a:b],
                metrics=self.metrics.iloc[a:b].reset_index(drop=True),
                missing=self.missing.iloc[a:b].reset_index(drop=True),
                info=self.info,
                id_column=self.id_column,
                step_column=self.step_column,
                trial_columns=self.trial_columns.iloc[k0:k1].reset_index(drop=True),
                ignored=self.ignored,
                source=self.source,
            ))
        return blocks


def looks_like_curves(frame: pd.DataFrame, hints: dict[str, str] | None = None) -> bool:
    """Whether a raw table is a long curves file rather than one row per trial.

    True when it has a trial id column whose values repeat and a step column (see
    :data:`STEP_NAMES`), and (trial id, step) pairs are mostly distinct. ``hints``
    (``--map``: ``cfg=id``, ``it=step``) name them when their names are not known ones;
    hints naming other columns are ignored here.
    """
    given = {c: (s.strip().lower(), None) for c, s in (hints or {}).items()
             if c in frame.columns and s.strip().lower() in {"id", "step", "epoch"}}
    given = {c: ("step" if r == "epoch" else r, i) for c, (r, i) in given.items()}
    try:
        id_col = _find_id_column(frame, given, "")
        step_col = _find_step_column(frame, given, "", {id_col})
    except InputError:
        return False
    sample = frame[[id_col, step_col]].head(200_000)
    if not sample[id_col].duplicated().any():
        return False
    return sample.drop_duplicates().shape[0] >= 0.5 * len(sample)


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
    source = raw.source
    frame = raw.frame
    if frame.empty:
        raise InputError(f"{source}: has a header but no rows of curves")
    given = _parse_hints(frame, hints or {}, source)
    id_col = _find_id_column(frame, given, source)
    step_col = _find_step_column(frame, given, source, {id_col})
    taken = {id_col, step_col}

    ignored: dict[str, str] = {c: "ignored by hint" for c, (r, _) in given.items() if r == "ignore"}
    candidates: dict[str, MetricInfo] = {c: info for c, (r, info) in given.items() if r == "metric" and info}
    for col in frame.columns:
        if col not in taken and col not in given:
            info = classify_metric(str(col))
            if info is not None:
                candidates[col] = info

    n = len(frame)
    values: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    info: dict[str, MetricInfo] = {}
    for col, col_info in candidates.items():
        v, m, bad = _parse_cells(frame[col])
        if bad.any():
            if col not in given and bad.sum() > 0.5 * (~m).sum():
                ignored[col] = "metric-like name but text values"
                continue
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{source}: column {col!r}, line {row + _FIRST_DATA_LINE}: "
                f"{str(frame[col].iloc[row]).strip()!r} is not a number"
            )
        values[col], missing[col], info[col] = v, m, col_info
    if not info:
        raise InputError(
            f"{source}: no metric column in the curves (a loss or accuracy such as val_loss, "
            f"train_loss, val_accuracy); columns are: {list_columns(frame.columns)}"
        )
    taken |= set(candidates) | set(ignored)

    # Steps: text or non-finite steps are errors; a row without a step is dropped when it
    # logged no metric (W&B media/summary rows), and an error otherwise.
    step, step_missing, step_bad = _parse_cells(frame[step_col])
    logged = np.zeros(n, dtype=bool)
    for m in missing.values():
        logged |= ~m
    if step_bad.any():
        row = int(np.flatnonzero(step_bad)[0])
        raise InputError(f"{source}: column {step_col!r}, line {row + _FIRST_DATA_LINE}: "
                         f"{str(frame[step_col].iloc[row]).strip()!r} is not a step number")
    nonfinite_step = ~step_missing & ~np.isfinite(step)
    if nonfinite_step.any():
        row = int(np.flatnonzero(nonfinite_step)[0])
        raise InputError(f"{source}: column {step_col!r}, line {row + _FIRST_DATA_LINE}: "
                         f"step {describe_value(step[row])} is not a finite number")
    if (step_missing & logged).any():
        row = int(np.flatnonzero(step_missing & logged)[0])
        raise InputError(f"{source}: line {row + _FIRST_DATA_LINE} logs a metric but has no step "
                         f"(column {step_col!r} is empty)")
    notes: list[str] = []
    keep = ~step_missing
    n_dropped = int(n - keep.sum())
    if n_dropped:
        notes.append(f"{source}: {n_dropped} row(s) without a step and without metric values were skipped")
    rows = np.flatnonzero(keep) if n_dropped else np.arange(n)

    codes, trial_ids = _trial_codes(frame[id_col], rows, source, id_col)
    step = step[rows]
    metric_values = {c: v[rows] for c, v in values.items()} if n_dropped else values
    metric_missing = {c: m[rows] for c, m in missing.items()} if n_dropped else missing

    order = _sort_order(codes, step)
    if order is not None:
        codes, step, rows = codes[order], step[order], rows[order]
        metric_values = {c: v[order] for c, v in metric_values.items()}
        metric_missing = {c: m[order] for c, m in metric_missing.items()}
    trial_columns, more_ignored = _trial_columns(
        frame, None if order is None and not n_dropped else rows, codes, len(trial_ids),
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
        trial_columns=trial_columns,
        ignored=ignored,
        source=source,
        notes=[*raw.notes, *notes],
    )


def held_out_loss(curves: CurveTable) -> str | None:
    """The held-out loss column: validation loss, else test loss, else an objective to minimise."""
    for split in ("val", "test"):
        col = next((c for c, m in curves.info.items() if m.kind == "loss" and m.split == split), None)
        if col:
            return col
    return next((c for c, m in curves.info.items() if m.kind == "objective" and m.goal == "min"), None)


def train_loss(curves: CurveTable) -> str | None:
    """The training loss column; an epoch/eval-level loss is preferred to a per-batch one."""
    cols = [c for c, m in curves.info.items() if m.kind == "loss" and m.split == "train"]
    smooth = [c for c in cols if not set(tokens(c)) & _NOISY_TRAIN_WORDS]
    return (smooth or cols or [None])[0]


# --------------------------------------------------------------------------------------
# Building helpers
# --------------------------------------------------------------------------------------


def _parse_hints(frame: pd.DataFrame, hints: dict[str, str], source: str) -> dict[str, tuple[str, MetricInfo | None]]:
    given: dict[str, tuple[str, MetricInfo | None]] = {}
    for col, spec in hints.items():
        if col not in frame.columns:
            raise InputError(f"{source}: --map names column {col!r}, which is not in the curves; "
                             f"columns are: {list_columns(frame.columns)}")
        if spec.strip().lower() in {"step", "epoch"}:
            given[col] = ("step", None)
            continue
        try:
            given[col] = parse_role_spec(spec, col)
        except ValueError as exc:
            raise InputError(f"{source}: --map {col}={spec}: {exc} (curves also take 'step')") from None
    for single in ("id", "step"):
        cols = [c for c, (r, _) in given.items() if r == single]
        if len(cols) > 1:
            raise InputError(f"{source}: --map gives the role {single!r} to several columns: {', '.join(cols)}")
    return given


def _find_id_column(frame: pd.DataFrame, given: dict[str, tuple[str, MetricInfo | None]], source: str) -> str:
    hinted = next((c for c, (r, _) in given.items() if r == "id"), None)
    if hinted:
        return hinted
    candidates = id_columns(frame.columns, exclude=given)
    if not candidates:
        raise no_id_column(source, frame.columns, " in the curves")
    return candidates[0]


def _find_step_column(
    frame: pd.DataFrame, given: dict[str, tuple[str, MetricInfo | None]], source: str, taken: set[str]
) -> str:
    hinted = next((c for c, (r, _) in given.items() if r == "step"), None)
    if hinted:
        return hinted
    free = [c for c in frame.columns if c not in taken and c not in given]
    for internal in (False, True):
        by_canonical = {canonical(str(c)): c for c in reversed(free) if str(c).startswith("_") == internal}
        for name in STEP_NAMES:
            col = by_canonical.get(name)
            if col is not None and not _mostly_text(frame[col]):
                return col
    raise InputError(f"{source}: no step column in the curves (looked for {', '.join(STEP_NAMES[:6])}, ...; "
                     f"or name one with --map COLUMN=step); columns are: {list_columns(frame.columns)}")


def _mostly_text(cells: pd.Series) -> bool:
    head = cells.head(1000)
    _, missing, bad = _parse_cells(head)
    present = int((~missing).sum())
    return present > 0 and bad.sum() > 0.5 * present


def _parse_cells(cells: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Floats, missing mask and "text that is not a number" mask of one column (read-only arrays).

    Text goes through :func:`core.values.parse_cells` (the project's one set of rules:
    ``nan``/``inf`` spellings reported, empty/``NA``/``null`` missing). Numeric columns
    are taken as they are: null is missing, and in a plain float column NaN is missing
    too, since it cannot say otherwise.
    """
    dtype = cells.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = cells.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(values) if isinstance(dtype, np.dtype) else cells.isna().to_numpy(dtype=bool)
        return values, missing, np.zeros(len(cells), dtype=bool)
    parsed = parse_cells(cells)
    return parsed.values, parsed.missing, parsed.unparsed


def _trial_codes(cells: pd.Series, rows: np.ndarray, source: str, column: str) -> tuple[np.ndarray, pd.Index]:
    """Trial codes in order of first appearance, for the kept ``rows``; ids are stripped text."""
    subset = cells.iloc[rows] if len(rows) != len(cells) else cells
    codes, uniques = pd.factorize(subset, use_na_sentinel=True)
    text = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.strip()
    empty = (text == "").to_numpy()
    if (codes < 0).any() or empty.any():
        bad = (codes < 0) | (empty[np.maximum(codes, 0)] & (codes >= 0))
        line = int(rows[np.flatnonzero(bad)[0]]) + _FIRST_DATA_LINE
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
            lines = ", ".join(str(int(r) + _FIRST_DATA_LINE) for r in np.sort(rows[members])[:5])
            raise InputError(
                f"{source}: trial {trial_ids[codes[starts[g]]]!r} has {int(count[g])} values of {col!r} at "
                f"{step_col} {format_number(step[starts[g]])} (lines {lines}); one value per trial and step is expected"
            )
        merged_values[col] = np.add.reduceat(np.where(present, v, 0.0), starts)
        merged_values[col][count == 0] = np.nan
        merged_missing[col] = count == 0
    return codes[starts], step[starts], merged_values, merged_missing


def _trial_columns(
    frame: pd.DataFrame,
    rows: np.ndarray | None,
    codes: np.ndarray,
    n: int,
    columns: list[str],
    given: dict[str, tuple[str, MetricInfo | None]],
    source: str,
    trial_ids: pd.Index,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-trial text of the non-metric columns: constant ones, and the last value of status/runtime/error.

    ``rows`` gives the frame row of every (sorted) table row, None when they are the
    frame's rows in order. Rows of one trial may leave a constant column empty; it is
    constant when its non-empty cells within every trial agree.
    """
    out: dict[str, np.ndarray] = {}
    ignored: dict[str, str] = {}
    starts = segment_starts(codes)
    index = np.arange(len(codes))
    for col in columns:
        role = given.get(col, (None, None))[0]
        cells = frame[col] if rows is None else frame[col].iloc[rows]
        if role in (None, "outcome") and outcome_kind(str(col)) and is_boolean(cells):
            # an outcome flag logged per step (epoch_diverged): set for the trial when set at any step
            flag = flag_values(cells).astype(np.int64)
            out[col] = np.where(np.maximum.reduceat(flag, starts) > 0, "true", "false") if len(flag) else flag
            continue
        last_value = role in {"status", "runtime", "error", "seed"} or is_status_runtime_or_error(str(col))
        if pd.api.types.is_numeric_dtype(cells.dtype) and not pd.api.types.is_bool_dtype(cells.dtype):
            values, missing, _ = _parse_cells(cells)
            values = np.where(missing, np.nan, values) if missing.any() else values
            present = ~np.isnan(values)
            lo, hi = (np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)) if len(values) else ((), ())
            empty, constant = np.isnan(hi), (lo == hi) | np.isnan(hi)
            if last_value:
                last = np.maximum.reduceat(np.where(present, index, -1), starts) if len(values) else np.zeros(0, int)
                per_trial = take(values, last, last >= 0)
            else:
                per_trial = np.asarray(hi, dtype=float)
            text = np.where(np.isnan(per_trial), None, exact_text(per_trial))
        else:
            if isinstance(cells.dtype, pd.CategoricalDtype):
                keys = cells.cat.codes.to_numpy(dtype=np.int64)
                uniques = np.asarray(cells.cat.categories, dtype=object)
            else:
                keys, uniques = pd.factorize(cells, use_na_sentinel=True)
                keys, uniques = np.asarray(keys, dtype=np.int64), np.asarray(uniques, dtype=object)
            labels = pd.Series(uniques, dtype=object).map(str)
            blank = labels.str.strip().str.lower().isin(
                {"", "na", "n/a", "null", "none", "nil", "-", "?", "<na>"}).to_numpy(dtype=bool)
            if blank.any():
                keys = np.where((keys >= 0) & blank[np.maximum(keys, 0)], -1, keys)
            labels = labels.to_numpy(dtype=object)
            hi = np.maximum.reduceat(keys, starts) if len(keys) else np.zeros(0, np.int64)
            lo = np.minimum.reduceat(np.where(keys < 0, np.iinfo(np.int64).max, keys), starts) if len(keys) else hi
            empty, constant = hi < 0, (hi < 0) | (lo == hi)
            if last_value:
                last = np.maximum.reduceat(np.where(keys >= 0, index, -1), starts) if len(keys) else hi
                pick = np.where(last >= 0, keys[np.maximum(last, 0)], -1) if len(keys) else hi
            else:
                pick = hi
            text = np.where(pick >= 0, labels[np.maximum(pick, 0)] if len(labels) else None, None)
        if empty.all() and role is None:
            ignored[col] = "empty"
        elif last_value or constant.all():
            out[col] = text
        elif role == "hyperparameter":
            k = int(np.flatnonzero(~constant)[0])
            raise InputError(f"{source}: column {col!r} is given as a hyperparameter but varies within trial "
                             f"{trial_ids[k]!r}; a hyperparameter must be constant within a trial")
        else:
            ignored[col] = "varies within a trial but is not a metric (a schedule, timestamp or counter)"
    frame_out = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in out.items()}, index=pd.RangeIndex(n))
    return frame_out.where(frame_out.notna(), None), ignored


def exact_text(values: np.ndarray) -> np.ndarray:
    """Floats as text that reads back exactly: ``3``, ``0.001``, ``nan``, ``inf``, ``-inf``."""
    values = np.asarray(values, dtype=float)
    integral = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 1e15)
    text = values.astype(str).astype(object)  # shortest repr that reads back exactly
    text[integral] = values[integral].astype(np.int64).astype(str)
    return text


