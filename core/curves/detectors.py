"""The curve detectors: seven rules over a :class:`~core.curves.table.CurveTable`, one row per flagged trial.

Everything here is vectorised (:mod:`core.curves.segments`): per-trial quantities come
from segment reductions, never from a Python loop over trials, and detectors run over
blocks of about a million rows of whole trials. Ten million rows take seconds
(``benchmarks/bench_curves.py``).

Curve issue types (each rule is documented on its function; severities, labels and
advice are in :mod:`core.issue_types`):

================  ==========================================================
type              meaning
================  ==========================================================
nonfinite_metric  a metric went NaN or +/-inf; ``epoch`` is the first such step
diverged          a loss rose to >= 10x its running minimum, losing its progress for good
overfitting       held-out loss rose after its best step while train loss fell;
                  ``epoch`` is the best step (where to stop)
plateau           early on, the loss stopped improving (< 1%) for 30% of the run
oscillation       the loss swung up and down by >= 10% of its range, repeatedly
still_improving   the held-out loss was still falling when the run ended
no_learning       a loss-only run whose loss never got 1% below where it started
================  ==========================================================

With the trial table's chance level, :func:`chance_on_curves` flags ``collapsed`` (the
held-out curve was past chance, then sat back at chance over the final window) for the
trials whose final result the table finds at chance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import stdtr

from core.curves.columns import held_out_loss, train_loss
from core.curves.segments import (
    View,
    first_rows_where,
    seg_argmin,
    seg_cummin_row,
    seg_last_at_or_below,
    seg_last_row,
    seg_mean,
    seg_median,
    seg_reduce,
    smooth3,
    subset_rows,
    subset_trials,
    take,
)
from core.curves.table import CurveTable
from core.detectors import (
    Thresholds,
    accuracy_fraction,
    can_be_cross_entropy,
    chance_level,
    class_pair,
    is_r2,
    learned_beyond_chance,
)
from core.issue_types import ISSUE_TYPES, emits, names_where
from core.table import TrialTable

CURVE_ISSUE_COLUMNS = ["trial_id", "type", "severity", "detail", "epoch"]

#: Rows per block of whole trials in :func:`detect_curve_issues`.
BLOCK_ROWS = 1_000_000

#: The median absolute deviation of Gaussian noise times this is its standard deviation.
MAD_TO_SD = 1.4826

CURVE_ISSUE_TYPES = names_where(lambda t: t.from_curves)
"""The issue types a curve rule can flag, in the vocabulary's order."""


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
        best (3-point smoothed) value by at least this fraction, or its median there the
        median around the best ...
    overfit_noise : 3. ... and by at least 3 times the held-out noise of one evaluation
        (from the root mean square residual beside the mean, the median absolute
        residual beside the median) ...
    overfit_train_drop : 0.01. ... while the train loss's mean over the final window is
        at least this fraction below the train loss at the held-out best (its median over
        half a final window from the best on).
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
    no_learning_tolerance : 0.01. A loss-only run whose loss never got 1% below where it
        started learned nothing (when neither chance nor an r2 can judge it).
    trivial_loss : the loss of the trivial predictor (predicting the class prior: ln C
        when balanced) for the sweep's cross-entropy losses, when the classes are known;
        None otherwise. Not a threshold but a fact of the sweep, set from the trial
        table (:func:`with_sweep_facts`); a loss 10x above it has diverged.
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
    no_learning_tolerance: float = 0.01
    trivial_loss: float | None = None

    def to_dict(self) -> dict[str, float]:
        """JSON-native form, as recorded in the summary."""
        return asdict(self)


CurveDetector = Callable[[CurveTable, CurveThresholds], pd.DataFrame]
Describe = Callable[[np.ndarray], np.ndarray]
"""Detail texts of the flagged trials (positions in the curve table's trials) of a curve rule."""


