"""Per-epoch (or per-step) curves: a typed long table, the per-trial table derived from it, and curve detectors.

A curves file is in long format, one row per (trial, step): a trial id column, a step
column (``epoch``, ``step``, ``training_iteration``, ``iter``, W&B's ``_step``, ...) and
one column per metric. As in :mod:`core.values`, an empty cell means *not logged at that
step* (W&B logs each metric at its own steps) and ``nan``/``inf`` are values the run
reported.

Everything here is vectorised: rows are kept sorted by (trial, step), each trial is a
contiguous segment, and per-trial quantities come from segment reductions
(``np.bincount``, ``ufunc.reduceat``, accumulations with a per-segment offset), never
from a Python loop over trials; detectors run over blocks of about a million rows of
whole trials. Ten million rows take seconds (``benchmarks/bench_curves.py``).

Curve issue types, with their severity (each rule is documented on its function):

================  ========  ==========================================================
type              severity  meaning
================  ========  ==========================================================
nonfinite_metric  high      a metric went NaN or +/-inf; ``epoch`` is the first such step
diverged          high      a loss rose to >= 10x its running minimum, losing its progress
overfitting       medium    held-out loss rose after its best step while train loss fell;
                            ``epoch`` is the best step (where to stop)
plateau           low       early on, the loss stopped improving (< 1%) for 30% of the run
oscillation       low       the loss swung up and down by >= 10% of its range, repeatedly
still_improving   low       the held-out loss was still falling when the run ended
================  ========  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from core.errors import InputError
from core.issue_types import ISSUE_TYPES, emits, names_where
from core.loading import RawTable
from core.roles import (
    _ERROR_NAMES,
    _ID_NAMES,
    _RUNTIME_NAMES,
    _STATUS_NAMES,
    MetricInfo,
    canonical,
    classify_metric,
    flag_values,
    is_boolean,
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

CURVE_ISSUE_COLUMNS = ["trial_id", "type", "severity", "detail", "epoch"]

#: Rows per block of whole trials in :func:`detect_curve_issues`.
BLOCK_ROWS = 1_000_000

CURVE_ISSUE_TYPES = names_where(lambda t: t.from_curves)
"""The issue types a curve rule can flag, in the vocabulary's order."""

_LAST_VALUE_NAMES = frozenset(_STATUS_NAMES) | frozenset(_RUNTIME_NAMES) | frozenset(_ERROR_NAMES)
_NOISY_TRAIN_WORDS = {"step", "batch", "minibatch", "iter", "running"}


# --------------------------------------------------------------------------------------
# The typed table
# --------------------------------------------------------------------------------------


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
            f"train_loss, val_accuracy); columns are: {_list(frame.columns)}"
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


def trials_from_curves(curves: CurveTable | RawTable, hints: dict[str, str] | None = None) -> RawTable:
    """The one-row-per-trial table of a long curves file, for when it comes alone.

    Columns: the trial id; every column constant within each trial (hyperparameters,
    seed) and the last status/runtime/error value; an outcome flag logged per step
    (``epoch_diverged``) as set when it was set at any step; for each metric its last logged
    value (non-finite kept as ``nan``/``inf``/``-inf``); and the budget used, as the
    last logged step, named ``epochs`` when the step column counts epochs and
    ``steps`` otherwise (both are budget names for :func:`core.roles.infer_roles`).

    The budget is the last step rather than the number of distinct steps because the
    step column is training progress in its own unit: DeepOBS logs epochs 0..100 for a
    100-epoch run (101 distinct steps), nanoGPT evaluates every 250 of 5000 iterations,
    DeepCAVE budgets are 2.67/5.33/8 epochs. Zero-based epoch counters are one short,
    which the budget rules (ratios to the sweep's median) do not notice.

    Cells are text, like :func:`core.loading.read_results` produces; ``hints`` are
    passed to :func:`build_curve_table` when given a :class:`RawTable`.
    """
    if isinstance(curves, RawTable):
        curves = build_curve_table(curves, hints)
    n = curves.n_trials
    columns: dict[str, object] = {curves.id_column: curves.trial_ids.to_numpy(dtype=object)}
    for col in curves.trial_columns.columns:
        columns[col] = curves.trial_columns[col].to_numpy(dtype=object)
    for col in curves.metrics.columns:
        present = ~curves.missing[col].to_numpy()
        last = _seg_reduce(np.maximum, np.where(present, np.arange(len(curves)), -1), curves.codes, n, -1,
                           curves.offsets[:-1])
        vals = curves.metrics[col].to_numpy()[np.maximum(last, 0)]
        columns[col] = np.where(last >= 0, _to_text(vals), None)
    budget = "epochs" if {"epoch", "epochs"} & set(tokens(curves.step_column)) else "steps"
    if budget in columns:
        budget = f"{budget}_logged"
    columns[budget] = _to_text(curves.last_step())
    frame = pd.DataFrame(columns, dtype=object)
    note = (f"{curves.source}: one row per trial derived from the curves ({n} trials, {len(curves)} rows): "
            f"last logged value of each metric, {budget} = last {curves.step_column}")
    return RawTable(frame=frame, source=curves.source, notes=[*curves.notes, note])


