"""short_run judged on the steps each trial logged when curves come with the table (issue 10 items 1 and 10).

Hand-made sweeps: a results table without an epochs column (as MLflow and W&B exports
are) and a long curves file. Wall time varies 10x with the configuration and the
machine's load; the steps a trial logged say whether it stopped before its peers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.curves import build_curve_table, last_logged_steps
from core.loading import RawTable
from core.roles import infer_roles
from core.summary import analyze_sweep


def _sweep(n: int = 10, steps: int = 20, short: dict[str, int] | None = None, **columns: dict[str, object]):
    """``n`` completed trials t0..t{n-1}, one minute each, logging steps 1..``steps`` of an improving loss.

    ``short`` maps a trial to the last step it logged; ``columns`` maps a column to
    per-trial values (missing trials get the first value's type default from ``t0``).
    """
    short = short or {}
    ids = [f"t{i}" for i in range(n)]
    table = {"trial_id": ids, "status": ["completed"] * n, "lr": [str(10 ** -(1 + i % 3)) for i in range(n)],
             "val_loss": ["0.3"] * n, "runtime": ["60"] * n}
    for col, values in columns.items():
        table[col] = [str(values.get(t, values.get("*", ""))) for t in ids]
    rows = [{"trial_id": t, "step": str(s), "train_loss": str(2.0 / s), "val_loss": str(2.2 / s)}
            for t in ids for s in range(1, short.get(t, steps) + 1)]
    return pd.DataFrame(table), pd.DataFrame(rows)


def _summarize(table: pd.DataFrame, curves: pd.DataFrame | None) -> dict:
    raw = RawTable(frame=table, source="runs.csv")
    given = None if curves is None else RawTable(frame=curves, source="curves.csv")
    return analyze_sweep(raw, infer_roles(raw.frame, raw.source), curves=given)


def _short(summary: dict) -> dict[str, str]:
    return {i["trial_id"]: i["detail"] for i in summary["issues"] if i["type"] == "short_run"}


def test_a_run_10x_faster_by_the_clock_with_full_curves_is_not_short():
    # the MLflow shape: 12 runs of 4 logged steps (0..3); the server's clock made one 15x shorter under load
    table = pd.DataFrame({"trial_id": [f"r{i}" for i in range(12)], "status": ["FINISHED"] * 12,
                          "lr": [str(10 ** -(1 + i % 4)) for i in range(12)], "val_loss": ["0.4"] * 12,
                          "runtime": ["4" if i == 5 else "60" for i in range(12)]})
    curves = pd.DataFrame([{"trial_id": f"r{i}", "step": str(s), "val_loss": str(1.0 - 0.1 * s)}
                           for i in range(12) for s in range(4)])
    assert "r5" in _short(_summarize(table, None))  # without curves the runtime is all there is: the fallback
    assert _short(_summarize(table, curves)) == {}


def test_a_run_that_logged_3_of_its_peers_20_steps_is_short_and_the_detail_names_the_steps():
    table, curves = _sweep(short={"t4": 3})
    assert _short(_summarize(table, None)) == {}  # one minute each: the runtime sees nothing
    assert _short(_summarize(table, curves)) == {
        "t4": "last logged step=3 < 10 (0.5 x the median last step of its peers, 20)"}


def test_zero_based_steps_and_trials_without_a_curve():
    table, curves = _sweep(short={"t4": 3})
    curves["step"] = (curves["step"].astype(int) - 1).astype(str)   # 0..19, t4 0..2
    curves = curves[curves.trial_id != "t7"]                         # no curve: not judged (no runtime fallback)
    table.loc[table.trial_id == "t7", "runtime"] = "1"
    assert set(_short(_summarize(table, curves))) == {"t4"}


@pytest.mark.parametrize("status", ["pruned", "early_stopped", "failed", "timeout", "running"])
def test_stopped_by_design_or_by_failure_is_never_short(status):
    table, curves = _sweep(short={"t4": 3})
    table.loc[table.trial_id == "t4", "status"] = status
    assert _short(_summarize(table, curves)) == {}


def test_early_stopping_configured_is_never_short():
    table, curves = _sweep(short={"t4": 3}, patience={"*": 5})
    assert _short(_summarize(table, curves)) == {}


def test_a_smaller_planned_budget_run_in_full_is_not_short_and_a_cut_one_is():
    # t4 planned 3 epochs and ran them; t6 planned 20 and logged 4 (its peers with 20 logged 20)
    table, curves = _sweep(short={"t4": 3, "t6": 4}, max_epochs={"t4": 3, "*": 20})
    assert _short(_summarize(table, curves)) == {
        "t6": "last logged step=4 with max_epochs=20: 0.2 of its own budget, < 0.5 x the sweep's median 1"}


def test_a_budget_in_other_units_than_the_steps_is_compared_like_with_like():
    # planned epochs, logged iterations (100 per epoch): the share of the budget is 100 for a full run
    table, curves = _sweep(short={"t4": 300, "t6": 400}, steps=2000, max_epochs={"t4": 3, "*": 20})
    assert set(_short(_summarize(table, curves))) == {"t6"}


def test_stopping_early_with_a_nonfinite_loss_is_instability_not_a_short_run():
    table, curves = _sweep(short={"t4": 3})
    curves.loc[(curves.trial_id == "t4") & (curves.step == "3"), ["train_loss", "val_loss"]] = "nan"
    table.loc[table.trial_id == "t4", "val_loss"] = "nan"
    kinds = {i["type"] for i in _summarize(table, curves)["issues"] if i["trial_id"] == "t4"}
    assert "nonfinite_metric" in kinds and "short_run" not in kinds


def test_an_epochs_column_still_decides_over_the_curves():
    # the table's own record of the epochs used is the evidence; the curves do not override it
    table, curves = _sweep(short={"t4": 3}, epochs={"*": 20})
    assert _short(_summarize(table, curves)) == {}


def test_last_logged_steps_follow_the_tables_order_and_are_nan_without_a_curve():
    curves = build_curve_table(RawTable(frame=pd.DataFrame(
        {"trial_id": ["b", "b", "a", "a", "a"], "step": ["1", "2", "1", "2", "7"], "loss": ["1"] * 5}), source="c"))
    got = last_logged_steps(curves, pd.Series(["a", "zz", "b"]))
    np.testing.assert_array_equal(got, [7.0, np.nan, 2.0])


def test_stopping_early_with_a_flat_loss_is_no_learning_not_a_short_run():
    # 6 of 20 steps (the curve rule for no learning needs 5 values), the loss never moved
    table, curves = _sweep(short={"t4": 6})
    curves.loc[curves.trial_id == "t4", ["train_loss", "val_loss"]] = "2.3"
    kinds = {i["type"] for i in _summarize(table, curves)["issues"] if i["trial_id"] == "t4"}
    assert "no_learning" in kinds and "short_run" not in kinds


def test_a_run_that_stopped_after_its_loss_stopped_improving_is_not_short():
    # t4 logged 8 of its peers' 20 steps: its held-out loss was still falling when it stopped (cut short);
    # t6 logged 8 too, but its loss made no new best over its last 5 evaluations (flat and noisy from step 2,
    # its smoothed best at step 3): a patience-based early stop by design, or a converged run, though nothing says so
    table, curves = _sweep(short={"t4": 8, "t6": 8})
    flat = curves.trial_id == "t6"
    curves.loc[flat, "val_loss"] = [str(v) for v in (1.0, 0.40, 0.42, 0.41, 0.43, 0.42, 0.41, 0.43)]
    assert set(_short(_summarize(table, curves))) == {"t4"}
    curves.loc[flat, "val_loss"] = [str(v) for v in (1.0, 0.5, 0.45, 0.44, 0.42, 0.40, 0.38, 0.36)]  # still falling
    assert set(_short(_summarize(table, curves))) == {"t4", "t6"}