def with_sweep_facts(curve_thresholds: CurveThresholds, table: TrialTable, thresholds: Thresholds) -> CurveThresholds:
    """``curve_thresholds`` with the facts the trial table knows and curves alone do not.

    ``trivial_loss``: the trivial predictor's loss when the classes are known or inferred
    (:func:`core.detectors.chance_level`), unless already set.
    """
    if curve_thresholds.trivial_loss is not None:
        return curve_thresholds
    trivial = chance_level(table, thresholds)[2]
    return replace(curve_thresholds, trivial_loss=float(trivial)) if np.isfinite(trivial) and trivial > 0 else \
        curve_thresholds


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
        first_rows = first_rows_where(bad, curves.codes)
        trials = curves.codes[first_rows]
        onset[trials] = np.minimum(onset[trials], curves.step[first_rows])
        n_bad = np.bincount(curves.codes[bad], minlength=n)[trials]
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
    """A loss that blew up: far above its own progress, or far above the trivial predictor's.

    Over a trial's positive finite values ``y_0, y_1, ...`` of a loss, with running
    minimum ``m_t = min(y_0..y_t)``, a step ``t`` is a blow-up when either:

    * ``y_t >= diverge_factor * m_t`` (10x) and ``y_t - m_t >= diverge_lost * (y_0 - m_t)``
      (at least half the progress from the first value to the minimum given back; with
      the trivial loss ``L0`` known, ``y_0`` is at least ``L0``: progress counts from
      knowing nothing, so a spike that stays far below ``L0`` is no blow-up); or
    * the trivial predictor's loss ``L0`` is known (``trivial_loss``: a cross-entropy
      of a classification with known classes) and ``y_t >= diverge_factor * L0``, or an
      r2 / explained-variance curve is ``<= 1 - diverge_factor`` (a squared error 10x the
      mean predictor's), at any step after the trial's first: a model 10x worse than
      knowing nothing is unstable wherever it started. The first step is left out: a
      loss that merely *starts* high (initialisation, the untrained model) is no blow-up.

    The first rule is about losing the progress, so a spike the loss comes back from is
    no blow-up by it: a later value back below half-way (``m_t + diverge_lost * (y_0 -
    m_t)``) means the progress was regained (a train-mode running mean that spikes for
    one epoch under a large learning rate and drops back is oscillation, not
    divergence), unless the spike reached ``diverge_factor`` x ``y_0`` (10x above where
    the loss started, as far as the trivial-loss rule asks). A loss that ends
    non-finite regained nothing.

    And divergence is the optimisation blowing up, which shows in the training loss:
    with a train loss logged, a held-out loss's rise from its own minimum counts only
    when the train loss also climbed back at least ``diverge_lost`` of its progress (10x
    or not) or went non-finite. A held-out loss climbing tenfold while the train loss
    keeps falling is the far end of overfitting (DeepOBS F-MNIST, Adam: test loss 0.28
    -> 3.0 over 100 epochs as the train loss fell 0.24 -> 0.06), and
    :func:`detect_curve_overfitting` names it with where to stop. The second rule (10x
    the trivial loss) applies to every loss as is.

    A blow-up that is the loss's last finite value before it went non-finite is the
    onset of the overflow, and ``nonfinite_metric`` only (like a loss that goes straight
    to NaN). ``epoch`` is the first blow-up step (the earliest over the trial's curves).
    """
    n = curves.n_trials
    epoch = np.full(n, np.inf)
    parts: list[pd.Series] = []
    first = curves.first_step()
    step = curves.step_column
    train = train_loss(curves)
    train_blew = has_train = None
    if train is not None:
        y = curves.metrics[train].to_numpy()
        logged = ~curves.missing[train].to_numpy()
        has_train = np.bincount(curves.codes, weights=logged, minlength=n) > 0
        train_blew = np.bincount(curves.codes, weights=logged & ~np.isfinite(y), minlength=n) > 0
    for col in sorted(curves.info, key=lambda name: name != train):  # the train loss first
        info = curves.info[col]
        trivial = (thresholds.trivial_loss if info.kind == "loss" and can_be_cross_entropy(col) else None)
        if info.kind == "loss":
            c = curves.view(col, positive=True)
        elif info.kind == "score" and is_r2(col):
            c = curves.view(col)
        else:
            continue
        if not len(c.y):
            continue
        last_finite = _last_finite_before_nonfinite(curves, col)
        later = c.step > first[c.codes]
        if info.kind == "score":  # r2: only the comparison with the mean predictor
            hit = later & (c.y <= 1 - thresholds.diverge_factor) & (c.step != last_finite[c.codes])
            found = _first_hits(hit, c, epoch)
            parts.append(pd.Series(
                f"{col} fell to " + _fmt(c.y[found]) + f" at {step} " + _fmt(c.step[found]) + ": squared error "
                + _spec(1 - c.y[found], "{:.3g}") + "x the mean predictor's", index=c.codes[found]))
            continue
        rose = _rose_from_minimum(c, n, thresholds, trivial, np.isfinite(last_finite))
        trivial_hit = (later & (c.y >= thresholds.diverge_factor * trivial) if trivial
                       else np.zeros(len(c.y), dtype=bool))
        if col == train:
            train_blew |= _gave_back(c, n, thresholds, trivial)
        elif train_blew is not None:  # a held-out rise alone, with training going well, is overfitting
            rose &= train_blew[c.codes] | ~has_train[c.codes]
        onset = c.step == last_finite[c.codes]
        found = _first_hits((rose | trivial_hit) & ~onset, c, epoch)
        if not len(found):
            continue
        min_row = seg_cummin_row(np.log(c.y), c.codes)[found]
        by_min = rose[found]
        text = np.where(
            by_min,
            ", " + _spec(c.y[found] / c.y[min_row], "{:.3g}") + "x its minimum " + _fmt(c.y[min_row])
            + f" ({step} " + _fmt(c.step[min_row]) + ")",
            ", " + _spec(c.y[found] / (trivial or 1.0), "{:.3g}") + "x the trivial predictor's loss "
            + _fmt(np.full(len(found), trivial or 1.0)))
        parts.append(pd.Series(f"{col} rose to " + _fmt(c.y[found]) + f" at {step} " + _fmt(c.step[found]) + text,
                               index=c.codes[found]))
    flagged = np.isfinite(epoch)
    return _issues(curves, flagged, "diverged", _join_details(parts, n), epoch)


def _rose_from_minimum(c: View, n: int, thresholds: CurveThresholds, trivial: float | None,
                       ends_nonfinite: np.ndarray) -> np.ndarray:
    """Rows at >= ``diverge_factor`` x the running minimum that gave back >= ``diverge_lost`` of the progress for good.

    For good: no later value of the trial comes back below that half-way point, or the
    trial's loss ends non-finite (``ends_nonfinite``, per trial: a zigzagging running
    mean on its way to an overflow dips below half-way between its peaks without
    regaining anything), or the row is ``diverge_factor`` x above where the loss started
    (as far above knowing nothing as the trivial-loss rule asks, wherever it went next).

    The progress is counted from the first value, or from the ``trivial`` predictor's loss
    when that is higher (a first value logged after an epoch of learning would make a
    converged loss's spike from 0.005 to 0.13, still 5x below knowing nothing, look
    like half the progress lost).
    """
    low = seg_reduce(np.minimum, c.y, c.codes, n, np.nan, c.starts)
    high = seg_reduce(np.maximum, c.y, c.codes, n, np.nan, c.starts)
    with np.errstate(invalid="ignore"):
        candidate = high >= thresholds.diverge_factor * low  # a trial's maximum must be 10x its minimum
    rose = np.zeros(len(c.y), dtype=bool)
    if not candidate.any():
        return rose
    rows = np.flatnonzero(candidate[c.codes])
    sub = subset_rows(c, candidate[c.codes])
    m, first_val, halfway = _progress(sub, n, thresholds, trivial)
    for_good = ends_nonfinite[sub.codes] | (_min_after(sub) > halfway) | (sub.y >= thresholds.diverge_factor * first_val)
    rose[rows] = (sub.y >= thresholds.diverge_factor * m) & (sub.y >= halfway) & for_good
    return rose


def _progress(c: View, n: int, thresholds: CurveThresholds, trivial: float | None) -> tuple[np.ndarray, ...]:
    """Per row: the running minimum ``m``, the start (first value, at least ``trivial``) and the half-way point back."""
    m = c.y[seg_cummin_row(np.log(c.y), c.codes)]
    first_of_trial = np.zeros(n)
    first_of_trial[c.codes[c.starts]] = c.y[c.starts]
    first_val = np.fmax(first_of_trial[c.codes], trivial) if trivial else first_of_trial[c.codes]
    return m, first_val, m + thresholds.diverge_lost * (first_val - m)


