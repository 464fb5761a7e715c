"""Trial-level detectors: each one function from a :class:`TrialTable` to issues.

Every detector returns a frame with the columns of :data:`ISSUE_COLUMNS` (one row per
flagged trial) and is listed in :data:`DETECTORS`; adding a detector is writing one
function and appending it there. Rules and thresholds are documented on each, and
every threshold is a field of :class:`Thresholds` (recorded in the summary).

Issue types (the vocabulary of ``type`` in the summary), with their severity:

=====================  ========  =================================================
type                   severity  meaning
=====================  ========  =================================================
nonfinite_metric       high      a metric was reported as NaN or +/-inf, or the
                                 error text says the loss went non-finite
status_mismatch        high      the status says completed (or early-stopped) but
                                 the metrics are non-finite or were never reported
failed                 high      the status says the run failed, errored or crashed
diverged               high      a finite loss blew up far above the sweep's
no_learning            high      accuracy at chance, or loss stuck at ln(classes)
killed                 medium    the run was killed, interrupted or preempted
timeout                medium    the run hit a time limit
overfitting            medium    held-out loss or accuracy far worse than training
suspicious_validation  low       validation better than training by a margin, or
                                 implausibly perfect
short_run              low       a run that did not fail stopped far short of the
                                 sweep's budget
running                low       the status says the run is still running or pending
pruned                 info      stopped early by the tuner's pruner, by design
=====================  ========  =================================================

Curve-based types (plateau, oscillation, still_improving, and curve evidence for
the types above) come from :mod:`core.curves` when per-epoch curves are given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.table import TrialTable
from core.values import describe_value, format_number

ISSUE_COLUMNS = ["trial_id", "type", "severity", "detail"]

SEVERITY = {
    "nonfinite_metric": "high",
    "status_mismatch": "high",
    "failed": "high",
    "diverged": "high",
    "no_learning": "high",
    "killed": "medium",
    "timeout": "medium",
    "overfitting": "medium",
    "suspicious_validation": "low",
    "short_run": "low",
    "running": "low",
    "plateau": "low",
    "oscillation": "low",
    "still_improving": "low",
    "pruned": "info",
}
ISSUE_TYPES = tuple(SEVERITY)
SICK_SEVERITIES = ("high", "medium", "low")
"""Severities that make a trial "sick"; ``info`` issues (pruned) are counted, not blamed."""

#: Error text that says a metric went non-finite ("Loss is NaN", "non-finite loss").
NONFINITE_TEXT = re.compile(r"non-?finite|\bnan\b|\binf(?:inity)?\b|overflow", re.IGNORECASE)


@dataclass(frozen=True)
class Thresholds:
    """Detector thresholds (the defaults are the documented rules).

    Attributes
    ----------
    overfit_ratio : held-out loss / training loss at or above which a trial overfits.
    overfit_min_epochs : trials with fewer epochs are not judged for overfitting.
    accuracy_gap : training minus held-out accuracy at or above which a trial overfits
        while its training accuracy is at most ``accuracy_gap_switch``...
    accuracy_gap_high : ...and the gap used above it (a 7-point gap at 95 % training
        accuracy is as telling as 10 points at 80 %).
    accuracy_gap_switch : training accuracy where the gap rule switches.
    suspicious_margin : held-out accuracy this far above training accuracy is suspicious
        (dropout and augmentation explain a few points, not more).
    suspicious_accuracy : held-out accuracy at or above this is implausibly perfect.
    chance_margin : accuracy within this of chance (1/classes) is "no learning".
    stuck_loss_tolerance : a loss within this relative distance of ln(classes) is stuck
        at the loss of a uniform prediction.
    n_classes : number of classes when known (``--classes``); else inferred from a
        cluster of trials sitting exactly at 1/C accuracy or ln(C) loss.
    diverge_factor : a loss this many times the sweep's median loss has diverged.
    diverge_abs : a loss at or above this value has diverged, whatever the median.
    short_run_fraction : a run with fewer epochs than this fraction of the sweep's
        median epochs is short.
    short_runtime_fraction : without epochs, a run shorter than this fraction of the
        median runtime is short (runtime varies with the configuration, so this is
        stricter).
    """

    overfit_ratio: float = 1.5
    overfit_min_epochs: float = 5
    accuracy_gap: float = 0.10
    accuracy_gap_high: float = 0.07
    accuracy_gap_switch: float = 0.9
    suspicious_margin: float = 0.05
    suspicious_accuracy: float = 0.999
    chance_margin: float = 0.02
    stuck_loss_tolerance: float = 0.01
    n_classes: int | None = None
    diverge_factor: float = 100.0
    diverge_abs: float = 1e5
    short_run_fraction: float = 0.5
    short_runtime_fraction: float = 0.1

    def to_dict(self) -> dict[str, float | None]:
        """JSON-native form, as recorded in the summary."""
        return asdict(self)


Detector = Callable[[TrialTable, Thresholds], pd.DataFrame]


def _issues(table: TrialTable, mask: np.ndarray | pd.Series, kind: str, detail: pd.Series | str) -> pd.DataFrame:
    mask = np.asarray(mask, dtype=bool)
    details = np.full(len(table), detail, dtype=object) if isinstance(detail, str) else np.asarray(detail, dtype=object)
    return pd.DataFrame(
        {
            "trial_id": table.ids.to_numpy()[mask],
            "type": kind,
            "severity": SEVERITY[kind],
            "detail": details[mask],
        },
        columns=ISSUE_COLUMNS,
    )


def _join(parts: list[pd.Series]) -> pd.Series:
    """Row-wise ``"; "``-join of detail fragments, skipping empty ones."""
    frame = pd.concat(parts, axis=1).fillna("")
    return frame.apply(lambda row: "; ".join(t for t in row if t), axis=1) if len(frame) else pd.Series(dtype=object)


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _nonfinite_cells(table: TrialTable) -> np.ndarray:
    values = table.metrics.to_numpy(dtype=float)
    return ~np.isfinite(values) & ~table.missing.to_numpy(dtype=bool)


def detect_nonfinite(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """A metric reported as NaN, +inf or -inf, or an error text saying so.

    An empty cell is missing, not NaN. ``detail`` names each non-finite metric and its
    value (``val_loss=+inf``); a trial whose metrics are missing but whose error text
    matches :data:`NONFINITE_TEXT` ("Loss is NaN", "non-finite loss") is flagged with
    that text quoted.
    """
    values = table.metrics.to_numpy(dtype=float)
    flagged = _nonfinite_cells(table)
    rows = flagged.any(axis=1)
    detail = pd.Series([""] * len(table), dtype=object)
    for i in np.flatnonzero(rows):
        detail.iloc[i] = ", ".join(
            f"{col}={describe_value(values[i, j])}" for j, col in enumerate(table.metrics.columns) if flagged[i, j]
        )
    if table.errors is not None:
        said = table.errors.fillna("").str.contains(NONFINITE_TEXT).to_numpy(dtype=bool)
        quoted = "error text " + table.errors.fillna("").map(_quote)
        detail = _join([detail, quoted.where(said, "")])
        rows = rows | said
    return _issues(table, rows, "nonfinite_metric", detail)


def detect_status_mismatch(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """A hidden failure: the status says it ended well, the metrics say otherwise.

    Flags trials whose status is ``completed`` (or unknown, when the table has a
    status column) and that reported a non-finite metric or no finite metric at all,
    and trials stopped early (``pruned``, including "early_stopped") whose metrics are
    non-finite: in real sweeps a NaN validation loss "never improves", so the run is
    early-stopped and marked as finished.
    """
    if table.roles.status is None or table.metrics.shape[1] == 0:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    values = table.metrics.to_numpy(dtype=float)
    nonfinite = _nonfinite_cells(table).any(axis=1)
    no_finite = ~np.isfinite(values).any(axis=1)
    ended_well = table.status.isin(["completed", "unknown"]).to_numpy()
    pruned = (table.status == "pruned").to_numpy()
    mask = (ended_well & (nonfinite | no_finite)) | (pruned & nonfinite)
    word = "status " + table.status_raw.fillna("").astype(str).map(_quote)
    reason = np.where(nonfinite, " but a metric is non-finite", " but no metric was reported")
    return _issues(table, mask, "status_mismatch", word + reason)


def detect_status(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Runs whose normalised status is failed, killed, timeout, running or pruned.

    The status word is quoted in ``detail``, followed by the error message's first
    line when the table has an error column.
    """
    detail = "status " + table.status_raw.fillna("").astype(str).map(_quote)
    if table.errors is not None:
        first_line = table.errors.fillna("").map(lambda t: _quote(t.strip().splitlines()[-1]) if t.strip() else "")
        detail = _join([detail, first_line])
    frames = [
        _issues(table, (table.status == kind).to_numpy(), kind, detail)
        for kind in ("failed", "killed", "timeout", "running", "pruned")
    ]
    return pd.concat(frames, ignore_index=True)


