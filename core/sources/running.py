"""Running best series: a per-step metric that only ever improves is a best value, not a curve.

Trackers and callbacks log ``best_val_loss`` (the minimum so far of ``val_loss``),
``val_acc_max`` and the like at every step. Read as a validation curve it can never
rise, so overfitting after the best epoch is invisible, and in the trial table it
would stand in for the held-out loss. A curve column whose name says best/min/max
and whose values never get worse within any trial is such a series: it is left out
of the curves and its last value is each trial's best value (an objective with the
goal its name gives).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.roles import classify_metric, tokens
from core.values import parse_numeric

_MIN_WORDS = {"min", "minimum", "lowest"}
_MAX_WORDS = {"max", "maximum", "highest", "top"}
_BEST_WORDS = {"best"} | _MIN_WORDS | _MAX_WORDS


def running_best_columns(frame: pd.DataFrame, id_column: str, step_column: str) -> dict[str, str]:
    """Column -> goal (``min``/``max``) of every running-best series in a long curves frame.

    A candidate's name has a word best/min/max/lowest/highest/top next to a metric
    name (``best_val_loss``, ``val_loss_min``, ``max_val_acc``); its goal is the word's
    (``best`` takes the metric's: min for a loss, max for an accuracy). It is a running
    best when, within every trial in step order, its finite values never get worse
    and at least one trial logged two of them.
    """
    out: dict[str, str] = {}
    for col in frame.columns:
        if col in (id_column, step_column):
            continue
        words = set(tokens(str(col)))
        if not words & _BEST_WORDS:
            continue
        rest = "_".join(w for w in tokens(str(col)) if w not in _BEST_WORDS)
        info = classify_metric(rest) if rest else None
        goal = "min" if words & _MIN_WORDS else "max" if words & _MAX_WORDS else (info.goal if info else None)
        if goal is None or not _never_worse(frame, col, id_column, step_column, goal):
            continue
        out[str(col)] = goal
    return out


def _never_worse(frame: pd.DataFrame, col: str, id_column: str, step_column: str, goal: str) -> bool:
    values = parse_numeric(frame[col])[0].to_numpy(dtype=float)
    steps = parse_numeric(frame[step_column])[0].to_numpy(dtype=float)
    keep = np.isfinite(values) & np.isfinite(steps)
    if keep.sum() < 2:
        return False
    ids = frame[id_column].astype("string").to_numpy()[keep]
    order = np.lexsort((steps[keep], ids))
    y, trial = values[keep][order], ids[order]
    same = trial[1:] == trial[:-1]
    if not same.any():
        return False
    change = np.diff(y)[same]
    return bool((change <= 0).all() if goal == "min" else (change >= 0).all())