def _min_after(c: View) -> np.ndarray:
    """For every row, the minimum of its trial's later values (+inf for a trial's last row)."""
    back = slice(None, None, -1)  # a running minimum over the reversed rows is a minimum from the end
    suffix = c.y[back][seg_cummin_row(np.log(c.y[back]), c.codes[back])][back]
    out = np.full(len(c.y), np.inf)
    same = c.codes[1:] == c.codes[:-1]
    out[:-1][same] = suffix[1:][same]
    return out


def _gave_back(c: View, n: int, thresholds: CurveThresholds, trivial: float | None) -> np.ndarray:
    """Per trial: did the loss, at some step, climb back at least ``diverge_lost`` of its progress (10x or not)."""
    if not len(c.y):
        return np.zeros(n, dtype=bool)
    m, _, halfway = _progress(c, n, thresholds, trivial)
    return np.bincount(c.codes, weights=(c.y > m) & (c.y >= halfway), minlength=n) > 0


def _last_finite_before_nonfinite(curves: CurveTable, col: str) -> np.ndarray:
    """Per trial, the step of ``col``'s last finite value when only non-finite values of it follow, else NaN."""
    n = curves.n_trials
    y = curves.metrics[col].to_numpy()
    present = ~curves.missing[col].to_numpy()
    finite, bad = present & np.isfinite(y), present & ~np.isfinite(y)
    last_good = seg_reduce(np.maximum, np.where(finite, curves.step, -np.inf), curves.codes, n, -np.inf)
    last_bad = seg_reduce(np.maximum, np.where(bad, curves.step, -np.inf), curves.codes, n, -np.inf)
    return np.where(np.isfinite(last_good) & (last_bad > last_good), last_good, np.nan)


def _first_hits(hit: np.ndarray, c: View, epoch: np.ndarray) -> np.ndarray:
    """The first row of each trial where ``hit`` holds; lowers ``epoch`` (per trial) to its step, in place."""
    rows = first_rows_where(hit, c.codes) if hit.any() else np.zeros(0, dtype=np.int64)
    epoch[c.codes[rows]] = np.minimum(epoch[c.codes[rows]], c.step[rows])
    return rows