# --------------------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurveThresholds:
    """Thresholds of the curve detectors (the defaults are the documented rules).

    "The run" is a trial's steps from its first to its last logged step; windows are
    fractions of that span, so they mean the same for epochs, iterations or budgets.

    Attributes
    ----------
    diverge_factor : 10. A loss at or above this many times its running minimum ...
    diverge_lost : 0.5. ... that also gave back at least this fraction of the progress
        from its first value to that minimum, has diverged. The second condition keeps
        a converged loss wobbling between 1e-4 and 2e-3 (20x, but nothing lost) quiet.
    overfit_min_steps : 5. Held-out evaluations a trial needs to be judged for overfitting.
    overfit_rise : 0.05. The held-out loss's mean over the final window must exceed its
        best (3-point smoothed) value by at least this fraction ...
    overfit_noise : 3. ... and by at least 3 times the held-out noise of one evaluation ...
    overfit_train_drop : 0.01. ... while the train loss's mean over the final window is
        at least this fraction below its mean over an equally long window ending at
        the held-out best.
    tail_fraction : 0.2. The final window (overfitting, still_improving): the last 20%
        of the run.
    plateau_fraction : 0.3. A plateau is a stretch of 30% of the run ...
    plateau_start : 0.1. ... starting within the first 10% of the run ...
    plateau_min_improvement : 0.01. ... over which the best-so-far smoothed loss improved
        by less than 1% ...
    plateau_max_rise : 0.1. ... and which ends at most 10% above that best (a loss that
        climbs is diverging, not stuck).
    plateau_min_steps : 5. Finite loss values the stretch needs to be judged.
    oscillation_swing : 0.1. A swing is a step-to-step change of at least 10% of the
        larger of the trial's loss range and its mean absolute loss ...
    oscillation_min_fraction : 0.1. ... and a run oscillates when consecutive swings
        change direction at least this fraction of its steps (5 spikes in 100 steps) ...
    oscillation_min_count : 4. ... and at least this many times.
    still_min_points : 5. Finite values the final window needs for the still-improving rule.
    still_min_drop : 0.01. Least-squares trend over the final window: the loss falls by at
        least 1% of its level over the window ...
    still_p : 0.001. ... and the slope is negative with a one-sided p-value (Student's t,
        ``k - 2`` degrees of freedom) of at most 0.001, so i.i.d. noise flags at most
        0.1% of healthy converged runs whatever the number of evaluations ...
    still_best_fraction : 0.1. ... and the smoothed best in the last 10% of the run.
    """

    diverge_factor: float = 10.0
    diverge_lost: float = 0.5
    overfit_min_steps: int = 5
    overfit_rise: float = 0.05
    overfit_noise: float = 3.0
    overfit_train_drop: float = 0.01
    tail_fraction: float = 0.2
    plateau_fraction: float = 0.3
    plateau_start: float = 0.1
    plateau_min_improvement: float = 0.01
    plateau_max_rise: float = 0.1
    plateau_min_steps: int = 5
    oscillation_swing: float = 0.1
    oscillation_min_fraction: float = 0.1
    oscillation_min_count: int = 4
    still_min_points: int = 5
    still_min_drop: float = 0.01
    still_p: float = 0.001
    still_best_fraction: float = 0.1

    def to_dict(self) -> dict[str, float]:
        """JSON-native form, as recorded in the summary."""
        return asdict(self)


CurveDetector = Callable[[CurveTable, CurveThresholds], pd.DataFrame]


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


@emits("nonfinite_metric")
def detect_curve_nonfinite(curves: CurveTable, thresholds: CurveThresholds) -> pd.DataFrame:
    """Any metric logged as NaN, +inf or -inf at some step (a missing cell is not NaN).

    ``epoch`` is the first step at which any metric was non-finite; ``detail`` names each
    such metric, the value at its onset and how many of its logged values are
    non-finite, e.g. ``val_loss=NaN from epoch 3 (98 of 101 values)``.
    """
    n = curves.n_trials
    onset = np.full(n, np.inf)
    parts: list[pd.Series] = []
    for col in curves.metrics.columns:
        y = curves.metrics[col].to_numpy()
        present = ~curves.missing[col].to_numpy()
        bad = present & ~np.isfinite(y)
        if not bad.any():
            continue
        rows = np.flatnonzero(bad)
        first_rows = rows[_segment_starts(curves.codes[rows])]
        trials = curves.codes[first_rows]
        onset[trials] = np.minimum(onset[trials], curves.step[first_rows])
        n_bad = np.bincount(curves.codes[rows], minlength=n)[trials]
        n_present = np.bincount(curves.codes, weights=present, minlength=n)[trials]
        text = (
            f"{col}="
            + _fmt(y[first_rows])
            + f" from {curves.step_column} "
            + _fmt(curves.step[first_rows])
            + " ("
            + _spec(n_bad, "{}")
            + " of "
            + _spec(n_present.astype(np.int64), "{}")
            + " values)"
        )
        parts.append(pd.Series(text, index=trials))
    flagged = np.isfinite(onset)
    detail = _join_details(parts, n)
    return _issues(curves, flagged, "nonfinite_metric", detail, onset)


@emits("diverged")
def detect_curve_diverged(curves: CurveTable, thresholds: CurveThresholds) -> pd.DataFrame:
    """A loss that blew up after making progress, on any loss curve.

    Over a trial's positive finite values ``y_0, y_1, ...`` of a loss, with running
    minimum ``m_t = min(y_0..y_t)``: the first step ``t`` with ``y_t >= diverge_factor *
    m_t`` (10x) and ``y_t - m_t >= diverge_lost * (y_0 - m_t)`` (at least half the
    progress from the first value to the minimum given back). ``epoch`` is that step
    (the earliest over the trial's losses); a loss that goes straight to NaN is
    ``nonfinite_metric`` only.
    """
    n = curves.n_trials
    epoch = np.full(n, np.inf)
    parts: list[pd.Series] = []
    for col in [c for c, m in curves.info.items() if m.kind == "loss"]:
        c = _view(curves, col, positive=True)
        if not len(c.y):
            continue
        # a trial can only hit if its maximum is at least diverge_factor x its minimum
        low = _seg_reduce(np.minimum, c.y, c.codes, n, np.nan, c.starts)
        high = _seg_reduce(np.maximum, c.y, c.codes, n, np.nan, c.starts)
        with np.errstate(invalid="ignore"):
            candidate = high >= thresholds.diverge_factor * low
        if not candidate.any():
            continue
        c = _subset_trials(c, candidate)
        min_row = _seg_cummin_row(np.log(c.y), c.codes)
        m = c.y[min_row]
        first_of_trial = np.zeros(n)
        first_of_trial[c.codes[c.starts]] = c.y[c.starts]
        first_val = first_of_trial[c.codes]
        hit = (c.y >= thresholds.diverge_factor * m) & (c.y - m >= thresholds.diverge_lost * (first_val - m))
        if not hit.any():
            continue
        rows = np.flatnonzero(hit)
        first_rows = rows[_segment_starts(c.codes[rows])]
        trials = c.codes[first_rows]
        epoch[trials] = np.minimum(epoch[trials], c.step[first_rows])
        min_row = min_row[first_rows]
        text = (
            f"{col} rose to "
            + _fmt(c.y[first_rows])
            + f" at {curves.step_column} "
            + _fmt(c.step[first_rows])
            + ", "
            + _spec(c.y[first_rows] / c.y[min_row], "{:.3g}")
            + "x its minimum "
            + _fmt(c.y[min_row])
            + f" ({curves.step_column} "
            + _fmt(c.step[min_row])
            + ")"
        )
        parts.append(pd.Series(text, index=trials))
    flagged = np.isfinite(epoch)
    return _issues(curves, flagged, "diverged", _join_details(parts, n), epoch)


