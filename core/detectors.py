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
Describe = Callable[[np.ndarray], list[str]]
"""Detail text for the given rows (positions in the table) of a detector's hits."""


def _issues(table: TrialTable, kind: str, *fragments: tuple[np.ndarray, Describe]) -> pd.DataFrame:
    """Issue rows for the trials any fragment's mask flags.

    Each fragment is ``(mask, describe)``; ``describe`` is called once, only on the
    rows its mask flags (detail text is built for hits alone, so a detector costs
    little on a million healthy trials), and a trial's detail joins its fragments with
    ``"; "``.
    """
    masks = [np.asarray(m, dtype=bool) for m, _ in fragments]
    hits = np.logical_or.reduce(masks) if masks else np.zeros(len(table), dtype=bool)
    rows = np.flatnonzero(hits)
    pieces = []
    for mask, (_, describe) in zip(masks, fragments):
        text = np.full(len(rows), "", dtype=object)
        inside = np.flatnonzero(mask[rows])
        if len(inside):
            text[inside] = describe(rows[inside])
        pieces.append(text)
    if len(pieces) == 1:
        detail = list(pieces[0])
    else:
        detail = ["; ".join(t for t in parts if t) for parts in zip(*pieces)] if pieces else []
    return pd.DataFrame(
        {"trial_id": table.ids.to_numpy()[rows], "type": kind, "severity": SEVERITY[kind], "detail": detail,
         "row": rows},
        columns=[*ISSUE_COLUMNS, "row"],
    )


def _none() -> pd.DataFrame:
    return pd.DataFrame(columns=[*ISSUE_COLUMNS, "row"])


def _numbers(values: pd.Series | np.ndarray, rows: np.ndarray) -> list[str]:
    return [format_number(v) for v in np.asarray(values, dtype=float)[rows]]


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _nonfinite_cells(table: TrialTable) -> np.ndarray:
    values = table.metrics.to_numpy(dtype=float)
    return ~np.isfinite(values) & ~table.missing.to_numpy(dtype=bool)


def _status_words(table: TrialTable, rows: np.ndarray) -> list[str]:
    words = table.status_raw.to_numpy()[rows]
    quoted = {w: "status " + _quote("" if w is None else w) for w in set(words)}
    return [quoted[w] for w in words]