@emits("overfitting")
def detect_curve_overfitting(curves: CurveTable, thresholds: CurveThresholds) -> pd.DataFrame:
    """The tuning-playbook rule: held-out loss rising after its best step while train loss keeps falling.

    With ``W = tail_fraction`` (20%) of the run and the final window the steps
    ``>= last - W``, a trial with at least ``overfit_min_steps`` (5) finite held-out
    values overfits when all of:

    * its best (lowest) held-out value comes before the final window;
    * the held-out loss rose over the final window, by at least ``overfit_rise`` (5%)
      and ``overfit_noise`` (3) times the noise of one evaluation, estimated from the
      residuals ``r`` around the 3-point-smoothed curve in the final window (for i.i.d.
      noise ``r`` has 2/3 of its variance). The rise is read in two ways, and counts
      when either clears both bars:

      - the mean over the final window against the minimum of the smoothed curve
        (smoothing keeps one lucky evaluation from making noise look like a rise),
        with the noise from the root mean square of ``r``;
      - the median over the final window against the held-out loss's median over a
        window as wide centred on the best step (never below the smoothed minimum),
        with the noise from the median absolute ``r`` (times 1.4826, a standard
        deviation for Gaussian noise).

      One spike in the final window (a bad evaluation, a brief instability) raises the
      mean and the root mean square together, so the first reading is never fooled by
      it, but a spike can hide a sustained rise from it (DeepOBS F-MNIST, SGD: smoothed
      best test loss 0.269 at epoch 58, climbing steadily to 0.31 by epoch 92, then
      evaluations of 0.42 and 0.38 while the train loss kept falling: a mean 2.0
      root-mean-square noise units above the best). The second reading sees past the
      spike on both sides (a median of 0.303, 10% and 10.4 median-absolute units above
      the median of 0.275 around the best), and a spike on a flat curve clears neither.
      Its reference is a median too: the minimum of a noisy curve sits lower the
      heavier the noise's tails, which the median absolute residual does not see.
      Neither bar is the standard error of the final level: the smoothed minimum of a
      flat noisy curve lies about 1.4 noise units below its level, and a rule on the
      level's error would flag 1 in 10 such curves;
    * training still improved after the best: the mean train loss over the final
      window is ``<= (1 - overfit_train_drop)`` (1% lower) times the train loss *at* the
      best step: its median over the half-window ``[best, best + W/2]``. Not a window
      reaching back before the best: a best that comes just as the train loss levels
      off would put the steep descent into it (DeepOBS SVHN, SGD at lr 0.4: train loss
      flat at 0.25 from epoch 15 on, but 0.29 as the median of epochs 1-33), and a
      train loss that went flat at the best would look like progress. The median is
      not moved by one noisy value. The 1% bar compares levels and is no significance
      test: a train loss that is flat from the best on, with noise of a few percent per
      evaluation, reads as still improving in a share of draws that grows with the
      noise (none at 0.5%, about 1 in 4 at 4% with a 160-epoch run). A bar scaled to
      that noise would also drop runs whose held-out loss clearly rose while their
      noisy train loss fell by less than its noise (the synthetic corpus' t061 and
      t099, 7-10% falls with 12-15% noise), which the corpus' truth counts as overfitting.

    ``epoch`` is the best step: where to stop (or the checkpoint to keep). Trials
    without both a train and a held-out loss are not judged; a train loss that sits at
    exactly 0 from the best step on counts as still training (a memorised training set).
    For the trials this rule can judge (:func:`overfitting_judged`) it replaces the
    final-value rule of :func:`core.detectors.detect_overfitting`.
    """
    pair = (train_loss(curves), held_out_loss(curves))
    n = curves.n_trials
    if pair[0] is None or pair[1] is None:
        return _no_issues(curves, "overfitting")
    first, last = curves.first_step(), curves.last_step()
    width = thresholds.tail_fraction * (last - first)
    tail_start = last - width
    v = curves.view(pair[1])
    count = np.bincount(v.codes, minlength=n)
    v_tail_mean = seg_mean(v.y, v.codes, v.step >= tail_start[v.codes], n)
    # the raw minimum is at most the smoothed one: a cheap necessary condition first
    raw_min = seg_reduce(np.minimum, v.y, v.codes, n, np.nan, v.starts)
    with np.errstate(invalid="ignore"):
        candidate = (count >= thresholds.overfit_min_steps) & (v_tail_mean >= (1 + thresholds.overfit_rise) * raw_min)
    v = subset_trials(v, candidate, at_most=0.5)
    u = subset_trials(curves.view(pair[0]), candidate, at_most=0.5)
    best_val, best_row = seg_argmin(v.y, v, n)
    best_step = take(v.step, best_row, best_row >= 0)
    smooth = smooth3(v.y, v.codes)
    smooth_min = seg_reduce(np.minimum, smooth, v.codes, n, np.nan, v.starts)
    v_tail = v.step >= tail_start[v.codes]
    # noise of one evaluation, from the residuals around the smoothed curve in the final
    # window (where it is nearly straight): for i.i.d. noise their variance is 2/3 of it;
    # by their root mean square (beside the mean) and their median absolute value (beside the median)
    resid = v.y - smooth
    noise = np.sqrt(1.5 * seg_mean(resid ** 2, v.codes, v_tail, n))
    v_tail_median = seg_median(v.y, v.codes, v_tail, n)
    robust_noise = MAD_TO_SD * np.sqrt(1.5) * seg_median(np.abs(resid), v.codes, v_tail, n)
    # the robust reading's reference: the median over a window as wide as the final one, centred on the best
    near_best = np.abs(v.step - best_step[v.codes]) <= width[v.codes] / 2
    with np.errstate(invalid="ignore"):
        median_best = np.fmax(seg_median(v.y, v.codes, near_best, n), smooth_min)
    u_tail = u.step >= tail_start[u.codes]
    u_end = seg_mean(u.y, u.codes, u_tail, n)
    # the train loss at the held-out best: its median over half a final window, from the best on
    bs, half = best_step[u.codes], width[u.codes] / 2
    u_ref = seg_median(u.y, u.codes, (u.step >= bs) & (u.step <= bs + half), n)
    by_mean = _clears(v_tail_mean, noise, smooth_min, thresholds)
    with np.errstate(invalid="ignore"):
        flagged = (
            candidate
            & (best_step < tail_start)
            & (smooth_min > 0)
            & (by_mean | _clears(v_tail_median, robust_noise, median_best, thresholds))
            & (((u_ref > 0) & (u_end <= (1 - thresholds.overfit_train_drop) * u_ref))
               | ((u_ref == 0) & (u_end == 0)))  # a memorised training set (loss exactly 0) hides nothing
        )

    def describe(idx: np.ndarray) -> np.ndarray:
        mean = by_mean[idx]
        level = np.where(mean, v_tail_mean[idx], v_tail_median[idx])
        reference = np.where(mean, smooth_min[idx], median_best[idx])
        return (
            f"{pair[1]} best "
            + _fmt(best_val[idx])
            + f" at {curves.step_column} "
            + _fmt(best_step[idx])
            + "; "
            + np.where(mean, "mean", "median")
            + f" over the last {thresholds.tail_fraction:.0%} of the run "
            + _fmt(level)
            + ", "
            + _spec(100 * (level / reference - 1), "{:.0f}%")
            + np.where(mean, " above its smoothed best ", " above its median around the best ")
            + _fmt(reference)
            + f", while {pair[0]} fell "
            + _fmt(u_ref[idx])
            + " -> "
            + _fmt(u_end[idx])
            + f"; stop at {curves.step_column} "
            + _fmt(best_step[idx])
        )

    return _issues(curves, flagged, "overfitting", describe, best_step)


def _clears(level: np.ndarray, noise: np.ndarray, best: np.ndarray, thresholds: CurveThresholds) -> np.ndarray:
    """Per trial: the final window's held-out ``level`` is a rise over the held-out ``best``.

    At least ``overfit_rise`` (5%) above it and ``overfit_noise`` (3) times ``noise`` (one
    evaluation's); the three are read the same way (see :func:`detect_curve_overfitting`).
    """
    with np.errstate(invalid="ignore"):
        return (level >= (1 + thresholds.overfit_rise) * best) & (level - best >= thresholds.overfit_noise * noise)


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
    has_train = np.bincount(curves.view(train).codes, minlength=n) > 0
    enough = np.bincount(curves.view(held).codes, minlength=n) >= thresholds.overfit_min_steps
    return curves.trial_ids.to_numpy(dtype=object)[has_train & enough]


def stopped_without_improvement(curves: CurveTable, thresholds: CurveThresholds | None = None) -> np.ndarray:
    """Ids of the trials whose loss made no new best over their last ``plateau_min_steps`` (5) evaluations.

    On the held-out loss (per trial: else the train loss), the minimum of the
    3-point-smoothed curve lies at least ``plateau_min_steps`` finite values before the
    last one. A run that stopped there stopped as patience-based early stopping (or a
    converged run) stops: it is never a ``short_run`` (nothing more was to be had from
    its remaining budget), whether or not the sweep says early stopping was on.
    """
    thresholds = thresholds or CurveThresholds()
    n = curves.n_trials
    full, _ = curves.first_view([held_out_loss(curves), train_loss(curves)])
    if not len(full.y):
        return np.zeros(0, dtype=object)
    _, best_row = seg_argmin(smooth3(full.y, full.codes), full, n)
    last_row = seg_last_row(full, n)
    flat = (best_row >= 0) & (last_row - best_row >= thresholds.plateau_min_steps)
    return curves.trial_ids.to_numpy(dtype=object)[flat]