@emits("overfitting")
def detect_curve_overfitting(curves: CurveTable, thresholds: CurveThresholds) -> pd.DataFrame:
    """The tuning-playbook rule: held-out loss rising after its best step while train loss keeps falling.

    With ``W = tail_fraction`` (20%) of the run and the final window the steps
    ``>= last - W``, a trial with at least ``overfit_min_steps`` (5) finite held-out
    values overfits when all of:

    * its best (lowest) held-out value comes before the final window;
    * the mean held-out loss over the final window is ``>= (1 + overfit_rise)`` (5%)
      times the minimum of the 3-point-smoothed held-out curve (smoothing keeps one
      lucky evaluation from making noise look like a rise), and above it by at least
      ``overfit_noise`` (3) times the noise of one evaluation, estimated from the
      residuals around the smoothed curve in the final window;
    * the mean train loss over the final window is ``<= (1 - overfit_train_drop)``
      (1% lower) times its mean over ``[best - W, best]``.

    ``epoch`` is the best step: where to stop (or the checkpoint to keep). Trials
    without both a train and a held-out loss are not judged; a train loss that sits at
    exactly 0 from the best step on counts as still training (a memorised training set).
    For the trials this rule can judge (:func:`overfitting_judged`) it replaces the
    final-value rule of :func:`core.detectors.detect_overfitting`.
    """
    pair = (train_loss(curves), held_out_loss(curves))
    n = curves.n_trials
    if pair[0] is None or pair[1] is None:
        return _issues(curves, np.zeros(n, bool), "overfitting", pd.Series([""] * n), np.full(n, np.nan))
    first, last = curves.first_step(), curves.last_step()
    width = thresholds.tail_fraction * (last - first)
    tail_start = last - width
    v = _view(curves, pair[1])
    count = np.bincount(v.codes, minlength=n)
    v_tail_mean = _seg_mean(v.y, v.codes, v.step >= tail_start[v.codes], n)
    # the raw minimum is at most the smoothed one: a cheap necessary condition first
    raw_min = _seg_reduce(np.minimum, v.y, v.codes, n, np.nan, v.starts)
    with np.errstate(invalid="ignore"):
        candidate = (count >= thresholds.overfit_min_steps) & (v_tail_mean >= (1 + thresholds.overfit_rise) * raw_min)
    v = _subset_trials(v, candidate, at_most=0.5)
    u = _subset_trials(_view(curves, pair[0]), candidate, at_most=0.5)
    best_val, best_row = _seg_argmin(v.y, v, n)
    best_step = _take(v.step, best_row, best_row >= 0)
    smooth = _smooth3(v.y, v.codes)
    smooth_min = _seg_reduce(np.minimum, smooth, v.codes, n, np.nan, v.starts)
    v_tail = v.step >= tail_start[v.codes]
    # noise of one evaluation, from the residuals around the smoothed curve in the final
    # window (where it is nearly straight): for i.i.d. noise their variance is 2/3 of it
    noise = np.sqrt(1.5 * _seg_mean((v.y - smooth) ** 2, v.codes, v_tail, n))
    u_tail = u.step >= tail_start[u.codes]
    u_end = _seg_mean(u.y, u.codes, u_tail, n)
    bs = best_step[u.codes]
    u_ref = _seg_mean(u.y, u.codes, (u.step <= bs) & (u.step >= bs - width[u.codes]), n)
    with np.errstate(invalid="ignore"):
        flagged = (
            candidate
            & (best_step < tail_start)
            & (smooth_min > 0)
            & (v_tail_mean >= (1 + thresholds.overfit_rise) * smooth_min)
            & (v_tail_mean - smooth_min >= thresholds.overfit_noise * noise)
            & (((u_ref > 0) & (u_end <= (1 - thresholds.overfit_train_drop) * u_ref))
               | ((u_ref == 0) & (u_end == 0)))  # a memorised training set (loss exactly 0) hides nothing
        )
    idx = np.flatnonzero(flagged)
    detail = pd.Series([""] * n, dtype=object)
    if len(idx):
        rise = v_tail_mean[idx] / smooth_min[idx] - 1
        text = (
            f"{pair[1]} best "
            + _fmt(best_val[idx])
            + f" at {curves.step_column} "
            + _fmt(best_step[idx])
            + f"; mean over the last {thresholds.tail_fraction:.0%} of the run "
            + _fmt(v_tail_mean[idx])
            + ", "
            + _spec(100 * rise, "{:.0f}%")
            + " above its smoothed best "
            + _fmt(smooth_min[idx])
            + f", while {pair[0]} fell "
            + _fmt(u_ref[idx])
            + " -> "
            + _fmt(u_end[idx])
            + f"; stop at {curves.step_column} "
            + _fmt(best_step[idx])
        )
        detail.iloc[idx] = text
    return _issues(curves, flagged, "overfitting", detail, best_step)