def detect_diverged(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """A finite loss far above any sensible value: the optimisation blew up.

    Per loss column, the reference is the sweep's median over finite positive values
    and, when the number of classes C is known or inferred, the loss of a uniform
    prediction ln(C) (whichever is larger). A loss >= ``diverge_factor`` x the
    reference, or >= ``diverge_abs``, has diverged. Non-finite losses are
    ``nonfinite_metric``, not this.
    """
    classes = infer_classes(table, thresholds)[0]
    hits = np.zeros(len(table), dtype=bool)
    parts = []
    for col, info in table.roles.metrics.items():
        if info.kind != "loss":
            continue
        loss = table.metrics[col]
        finite = loss[np.isfinite(loss) & (loss > 0)]
        median = float(finite.median()) if len(finite) else np.nan
        reference = max(median if median > 0 else 0.0, np.log(classes) if classes else 0.0)
        limit = min(thresholds.diverge_abs, thresholds.diverge_factor * reference) if reference > 0 else thresholds.diverge_abs
        col_hits = (np.isfinite(loss) & (loss >= limit)).to_numpy()
        what = f"the sweep median {format_number(median)}" if reference == median else f"ln({classes})"
        text = pd.Series([""] * len(table), dtype=object)
        for i in np.flatnonzero(col_hits):
            ratio = f" ({format_number(loss.iloc[i] / reference)}x {what})" if reference > 0 else ""
            text.iloc[i] = f"{col}={format_number(loss.iloc[i])}{ratio}"
        parts.append(text)
        hits |= col_hits
    return _issues(table, hits, "diverged", _join(parts) if parts else "")


def accuracy_fraction(table: TrialTable, column: str) -> pd.Series:
    """An accuracy column as a fraction in [0, 1] (a column with values above 1 is in %)."""
    values = table.metrics[column]
    finite = values[np.isfinite(values)]
    return values / 100.0 if len(finite) and finite.max() > 1.0 and finite.max() <= 100.0 else values


def infer_classes(table: TrialTable, thresholds: Thresholds) -> tuple[int | None, str]:
    """The number of classes: given, or read off trials that sit exactly at chance.

    Without ``n_classes``, C is inferred when at least 3 trials (and 2 % of the sweep)
    have a held-out accuracy within 0.005 of 1/C, or a held-out loss within 0.005 of
    ln(C), for the same integer C in 2..1000: dead networks land exactly there, live
    ones almost never do. Returns ``(C, how)`` or ``(None, "")``.
    """
    if thresholds.n_classes:
        return int(thresholds.n_classes), "given"
    need = max(3, int(np.ceil(0.02 * len(table))))
    acc_col = table.roles.metric("accuracy", held_out=True)
    if acc_col:
        acc = accuracy_fraction(table, acc_col)
        acc = acc[np.isfinite(acc) & (acc > 0) & (acc <= 0.5)]
        c = np.round(1.0 / acc)
        close = (np.abs(acc - 1.0 / c) <= 0.005) & (c >= 2) & (c <= 1000)
        if close.sum() >= need:
            counts = c[close].value_counts()
            if counts.iloc[0] >= need:
                return int(counts.index[0]), f"{int(counts.iloc[0])} trials at {acc_col} ≈ 1/{int(counts.index[0])}"
    loss_col = table.roles.metric("loss", held_out=True) or table.roles.metric("loss")
    if loss_col:
        loss = table.metrics[loss_col]
        loss = loss[np.isfinite(loss) & (loss >= np.log(2) - 0.01) & (loss <= np.log(1000) + 0.01)]
        c = np.round(np.exp(loss))
        close = np.abs(loss - np.log(c)) <= 0.005
        if close.sum() >= need:
            counts = c[close].value_counts()
            if counts.iloc[0] >= need:
                return int(counts.index[0]), f"{int(counts.iloc[0])} trials at {loss_col} ≈ ln({int(counts.index[0])})"
    return None, ""


def detect_no_learning(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """The network learned nothing: accuracy at chance or loss at a uniform prediction's.

    With C classes (given or inferred, see :func:`infer_classes`): held-out accuracy
    <= 1/C + ``chance_margin``, or held-out loss within ``stuck_loss_tolerance``
    (relative) of ln(C). Dead or saturated networks (learning rate too high) and
    networks that barely moved (too low) both land here; the association statistics
    tell them apart by learning rate. Trials with a non-finite metric are left to
    ``nonfinite_metric``.
    """
    classes = infer_classes(table, thresholds)[0]
    if not classes:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    judged = ~_nonfinite_cells(table).any(axis=1)
    hits = np.zeros(len(table), dtype=bool)
    parts = []
    acc_col = table.roles.metric("accuracy", held_out=True)
    if acc_col:
        acc = accuracy_fraction(table, acc_col)
        hit = (np.isfinite(acc) & (acc <= 1.0 / classes + thresholds.chance_margin)).to_numpy() & judged
        parts.append(pd.Series(np.where(hit, f"{acc_col}=" + table.metrics[acc_col].map(format_number)
                                        + f" at chance (1/{classes})", ""), dtype=object))
        hits |= hit
    loss_col = table.roles.metric("loss", held_out=True)
    if loss_col:
        loss = table.metrics[loss_col]
        stuck = np.log(classes)
        hit = (np.abs(loss - stuck) <= thresholds.stuck_loss_tolerance * stuck).to_numpy() & judged
        parts.append(pd.Series(np.where(hit, f"{loss_col}=" + loss.map(format_number)
                                        + f" ≈ ln({classes}) = {format_number(stuck)}", ""), dtype=object))
        hits |= hit
    detail = _join(parts) if parts else ""
    return _issues(table, hits, "no_learning", detail)


def detect_overfitting(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Held-out results far worse than training results.

    Loss rule: held-out loss / training loss >= ``overfit_ratio`` (both finite and
    positive; held-out is validation, else test). Accuracy rule: training minus
    held-out accuracy >= ``accuracy_gap`` while training accuracy <=
    ``accuracy_gap_switch``, else >= ``accuracy_gap_high``. Trials with fewer than
    ``overfit_min_epochs`` epochs (when known) are not judged, and a trial with a
    non-finite metric is never also "overfitting".
    """
    judged = ~_nonfinite_cells(table).any(axis=1)
    if table.epochs is not None:
        judged &= ~(table.epochs < thresholds.overfit_min_epochs).to_numpy()
    hits = np.zeros(len(table), dtype=bool)
    parts = []
    pair = table.roles.loss_pair()
    if pair:
        train, held_out = (table.metrics[c] for c in pair)
        ratio = held_out / train.where(train > 0)
        hit = (ratio >= thresholds.overfit_ratio).fillna(False).to_numpy() & judged
        text = (f"{pair[1]}/{pair[0]} = " + ratio.map(lambda r: f"{r:.2f}" if np.isfinite(r) and r < 1e4 else f"{r:.3g}")
                + " (" + held_out.map(format_number) + " vs " + train.map(format_number) + ")")
        parts.append(text.where(hit, ""))
        hits |= hit
    acc_pair = table.roles.accuracy_pair()
    if acc_pair:
        train_acc, held_acc = (accuracy_fraction(table, c) for c in acc_pair)
        gap = train_acc - held_acc
        needed = np.where(train_acc > thresholds.accuracy_gap_switch, thresholds.accuracy_gap_high, thresholds.accuracy_gap)
        hit = (gap >= needed - 1e-12).fillna(False).to_numpy() & judged
        text = (f"{acc_pair[0]} - {acc_pair[1]} = " + gap.map(lambda g: f"{g:.3f}") + " ("
                + table.metrics[acc_pair[0]].map(format_number) + " vs " + table.metrics[acc_pair[1]].map(format_number) + ")")
        parts.append(text.where(hit, ""))
        hits |= hit
    return _issues(table, hits, "overfitting", _join(parts) if parts else "")


def detect_suspicious_validation(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Validation results too good to be true: look for leakage or a broken split.

    Held-out accuracy above training accuracy by >= ``suspicious_margin``, or held-out
    accuracy >= ``suspicious_accuracy`` (a perfect score on real data usually means
    the validation set overlaps the training set or the labels leak).
    """
    held_col = table.roles.metric("accuracy", held_out=True)
    if held_col is None:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    held = accuracy_fraction(table, held_col)
    parts = []
    perfect = (held >= thresholds.suspicious_accuracy).fillna(False).to_numpy()
    parts.append(pd.Series(np.where(perfect, f"{held_col}=" + table.metrics[held_col].map(format_number)
                                    + " (implausibly perfect)", ""), dtype=object))
    hits = perfect
    acc_pair = table.roles.accuracy_pair()
    if acc_pair:
        train = accuracy_fraction(table, acc_pair[0])
        above = ((held - train) >= thresholds.suspicious_margin).fillna(False).to_numpy()
        parts.append(pd.Series(np.where(above, f"{held_col}=" + table.metrics[held_col].map(format_number) + " above "
                                        + f"{acc_pair[0]}=" + table.metrics[acc_pair[0]].map(format_number), ""), dtype=object))
        hits = hits | above
    return _issues(table, hits, "suspicious_validation", _join(parts))


def detect_short_runs(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Runs that stopped short of the sweep's own budget without failing.

    Budget is epochs when the table has them (short: below ``short_run_fraction`` x
    the median), else runtime (short: below ``short_runtime_fraction`` x the median);
    the median is over completed runs and runs of unknown status. Failed, killed,
    timed-out, pruned or early-stopped and running trials are never flagged (their
    status already explains it). A sweep whose runs all use about the same budget
    gets no short-run flags.
    """
    column, budget, fraction = (
        (table.roles.epochs, table.epochs, thresholds.short_run_fraction)
        if table.epochs is not None
        else (table.roles.runtime, table.runtime, thresholds.short_runtime_fraction)
    )
    if budget is None:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    judged = table.status.isin(["completed", "unknown"]) & budget.notna()
    if judged.sum() < 3:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    median = float(budget[judged].median())
    limit = fraction * median
    mask = (judged & (budget < limit)).to_numpy()
    detail = (
        f"{column}="
        + budget.map(format_number)
        + f" < {format_number(limit)} ({fraction:g} x the median {format_number(median)})"
    )
    return _issues(table, mask, "short_run", detail)


DETECTORS: tuple[Detector, ...] = (
    detect_nonfinite,
    detect_status_mismatch,
    detect_status,
    detect_diverged,
    detect_no_learning,
    detect_overfitting,
    detect_suspicious_validation,
    detect_short_runs,
)


def detect_issues(table: TrialTable, thresholds: Thresholds | None = None) -> pd.DataFrame:
    """Run every detector; one row per (trial, issue type), in file order.

    Returns
    -------
    pd.DataFrame
        Columns ``trial_id`` (str), ``type`` (see module docstring), ``severity``
        (high/medium/low/info) and ``detail`` (a short human-readable reason).
    """
    thresholds = thresholds or Thresholds()
    found = [d(table, thresholds) for d in DETECTORS]
    return order_issues(pd.concat([f for f in found if not f.empty] or [pd.DataFrame(columns=ISSUE_COLUMNS)],
                                  ignore_index=True), table)


def order_issues(issues: pd.DataFrame, table: TrialTable) -> pd.DataFrame:
    """Issues sorted by the trial's row in the table, then by issue type."""
    order = pd.Series(range(len(table)), index=table.ids.to_numpy())
    type_order = {t: i for i, t in enumerate(ISSUE_TYPES)}
    keys = pd.DataFrame({"_row": issues["trial_id"].map(order), "_type": issues["type"].map(type_order)})
    return issues.loc[keys.sort_values(["_row", "_type"], kind="stable").index].reset_index(drop=True)