@dataclass(frozen=True)
class _ChanceReading:
    """Per trial, its held-out curve at steps > 0 against chance (:func:`_against_chance`)."""

    on_accuracy: np.ndarray  # read on a held-out accuracy (as a fraction), else on the held-out loss
    column: np.ndarray  # the column read (object)
    best: np.ndarray  # the highest accuracy, or the lowest loss
    best_step: np.ndarray
    learned: np.ndarray  # the best of the 3-point-smoothed curve was past chance
    level: np.ndarray  # the median over the final window
    count: np.ndarray  # evaluations in the final window
    back: np.ndarray  # that median is at chance
    dead: np.ndarray  # the last held-out loss is the trivial loss (and the last accuracy at chance)
    final_loss: np.ndarray  # the last held-out loss
    chance: float
    trivial: float
    gave_back: np.ndarray  # share of the best's gain over chance lost by the final window's median
    train_column: str
    train_best: np.ndarray  # the lowest 3-point smoothed train loss before the final window (steps > 0)
    train_level: np.ndarray  # the train loss's median over the final window


def _against_chance(curves: CurveTable, table: TrialTable, thresholds: Thresholds,
                    tail_fraction: float) -> _ChanceReading | None:
    """Each trial's held-out accuracy (else held-out loss) curve at steps > 0 against chance; None without classes.

    Its best value, whether it learned (the best of its 3-point-smoothed curve past
    chance by :func:`core.detectors.learned_beyond_chance`'s bounds, so one lucky
    evaluation among values at chance is not learning), and its median over the final window
    (the last ``tail_fraction`` of the run) and whether that is at chance (an accuracy
    at most chance + ``chance_margin``, a loss within ``stuck_loss_tolerance`` of the
    trivial loss: :func:`core.detectors.detect_no_learning`'s bounds); and whether its
    last evaluation is the trivial predictor's (the held-out loss within
    ``stuck_loss_tolerance`` of the trivial loss, the accuracy at chance when logged).
    """
    _, chance, stuck, _ = chance_level(table, thresholds)
    if not np.isfinite(chance):
        return None
    n = curves.n_trials
    first, last = curves.first_step(), curves.last_step()
    tail_start = last - tail_fraction * (last - first)

    def read(view: View, sign: float) -> tuple[np.ndarray, ...]:
        view = subset_rows(view, view.step > 0)
        best, row = seg_argmin(sign * view.y, view, n)
        steady, _ = seg_argmin(sign * smooth3(view.y, view.codes), view, n)
        tail = view.step >= tail_start[view.codes]
        end = seg_last_row(view, n)
        return (sign * best, take(view.step, row, row >= 0), seg_median(view.y, view.codes, tail, n),
                np.bincount(view.codes[tail], minlength=n), take(view.y, end, end >= 0), sign * steady)

    accs = [c for split in ("val", "test") for c, m in curves.info.items() if m.kind == "accuracy" and m.split == split]
    nothing = (np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.int64),
               np.full(n, np.nan), np.full(n, np.nan))
    on_acc, acc_col, acc = np.zeros(n, dtype=bool), np.full(n, "", dtype=object), nothing
    if accs:
        view, acc_col = curves.first_view(accs)
        finite = view.y[np.isfinite(view.y)]
        scale = 100.0 if len(finite) and 1.0 < finite.max() <= 100.0 else 1.0  # as core.detectors.as_fraction
        acc = read(View(view.y / scale, view.codes, view.step, view.starts), -1.0)
        on_acc = np.isfinite(acc[0])
    held = held_out_loss(curves)
    loss = read(curves.view(held), 1.0) if held else nothing
    best, best_step, level, count, _, steady = (np.where(on_acc, a, b) for a, b in zip(acc, loss))
    with np.errstate(invalid="ignore", divide="ignore"):  # a best at chance exactly: gave nothing back
        learned = learned_beyond_chance(np.where(on_acc, steady, np.nan), np.where(on_acc, np.nan, steady), chance,
                                        stuck, thresholds)
        back = np.where(on_acc, level <= chance + thresholds.chance_margin,
                        np.abs(level - stuck) <= thresholds.stuck_loss_tolerance * stuck)
        dead = (np.abs(loss[4] - stuck) <= thresholds.stuck_loss_tolerance * stuck) & (
            ~on_acc | (acc[4] <= chance + thresholds.chance_margin))
        gave_back = np.where(on_acc, (best - level) / (best - chance), np.nan)
    train_col = train_loss(curves)
    train_best, train_level = np.full(n, np.nan), np.full(n, np.nan)
    if train_col:
        view = subset_rows(curves.view(train_col), curves.view(train_col).step > 0)
        tail = view.step >= tail_start[view.codes]
        before = np.where(tail, np.nan, smooth3(view.y, view.codes))
        train_best = seg_reduce(np.fmin, before, view.codes, n, np.nan, view.starts)
        train_level = seg_median(view.y, view.codes, tail, n)
    return _ChanceReading(on_acc, np.where(on_acc, acc_col, held or ""), best, best_step, learned, level, count, back,
                          dead, loss[4], chance, stuck, gave_back, train_col or "", train_best, train_level)