def overfitting_judged(curves: CurveTable, thresholds: CurveThresholds | None = None) -> np.ndarray:
    """Ids of the trials :func:`detect_curve_overfitting` can judge.

    They have a train loss curve and at least ``overfit_min_steps`` finite held-out
    values; for them the curve rule replaces the final-value rule.
    """
    thresholds = thresholds or CurveThresholds()
    train, held = train_loss(curves), held_out_loss(curves)
    if train is None or held is None:
        return np.zeros(0, dtype=object)
    n = curves.n_trials
    has_train = np.bincount(_view(curves, train).codes, minlength=n) > 0
    enough = np.bincount(_view(curves, held).codes, minlength=n) >= thresholds.overfit_min_steps
    return curves.trial_ids.to_numpy(dtype=object)[has_train & enough]


@emits("plateau")
def detect_curve_plateau(curves: CurveTable, thresholds: CurveThresholds) -> pd.DataFrame:
    """A loss that stopped improving early in the run and stayed stuck (learning stalled).

    On the train loss (per trial: else the held-out loss), over its positive finite values,
    3-point smoothed (``sm``) with best-so-far ``M`` (running minimum of ``sm``): the
    trial is flagged when a stretch ``[a, a + L]`` with ``L = plateau_fraction`` (30%)
    of the run, starting within the first ``plateau_start`` (10%) of the run and
    holding at least ``plateau_min_steps`` (5) values, ends with ``M`` less than
    ``plateau_min_improvement`` (1%) below ``M`` at ``a``, and with ``sm`` not more than
    ``plateau_max_rise`` (10%) above it (a climbing loss is diverging, not stuck). The
    curve must go on past the stretch: a loss that went NaN is not judged on the
    stretch its NaNs cut short.

    This catches a run stuck from the start (too small a learning rate, a dead
    network) and one that collapsed to a trivial solution after a first drop (DeepOBS
    3c3d at lr 1.0 falls from 3.59 to chance level, 2.303, by epoch 4 and stays). A
    run that fully converged within the first 10% of its budget looks the same and is
    flagged too: it stopped learning early, and most of its budget was spent idle.
    ``epoch`` is the start ``a`` of the first such stretch.
    """
    n = curves.n_trials
    first, last = curves.first_step(), curves.last_step()
    span = last - first
    c, col = _view_first(curves, [train_loss(curves), held_out_loss(curves)], positive=True)
    last_logged = np.full(n, np.nan)
    if len(c.step):
        last_logged[c.codes[c.starts]] = c.step[np.r_[c.starts[1:], len(c.step)] - 1]
    # only the rows a stretch can reach matter, plus one more for the smoothing at its end
    early = c.step <= (first + (thresholds.plateau_start + thresholds.plateau_fraction) * span)[c.codes]
    early[1:] |= early[:-1] & (c.codes[1:] == c.codes[:-1])
    c = _subset_rows(c, early)
    sm = _smooth3(c.y, c.codes)
    best = sm[_seg_cummin_row(np.log(sm), c.codes)] if len(sm) else sm
    # candidate starts a: rows in the first plateau_start of their run
    cand = np.flatnonzero(c.step <= (first + thresholds.plateau_start * span)[c.codes])
    ccodes, cstep = c.codes[cand], c.step[cand]
    length = thresholds.plateau_fraction * span[ccodes]
    end = _seg_last_at_or_below(c.codes, c.step, cand, cstep + length, first)
    with np.errstate(invalid="ignore"):
        stuck = (
            (length > 0)
            & (last_logged[ccodes] >= cstep + length)
            & (end - cand + 1 >= thresholds.plateau_min_steps)
            & (best[end] >= (1 - thresholds.plateau_min_improvement) * best[cand])
            & (sm[end] <= (1 + thresholds.plateau_max_rise) * best[cand])
        )
    first_row = _seg_reduce(np.minimum, np.where(stuck, cand, len(sm)), ccodes, n, len(sm))
    flagged = first_row < len(sm)
    idx = np.flatnonzero(flagged)
    rows = first_row[idx]
    end_of = np.zeros(len(sm), dtype=np.int64)
    end_of[cand] = end
    end = end_of
    epoch = _take(c.step, first_row, flagged)
    detail = pd.Series([""] * n, dtype=object)
    if len(idx):
        text = (
            col[idx]
            + " stuck at "
            + _fmt(best[rows])
            + f" from {curves.step_column} "
            + _fmt(c.step[rows])
            + " to "
            + _fmt(c.step[end[rows]])
            + f" ({thresholds.plateau_fraction:.0%} of the run): best-so-far improved "
            + _spec(np.maximum(100 * (1 - best[end[rows]] / best[rows]), 0), "{:.2f}%")
            + f" (< {thresholds.plateau_min_improvement:.0%}, smoothed)"
        )
        detail.iloc[idx] = text
    return _issues(curves, flagged, "plateau", detail, epoch)


