"""Per-epoch (or per-step) curves: the typed long table, what is derived from it per trial, and the curve detectors.

- :mod:`core.curves.table`: :class:`CurveTable`, typed and sorted by (trial, step).
- :mod:`core.curves.columns`: which column is the trial id, the step, each metric (through
  :mod:`core.roles`), and the held-out and training losses the detectors read.
- :mod:`core.curves.build`: :func:`build_curve_table` types, validates, sorts and merges a raw
  long table; :mod:`core.curves.trial_columns` gives the per-trial text of its other columns
  and :mod:`core.curves.cells` reads cells as numbers and writes them back as exact text.
- :mod:`core.curves.per_trial`: the per-trial facts for the short-run rule, the summary and
  the pictures (:func:`curve_facts`, :func:`last_logged_steps`). The results table of a
  curves file that comes alone is built by the readers
  (:func:`core.sources.tabular.trials_from_curves`).
- :mod:`core.curves.segments`: the segment-reduction kernel the detectors are written in.
- :mod:`core.curves.detectors`: the seven curve rules and :func:`detect_curve_issues`.
"""

from core.curves.build import build_curve_table
from core.curves.columns import STEP_NAMES, held_out_loss, looks_like_curves, train_loss
from core.curves.detectors import (
    CURVE_DETECTORS,
    CURVE_ISSUE_COLUMNS,
    CURVE_ISSUE_TYPES,
    CurveThresholds,
    chance_on_curves,
    detect_curve_issues,
    overfitting_judged,
    stopped_without_improvement,
    with_sweep_facts,
)
from core.curves.per_trial import curve_facts, last_logged_steps
from core.curves.table import CurveTable

__all__ = [
    "CURVE_DETECTORS",
    "CURVE_ISSUE_COLUMNS",
    "CURVE_ISSUE_TYPES",
    "STEP_NAMES",
    "CurveTable",
    "CurveThresholds",
    "build_curve_table",
    "chance_on_curves",
    "curve_facts",
    "detect_curve_issues",
    "held_out_loss",
    "last_logged_steps",
    "looks_like_curves",
    "overfitting_judged",
    "stopped_without_improvement",
    "train_loss",
    "with_sweep_facts",
]