def _collapsed(curves: CurveTable, r: _ChanceReading | None, curve_thresholds: CurveThresholds) -> pd.DataFrame:
    """Curve issue rows of the trials that learned, then fell back to chance and stayed there (``collapsed``).

    Per trial, on the curve :func:`_against_chance` reads (the held-out accuracy, else
    the held-out loss; steps > 0): the trial learned (its best of the 3-point-smoothed
    curve was past chance + ``chance_margin``, or more than ``stuck_loss_tolerance`` below
    the trivial loss: one lucky evaluation is not learning), and
    the median of its values over the final window (the last ``tail_fraction``, 20 %,
    of the run; at least 3 evaluations) is back at chance by the table's no_learning
    bounds (an accuracy at most chance + ``chance_margin``, a loss within
    ``stuck_loss_tolerance`` of the trivial loss). The median is not moved by one bad
    evaluation, at the end or anywhere in the window. ``epoch`` is the best step (the
    checkpoint worth keeping).

    The caller keeps these rows only for the trials whose *final* held-out result in the
    table is at chance too (:func:`core.detectors.detect_no_learning` flags it): a run
    that early-stopped and restored its best weights reports its best, and is not this,
    whatever its curve did in its last epochs.
    """
    if r is None:
        return _no_issues(curves, "collapsed")
    stayed = r.back & (r.count >= 3)
    partial = _gave_back_most(r, curve_thresholds) & ~stayed & ~r.dead
    flagged = r.learned & (stayed | r.dead) | partial
    window = f" over the last {curve_thresholds.tail_fraction:.0%} of the run ("

    def describe(idx: np.ndarray) -> np.ndarray:
        how = np.where(stayed[idx], "median " + _fmt(r.level[idx]) + window + _spec(r.count[idx], "{}") + " evaluations)",
                       "its last held-out loss " + _fmt(r.final_loss[idx]) + " is the trivial predictor's")
        lost = (", then gave back " + _spec(np.round(100 * r.gave_back[idx]), "{:.0f}%") + " of its gain over chance: median "
                + _fmt(r.level[idx]) + window + _spec(r.count[idx], "{}") + " evaluations), while " + r.train_column
                + " rose from " + _fmt(r.train_best[idx]) + " to " + _fmt(r.train_level[idx])
                + " (median over the same window): training itself went backwards, not overfitting")
        return (r.column[idx] + " best " + _fmt(r.best[idx]) + f" at {curves.step_column} " + _fmt(r.best_step[idx])
                + np.where(r.on_accuracy[idx], f" (chance {r.chance:.4g})", f" (trivial loss {r.trivial:.4g})")
                + np.where(partial[idx], lost, ", then back at chance: " + how))

    return _issues(curves, flagged, "collapsed", describe, r.best_step)


def _gave_back_most(r: _ChanceReading, curve_thresholds: CurveThresholds) -> np.ndarray:
    """Trials that learned, then lost most of it without reaching chance: training went backwards.

    Read on a held-out accuracy: its median over the final window (at least 3
    evaluations) gave back more than ``diverge_lost`` (half) of its best's gain over
    chance, and the train loss's median over that window is at least
    ``_TRAIN_ROSE`` (25 %) above the best it had reached before the window (3-point
    smoothed): the model got worse at the data it trains on, so this is not overfitting
    (held-out worse while training still improves), and a median over a fifth of the
    run is not moved by a few noisy evaluations.
    """
    with np.errstate(invalid="ignore"):
        return (r.on_accuracy & r.learned & (r.count >= 3) & (r.gave_back > curve_thresholds.diverge_lost)
                & (r.train_level >= (1 + _TRAIN_ROSE) * r.train_best))


_TRAIN_ROSE = 0.25
"""A train loss this far above its best over the final window went backwards (:func:`_gave_back_most`)."""


def chance_on_curves(issues: pd.DataFrame, curves: CurveTable, table: TrialTable, thresholds: Thresholds,
                     curve_thresholds: CurveThresholds) -> tuple[np.ndarray, pd.DataFrame]:
    """The table's chance-level rows the curves overrule, and the ``collapsed`` rows they give instead.

    ``issues`` are the table's (:func:`core.detectors.detect_issues`). A trial whose final
    held-out result is at chance there (``no_learning``, or ``collapsed`` from
    running-best columns) but whose smoothed curve was past chance at some step
    (:func:`_against_chance`) did not fail to learn: its row is overruled (first, a
    row mask of ``issues``), and it is ``collapsed`` when its curve sits back at chance
    over the final window (second, curve issue rows: :func:`_collapsed`); a
    final value at chance that the rest of the final window does not share (one bad last
    evaluation) is neither.
    """
    at_chance = issues["type"].isin(["no_learning", "collapsed"]).to_numpy()
    r = _against_chance(curves, table, thresholds, curve_thresholds.tail_fraction)
    if r is None:
        return np.zeros(len(issues), dtype=bool), _no_issues(curves, "collapsed")
    ids = curves.trial_ids.to_numpy(dtype=object)
    overruled = at_chance & issues["trial_id"].isin(ids[r.learned]).to_numpy()
    collapsed = _collapsed(curves, r, curve_thresholds)
    return overruled, collapsed[collapsed["trial_id"].isin(issues.loc[overruled, "trial_id"])
                                | collapsed["trial_id"].isin(_reported_lost(table, r, ids, curve_thresholds))]


def _reported_lost(table: TrialTable, r: _ChanceReading, ids: np.ndarray, curve_thresholds: CurveThresholds) -> list:
    """Ids of the trials :func:`_gave_back_most` flags whose reported held-out accuracy lost most of the gain too.

    The result a run reports is the table's: one that early-stopped and restored its best
    weights reports its best, whatever its curve did after it.
    """
    hit = np.flatnonzero(_gave_back_most(r, curve_thresholds))
    acc_col = class_pair(table)[0]
    if not len(hit) or not acc_col:
        return []
    rows = table.rows_of(list(ids[hit]))
    reported = np.where(rows >= 0, accuracy_fraction(table, acc_col).to_numpy(dtype=float)[rows], np.nan)
    with np.errstate(invalid="ignore"):
        lost = (r.best[hit] - reported) > curve_thresholds.diverge_lost * (r.best[hit] - r.chance)
    return list(ids[hit][lost])


