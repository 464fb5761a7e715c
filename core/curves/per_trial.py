"""Per-trial facts derived from the curves, for the short-run rule, the summary and the pictures.

The results table of a curves file that comes alone is the readers' job:
:func:`core.sources.tabular.trials_from_curves`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.curves.columns import held_out_loss
from core.curves.segments import seg_argmin, seg_reduce, take
from core.curves.table import CurveTable


def last_logged_steps(curves: CurveTable, ids: pd.Series | np.ndarray) -> np.ndarray:
    """The last logged step of each trial in ``ids`` (a table's ids, in its order), NaN without a curve.

    The budget a trial used, as :func:`core.sources.tabular.trials_from_curves` derives it when the curves
    come alone, for :func:`core.detectors.detect_short_runs` when they come with a table.
    """
    where = curves.trial_ids.get_indexer(pd.Index(np.asarray(ids, dtype=object)))
    return take(curves.last_step().astype(float), where, where >= 0)


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
        onset = (seg_reduce(np.minimum, np.where(bad, curves.step, np.inf), curves.codes, n, np.inf, curves.offsets[:-1])
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
        v = curves.view(col)
        best_val, best_row = seg_argmin(v.y, v, n)
        facts["best_step"] = take(v.step, best_row, best_row >= 0)
        facts["best_value"] = best_val
        last = curves.last_logged_row(col)
        facts["last_value"] = take(curves.metrics[col].to_numpy(), last, last >= 0)
    return pd.DataFrame(facts)