@emits("oscillation")
def detect_curve_oscillation(curves: CurveTable, thresholds: CurveThresholds) -> pd.DataFrame:
    """A loss that keeps swinging up and down by a large amount.

    On the train loss (per trial: else the held-out loss), over its finite values: a *swing* is a
    change between consecutive values of at least ``oscillation_swing`` (10%) of the
    trial's scale, the larger of its range (max - min: mostly the progress it made) and
    its mean absolute value (so a flat noisy curve, whose range is only noise, has a
    scale of its level); the trial oscillates when consecutive swings change direction
    at least ``oscillation_min_count`` (4) times and at least
    ``oscillation_min_fraction`` (10%) of its values (``n - 2`` turns are possible: 5
    up-and-down spikes per 100 steps). Noise of a few percent of the level never makes
    such a swing, nor does a converged loss jittering near zero after a large drop, and
    a monotone drop makes no turn. ``epoch`` is the step of the first counted turn.
    """
    n = curves.n_trials
    c, col = _view_first(curves, [train_loss(curves), held_out_loss(curves)])
    count = np.bincount(c.codes, minlength=n)
    level = np.bincount(c.codes, weights=np.abs(c.y), minlength=n) / np.maximum(count, 1)
    spread = (_seg_reduce(np.maximum, c.y, c.codes, n, np.nan, c.starts)
              - _seg_reduce(np.minimum, c.y, c.codes, n, np.nan, c.starts))
    scale = np.fmax(spread, level)
    d = np.diff(c.y)
    same = c.codes[1:] == c.codes[:-1]
    big = same & (np.abs(d) >= thresholds.oscillation_swing * scale[c.codes[1:]])
    rows = np.flatnonzero(big)  # diff k goes from value k to value k+1
    sign = np.sign(d[rows])
    trial = c.codes[rows]
    turn = (trial[1:] == trial[:-1]) & (sign[1:] != sign[:-1])
    turns = np.bincount(trial[1:][turn], minlength=n)
    first_turn = _seg_reduce(np.minimum, np.where(turn, rows[:-1] + 1, len(c.y)), trial[1:], n, len(c.y))
    epoch = _take(c.step, first_turn, first_turn < len(c.y))
    flagged = (turns >= thresholds.oscillation_min_count) & (
        turns >= thresholds.oscillation_min_fraction * np.maximum(count - 2, 0))
    idx = np.flatnonzero(flagged)
    detail = pd.Series([""] * n, dtype=object)
    if len(idx):
        text = (
            col[idx]
            + " changed direction with swings >= "
            + _fmt(thresholds.oscillation_swing * scale[idx])
            + f" ({thresholds.oscillation_swing:.0%} of its range or mean level, whichever is larger) "
            + _spec(turns[idx], "{}")
            + " times in "
            + _spec(count[idx], "{}")
            + " values"
        )
        detail.iloc[idx] = text
    return _issues(curves, flagged, "oscillation", detail, epoch)


@emits("still_improving")
def detect_curve_still_improving(curves: CurveTable, thresholds: CurveThresholds) -> pd.DataFrame:
    """The run ended while the held-out loss was still falling: under-trained.

    On the held-out loss (per trial: else the train loss), over the final window (the last
    ``tail_fraction``, 20%, of the run, with at least ``still_min_points`` (5) finite
    values): the least-squares slope of loss on step projects a drop over the window of
    at least ``still_min_drop`` (1%) of the window's mean loss (> 0), the slope's
    one-sided p-value (t test, ``k - 2`` degrees of freedom) is ``<= still_p`` (0.001:
    a trend, not noise; with 5 points that needs t <= -10.2, with 30 t <= -3.4), and
    the minimum of the 3-point-smoothed curve lies in the last ``still_best_fraction``
    (10%) of the run. ``epoch`` is the last step. More steps (or a slower
    learning-rate decay) should still pay off.
    """
    n = curves.n_trials
    first, last = curves.first_step(), curves.last_step()
    span = last - first
    width = thresholds.tail_fraction * span
    full, col = _view_first(curves, [held_out_loss(curves), train_loss(curves)])
    c = _subset_rows(full, full.step >= (last - width)[full.codes])  # the final window's rows
    k = np.bincount(c.codes, minlength=n).astype(float)
    safe_k = np.maximum(k, 1)
    mx = np.bincount(c.codes, weights=c.step, minlength=n) / safe_k
    my = np.bincount(c.codes, weights=c.y, minlength=n) / safe_k
    dx = c.step - mx[c.codes]
    dy = c.y - my[c.codes]
    sxx = np.bincount(c.codes, weights=dx * dx, minlength=n)
    sxy = np.bincount(c.codes, weights=dx * dy, minlength=n)
    syy = np.bincount(c.codes, weights=dy * dy, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = sxy / sxx
        rss = np.maximum(syy - slope * sxy, 0.0)
        se = np.sqrt(rss / np.maximum(k - 2, 1) / sxx)
        t = np.where(se > 0, slope / se, np.where(slope < 0, -np.inf, np.where(slope > 0, np.inf, np.nan)))
        p = stats.t.cdf(t, np.maximum(k - 2, 1))
        drop = -slope * width
        trend = (
            (k >= thresholds.still_min_points)
            & (my > 0)
            & (drop >= thresholds.still_min_drop * my)
            & (k >= 3)
            & (p <= thresholds.still_p)
        )
        whole = _subset_trials(full, trend)
        _, best_row = _seg_argmin(_smooth3(whole.y, whole.codes), whole, n)
        best_step = _take(whole.step, best_row, best_row >= 0)
        flagged = trend & (best_step >= last - thresholds.still_best_fraction * span)
    idx = np.flatnonzero(flagged)
    detail = pd.Series([""] * n, dtype=object)
    if len(idx):
        text = (
            col[idx]
            + " still falling at the end: trend -"
            + _spec(100 * drop[idx] / my[idx], "{:.1f}%")
            + f" over the last {thresholds.tail_fraction:.0%} of the run ({curves.step_column} "
            + _fmt((last - width)[idx])
            + "-"
            + _fmt(last[idx])
            + ", t = "
            + _spec(t[idx], "{:.1f}")
            + ", p = "
            + _spec(p[idx], "{:.1g}")
            + "); train longer"
        )
        detail.iloc[idx] = text
    return _issues(curves, flagged, "still_improving", detail, last.astype(float))


CURVE_DETECTORS: tuple[CurveDetector, ...] = (
    detect_curve_nonfinite,
    detect_curve_diverged,
    detect_curve_overfitting,
    detect_curve_plateau,
    detect_curve_oscillation,
    detect_curve_still_improving,
)


def detect_curve_issues(curves: CurveTable, thresholds: CurveThresholds | None = None) -> pd.DataFrame:
    """Run every curve detector; one row per (trial, issue type), trials in file order.

    Returns
    -------
    pd.DataFrame
        Columns ``trial_id`` (str), ``type`` (see the module docstring), ``severity``
        (high/medium/low), ``detail`` (a short reason with the numbers) and ``epoch``
        (float: the step the issue refers to, NaN if none).

    Notes
    -----
    Every rule looks at one trial at a time, so large tables are processed in blocks of
    whole trials of about :data:`BLOCK_ROWS` rows: the temporaries stay small and are
    reused, which on 10M rows is several times faster than whole-table arrays.
    """
    thresholds = thresholds or CurveThresholds()
    found = [d(block, thresholds) for block in _blocks(curves) for d in CURVE_DETECTORS]
    found = [f for f in found if not f.empty]
    if not found:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "epoch" else object) for c in CURVE_ISSUE_COLUMNS})
    issues = pd.concat(found, ignore_index=True)
    type_order = {t: i for i, t in enumerate(CURVE_ISSUE_TYPES)}
    issues["_trial"] = pd.Index(curves.trial_ids).get_indexer(issues["trial_id"])
    issues["_type"] = issues["type"].map(type_order)
    return issues.sort_values(["_trial", "_type"], kind="stable").drop(columns=["_trial", "_type"]).reset_index(drop=True)