@emits("no_learning")
def detect_curve_no_learning(curves: CurveTable, thresholds: CurveThresholds) -> pd.DataFrame:
    """A loss-only run that never improved on where it started (a VAE, a regression without r2).

    Judged only where nothing better can judge learning: no accuracy or r2 curve is
    logged and the trivial predictor's loss is unknown (else the table's chance-level
    and r2 rules do). On the held-out loss (per trial: else the train loss), over its
    finite values: the run learned nothing when its minimum is not even
    ``no_learning_tolerance`` (1%) below its start, the larger of the first held-out and
    the first train value (a train loss logged as the epoch's running mean starts near
    the untrained model even when the first evaluation comes after an epoch; an
    untrained step 0, as DeepOBS and nanoGPT log, is the start itself). It needs
    ``still_min_points`` (5) values. A run that learned and then collapsed is not this.
    """
    n = curves.n_trials
    judged_elsewhere = thresholds.trivial_loss is not None or any(
        m.kind == "accuracy" or (m.kind == "score" and is_r2(c)) for c, m in curves.info.items())
    c, col = curves.first_view([held_out_loss(curves), train_loss(curves)])
    if judged_elsewhere or not len(c.y):
        return _no_issues(curves, "no_learning")
    start = np.full(n, np.nan)
    start[c.codes[c.starts]] = c.y[c.starts]
    train = train_loss(curves)
    if train and train != held_out_loss(curves):
        u = curves.view(train)
        first_train = np.full(n, np.nan)
        first_train[u.codes[u.starts]] = u.y[u.starts]
        start = np.fmax(start, first_train)
    low = seg_reduce(np.minimum, c.y, c.codes, n, np.nan, c.starts)
    count = np.bincount(c.codes, minlength=n)
    with np.errstate(invalid="ignore"):
        flagged = ((count >= thresholds.still_min_points) & (start > 0)
                   & (low >= (1 - thresholds.no_learning_tolerance) * start))

    def describe(idx: np.ndarray) -> np.ndarray:
        return (col[idx] + " never got below " + _fmt(low[idx]) + ", not "
                + f"{thresholds.no_learning_tolerance:.0%} under where it started ("
                + _fmt(start[idx]) + "): the run learned nothing")

    return _issues(curves, flagged, "no_learning", describe, curves.first_step().astype(float))


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
    c, col = curves.first_view([train_loss(curves), held_out_loss(curves)], positive=True)
    last = seg_last_row(c, n)
    last_logged = take(c.step, last, last >= 0)
    whole = c
    # only the rows a stretch can reach matter, plus one more for the smoothing at its end
    early = c.step <= (first + (thresholds.plateau_start + thresholds.plateau_fraction) * span)[c.codes]
    early[1:] |= early[:-1] & (c.codes[1:] == c.codes[:-1])
    c = subset_rows(c, early)
    sm = smooth3(c.y, c.codes)
    best = sm[seg_cummin_row(np.log(sm), c.codes)] if len(sm) else sm
    # candidate starts a: rows in the first plateau_start of their run
    cand = np.flatnonzero(c.step <= (first + thresholds.plateau_start * span)[c.codes])
    ccodes, cstep = c.codes[cand], c.step[cand]
    length = thresholds.plateau_fraction * span[ccodes]
    end = seg_last_at_or_below(c.codes, c.step, cand, cstep + length, first)
    with np.errstate(invalid="ignore"):
        stuck = (
            (length > 0)
            & (last_logged[ccodes] >= cstep + length)
            & (end - cand + 1 >= thresholds.plateau_min_steps)
            & (best[end] >= (1 - thresholds.plateau_min_improvement) * best[cand])
            & (sm[end] <= (1 + thresholds.plateau_max_rise) * best[cand])
        )
    first_row = seg_reduce(np.minimum, np.where(stuck, cand, len(sm)), ccodes, n, len(sm))
    flagged = first_row < len(sm)
    epoch = take(c.step, first_row, flagged)
    level = take(best, first_row, flagged)
    until, low = _plateau_end(subset_trials(whole, flagged), epoch, level, thresholds)
    to_end = until >= last_logged

    def describe(idx: np.ndarray) -> np.ndarray:
        share = _spec(np.round(100 * (until[idx] - epoch[idx]) / span[idx]), "{:.0f}%")
        return (
            col[idx]
            + " stuck at "
            + _fmt(level[idx])
            + f" from {curves.step_column} "
            + _fmt(epoch[idx])
            + np.where(to_end[idx], " to its last evaluation (" + f"{curves.step_column} " + _fmt(until[idx]) + ", "
                       + share + " of the run): it never got past that early level",
                       " to " + _fmt(until[idx]) + " (" + share + " of the run)")
            + ": best-so-far improved "
            # floored, so an improvement below the 1% bar never reads 1.00%
            + _spec(np.floor(np.maximum(10000 * (1 - low[idx] / level[idx]), 0)) / 100, "{:.2f}%")
            + f" (< {thresholds.plateau_min_improvement:.0%}, smoothed)"
        )

    return _issues(curves, flagged, "plateau", describe, epoch)


