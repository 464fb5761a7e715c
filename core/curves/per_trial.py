"""Per-trial tables derived from the curves: the results table when curves come alone, and the curve facts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.curves.build import build_curve_table
from core.curves.cells import exact_text
from core.curves.columns import held_out_loss
from core.curves.segments import seg_argmin, seg_reduce, take
from core.curves.table import CurveTable
from core.loading import RawTable
from core.roles import tokens


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
        last = seg_reduce(np.maximum, np.where(present, np.arange(len(curves)), -1), curves.codes, n, -1,
                           curves.offsets[:-1])
        vals = curves.metrics[col].to_numpy()[np.maximum(last, 0)]
        columns[col] = np.where(last >= 0, exact_text(vals), None)
    budget = "epochs" if {"epoch", "epochs"} & set(tokens(curves.step_column)) else "steps"
    if budget in columns:
        budget = f"{budget}_logged"
    columns[budget] = exact_text(curves.last_step())
    frame = pd.DataFrame(columns, dtype=object)
    note = (f"{curves.source}: one row per trial derived from the curves ({n} trials, {len(curves)} rows): "
            f"last logged value of each metric, {budget} = last {curves.step_column}")
    return RawTable(frame=frame, source=curves.source, notes=[*curves.notes, note])


def last_logged_steps(curves: CurveTable, ids: pd.Series | np.ndarray) -> np.ndarray:
    """The last logged step of each trial in ``ids`` (a table's ids, in its order), NaN without a curve.

    The budget a trial used, as :func:`trials_from_curves` derives it when the curves
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
        present = ~curves.missing[col].to_numpy()
        last = seg_reduce(np.maximum, np.where(present, np.arange(len(curves)), -1), curves.codes, n, -1,
                           curves.offsets[:-1])
        facts["last_value"] = take(curves.metrics[col].to_numpy(), last, last >= 0)
    return pd.DataFrame(facts)