def detect_nonfinite(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """A metric reported as NaN, +inf or -inf, or an error text saying so.

    An empty cell is missing, not NaN. ``detail`` names each non-finite metric and its
    value (``val_loss=+inf``); a trial whose error text matches :data:`NONFINITE_TEXT`
    ("Loss is NaN", "non-finite loss") is flagged with that text quoted.
    """
    values = table.metrics.to_numpy(dtype=float)
    flagged = _nonfinite_cells(table)
    columns = list(table.metrics.columns)

    def metrics_text(rows: np.ndarray) -> list[str]:
        # Each row's pattern (per metric: fine, NaN, +inf or -inf) as one integer; each
        # distinct pattern is spelled once.
        v = values[rows]
        kind = np.where(~flagged[rows], 0, np.where(np.isnan(v), 1, np.where(v > 0, 2, 3)))
        code = kind @ (4 ** np.arange(len(columns)))
        spelled = {c: ", ".join(f"{columns[j]}={describe_value(v[i, j])}" for j in np.flatnonzero(kind[i]))
                   for c, i in zip(*np.unique(code, return_index=True))}
        return [spelled[c] for c in code]

    fragments: list[tuple[np.ndarray, Describe]] = [(flagged.any(axis=1), metrics_text)]
    if table.errors is not None:
        errors = table.errors.fillna("")
        said = errors.str.contains(NONFINITE_TEXT).to_numpy(dtype=bool)
        fragments.append((said, lambda rows: ["error text " + _quote(t) for t in errors.to_numpy()[rows]]))
    return _issues(table, "nonfinite_metric", *fragments)


def detect_status_mismatch(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """A hidden failure: the status says it ended well, the metrics say otherwise.

    Flags trials whose status is ``completed`` (or unknown, when the table has a
    status column) and that reported a non-finite metric or no finite metric at all,
    and trials stopped early (``pruned``, including "early_stopped") whose metrics are
    non-finite: in real sweeps a NaN validation loss "never improves", so the run is
    early-stopped and marked as finished.
    """
    if table.roles.status is None or table.metrics.shape[1] == 0:
        return _none()
    values = table.metrics.to_numpy(dtype=float)
    nonfinite = _nonfinite_cells(table).any(axis=1)
    no_finite = ~np.isfinite(values).any(axis=1)
    ended_well = table.status.isin(["completed", "unknown"]).to_numpy()
    pruned = (table.status == "pruned").to_numpy()
    mask = (ended_well & (nonfinite | no_finite)) | (pruned & nonfinite)

    def describe(rows: np.ndarray) -> list[str]:
        return [w + (" but a metric is non-finite" if nonfinite[i] else " but no metric was reported")
                for w, i in zip(_status_words(table, rows), rows)]

    return _issues(table, "status_mismatch", (mask, describe))


def detect_status(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Runs whose normalised status is failed, killed, timeout, running or pruned.

    The status word is quoted in ``detail``, followed by the last line of the error
    message when the table has an error column.
    """
    def describe(rows: np.ndarray) -> list[str]:
        words = _status_words(table, rows)
        if table.errors is None:
            return words
        errors = table.errors.to_numpy()[rows]
        return [w + (f"; {_quote(e.strip().splitlines()[-1])}" if e and e.strip() else "") for w, e in zip(words, errors)]

    status = table.status.to_numpy()
    return pd.concat([_issues(table, kind, (status == kind, describe))
                      for kind in ("failed", "killed", "timeout", "running", "pruned")], ignore_index=True)


def detect_diverged(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """A finite loss far above any sensible value: the optimisation blew up.

    Per loss column, the reference is the sweep's median over finite positive values
    and, when the number of classes C is known or inferred, the loss of a uniform
    prediction ln(C) (whichever is larger). A loss >= ``diverge_factor`` x the
    reference, or >= ``diverge_abs``, has diverged. Non-finite losses are
    ``nonfinite_metric``, not this.
    """
    classes = infer_classes(table, thresholds)[0]
    fragments = []
    for col, info in table.roles.metrics.items():
        if info.kind != "loss":
            continue
        loss = table.metrics[col].to_numpy(dtype=float)
        finite = loss[np.isfinite(loss) & (loss > 0)]
        median = float(np.median(finite)) if len(finite) else 0.0
        reference = max(median, np.log(classes) if classes else 0.0)
        limit = min(thresholds.diverge_abs, thresholds.diverge_factor * reference) if reference > 0 else thresholds.diverge_abs
        what = f"the sweep median {format_number(median)}" if reference == median else f"ln({classes})"

        def describe(rows: np.ndarray, col: str = col, loss: np.ndarray = loss, reference: float = reference,
                     what: str = what) -> list[str]:
            ratio = [f" ({format_number(v / reference)}x {what})" if reference > 0 else "" for v in loss[rows]]
            return [f"{col}={v}{r}" for v, r in zip(_numbers(loss, rows), ratio)]

        fragments.append((np.isfinite(loss) & (loss >= limit), describe))
    return _issues(table, "diverged", *fragments)


def accuracy_fraction(table: TrialTable, column: str) -> pd.Series:
    """An accuracy column as a fraction in [0, 1] (a column with values above 1 is in %)."""
    values = table.metrics[column]
    top = values[np.isfinite(values)].max() if len(values) else np.nan
    return values / 100.0 if 1.0 < top <= 100.0 else values


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
        acc = accuracy_fraction(table, acc_col).to_numpy(dtype=float)
        acc = acc[np.isfinite(acc) & (acc > 0) & (acc <= 0.5)]
        c = np.round(1.0 / acc)
        close = (np.abs(acc - 1.0 / c) <= 0.005) & (c >= 2) & (c <= 1000)
        found = _most_common(c[close], need)
        if found:
            return found[0], f"{found[1]} trials at {acc_col} ≈ 1/{found[0]}"
    loss_col = table.roles.metric("loss", held_out=True) or table.roles.metric("loss")
    if loss_col:
        loss = table.metrics[loss_col].to_numpy(dtype=float)
        loss = loss[np.isfinite(loss) & (loss >= np.log(2) - 0.01) & (loss <= np.log(1000) + 0.01)]
        c = np.round(np.exp(loss))
        found = _most_common(c[np.abs(loss - np.log(c)) <= 0.005], need)
        if found:
            return found[0], f"{found[1]} trials at {loss_col} ≈ ln({found[0]})"
    return None, ""


def _most_common(values: np.ndarray, need: int) -> tuple[int, int] | None:
    if len(values) < need:
        return None
    uniques, counts = np.unique(values, return_counts=True)
    best = int(np.argmax(counts))
    return (int(uniques[best]), int(counts[best])) if counts[best] >= need else None


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
        return _none()
    judged = ~_nonfinite_cells(table).any(axis=1)
    fragments = []
    acc_col = table.roles.metric("accuracy", held_out=True)
    if acc_col:
        acc = accuracy_fraction(table, acc_col).to_numpy(dtype=float)
        raw = table.metrics[acc_col]
        fragments.append(((acc <= 1.0 / classes + thresholds.chance_margin) & judged,
                          lambda rows: [f"{acc_col}={v} at chance (1/{classes})" for v in _numbers(raw, rows)]))
    loss_col = table.roles.metric("loss", held_out=True)
    if loss_col:
        loss = table.metrics[loss_col].to_numpy(dtype=float)
        stuck = float(np.log(classes))
        fragments.append(((np.abs(loss - stuck) <= thresholds.stuck_loss_tolerance * stuck) & judged,
                          lambda rows: [f"{loss_col}={v} ≈ ln({classes}) = {format_number(stuck)}"
                                        for v in _numbers(loss, rows)]))
    return _issues(table, "no_learning", *fragments)


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
        judged &= ~(table.epochs.to_numpy(dtype=float) < thresholds.overfit_min_epochs)
    fragments = []
    pair = table.roles.loss_pair()
    if pair:
        train, held_out = (table.metrics[c].to_numpy(dtype=float) for c in pair)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(train > 0, held_out / train, np.nan)

        def loss_text(rows: np.ndarray) -> list[str]:
            return [f"{pair[1]}/{pair[0]} = {r:.2f} ({h} vs {t})" if r < 1e4 else f"{pair[1]}/{pair[0]} = {r:.3g} ({h} vs {t})"
                    for r, h, t in zip(ratio[rows], _numbers(held_out, rows), _numbers(train, rows))]

        fragments.append(((ratio >= thresholds.overfit_ratio) & judged, loss_text))
    acc_pair = table.roles.accuracy_pair()
    if acc_pair:
        train_acc, held_acc = (accuracy_fraction(table, c).to_numpy(dtype=float) for c in acc_pair)
        gap = train_acc - held_acc
        needed = np.where(train_acc > thresholds.accuracy_gap_switch, thresholds.accuracy_gap_high, thresholds.accuracy_gap)

        def acc_text(rows: np.ndarray) -> list[str]:
            return [f"{acc_pair[0]} - {acc_pair[1]} = {g:.3f} ({t} vs {h})"
                    for g, t, h in zip(gap[rows], _numbers(table.metrics[acc_pair[0]], rows),
                                       _numbers(table.metrics[acc_pair[1]], rows))]

        fragments.append(((gap >= needed - 1e-12) & judged, acc_text))
    return _issues(table, "overfitting", *fragments)


def detect_suspicious_validation(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Validation results too good to be true: look for leakage or a broken split.

    Held-out accuracy above training accuracy by >= ``suspicious_margin``, or held-out
    accuracy >= ``suspicious_accuracy`` (a perfect score on real data usually means
    the validation set overlaps the training set or the labels leak).
    """
    held_col = table.roles.metric("accuracy", held_out=True)
    if held_col is None:
        return _none()
    held = accuracy_fraction(table, held_col).to_numpy(dtype=float)
    shown = table.metrics[held_col]
    fragments: list[tuple[np.ndarray, Describe]] = [
        (held >= thresholds.suspicious_accuracy,
         lambda rows: [f"{held_col}={v} (implausibly perfect)" for v in _numbers(shown, rows)])
    ]
    acc_pair = table.roles.accuracy_pair()
    if acc_pair:
        train = accuracy_fraction(table, acc_pair[0]).to_numpy(dtype=float)
        fragments.append((
            held - train >= thresholds.suspicious_margin,
            lambda rows: [f"{held_col}={h} above {acc_pair[0]}={t}"
                          for h, t in zip(_numbers(shown, rows), _numbers(table.metrics[acc_pair[0]], rows))],
        ))
    return _issues(table, "suspicious_validation", *fragments)


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
        return _none()
    used = budget.to_numpy(dtype=float)
    judged = table.status.isin(["completed", "unknown"]).to_numpy() & ~np.isnan(used)
    if judged.sum() < 3:
        return _none()
    median = float(np.median(used[judged]))
    limit = fraction * median
    tail = f" < {format_number(limit)} ({fraction:g} x the median {format_number(median)})"
    short = judged & (used < limit)
    return _issues(table, "short_run", (short, lambda rows: [f"{column}={v}{tail}" for v in _numbers(used, rows)]))


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
    """Run every detector; one row per (trial, issue type), in table order.

    Returns
    -------
    pd.DataFrame
        Columns ``trial_id`` (str), ``type`` (see module docstring), ``severity``
        (high/medium/low/info), ``detail`` (a short human-readable reason) and ``row``
        (the trial's position in the table, for fast lookups downstream).
    """
    thresholds = thresholds or Thresholds()
    found = [d(table, thresholds) for d in DETECTORS]
    return order_issues(pd.concat([f for f in found if not f.empty] or [_none()], ignore_index=True), table)


def order_issues(issues: pd.DataFrame, table: TrialTable) -> pd.DataFrame:
    """Issues sorted by the trial's row in the table, then by issue type (adds ``row`` if missing)."""
    if "row" not in issues.columns:
        issues = issues.assign(row=pd.Index(table.ids.to_numpy()).get_indexer(issues["trial_id"]))
    type_order = {t: i for i, t in enumerate(ISSUE_TYPES)}
    keys = np.lexsort((issues["type"].map(type_order).to_numpy(), issues["row"].to_numpy(dtype=np.int64)))
    out = issues.iloc[keys].reset_index(drop=True)
    return out.astype({"row": np.int64})
