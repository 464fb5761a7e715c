"""Trial-level detectors: each one function from a :class:`TrialTable` to issues.

Every detector returns a frame with the columns of :data:`ISSUE_COLUMNS` (one row per
flagged trial) and is listed in :data:`DETECTORS`; adding a detector is writing one
function and appending it there. Rules and thresholds are documented on each.

Issue types (the vocabulary of ``type`` in the summary), with their severity:

==================  ========  ====================================================
type                severity  meaning
==================  ========  ====================================================
nonfinite_metric    high      a metric was reported as NaN or +/-inf
failed              high      the status says the run failed, errored or crashed
diverged            high      a loss is finite but blew up far above the sweep's
killed              medium    the run was killed, interrupted or preempted
timeout             medium    the run hit a time limit
overfitting         medium    held-out loss far above training loss
short_run           low       a run that did not fail stopped far short of the budget
running             low       the status says the run is still running or pending
==================  ========  ====================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.table import TrialTable
from core.values import describe_value, format_number

ISSUE_COLUMNS = ["trial_id", "type", "severity", "detail"]

SEVERITY = {
    "nonfinite_metric": "high",
    "failed": "high",
    "diverged": "high",
    "killed": "medium",
    "timeout": "medium",
    "overfitting": "medium",
    "short_run": "low",
    "running": "low",
}
ISSUE_TYPES = tuple(SEVERITY)


@dataclass(frozen=True)
class Thresholds:
    """Detector thresholds (the defaults are the documented rules).

    Attributes
    ----------
    overfit_ratio : held-out loss / training loss at or above which a trial overfits.
    overfit_min_epochs : trials with fewer epochs are not judged for overfitting.
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
    diverge_factor: float = 100.0
    diverge_abs: float = 1e5
    short_run_fraction: float = 0.5
    short_runtime_fraction: float = 0.1

    def to_dict(self) -> dict[str, float]:
        """JSON-native form, as recorded in the summary."""
        return asdict(self)


Detector = Callable[[TrialTable, Thresholds], pd.DataFrame]


def _issues(table: TrialTable, mask: np.ndarray | pd.Series, kind: str, detail: pd.Series) -> pd.DataFrame:
    mask = np.asarray(mask, dtype=bool)
    return pd.DataFrame(
        {
            "trial_id": table.ids[mask].to_numpy(),
            "type": kind,
            "severity": SEVERITY[kind],
            "detail": np.asarray(detail[mask], dtype=object),
        },
        columns=ISSUE_COLUMNS,
    )


def detect_nonfinite(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Any metric reported as NaN, +inf or -inf (an empty cell is missing, not NaN).

    ``detail`` names each non-finite metric and its value, e.g. ``val_loss=+inf``.
    """
    values = table.metrics.to_numpy(dtype=float)
    flagged = ~np.isfinite(values) & ~table.missing.to_numpy(dtype=bool)
    rows = flagged.any(axis=1)
    detail = pd.Series([""] * len(table), dtype=object)
    for i in np.flatnonzero(rows):
        parts = [
            f"{col}={describe_value(values[i, j])}"
            for j, col in enumerate(table.metrics.columns)
            if flagged[i, j]
        ]
        detail.iloc[i] = ", ".join(parts)
    return _issues(table, rows, "nonfinite_metric", detail)


def detect_status(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Runs whose normalised status is failed, killed, timeout or running."""
    frames = []
    for kind in ("failed", "killed", "timeout", "running"):
        mask = (table.status == kind).to_numpy()
        detail = "status " + table.status_raw.fillna("").astype(str).map(repr)
        frames.append(_issues(table, mask, kind, detail))
    return pd.concat(frames, ignore_index=True)


def detect_diverged(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """A finite loss >= ``diverge_abs``, or >= ``diverge_factor`` x the sweep's median.

    The median is taken per loss column over its finite, positive values; a sweep
    whose median loss is 0 only uses the absolute rule.
    """
    hits = np.zeros(len(table), dtype=bool)
    detail = pd.Series([""] * len(table), dtype=object)
    for col, info in table.roles.metrics.items():
        if info.kind != "loss":
            continue
        loss = table.metrics[col]
        finite = loss[np.isfinite(loss) & (loss > 0)]
        median = float(finite.median()) if len(finite) else np.nan
        limit = min(thresholds.diverge_abs, thresholds.diverge_factor * median) if median > 0 else thresholds.diverge_abs
        col_hits = (np.isfinite(loss) & (loss >= limit)).to_numpy()
        for i in np.flatnonzero(col_hits):
            ratio = f", {format_number(loss.iloc[i] / median)}x the sweep median {format_number(median)}" if median > 0 else ""
            text = f"{col}={format_number(loss.iloc[i])}{ratio}"
            detail.iloc[i] = f"{detail.iloc[i]}; {text}" if detail.iloc[i] else text
        hits |= col_hits
    return _issues(table, hits, "diverged", detail)


def detect_overfitting(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Held-out loss / training loss >= ``overfit_ratio``, both finite and positive.

    The held-out loss is the validation loss (else the test loss). Trials with fewer
    than ``overfit_min_epochs`` epochs (when epochs are known) are not judged, and a
    non-finite loss is never also "overfitting".
    """
    pair = table.roles.loss_pair()
    if pair is None:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    train, held_out = (table.metrics[c] for c in pair)
    valid = np.isfinite(train) & np.isfinite(held_out) & (train > 0)
    if table.epochs is not None:
        valid &= ~(table.epochs < thresholds.overfit_min_epochs)
    ratio = held_out / train.where(valid)
    mask = (ratio >= thresholds.overfit_ratio).fillna(False).to_numpy()
    detail = (
        f"{pair[1]}/{pair[0]} = "
        + ratio.map(lambda r: f"{r:.2f}" if np.isfinite(r) and r < 1e4 else f"{r:.3g}")
        + " ("
        + held_out.map(format_number)
        + " vs "
        + train.map(format_number)
        + ")"
    )
    return _issues(table, mask, "overfitting", detail)


def detect_short_runs(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Runs that stopped short of the sweep's own budget without failing.

    Budget is epochs when the table has them (short: below ``short_run_fraction`` x
    the median), else runtime (short: below ``short_runtime_fraction`` x the median);
    the median is over completed runs and runs of unknown status; failed, killed, timed-out, pruned and running trials are not
    flagged (their status already explains it). A sweep whose runs all use about the
    same budget gets no short-run flags.
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
    detect_status,
    detect_diverged,
    detect_overfitting,
    detect_short_runs,
)


def detect_issues(table: TrialTable, thresholds: Thresholds | None = None) -> pd.DataFrame:
    """Run every detector; one row per (trial, issue type), in file order.

    Returns
    -------
    pd.DataFrame
        Columns ``trial_id`` (str), ``type`` (see module docstring), ``severity``
        (high/medium/low) and ``detail`` (a short human-readable reason).
    """
    thresholds = thresholds or Thresholds()
    found = [d(table, thresholds) for d in DETECTORS]
    issues = pd.concat([f for f in found if not f.empty] or [pd.DataFrame(columns=ISSUE_COLUMNS)], ignore_index=True)
    order = pd.Series(range(len(table)), index=table.ids.to_numpy())
    type_order = {t: i for i, t in enumerate(ISSUE_TYPES)}
    issues["_row"] = issues["trial_id"].map(order)
    issues["_type"] = issues["type"].map(type_order)
    return issues.sort_values(["_row", "_type"], kind="stable").drop(columns=["_row", "_type"]).reset_index(drop=True)