def curve_facts(curves: CurveTable) -> pd.DataFrame:
    """Per-trial facts of the curves, for the summary and plots.

    Returns
    -------
    pd.DataFrame
        One row per trial (file order): ``trial_id``; ``n_steps``; ``first_step``;
        ``last_step``; ``first_nonfinite_step`` (any metric, NaN if none) and
        ``first_nonfinite_step:<metric>`` for every metric; ``held_out`` (the held-out
        loss column, or None); ``best_step`` and ``best_value`` (its lowest finite value
        and first step reaching it) and ``last_value`` (its last logged value, possibly
        non-finite); all NaN when there is no held-out loss.
    """
    n = curves.n_trials
    facts: dict[str, object] = {
        "trial_id": curves.trial_ids.to_numpy(dtype=object),
        "n_steps": np.bincount(curves.codes, minlength=n),
        "first_step": curves.first_step(),
        "last_step": curves.last_step(),
    }
    any_onset = np.full(n, np.inf)
    per_metric = {}
    for col in curves.metrics.columns:
        y = curves.metrics[col].to_numpy()
        bad = ~curves.missing[col].to_numpy() & ~np.isfinite(y)
        onset = (_seg_reduce(np.minimum, np.where(bad, curves.step, np.inf), curves.codes, n, np.inf, curves.offsets[:-1])
                 if bad.any() else np.full(n, np.inf))
        any_onset = np.minimum(any_onset, onset)
        per_metric[f"first_nonfinite_step:{col}"] = np.where(np.isfinite(onset), onset, np.nan)
    facts["first_nonfinite_step"] = np.where(np.isfinite(any_onset), any_onset, np.nan)
    facts.update(per_metric)
    col = held_out_loss(curves)
    facts["held_out"] = col
    if col is None:
        facts["best_step"] = facts["best_value"] = facts["last_value"] = np.full(n, np.nan)
    else:
        v = _view(curves, col)
        best_val, best_row = _seg_argmin(v.y, v, n)
        facts["best_step"] = _take(v.step, best_row, best_row >= 0)
        facts["best_value"] = best_val
        present = ~curves.missing[col].to_numpy()
        last = _seg_reduce(np.maximum, np.where(present, np.arange(len(curves)), -1), curves.codes, n, -1,
                           curves.offsets[:-1])
        facts["last_value"] = _take(curves.metrics[col].to_numpy(), last, last >= 0)
    return pd.DataFrame(facts)


# --------------------------------------------------------------------------------------
# Segment helpers (rows sorted by trial code)
# --------------------------------------------------------------------------------------


def _blocks(curves: CurveTable, rows: int | None = None) -> list[CurveTable]:
    """The table cut into consecutive blocks of whole trials of about ``rows`` rows each."""
    rows = rows or BLOCK_ROWS
    if len(curves) <= rows:
        return [curves]
    offsets = curves.offsets
    cuts = np.unique(np.searchsorted(offsets, np.arange(0, len(curves), rows), side="left"))
    bounds = [*cuts[cuts < curves.n_trials].tolist(), curves.n_trials]
    blocks = []
    for k0, k1 in zip(bounds[:-1], bounds[1:]):
        a, b = int(offsets[k0]), int(offsets[k1])
        blocks.append(CurveTable(
            trial_ids=curves.trial_ids[k0:k1],
            codes=curves.codes[a:b] - k0,
            step=curves.step[a:b],
            metrics=curves.metrics.iloc[a:b].reset_index(drop=True),
            missing=curves.missing.iloc[a:b].reset_index(drop=True),
            info=curves.info,
            id_column=curves.id_column,
            step_column=curves.step_column,
            trial_columns=curves.trial_columns.iloc[k0:k1].reset_index(drop=True),
            ignored=curves.ignored,
            source=curves.source,
        ))
    return blocks


@dataclass
class _View:
    """The finite (optionally positive) logged values of one metric, as sorted segments."""

    y: np.ndarray
    codes: np.ndarray
    step: np.ndarray
    starts: np.ndarray  # first row of each non-empty segment


def _view(curves: CurveTable, col: str, positive: bool = False) -> _View:
    key = ("view", col, positive)
    if key not in curves._memo:
        y = curves.metrics[col].to_numpy()
        keep = ~curves.missing[col].to_numpy() & np.isfinite(y)
        if positive:
            keep &= y > 0
        if keep.all():
            curves._memo[key] = _View(y=y, codes=curves.codes, step=curves.step, starts=curves.offsets[:-1])
        else:
            rows = np.flatnonzero(keep)
            curves._memo[key] = _make_view(y[rows], curves.codes[rows], curves.step[rows])
    return curves._memo[key]  # type: ignore[return-value]