def _plateau_end(view: View, start: np.ndarray, level: np.ndarray,
                 thresholds: CurveThresholds) -> tuple[np.ndarray, np.ndarray]:
    """Per trial, the last step of its plateau and the lowest smoothed loss on it (NaN where no plateau).

    The plateau found by :func:`detect_curve_plateau` from step ``start`` at best-so-far
    ``level`` holds as long as the 3-point smoothed loss makes no new best
    ``plateau_min_improvement`` (1%) below ``level``; it ends at the last step before
    that (or the run's last) where the smoothed loss is not more than
    ``plateau_max_rise`` (10%) above ``level``. So the text says the span the loss
    really stayed there, not only the 30% of the run the rule needs.
    """
    n = len(start)
    sm = smooth3(view.y, view.codes)
    at, on = start[view.codes], level[view.codes]
    with np.errstate(invalid="ignore"):
        after = view.step >= at
        broke = after & (sm < (1 - thresholds.plateau_min_improvement) * on)
        stop = seg_reduce(np.minimum, np.where(broke, view.step, np.inf), view.codes, n, np.inf, view.starts)
        held = after & (view.step < stop[view.codes]) & (sm <= (1 + thresholds.plateau_max_rise) * on)
    until = seg_reduce(np.maximum, np.where(held, view.step, -np.inf), view.codes, n, -np.inf, view.starts)
    low = seg_reduce(np.minimum, np.where(held, sm, np.inf), view.codes, n, np.inf, view.starts)
    found = np.isfinite(start) & np.isfinite(until)
    return np.where(found, until, np.nan), np.where(found, low, np.nan)


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

    An unstable optimisation moves the weights, so it shows in every loss computed from
    them: a trial that also logged a held-out loss (evaluated without dropout's noise or
    a running mean's batch-to-batch spread) oscillates only when that loss oscillates
    too. A train-mode loss swinging under heavy dropout while the held-out loss is
    steady is the regulariser's noise, by design.
    """
    n = curves.n_trials
    c, col = curves.first_view([train_loss(curves), held_out_loss(curves)])
    flagged, turns, count, scale, epoch = _oscillating(c, n, thresholds)
    held, train = held_out_loss(curves), train_loss(curves)
    if held and train and held != train:
        h = curves.view(held)
        on_train = col == train
        flagged &= ~on_train | _oscillating(h, n, thresholds)[0] | (np.bincount(h.codes, minlength=n) == 0)

    def describe(idx: np.ndarray) -> np.ndarray:
        return (
            col[idx]
            + " changed direction with swings >= "
            + _fmt(thresholds.oscillation_swing * scale[idx])
            + f" ({thresholds.oscillation_swing:.0%} of its range or mean level, whichever is larger) "
            + _spec(turns[idx], "{}")
            + " times in "
            + _spec(count[idx], "{}")
            + " values"
        )

    return _issues(curves, flagged, "oscillation", describe, epoch)


def _oscillating(c: View, n: int, thresholds: CurveThresholds) -> tuple[np.ndarray, ...]:
    """Per trial of the view: (oscillates, turns, values, scale, step of the first turn); see above."""
    count = np.bincount(c.codes, minlength=n)
    level = np.bincount(c.codes, weights=np.abs(c.y), minlength=n) / np.maximum(count, 1)
    spread = (seg_reduce(np.maximum, c.y, c.codes, n, np.nan, c.starts)
              - seg_reduce(np.minimum, c.y, c.codes, n, np.nan, c.starts))
    scale = np.fmax(spread, level)
    d = np.diff(c.y)
    same = c.codes[1:] == c.codes[:-1]
    big = same & (np.abs(d) >= thresholds.oscillation_swing * scale[c.codes[1:]])
    rows = np.flatnonzero(big)  # diff k goes from value k to value k+1
    sign = np.sign(d[rows])
    trial = c.codes[rows]
    turn = (trial[1:] == trial[:-1]) & (sign[1:] != sign[:-1])
    turns = np.bincount(trial[1:][turn], minlength=n)
    first_turn = seg_reduce(np.minimum, np.where(turn, rows[:-1] + 1, len(c.y)), trial[1:], n, len(c.y))
    epoch = take(c.step, first_turn, first_turn < len(c.y))
    flagged = (turns >= thresholds.oscillation_min_count) & (
        turns >= thresholds.oscillation_min_fraction * np.maximum(count - 2, 0))
    return flagged, turns, count, scale, epoch


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
    full, col = curves.first_view([held_out_loss(curves), train_loss(curves)])
    c = subset_rows(full, full.step >= (last - width)[full.codes])  # the final window's rows
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
        p = stdtr(np.maximum(k - 2, 1), t)  # scipy.stats.t.cdf(t, df), without importing scipy.stats
        drop = -slope * width
        trend = (
            (k >= thresholds.still_min_points)
            & (my > 0)
            & (drop >= thresholds.still_min_drop * my)
            & (k >= 3)
            & (p <= thresholds.still_p)
        )
        whole = subset_trials(full, trend)
        _, best_row = seg_argmin(smooth3(whole.y, whole.codes), whole, n)
        best_step = take(whole.step, best_row, best_row >= 0)
        flagged = trend & (best_step >= last - thresholds.still_best_fraction * span)

    def describe(idx: np.ndarray) -> np.ndarray:
        return (
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

    return _issues(curves, flagged, "still_improving", describe, last.astype(float))


CURVE_DETECTORS: tuple[CurveDetector, ...] = (
    detect_curve_nonfinite,
    detect_curve_diverged,
    detect_curve_overfitting,
    detect_curve_no_learning,
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
    # a finite loss past 1e154 squares to inf: that trial's noise or trend is then inf or NaN
    # and no rule fires on it (the blow-up rules see the loss itself), so numpy need not warn
    with np.errstate(over="ignore"):
        found = [d(block, thresholds) for block in curves.blocks(BLOCK_ROWS) for d in CURVE_DETECTORS]
    found = [f for f in found if not f.empty]
    if not found:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "epoch" else object) for c in CURVE_ISSUE_COLUMNS})
    issues = pd.concat(found, ignore_index=True)
    type_order = {t: i for i, t in enumerate(CURVE_ISSUE_TYPES)}
    issues["_trial"] = pd.Index(curves.trial_ids).get_indexer(issues["trial_id"])
    issues["_type"] = issues["type"].map(type_order)
    return issues.sort_values(["_trial", "_type"], kind="stable").drop(columns=["_trial", "_type"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Issue rows and their text
# --------------------------------------------------------------------------------------


def _issues(curves: CurveTable, mask: np.ndarray, kind: str, detail: pd.Series | Describe,
            epoch: np.ndarray) -> pd.DataFrame:
    """Issue rows of the trials ``mask`` flags.

    ``detail`` is one text per trial, or ``describe(idx)``: the texts of the flagged
    trials ``idx`` alone (built for hits only, and not at all when nothing is flagged).
    """
    mask = np.asarray(mask, dtype=bool)
    epoch = np.asarray(epoch, dtype=float)
    if callable(detail):
        idx = np.flatnonzero(mask)
        texts = np.asarray(detail(idx), dtype=object) if len(idx) else np.zeros(0, dtype=object)
    else:
        texts = np.asarray(detail, dtype=object)[mask]
    return pd.DataFrame(
        {
            "trial_id": curves.trial_ids.to_numpy(dtype=object)[mask],
            "type": kind,
            "severity": ISSUE_TYPES[kind].severity,
            "detail": texts,
            "epoch": np.where(np.isfinite(epoch[mask]), epoch[mask], np.nan),
        },
        columns=CURVE_ISSUE_COLUMNS,
    )


def _no_issues(curves: CurveTable, kind: str) -> pd.DataFrame:
    """No rows of ``kind``: the rule does not apply to these curves."""
    n = curves.n_trials
    return _issues(curves, np.zeros(n, dtype=bool), kind, np.zeros(n, dtype=object), np.full(n, np.nan))


def _join_details(parts: list[pd.Series], n: int) -> pd.Series:
    detail = pd.Series([""] * n, dtype=object)
    for part in parts:
        idx = part.index.to_numpy()
        current = detail.iloc[idx].to_numpy(dtype=object)
        joined = np.where(current == "", part.to_numpy(dtype=object), current + "; " + part.to_numpy(dtype=object))
        detail.iloc[idx] = joined
    return detail


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