def _view_first(curves: CurveTable, cols: list[str | None], positive: bool = False) -> tuple[_View, np.ndarray]:
    """Per trial, the finite values of the first of ``cols`` it logged any finite value of.

    Returns the view and, per trial, the name of the column used (None if none).
    """
    names = [c for c in dict.fromkeys(cols) if c]
    key = ("first", tuple(names), positive)
    if key in curves._memo:
        return curves._memo[key]  # type: ignore[return-value]
    n = curves.n_trials
    views = [_view(curves, c) for c in names]
    chosen = np.full(n, -1)
    for k, v in enumerate(views):
        has = np.zeros(n, dtype=bool)
        has[v.codes[v.starts]] = True
        chosen[(chosen < 0) & has] = k
    used = np.array([*names, None], dtype=object)[chosen]
    if not views:
        empty = np.zeros(0)
        result = (_make_view(empty, empty.astype(np.int64), empty), used)
    elif not (chosen > 0).any():
        result = (_view(curves, names[0], positive), used)  # every trial uses the first column
    else:
        parts = []
        for k, c in enumerate(names):
            v = _view(curves, c, positive)
            keep = chosen[v.codes] == k
            parts.append((v.y[keep], v.codes[keep], v.step[keep]))
        y, codes, step = (np.concatenate([p[i] for p in parts]) for i in range(3))
        order = np.argsort(codes, kind="stable")  # each trial comes from one column: step order is kept
        result = (_make_view(y[order], codes[order], step[order]), used)
    curves._memo[key] = result
    return result


def _subset_rows(view: _View, keep: np.ndarray) -> _View:
    """The rows of a view where the row mask ``keep`` is True."""
    rows = np.flatnonzero(keep)
    return _make_view(view.y[rows], view.codes[rows], view.step[rows])


def _subset_trials(view: _View, trials: np.ndarray, at_most: float = 1.0) -> _View:
    """The rows of a view whose trial is True in the per-trial mask ``trials``.

    When more than ``at_most`` of the rows would be kept, the whole view is returned
    instead (a prefilter that keeps most rows is not worth a copy; callers mask anyway).
    """
    keep = trials[view.codes]
    if keep.all() or keep.mean() > at_most:
        return view
    return _subset_rows(view, keep)


def _make_view(y: np.ndarray, codes: np.ndarray, step: np.ndarray) -> _View:
    return _View(y=y, codes=codes, step=step, starts=_segment_starts(codes))


def _segment_starts(codes: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.zeros(0, np.int64)


def _seg_reduce(
    ufunc: np.ufunc, values: np.ndarray, codes: np.ndarray, n: int, fill: float, starts: np.ndarray | None = None
) -> np.ndarray:
    """``ufunc`` reduced over each trial's rows (``codes`` sorted, segments starting at ``starts``).

    ``fill`` for trials without rows; ``starts`` is computed from ``codes`` when not given.
    """
    out = np.full(n, fill, dtype=np.result_type(values, np.asarray(fill)))
    if len(values):
        starts = _segment_starts(codes) if starts is None else starts
        out[codes[starts]] = ufunc.reduceat(values, starts)
    return out


def _take(values: np.ndarray, index: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``values[index]`` as float where ``valid``, NaN elsewhere (``index`` may be out of range there)."""
    out = np.full(len(index), np.nan)
    out[valid] = values[index[valid]]
    return out


def _seg_last_at_or_below(
    codes: np.ndarray, step: np.ndarray, rows: np.ndarray, target: np.ndarray, first: np.ndarray
) -> np.ndarray:
    """For each of ``rows``, the last row of its trial whose step is ``<= target`` (at least the row itself).

    A segmented ``searchsorted``: rows are sorted by (code, step), so the key
    ``code * K + (step - first step)`` with ``K`` above every trial's span is sorted;
    the float key may land one row off at an exact tie, which is then corrected by
    comparing the steps themselves.
    """
    m = len(step)
    if not m or not len(rows):
        return np.zeros(len(rows), dtype=np.int64)
    base = first[codes]
    own = codes[rows]
    width = float(max(np.max(target - first[own]), np.max(step - base))) * 2 + 1
    key = codes * width + (step - base)
    j = np.searchsorted(key, own * width + (target - first[own]), side="right") - 1
    j = np.clip(j, 0, m - 1)
    nxt = np.minimum(j + 1, m - 1)
    j = np.where((nxt > j) & (codes[nxt] == own) & (step[nxt] <= target), nxt, j)
    j = np.where(((step[j] > target) | (codes[j] != own)) & (j > 0), j - 1, j)
    return np.maximum(j, rows)


def _seg_mean(values: np.ndarray, codes: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    count = np.bincount(codes, weights=mask, minlength=n)
    total = np.bincount(codes, weights=np.where(mask, values, 0.0), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _seg_argmin(values: np.ndarray, view: _View, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per trial: minimum of ``values`` (finite) and the row (in the view) of its first occurrence, -1 if none."""
    low = _seg_reduce(np.minimum, values, view.codes, n, np.nan, view.starts)
    at = np.where(values == low[view.codes], np.arange(len(values)), len(values))
    row = _seg_reduce(np.minimum, at, view.codes, n, -1, view.starts)
    return low, np.where(row >= len(values), -1, row)


def _seg_cummin_row(z: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """For every row, the row of its trial's running minimum of ``z`` so far (first reached).

    One accumulation over the whole array: each segment is shifted below every earlier
    one (by its index times more than the range of ``z``), so the running minimum
    restarts at each segment. Only positions are read back, never shifted values; ``z``
    is a log-loss, whose range is small, so the shift merges no values that differ by
    more than ~1e-8 relative.
    """
    if not len(z):
        return np.zeros(0, dtype=np.int64)
    new = np.r_[True, codes[1:] != codes[:-1]]
    gap = float(z.max() - z.min()) + 1.0
    w = z - (np.cumsum(new) - 1) * gap
    acc = np.minimum.accumulate(w)
    lower = new.copy()
    lower[1:] |= w[1:] < acc[:-1]
    return np.maximum.accumulate(np.where(lower, np.arange(len(z)), 0))


def _smooth3(y: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Centred 3-point moving average within each trial (2 points at a trial's ends)."""
    if not len(y):
        return y
    same = codes[1:] == codes[:-1]
    total = y.copy()
    count = np.ones(len(y))
    total[1:] += np.where(same, y[:-1], 0.0)
    total[:-1] += np.where(same, y[1:], 0.0)
    count[1:] += same
    count[:-1] += same
    return total / count


def _issues(curves: CurveTable, mask: np.ndarray, kind: str, detail: pd.Series, epoch: np.ndarray) -> pd.DataFrame:
    mask = np.asarray(mask, dtype=bool)
    epoch = np.asarray(epoch, dtype=float)
    return pd.DataFrame(
        {
            "trial_id": curves.trial_ids.to_numpy(dtype=object)[mask],
            "type": kind,
            "severity": ISSUE_TYPES[kind].severity,
            "detail": np.asarray(detail, dtype=object)[mask],
            "epoch": np.where(np.isfinite(epoch[mask]), epoch[mask], np.nan),
        },
        columns=CURVE_ISSUE_COLUMNS,
    )


def _join_details(parts: list[pd.Series], n: int) -> pd.Series:
    detail = pd.Series([""] * n, dtype=object)
    for part in parts:
        idx = part.index.to_numpy()
        current = detail.iloc[idx].to_numpy(dtype=object)
        joined = np.where(current == "", part.to_numpy(dtype=object), current + "; " + part.to_numpy(dtype=object))
        detail.iloc[idx] = joined
    return detail


# --------------------------------------------------------------------------------------
# Building helpers
# --------------------------------------------------------------------------------------


def _parse_hints(frame: pd.DataFrame, hints: dict[str, str], source: str) -> dict[str, tuple[str, MetricInfo | None]]:
    given: dict[str, tuple[str, MetricInfo | None]] = {}
    for col, spec in hints.items():
        if col not in frame.columns:
            raise InputError(f"{source}: --map names column {col!r}, which is not in the curves; "
                             f"columns are: {_list(frame.columns)}")
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
    by_canonical = {canonical(str(c)): c for c in reversed(frame.columns) if c not in given}
    col = next((by_canonical[n] for n in _ID_NAMES if n in by_canonical), None)
    if col is None:
        raise InputError(f"{source}: no trial id column in the curves (looked for {', '.join(_ID_NAMES[:4])}, ...; "
                         f"or name one with --map COLUMN=id); columns are: {_list(frame.columns)}")
    return col


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
                     f"or name one with --map COLUMN=step); columns are: {_list(frame.columns)}")


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
    starts = _segment_starts(codes)
    index = np.arange(len(codes))
    for col in columns:
        role = given.get(col, (None, None))[0]
        cells = frame[col] if rows is None else frame[col].iloc[rows]
        if role in (None, "outcome") and outcome_kind(str(col)) and is_boolean(cells):
            # an outcome flag logged per step (epoch_diverged): set for the trial when set at any step
            flag = flag_values(cells).astype(np.int64)
            out[col] = np.where(np.maximum.reduceat(flag, starts) > 0, "true", "false") if len(flag) else flag
            continue
        last_value = role in {"status", "runtime", "error", "seed"} or canonical(str(col)) in _LAST_VALUE_NAMES
        if pd.api.types.is_numeric_dtype(cells.dtype) and not pd.api.types.is_bool_dtype(cells.dtype):
            values, missing, _ = _parse_cells(cells)
            values = np.where(missing, np.nan, values) if missing.any() else values
            present = ~np.isnan(values)
            lo, hi = (np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)) if len(values) else ((), ())
            empty, constant = np.isnan(hi), (lo == hi) | np.isnan(hi)
            if last_value:
                last = np.maximum.reduceat(np.where(present, index, -1), starts) if len(values) else np.zeros(0, int)
                per_trial = _take(values, last, last >= 0)
            else:
                per_trial = np.asarray(hi, dtype=float)
            text = np.where(np.isnan(per_trial), None, _to_text(per_trial))
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


def _fmt(values: np.ndarray) -> np.ndarray:
    """:func:`core.values.describe_value` of each value, as an object array.

    The same rules (4 significant digits, 3 in scientific range, integers as such,
    NaN/+inf/-inf), applied without a NumPy call per value; a test pins the equality.
    """
    values = np.asarray(values, dtype=float)
    out = np.empty(len(values), dtype=object)
    finite = np.isfinite(values)
    integral = finite & (values == np.round(values)) & (np.abs(values) < 1e15)
    out[integral] = values[integral].astype(np.int64).astype(str)
    out[np.isnan(values)] = "NaN"
    out[values == np.inf] = "+inf"
    out[values == -np.inf] = "-inf"
    rest = np.flatnonzero(finite & ~integral)
    out[rest] = [f"{v:.3g}" if abs(v) >= 1e5 or abs(v) < 1e-3 else f"{v:.4g}" for v in values[rest].tolist()]
    return out


def _spec(values: np.ndarray, spec: str) -> np.ndarray:
    """Each value formatted with ``spec`` (e.g. ``"{:.1f}%"``), as an object array."""
    out = np.empty(len(values), dtype=object)
    out[:] = [spec.format(v) for v in np.asarray(values).tolist()]
    return out


def _to_text(values: np.ndarray) -> np.ndarray:
    """Floats as text that reads back exactly: ``3``, ``0.001``, ``nan``, ``inf``, ``-inf``."""
    values = np.asarray(values, dtype=float)
    integral = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 1e15)
    text = values.astype(str).astype(object)  # shortest repr that reads back exactly
    text[integral] = values[integral].astype(np.int64).astype(str)
    return text


def _list(columns: object) -> str:
    names = [str(c) for c in columns]  # type: ignore[attr-defined]
    return ", ".join(names[:15]) + (f", ... ({len(names)} in all)" if len(names) > 15 else "")
