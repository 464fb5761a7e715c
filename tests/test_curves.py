"""Per-epoch curves: typing and validation, the derived trial table, each curve detector,
real W&B / DeepOBS / DeepCAVE curves, and a vectorised-vs-per-trial property test."""

from __future__ import annotations

import io
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core.curves import (
    CURVE_DETECTORS,
    CURVE_ISSUE_COLUMNS,
    CURVE_ISSUE_TYPES,
    CurveTable,
    CurveThresholds,
    build_curve_table,
    curve_facts,
    detect_curve_issues,
    looks_like_curves,
)
from core.detectors import detect_issues
from core.errors import InputError
from core.loading import RawTable, read_results
from core.roles import infer_roles
from core.sources.tabular import trials_from_curves
from core.table import build_trial_table
from tests.conftest import DATA, SAMPLE

CURVES = DATA / "curves"
DEEPOBS = CURVES / "deepobs_curves_slice.csv"
NANOGPT = CURVES / "nanogpt_wandb_history.csv"
DEEPCAVE = CURVES / "deepcave_mnist_long.csv"
TH = CurveThresholds()


def raw(text: str, source: str = "curves.csv") -> RawTable:
    """Text cells, as read_results reads them (empty cell = empty string)."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    return RawTable(frame=frame, source=source)


def long_frame(curves: dict[str, dict[str, list[float | None]]], step: str = "epoch") -> RawTable:
    """{trial: {metric: values}} -> a long RawTable of text cells (None = not logged)."""
    rows = []
    for trial, metrics in curves.items():
        n = max(len(v) for v in metrics.values())
        for i in range(n):
            row: dict[str, object] = {"trial_id": trial, step: str(i)}
            for name, values in metrics.items():
                v = values[i] if i < len(values) else None
                row[name] = None if v is None else repr(float(v))
            rows.append(row)
    return RawTable(frame=pd.DataFrame(rows, dtype=object), source="<curves>")


def issue_set(curves: CurveTable, thresholds: CurveThresholds = TH) -> set[tuple[str, str]]:
    issues = detect_curve_issues(curves, thresholds)
    return set(zip(issues["trial_id"], issues["type"]))


def epoch_of(curves: CurveTable, trial: str, kind: str) -> float:
    issues = detect_curve_issues(curves)
    hit = issues[(issues.trial_id == trial) & (issues.type == kind)]
    assert len(hit) == 1, issues
    return float(hit.epoch.iloc[0])


def decay(n: int, start: float = 2.3, floor: float = 0.3, tau: float = 8.0) -> np.ndarray:
    return floor + (start - floor) * np.exp(-np.arange(n) / tau)


# --------------------------------------------------------------------------------------
# Typed table
# --------------------------------------------------------------------------------------


def test_unsorted_rows_are_sorted_by_trial_then_step_keeping_first_appearance_order():
    table = build_curve_table(raw(
        "trial_id,epoch,train_loss\n"
        "b,2,0.5\n a ,1,0.9\nb,0,1.0\na,0,1.1\nb,1,0.7\n"
    ))
    assert list(table.trial_ids) == ["b", "a"]  # ids are stripped text, in order of first appearance
    assert table.codes.tolist() == [0, 0, 0, 1, 1]
    assert table.step.tolist() == [0, 1, 2, 0, 1]
    assert table.metrics["train_loss"].tolist() == [1.0, 0.7, 0.5, 1.1, 0.9]
    assert table.ids.tolist() == ["b", "b", "b", "a", "a"]
    assert table.offsets.tolist() == [0, 3, 5]
    assert table.first_step().tolist() == [0, 0] and table.last_step().tolist() == [2, 1]


def test_missing_is_not_nan_and_inf_is_not_nan():
    table = build_curve_table(raw(
        "trial,step,train_loss,val_loss\n"
        "t,0,1.0,\nt,1,nan,NA\nt,2,inf,-inf\nt,3,1e999,null\n"
    ))
    loss, val = table.metrics["train_loss"], table.metrics["val_loss"]
    assert table.missing["val_loss"].tolist() == [True, True, False, True]
    assert not table.missing["train_loss"].any()
    assert np.isnan(loss[1]) and loss[2] == np.inf and loss[3] == np.inf and val[2] == -np.inf
    issues = detect_curve_issues(table)
    assert issues.detail.iloc[0] == (
        "train_loss=NaN from step 1 (3 of 4 values); val_loss=-inf from step 2 (1 of 1 values)"
    )
    assert issues.epoch.iloc[0] == 1


def test_metrics_logged_at_different_steps_wandb_style():
    table = build_curve_table(raw(
        "run_id,_step,iter,train/loss,val/loss,lr\n"
        "r,0,0,2.0,2.1,0.001\nr,1,0,,,\nr,2,10,1.5,,0.001\nr,3,20,1.2,1.3,0.0009\nr,4,,,,\n"
    ))
    assert table.step_column == "iter"  # W&B's _step counts log calls: only a fallback
    assert table.step.tolist() == [0, 10, 20]  # the empty trailing row is skipped
    assert table.missing["val/loss"].tolist() == [False, True, False]
    assert "lr" in table.ignored and "_step" in table.ignored
    assert any("without a step" in note for note in table.notes)


def test_rows_of_one_step_logging_different_metrics_are_merged():
    table = build_curve_table(raw("trial_id,epoch,train_loss,val_loss\na,0,1.0,\na,0,,1.2\na,1,0.8,0.9\n"))
    assert table.step.tolist() == [0, 1]
    assert table.metrics["train_loss"].tolist() == [1.0, 0.8]
    assert table.metrics["val_loss"].tolist() == [1.2, 0.9]
    assert not table.missing.to_numpy().any()
    assert any("merged" in note for note in table.notes)


def test_two_values_of_one_metric_at_one_step_is_an_error_naming_lines():
    text = "trial_id,epoch,val_loss\na,0,1.0\na,1,0.9\nb,0,1.0\na,1,0.8\n"
    with pytest.raises(InputError) as err:
        build_curve_table(raw(text, "runs.csv"))
    assert str(err.value) == (
        "runs.csv: trial 'a' has 2 values of 'val_loss' at epoch 1 (lines 3, 5); "
        "one value per trial and step is expected"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trial_id,epoch,val_loss\na,0,1.0\na,1,oops\n", "c.csv: column 'val_loss', line 3: 'oops' is not a number"),
        ("trial_id,epoch,val_loss\na,0,1.0\na,two,0.9\n", "c.csv: column 'epoch', line 3: 'two' is not a step number"),
        ("trial_id,epoch,val_loss\na,0,1.0\na,inf,0.9\n", "c.csv: column 'epoch', line 3: step +inf is not a finite number"),
        ("trial_id,epoch,val_loss\na,0,1.0\na,,0.9\n", "c.csv: line 3 logs a metric but has no step (column 'epoch' is empty)"),
        ("trial_id,epoch,val_loss\na,0,1.0\n,1,0.9\n", "c.csv: line 3 has an empty trial id (column 'trial_id')"),
        ("trial_id,lr,val_loss\na,0.1,1.0\na,0.1,0.9\n", "c.csv: no step column in the curves"),
        ("run,epoch,val_loss\na,0,1.0\n", "c.csv: no trial id column in the curves"),
        ("trial_id,epoch,lr\na,0,1.0\n", "c.csv: no metric column in the curves"),
        ("trial_id,epoch,val_loss\n", "c.csv: has a header but no rows of curves"),
    ],
)
def test_bad_curves_are_one_line_errors(text, message):
    with pytest.raises(InputError) as err:
        build_curve_table(raw(text, "c.csv"))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_hints_name_the_step_id_and_metric_columns():
    text = "run,budget_it,score,lr\na,0,0.9,0.1\na,1,0.5,0.1\nb,0,0.8,0.2\n"
    table = build_curve_table(raw(text), hints={"run": "id", "budget_it": "step", "score": "metric:val_loss"})
    assert (table.id_column, table.step_column) == ("run", "budget_it")
    assert table.info["score"].kind == "loss" and table.info["score"].split == "val"
    assert table.trial_columns["lr"].tolist() == ["0.1", "0.2"]
    with pytest.raises(InputError, match="'nope', which is not in the curves"):
        build_curve_table(raw(text), hints={"nope": "step"})
    with pytest.raises(InputError, match="'lr' is given as a hyperparameter but varies within trial 'a'"):
        build_curve_table(raw("trial_id,epoch,val_loss,lr\na,0,1,0.1\na,1,1,0.2\n"), hints={"lr": "hyperparameter"})


def test_typed_frames_arrow_nulls_are_missing_and_nan_is_reported():
    frame = pd.DataFrame({
        "trial_id": pd.Categorical(["x", "x", "x", "y"]),
        "epoch": np.array([0, 1, 2, 0], dtype=np.int64),
        "val_loss": pd.Series(pa.array([1.0, None, float("nan"), 2.0]), dtype=pd.ArrowDtype(pa.float64())),
        "train_loss": np.array([1.0, np.nan, 0.5, 2.0]),  # plain float64: NaN can only mean missing
    })
    table = build_curve_table(RawTable(frame, "<typed>"))
    assert table.missing["val_loss"].tolist() == [False, True, False, False]
    assert np.isnan(table.metrics["val_loss"][2])
    assert table.missing["train_loss"].tolist() == [False, True, False, False]
    assert issue_set(table) == {("x", "nonfinite_metric")}


def test_looks_like_curves():
    assert looks_like_curves(read_results(DEEPOBS).frame)
    assert looks_like_curves(read_results(NANOGPT).frame)
    assert not looks_like_curves(read_results(SAMPLE).frame)  # one row per trial
    assert not looks_like_curves(read_results(DATA / "wandb_nanogpt_export.csv").frame)  # runs table, no step


# --------------------------------------------------------------------------------------
# The trial table derived from curves
# --------------------------------------------------------------------------------------


def test_trials_from_curves_last_values_constants_and_budget():
    text = (
        "trial_id,epoch,lr,optimizer,status,runtime_s,timestamp,train_loss,val_loss\n"
        "a,0,0.1,adam,running,1,100,2.0,2.1\n"
        "a,1,0.1,,running,2,200,1.0,\n"
        "a,2,0.1,adam,failed,3,300,nan,\n"
        "b,0,0.01,sgd,running,1,150,2.0,2.2\n"
        "b,1,0.01,sgd,completed,2,250,1.5,inf\n"
    )
    derived = trials_from_curves(build_curve_table(raw(text)))
    frame = derived.frame
    assert list(frame.columns) == ["trial_id", "lr", "optimizer", "status", "runtime_s",
                                   "train_loss", "val_loss", "epochs"]
    assert frame.to_dict("list") == {
        "trial_id": ["a", "b"],
        "lr": ["0.1", "0.01"],
        "optimizer": ["adam", "sgd"],  # an empty cell does not break "constant within the trial"
        "status": ["failed", "completed"],  # the last status of the run
        "runtime_s": ["3", "2"],
        "train_loss": ["nan", "1.5"],  # the last logged value, non-finite kept as text
        "val_loss": ["2.1", "inf"],  # a's last *logged* val_loss is at epoch 0
        "epochs": ["2", "1"],
    }
    # ... and the existing pipeline reads it like any results table
    roles = infer_roles(frame, derived.source)
    assert roles.epochs == "epochs" and roles.status == "status" and roles.hyperparameters == ["lr", "optimizer"]
    issues = detect_issues(build_trial_table(derived, roles))
    assert {("a", "nonfinite_metric"), ("a", "failed"), ("b", "nonfinite_metric")} <= set(
        zip(issues.trial_id, issues.type))


def test_trial_columns_follow_the_sorted_rows_of_unsorted_input():
    text = ("trial_id,epoch,lr,status,val_loss\n"
            "a,1,0.1,completed,0.5\nb,1,0.2,failed,0.7\na,0,0.1,running,0.9\nb,0,0.2,running,0.8\n")
    derived = trials_from_curves(build_curve_table(raw(text))).frame
    assert derived[["lr", "status", "val_loss"]].to_dict("list") == {
        "lr": ["0.1", "0.2"], "status": ["completed", "failed"], "val_loss": ["0.5", "0.7"]}


def test_budget_column_is_steps_when_the_step_is_not_an_epoch():
    derived = trials_from_curves(build_curve_table(raw("run_id,iter,val/loss\nr,0,2\nr,250,1.5\nr,500,1.4\n")))
    assert derived.frame["steps"].tolist() == ["500"]


# --------------------------------------------------------------------------------------
# Detectors on hand-made curves
# --------------------------------------------------------------------------------------


def test_registry_and_output_shape():
    assert len(CURVE_DETECTORS) == 7
    assert CURVE_ISSUE_TYPES == ("nonfinite_metric", "diverged", "no_learning", "overfitting", "plateau",
                                 "oscillation", "still_improving")
    empty = detect_curve_issues(build_curve_table(long_frame({"a": {"val_loss": [1.0]}})))
    assert list(empty.columns) == CURVE_ISSUE_COLUMNS and empty.empty
    for name, value in TH.to_dict().items():
        assert isinstance(value, int | float) or (name == "trivial_loss" and value is None), name


def test_nan_onset_epoch_and_a_run_that_recovers():
    table = build_curve_table(long_frame({
        "late": {"train_loss": [*decay(10), np.nan, np.nan], "val_loss": [*decay(12)]},
        "blip": {"train_loss": [1.0, 0.9, np.inf, 0.8, 0.7]},
        "fine": {"train_loss": list(decay(12))},
    }))
    assert epoch_of(table, "late", "nonfinite_metric") == 10
    assert epoch_of(table, "blip", "nonfinite_metric") == 2
    issues = detect_curve_issues(table)
    assert issues[issues.trial_id == "blip"].detail.iloc[0] == "train_loss=+inf from epoch 2 (1 of 5 values)"
    assert ("fine", "nonfinite_metric") not in issue_set(table)


def test_diverged_after_progress_but_not_a_converged_jitter_or_a_straight_nan():
    blowup = [2.3, 1.0, 0.5, 0.3, 0.35, 4.0, 30.0]
    jitter = [2.3, 0.5, 0.01, 1e-4, 2e-3, 1e-4, 3e-3]  # 30x its minimum, but nothing of the 2.3 lost
    straight_nan = [2.3, 1.0, np.nan, np.nan, np.nan]
    table = build_curve_table(long_frame({
        "blowup": {"train_loss": blowup}, "jitter": {"train_loss": jitter}, "nan": {"train_loss": straight_nan},
    }))
    assert epoch_of(table, "blowup", "diverged") == 5  # 4.0 >= 10 x 0.3 and above half-way back to 2.3
    found = issue_set(table)
    assert ("jitter", "diverged") not in found
    assert ("nan", "diverged") not in found and ("nan", "nonfinite_metric") in found
    detail = detect_curve_issues(table).query("type == 'diverged'").detail.iloc[0]
    assert detail == "train_loss rose to 4 at epoch 5, 13.3x its minimum 0.3 (epoch 3)"


def test_diverged_against_the_trivial_predictor_after_the_first_step_only():
    # two classes, prior 0.63: the trivial predictor's loss is 0.66 (the prior's entropy)
    th = replace(TH, trivial_loss=0.66)
    unstable = [83.0, 40.6, 35.5, 29.5, 18.9, 2.1, 0.9, 0.6]  # 30-60x the trivial loss for epochs, slowly down
    bad_start = [127.0, 0.53, 0.51, 0.50, 0.49, 0.48, 0.47, 0.46]  # only the first step is high: initialisation
    healthy = [0.7, 0.5, 0.4, 0.35, 0.3, 0.3, 0.29, 0.28]
    table = build_curve_table(long_frame({
        "unstable": {"train_loss": unstable}, "bad_start": {"train_loss": bad_start}, "healthy": {"train_loss": healthy},
    }))
    issues = detect_curve_issues(table, th)
    diverged = issues[issues.type == "diverged"]
    assert diverged.trial_id.tolist() == ["unstable"]  # it never rose from its minimum: only the trivial rule sees it
    assert diverged.epoch.iloc[0] == 1
    assert diverged.detail.iloc[0] == "train_loss rose to 40.6 at epoch 1, 61.5x the trivial predictor's loss 0.66"
    assert ("unstable", "diverged") not in issue_set(table)  # classes unknown: no trivial loss, no such rule


def test_a_spike_far_below_the_trivial_loss_after_convergence_is_no_blow_up():
    # first logged after an epoch of learning (0.2), converged to 0.005, one spike to 0.13: 26x its minimum and
    # more than half of 0.2 - 0.005, but 5x below predicting the prior (0.66): nothing learned was lost
    spike = [0.2, 0.03, 0.02, 0.005, 0.006, 0.13, 0.01, 0.005]
    blown = [0.2, 0.03, 0.02, 0.005, 0.006, 0.9, 0.8, 0.7]  # back above knowing nothing: a blow-up
    table = build_curve_table(long_frame({"spike": {"train_loss": spike}, "blown": {"train_loss": blown}}))
    # classes unknown, progress counts from the first value: the spike gave back more than half of it, but for one
    # epoch only (back to 0.01 next): a spike it recovered from is no divergence
    assert ("spike", "diverged") not in issue_set(table) and ("blown", "diverged") in issue_set(table)
    found = issue_set(table, replace(TH, trivial_loss=0.66))
    assert ("spike", "diverged") not in found and ("blown", "diverged") in found


def test_diverged_is_a_blow_up_for_good_not_a_spike_the_loss_came_back_from():
    # a train-mode running mean under a large learning rate: one epoch at 25x its minimum, then back (digits, Adam)
    spike = [1.46, 0.94, 0.34, 0.2, 0.1, 0.074, 0.1, 1.87, 0.23, 0.086, 0.07]
    stays = [1.46, 0.94, 0.34, 0.2, 0.1, 0.074, 0.1, 1.87, 1.5, 1.6, 1.7]  # the progress lost for good
    # Adam at lr 16 on a quadratic: 83x where it started, then back below the start: a blow-up all the same
    far_above_start = [354.0, 29600.0, 580.0, 290.0, 130.0, 90.0, 88.0, 89.0]
    # a zigzagging running mean on its way to NaN dips below half-way between peaks: nothing regained
    zigzag_to_nan = [2.33, 1.56, 1.07, 0.71, 0.5, 0.11, 0.61, 0.11, 0.92, 0.25, 2.05, 0.56, np.nan, np.nan]
    table = build_curve_table(long_frame({"spike": {"train_loss": spike}, "stays": {"train_loss": stays},
                                          "far": {"train_loss": far_above_start},
                                          "zigzag": {"train_loss": zigzag_to_nan}}))
    found = issue_set(table)
    assert ("spike", "diverged") not in found
    assert epoch_of(table, "stays", "diverged") == 7
    assert epoch_of(table, "far", "diverged") == 1
    assert epoch_of(table, "zigzag", "diverged") == 10 and ("zigzag", "nonfinite_metric") in found


def test_a_held_out_loss_climbing_while_training_improves_is_overfitting_not_divergence():
    n = 100
    e = np.arange(n)
    train = 0.06 + 0.25 * np.exp(-e / 10)  # falls the whole run
    val = np.where(e < 3, 0.6 - 0.1 * e, 0.3 + 0.032 * (e - 3))  # best at epoch 3, then 10x up (F-MNIST, Adam)
    blown_train = np.where(e < 40, train, train * (1 + (e - 39) ** 2))  # the optimisation itself blew up
    table = build_curve_table(long_frame({
        "overfits": {"train_loss": list(train), "val_loss": list(val)},
        "both_blow_up": {"train_loss": list(blown_train), "val_loss": list(np.where(e < 40, val[:40].min(), blown_train))},
        "held_out_only": {"val_loss": list(val)},  # no train loss logged: nothing says training went well
    }))
    found = issue_set(table)
    assert ("overfits", "diverged") not in found and epoch_of(table, "overfits", "overfitting") == 3
    assert ("both_blow_up", "diverged") in found
    assert ("held_out_only", "diverged") in found


def test_a_regression_r2_curve_far_below_zero_after_the_first_step_diverged():
    table = build_curve_table(long_frame({
        "blown": {"val_loss": [31.4, 65.0, 8.7, 1.4, 0.6, 0.55], "val_r2": [-25.8, -66.5, -8.3, -0.5, 0.3, 0.34]},
        "bad_start": {"val_loss": [31.4, 4.5, 1.9, 1.0, 0.6, 0.57], "val_r2": [-32.7, -3.8, -1.0, -0.1, 0.35, 0.39]},
    }))
    issues = detect_curve_issues(table)
    diverged = issues[issues.type == "diverged"]
    assert diverged.trial_id.tolist() == ["blown"]
    assert diverged.detail.iloc[0] == "val_r2 fell to -66.5 at epoch 1: squared error 67.5x the mean predictor's"


def test_a_blow_up_straight_into_overflow_is_nonfinite_only():
    table = build_curve_table(long_frame({
        "overflow": {"train_loss": [354.0, 7e28, np.inf, np.inf, np.inf]},  # one huge value on the way to +inf
        "stayed": {"train_loss": [354.0, 7e28, 8e28, 9e28, np.inf]},  # blown up for steps, then +inf
    }))
    found = issue_set(table)
    assert ("overflow", "nonfinite_metric") in found and ("overflow", "diverged") not in found
    assert {("stayed", "nonfinite_metric"), ("stayed", "diverged")} <= found


def test_the_trivial_loss_comes_from_the_trial_table():
    from core.curves import with_sweep_facts
    from core.detectors import Thresholds
    from tests.helpers import table_from_records

    table = table_from_records([{"trial_id": "a", "lr": 0.1, "val_loss": 0.5, "val_acc": 0.8},
                                {"trial_id": "b", "lr": 0.01, "val_loss": 0.4, "val_acc": 0.9}])
    assert with_sweep_facts(TH, table, Thresholds(n_classes=10)).trivial_loss == pytest.approx(np.log(10))
    assert with_sweep_facts(TH, table, Thresholds()).trivial_loss is None  # classes unknown


def test_overfitting_playbook_rule_reports_the_best_epoch_as_where_to_stop():
    n = 40
    train = list(decay(n, tau=6))
    val = [0.9 + 0.002 * (e - 12) ** 2 for e in range(n)]  # best at epoch 12, then up
    both_rise = [0.9 + 0.002 * (e - 12) ** 2 for e in range(n)]
    table = build_curve_table(long_frame({
        "overfit": {"train_loss": train, "val_loss": val},
        "healthy": {"train_loss": train, "val_loss": list(decay(n, start=2.4, floor=0.35, tau=6))},
        "both_rise": {"train_loss": both_rise, "val_loss": val},
        "train_only": {"train_loss": train},
    }))
    found = issue_set(table)
    assert epoch_of(table, "overfit", "overfitting") == 12
    assert ("healthy", "overfitting") not in found
    assert ("both_rise", "overfitting") not in found  # train loss did not keep falling
    assert ("train_only", "overfitting") not in found  # no held-out loss, not judged
    detail = detect_curve_issues(table).query("trial_id == 'overfit' and type == 'overfitting'").detail.iloc[0]
    assert detail.startswith("val_loss best 0.9 at epoch 12;") and detail.endswith("stop at epoch 12")


def test_overfitting_needs_the_rise_to_clear_the_noise():
    rng = np.random.default_rng(0)
    n = 60
    flat = 0.8 * np.exp(rng.normal(0, 0.03, n))  # flat held-out loss with 3% noise
    table = build_curve_table(long_frame({"noisy": {"train_loss": list(decay(n)), "val_loss": list(flat)}}))
    assert ("noisy", "overfitting") not in issue_set(table)


def test_overfitting_needs_training_to_improve_after_the_best_not_before_it():
    n = 60
    e = np.arange(n)
    val = 0.25 + 0.004 * np.maximum(e - 13, 0) + 0.3 * np.exp(-e / 3)  # best near epoch 13, then up
    descent_then_flat = np.r_[decay(14, start=2.3, floor=0.14, tau=2), np.full(n - 14, 0.145)]
    descent_then_rising = np.r_[decay(14, start=2.3, floor=0.14, tau=2), 0.14 + 0.004 * np.arange(1, n - 13)]
    still_falling = np.r_[decay(14, start=2.3, floor=0.14, tau=2), 0.14 * np.exp(-np.arange(1, n - 13) / 15)]
    table = build_curve_table(long_frame({
        "flat": {"train_loss": list(descent_then_flat), "val_loss": list(val)},
        "rising": {"train_loss": list(descent_then_rising), "val_loss": list(val)},
        "overfits": {"train_loss": list(still_falling), "val_loss": list(val)},
    }))
    found = issue_set(table)
    # the train loss's average over the steep descent before the best is far above its end, but it did not
    # improve after the best: the held-out loss rose with a flat or rising train loss (instability, not memorising)
    assert ("flat", "overfitting") not in found and ("rising", "overfitting") not in found
    assert ("overfits", "overfitting") in found


def test_overfitting_reads_the_train_loss_at_the_best_from_the_best_on_not_from_the_descent_before_it():
    # the same three runs drawn 20 times: what the test asserts holds for every draw, not for one lucky seed
    n = 161
    e = np.arange(n)
    descent = 0.25 + 2.5 * np.exp(-e / 3)  # levels off at 0.25 by about epoch 15
    runs = {}
    for seed in range(20):
        rng = np.random.default_rng(seed)
        # then flat (SVHN, SGD at lr 0.4), with noise well below the rule's 1% bar on the train loss's level:
        # the rule compares levels, it is no significance test (see detect_curve_overfitting: with 4% noise per
        # evaluation a flat train loss reads as still improving in about a quarter of the draws)
        flat_after = descent * np.exp(rng.normal(0, 0.005, n))
        still_falling = np.where(e < 17, descent, 0.25 * np.exp(-(e - 17) / 60)) * np.exp(rng.normal(0, 0.04, n))
        val = (0.31 + 0.0006 * np.maximum(e - 17, 0) + 2.5 * np.exp(-e / 3)) * np.exp(rng.normal(0, 0.01, n))
        runs[f"flat{seed}"] = {"train_loss": list(flat_after), "val_loss": list(val)}
        runs[f"falling{seed}"] = {"train_loss": list(still_falling), "val_loss": list(val)}
        # early stopping with patience 5 that kept its best checkpoint: nothing after the best but the patience
        runs[f"early_stopped{seed}"] = {"train_loss": list(still_falling[:23]), "val_loss": list(val[:23])}
    found = {t for t, kind in issue_set(build_curve_table(long_frame(runs))) if kind == "overfitting"}
    # a window centred on the best (epochs 1-33) holds the descent: its median (above 0.25) made flat look like progress
    assert found == {f"falling{seed}" for seed in range(20)}


def test_overfitting_is_seen_past_a_spike_in_the_final_window_and_a_spike_alone_is_none():
    # DeepOBS F-MNIST, SGD (r00373): the test loss bottoms out at epoch 58 and climbs steadily while the
    # train loss keeps falling; at epoch 93 one bad evaluation (both losses jump for a few epochs)
    rng = np.random.default_rng(0)
    n = 101
    e = np.arange(n)
    rising = (0.27 + 0.0008 * np.maximum(e - 58, 0) + 0.4 * np.exp(-e / 8)) * np.exp(rng.normal(0, 0.003, n))
    spiked = rising.copy()
    spiked[93:96] *= [1.4, 1.15, 1.25]
    train = (0.08 + 0.6 * np.exp(-e / 30)) * np.exp(rng.normal(0, 0.01, n))  # clearly still improving
    train_spiked = train.copy()
    train_spiked[93] *= 1.8
    flat = (0.27 + 0.4 * np.exp(-e / 8)) * np.exp(rng.normal(0, 0.01, n))  # levelled off at its best, noisy
    flat_spiked = flat.copy()
    flat_spiked[95] *= 1.6  # one bad evaluation: it lifts the final mean 3%, nothing else
    table = build_curve_table(long_frame({
        "overfits": {"train_loss": list(train), "val_loss": list(rising)},
        "overfits_spike": {"train_loss": list(train_spiked), "val_loss": list(spiked)},
        "flat_spike": {"train_loss": list(train), "val_loss": list(flat_spiked)},
        "flat_noisy": {"train_loss": list(train), "val_loss": list(flat * np.exp(rng.normal(0, 0.03, n)))},
        # the same rise with a train loss that levelled off at the best: not memorising
        "levelled": {"train_loss": list(np.maximum(train, train[58])), "val_loss": list(spiked)},
        # early stopping with patience 5: cut at the best + 5, nothing after the best but the patience
        "early_stopped": {"train_loss": list(train[:64]), "val_loss": list(spiked[:64])},
        # dropout: the train-mode loss above the held-out one, both levelled off; one bad evaluation late
        "dropout": {"train_loss": list(1.4 * flat), "val_loss": list(flat_spiked)},
    }))
    issues = detect_curve_issues(table).query("type == 'overfitting'").set_index("trial_id")
    assert set(issues.index) == {"overfits", "overfits_spike"}
    assert 50 <= issues.epoch["overfits_spike"] <= 66  # where to stop: the (noisy) best near epoch 58
    # the spike inflates the mean and its root-mean-square noise alike, so the median and the median
    # absolute residual show the rise; the detail says which level it read
    assert "; median over the last 20% of the run " in issues.detail["overfits_spike"]
    assert "; mean over the last 20% of the run " in issues.detail["overfits"]


def test_overfitting_by_design_non_cases_dropout_and_a_one_epoch_blip():
    rng = np.random.default_rng(1)
    n = 50
    val = decay(n, start=2.0, floor=0.3, tau=6) * np.exp(rng.normal(0, 0.01, n))
    dropout_train = decay(n, start=2.2, floor=0.45, tau=6)  # train mode with dropout: above the held-out loss
    blip = val.copy()
    blip[-1] *= 1.6  # one bad final evaluation
    table = build_curve_table(long_frame({
        "dropout": {"train_loss": list(dropout_train), "val_loss": list(val)},
        "blip": {"train_loss": list(decay(n, start=2.2, floor=0.1, tau=6)), "val_loss": list(blip)},
    }))
    found = issue_set(table)
    assert ("dropout", "overfitting") not in found
    assert ("blip", "overfitting") not in found  # one evaluation is not "for more than a blip of epochs"


def test_a_loss_only_run_that_never_improved_on_its_start_learned_nothing():
    table = build_curve_table(long_frame({
        # a VAE at too high a learning rate: from the untrained 133 up to 184, and there for good
        "stuck": {"train_loss": [133.7] + [184.0] * 9, "val_loss": [133.0] + [183.7] * 9},
        "learns": {"train_loss": [133.7, 60, 40, 35, 30, 28, 27, 26, 26, 25], "val_loss": [133.0, 61, 42, 36, 31, 30,
                                                                                          29, 28, 28, 27]},
        # first evaluation after a whole epoch, already converged: the epoch's running train mean shows the start
        "fast": {"train_loss": [90.0, 26, 26, 26, 26, 26, 26], "val_loss": [26.0, 25.9, 26, 26, 25.9, 26, 26]},
        # learned, then collapsed: it did learn
        "collapsed": {"train_loss": [133.7, 40, 30, 28, 150, 150, 150], "val_loss": [133.0, 41, 31, 29, 151, 151, 151]},
    }))
    issues = detect_curve_issues(table)
    found = issues[issues.type == "no_learning"]
    assert found.trial_id.tolist() == ["stuck"]
    assert found.detail.iloc[0] == ("val_loss never got below 133, not 1% under where it started (133.7): "
                                    "the run learned nothing")
    # with an accuracy curve (or known classes) the chance-level rules judge instead
    with_acc = build_curve_table(long_frame({"stuck": {"val_loss": [133.0] + [183.7] * 9, "val_acc": [0.1] * 10}}))
    assert ("stuck", "no_learning") not in issue_set(with_acc)
    assert ("stuck", "no_learning") not in issue_set(table, replace(TH, trivial_loss=2.3))


def test_plateau_stuck_from_start_and_collapsed_after_a_drop():
    n = 50
    table = build_curve_table(long_frame({
        "stuck": {"train_loss": [2.3026 + 0.0005 * ((-1) ** e) for e in range(n)]},
        "collapsed": {"train_loss": [3.6, 2.6, 2.37, 2.31] + [2.303 + 0.001 * ((-1) ** e) for e in range(n - 4)]},
        "healthy": {"train_loss": list(decay(n, tau=12))},
        "climbing": {"train_loss": [2.3 * 1.05 ** e for e in range(n)]},
        "nan_cut": {"train_loss": [2.3, 2.3, 2.3, 2.3, 2.3, 2.3] + [np.nan] * (n - 6)},
        "slow_start": {"train_loss": [2.3] * 20 + list(decay(n - 20, tau=5))},
    }))
    found = issue_set(table)
    assert epoch_of(table, "stuck", "plateau") == 0
    assert epoch_of(table, "collapsed", "plateau") == 4  # smoothed, epoch 3 still averages in the 2.37
    assert epoch_of(table, "slow_start", "plateau") == 0
    assert not {("healthy", "plateau"), ("climbing", "plateau"), ("nan_cut", "plateau")} & found
    detail = detect_curve_issues(table).query("type == 'plateau'").set_index("trial_id").detail
    # stuck to the end: the text says so; slow_start escaped at epoch 20 and its span ends there, not at 30% of the run
    assert detail["stuck"].startswith("train_loss stuck at 2.303 from epoch 0 to its last evaluation (epoch 49, 100% of "
                                      "the run): it never got past that early level: best-so-far improved 0.0"), detail
    assert detail["slow_start"].startswith("train_loss stuck at 2.3 from epoch 0 to 19 (39% of the run): best-so-far"), \
        detail["slow_start"]


def test_oscillation_counts_big_turns_but_not_noise_or_a_converged_jitter():
    n = 60
    rng = np.random.default_rng(1)
    zigzag = decay(n) + np.where(np.arange(n) % 2, 0.6, 0.0)
    table = build_curve_table(long_frame({
        "zigzag": {"train_loss": list(zigzag)},
        "noisy": {"train_loss": list(decay(n) * np.exp(rng.normal(0, 0.03, n)))},
        "near_zero": {"train_loss": [2.3, 0.4, 0.1] + list(rng.uniform(0.001, 0.03, n - 3))},
        "few_spikes": {"train_loss": [x + (1.0 if e in (20, 40) else 0.0) for e, x in enumerate(decay(n))]},
    }))
    found = issue_set(table)
    assert ("zigzag", "oscillation") in found
    assert epoch_of(table, "zigzag", "oscillation") == 1
    assert not {("noisy", "oscillation"), ("near_zero", "oscillation"), ("few_spikes", "oscillation")} & found


def test_a_train_loss_swinging_under_dropout_with_a_steady_held_out_loss_is_not_oscillation():
    n = 60
    zigzag = decay(n) + np.where(np.arange(n) % 2, 0.6, 0.0)
    table = build_curve_table(long_frame({
        "unstable": {"train_loss": list(zigzag), "val_loss": list(zigzag + 0.1)},  # the weights swing: both do
        "dropout_noise": {"train_loss": list(zigzag), "val_loss": list(decay(n, start=2.0, floor=0.5))},
        "train_only": {"train_loss": list(zigzag)},  # no held-out loss to tell: the train loss judges
    }))
    found = {t for t, kind in issue_set(table) if kind == "oscillation"}
    assert found == {"unstable", "train_only"}


def test_still_improving_needs_a_significant_fall_at_the_end():
    n = 50
    rng = np.random.default_rng(2)
    falling = 2.0 - 0.02 * np.arange(n)
    table = build_curve_table(long_frame({
        "falling": {"train_loss": list(falling), "val_loss": list(falling + 0.1)},
        "converged": {"train_loss": list(decay(n, tau=5)), "val_loss": list(decay(n, tau=5) * np.exp(rng.normal(0, 0.02, n)))},
        "train_only": {"train_loss": list(falling)},  # falls back to the train loss
    }))
    found = issue_set(table)
    assert epoch_of(table, "falling", "still_improving") == n - 1
    assert ("train_only", "still_improving") in found
    assert ("converged", "still_improving") not in found


def test_a_finite_loss_too_large_to_square_warns_nothing():
    """A blown-up loss near 1e200 is finite, but its square is not: the trend test is quiet, never an overflow warning."""
    n = 30
    huge = list(1e200 * (1 + 0.01 * np.arange(n)))
    table = build_curve_table(long_frame({"huge": {"train_loss": huge, "val_loss": huge},
                                          "falling": {"train_loss": list(2.0 - 0.02 * np.arange(n))}}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = issue_set(table)
    assert ("falling", "still_improving") in found and ("huge", "still_improving") not in found


def test_single_step_trials_and_missing_steps():
    table = build_curve_table(long_frame({
        "one": {"train_loss": [2.3], "val_loss": [2.4]},
        "one_nan": {"train_loss": [np.nan]},
        "gappy": {"val_loss": [2.3, None, None, 1.0, None, 0.8]},
    }))
    assert issue_set(table) == {("one_nan", "nonfinite_metric")}
    facts = curve_facts(table).set_index("trial_id")
    assert facts.loc["one", "n_steps"] == 1 and facts.loc["one", "best_step"] == 0
    assert facts.loc["gappy", "best_step"] == 5 and facts.loc["gappy", "best_value"] == 0.8
    assert facts.loc["gappy", "n_steps"] == 6  # rows exist (train_loss column) even when val_loss is missing
    assert np.isnan(facts.loc["one_nan", "best_value"])


def test_thresholds_are_configurable():
    table = build_curve_table(long_frame({"a": {"train_loss": [2.3, 1.0, 0.5, 0.3, 2.0]}}))
    assert ("a", "diverged") not in issue_set(table)
    assert ("a", "diverged") in issue_set(table, replace(TH, diverge_factor=5.0))


def test_healthy_noisy_decaying_curves_are_not_flagged():
    rng = np.random.default_rng(3)
    curves = {}
    for k in range(200):
        n = int(rng.integers(30, 200))
        floor = rng.uniform(0.05, 2)
        base = decay(n, start=floor + rng.uniform(1, 4), floor=floor, tau=rng.uniform(0.03, 0.08) * n)
        curves[f"h{k}"] = {"train_loss": list(base * np.exp(rng.normal(0, 0.02, n))),
                           "val_loss": list((base * 1.05 + 0.02) * np.exp(rng.normal(0, 0.02, n)))}
    assert detect_curve_issues(build_curve_table(long_frame(curves))).empty


def test_curve_facts_columns():
    table = build_curve_table(long_frame({"a": {"train_loss": [2.0, 1.0, np.nan], "val_loss": [2.1, 1.1, 1.2]}}))
    facts = curve_facts(table)
    assert list(facts.columns) == [
        "trial_id", "n_steps", "first_step", "last_step", "first_nonfinite_step",
        "first_nonfinite_step:train_loss", "first_nonfinite_step:val_loss",
        "held_out", "best_step", "best_value", "last_value",
    ]
    row = facts.iloc[0].to_dict()
    assert np.isnan(row.pop("first_nonfinite_step:val_loss"))
    assert row == {
        "trial_id": "a", "n_steps": 3, "first_step": 0.0, "last_step": 2.0, "first_nonfinite_step": 2.0,
        "first_nonfinite_step:train_loss": 2.0, "held_out": "val_loss", "best_step": 1.0, "best_value": 1.1,
        "last_value": 1.2,
    }


# --------------------------------------------------------------------------------------
# Real curves (tests/data/README.md gives their origin)
# --------------------------------------------------------------------------------------


def _text_nonfinite(cells: pd.Series) -> pd.Series:
    return cells.str.strip().str.lower().isin(["nan", "inf", "-inf", "+inf", "infinity", "-infinity"])


def test_deepobs_nan_onsets_match_an_independent_reading():
    frame = pd.read_csv(DEEPOBS, dtype=str, keep_default_na=False)
    bad = frame[_text_nonfinite(frame.train_loss) | _text_nonfinite(frame.test_loss)]
    expected = bad.assign(epoch=bad.epoch.astype(int)).groupby("trial_id").epoch.min().to_dict()
    assert expected == {"r00182": 70, "r00190": 69, "r00197": 16, "r00204": 20, "r00211": 1,
                        "r00754": 56, "r00828": 92}

    table = build_curve_table(read_results(DEEPOBS))
    issues = detect_curve_issues(table)
    nonfinite = issues[issues.type == "nonfinite_metric"]
    assert dict(zip(nonfinite.trial_id, nonfinite.epoch.astype(int))) == expected
    facts = curve_facts(table).set_index("trial_id")
    assert facts.first_nonfinite_step.dropna().astype(int).to_dict() == expected
    # r00754 overflows to +inf (not NaN); r00828 is NaN at one epoch only and then finite again
    detail = nonfinite.set_index("trial_id").detail
    assert detail["r00754"].startswith("train_loss=+inf from epoch 56 (45 of 101 values)")
    assert detail["r00828"].startswith("train_loss=NaN from epoch 92 (1 of 161 values)")
    assert np.isfinite(facts.loc["r00828", "last_value"])


def test_deepobs_final_values_agree_with_the_per_run_table():
    """The last logged values equal DeepOBS's own final values (an independent file)."""
    derived = trials_from_curves(build_curve_table(read_results(DEEPOBS))).frame.set_index("trial_id")
    finals = pd.read_csv(DATA / "deepobs_nonfinite_slice.csv", dtype=str, keep_default_na=False).set_index("trial_id")
    shared = derived.index.intersection(finals.index)
    assert set(derived.index) - set(shared) == {"r00295"}  # the only run of the slice with lr < 1e-3
    for ours, theirs in [("train_loss", "train_loss"), ("test_loss", "val_loss"), ("test_accuracy", "val_acc")]:
        a = derived.loc[shared, ours].astype(float).to_numpy()
        b = finals.loc[shared, theirs].replace("", "nan").astype(float).to_numpy()
        np.testing.assert_array_equal(a, b)
    assert (derived.loc[shared, "epochs"].astype(int) == finals.loc[shared, "epochs"].astype(int)).all()


def test_deepobs_curve_issues_are_the_real_pathologies():
    table = build_curve_table(read_results(DEEPOBS))
    frame = pd.read_csv(DEEPOBS)
    # independent: r00187 (lr 1.0) drops from 3.59 to chance level and stays within 0.3% of 2.303
    stuck = frame[(frame.trial_id == "r00187") & (frame.epoch >= 4)].train_loss
    assert stuck.min() > 2.30 and stuck.max() < 2.32 and frame[frame.trial_id == "r00187"].train_loss.iloc[0] > 3.5
    # independent: r00295 (fmnist, Adam) has its best test loss at epoch 11, far below the last
    r295 = frame[frame.trial_id == "r00295"]
    assert r295.epoch[r295.test_loss.idxmin()] == 11 and r295.test_loss.iloc[-1] > 2 * r295.test_loss.min()
    assert issue_set(table) == {
        ("r00182", "nonfinite_metric"), ("r00190", "nonfinite_metric"), ("r00197", "nonfinite_metric"),
        ("r00204", "nonfinite_metric"), ("r00211", "nonfinite_metric"),
        ("r00754", "nonfinite_metric"), ("r00754", "diverged"),  # 354 -> 4944 by epoch 3, +inf from 56
        ("r00828", "nonfinite_metric"), ("r00828", "diverged"),  # svhn at lr 100: 2.78 -> 6e5 in one epoch
        ("r00187", "plateau"),
        ("r00295", "overfitting"),
        ("r00777", "oscillation"),  # quadratic_deep, Momentum: the classic zigzag
        ("r00191", "still_improving"), ("r00192", "still_improving"),  # SGD at lr 0.01 and 0.001
    }
    assert epoch_of(table, "r00187", "plateau") == 4
    assert epoch_of(table, "r00295", "overfitting") == 11


def test_nanogpt_wandb_histories_overfit_where_val_loss_turns_up_and_no_residuals_is_stuck():
    frame = pd.read_csv(NANOGPT, dtype=str, keep_default_na=False)
    evals = frame[frame["val/loss"] != ""].assign(
        it=lambda d: d["iter"].astype(float), val=lambda d: d["val/loss"].astype(float))
    best_iter = evals.loc[evals.groupby("run_id").val.idxmin()].set_index("run_id").it
    rise = evals.groupby("run_id").val.last() / evals.groupby("run_id").val.min() - 1
    assert rise.round(2).to_dict() == {"E2_no_residuals_07swdfwz": 0.0, "F2_context_512_78r0p6kp": 0.35,
                                       "G1_ternary_weights_bvdy2tb2": 0.01, "baseline_cpc0g0we": 0.15}

    table = build_curve_table(read_results(NANOGPT))
    assert (table.id_column, table.step_column) == ("run_id", "iter")
    n_iters = frame[frame["iter"] != ""].groupby("run_id")["iter"].nunique()
    assert curve_facts(table).set_index("trial_id").n_steps.to_dict() == n_iters.to_dict()
    issues = detect_curve_issues(table)
    overfit = issues[issues.type == "overfitting"].set_index("trial_id").epoch
    assert set(overfit.index) == set(rise[rise > 0.1].index) == {"baseline_cpc0g0we", "F2_context_512_78r0p6kp"}
    assert (overfit == best_iter[overfit.index]).all()  # stop where val loss was best: iter 2000 and 1500
    # independent: without residual connections the train loss sits at 3.31-3.33 from iter 250 on
    e2 = frame[(frame.run_id == "E2_no_residuals_07swdfwz") & (frame["train/loss"] != "")]
    after = e2[e2["iter"].astype(float) >= 250]["train/loss"].astype(float)
    assert after.min() > 3.30 and after.max() < 3.33 and float(e2["train/loss"].iloc[0]) > 4.2
    assert sorted(zip(issues.trial_id, issues.type)) == [
        ("E2_no_residuals_07swdfwz", "plateau"), ("F2_context_512_78r0p6kp", "overfitting"),
        ("baseline_cpc0g0we", "overfitting")]
    assert epoch_of(table, "E2_no_residuals_07swdfwz", "plateau") == 500  # smoothed: 250 still averages in 4.25
    # the span it names is the one the loss stayed there: the whole rest of the run, not the 30% the rule needs
    e2_text = issues[issues.type == "plateau"].detail.iloc[0]
    assert e2_text.startswith("train/loss stuck at 3.316 from iter 500 to its last evaluation (iter 5000, 90% of the run)"
                              ": it never got past that early level"), e2_text
    assert "while train/loss fell" in issues.detail.iloc[0]  # the eval-time train loss, not train/step_loss
    derived = trials_from_curves(table).frame
    assert derived["steps"].tolist() == ["5000"] * 4 and "_runtime" in derived and "lr" not in derived


def test_deepcave_long_table_carries_hyperparameters_and_keeps_missing_apart_from_nan():
    frame = pd.read_csv(DEEPCAVE, dtype=str, keep_default_na=False)
    table = build_curve_table(read_results(DEEPCAVE))
    assert table.step_column == "budget_epochs" and table.n_trials == 40
    # CRASHED evaluations have empty costs: missing, never NaN
    assert detect_curve_issues(table).empty
    derived = trials_from_curves(table).frame.set_index("trial_id")
    firsts = frame.groupby("trial_id").first()
    for col in ["hp_learning_rate", "hp_activation", "hp_batch_size", "hp_model", "seed"]:
        assert (derived[col] == firsts.loc[derived.index, col]).all(), col
    assert derived.hp_num_neurons_layer1[firsts.hp_model == "cnn"].isna().all()  # empty for CNNs
    last_status = frame.groupby("trial_id").status.last()
    assert (derived.status == last_status[derived.index]).all()
    logged = frame[frame.val_loss != ""]
    last_loss = logged.groupby("trial_id").val_loss.last()
    assert (derived.val_loss[last_loss.index].astype(float) == last_loss.astype(float)).all()
    assert set(derived.epochs) == {"8"}
    assert {"start_time", "end_time"} <= set(table.ignored)
    roles = infer_roles(derived.reset_index(), "<derived>")
    assert {"hp_learning_rate", "hp_activation", "hp_batch_size"} <= set(roles.hyperparameters)


# --------------------------------------------------------------------------------------
# Property: the vectorised detectors equal a plain per-trial implementation
# --------------------------------------------------------------------------------------


def _smooth(y: np.ndarray) -> np.ndarray:
    return np.array([y[max(i - 1, 0): i + 2].mean() for i in range(len(y))])


def _reference(frame: pd.DataFrame, th: CurveThresholds) -> dict[tuple[str, str], float]:
    """The documented rules, one trial at a time with plain loops (NaN epoch -> nan)."""
    out: dict[tuple[str, str], float] = {}
    from scipy import stats

    for trial, g in frame.groupby("trial_id", sort=False):
        g = g.sort_values("epoch")
        epoch = g.epoch.to_numpy(float)
        arrays = {c: (g[c].to_numpy(float), g[f"{c}_missing"].to_numpy(bool)) for c in ("train_loss", "val_loss")}
        first, last = epoch[0], epoch[-1]
        span = last - first

        def finite(col: str, positive: bool = False, epoch: np.ndarray = epoch,
                   arrays: dict = arrays) -> tuple[np.ndarray, np.ndarray]:
            y, miss = arrays[col]
            keep = ~miss & np.isfinite(y)
            if positive:
                keep &= y > 0
            return epoch[keep], y[keep]

        def first_of(*cols: str, positive: bool = False, finite=finite) -> tuple[np.ndarray, np.ndarray]:
            for col in cols:  # per trial: the first of cols with any finite value
                if len(finite(col)[1]):
                    return finite(col, positive)
            return np.zeros(0), np.zeros(0)

        onsets = [epoch[~m & ~np.isfinite(y)].min() for y, m in arrays.values() if (~m & ~np.isfinite(y)).any()]
        if onsets:
            out[(trial, "nonfinite_metric")] = min(onsets)

        hits = []
        train_raw, train_miss = arrays["train_loss"]
        has_train = bool((~train_miss).any())
        train_blew = bool((~train_miss & ~np.isfinite(train_raw)).any())
        for col in ("train_loss", "val_loss"):
            s, y = finite(col, positive=True)
            raw, miss = arrays[col]
            good, bad = epoch[~miss & np.isfinite(raw)], epoch[~miss & ~np.isfinite(raw)]
            # the last finite value before the loss went non-finite for good is the overflow's onset
            onset = good.max() if len(good) and len(bad) and bad.max() > good.max() else None
            if col == "val_loss" and has_train and not train_blew:
                continue  # a held-out rise alone, with training going well, is overfitting
            for t in range(len(y)):
                m = y[: t + 1].min()
                halfway = m + th.diverge_lost * (y[0] - m)
                if col == "train_loss" and y[t] > m and y[t] >= halfway:
                    train_blew = True  # the train loss climbed back half its progress, 10x or not
                for_good = onset is not None or (y[t + 1:] > halfway).all() or y[t] >= th.diverge_factor * y[0]
                if y[t] >= th.diverge_factor * m and y[t] >= halfway and for_good and s[t] != onset:
                    hits.append(s[t])
                    break
        if hits:
            out[(trial, "diverged")] = min(hits)

        sv, v = finite("val_loss")
        su, u = finite("train_loss")
        width = th.tail_fraction * span
        tail_start = last - width
        if len(v) >= th.overfit_min_steps:
            i = int(np.argmin(v))
            b = sv[i]
            sm = _smooth(v)
            vt = v[sv >= tail_start]
            ut = u[su >= tail_start]
            ur = u[(su >= b) & (su <= b + width / 2)]  # train loss at the best: half a final window from it on
            if len(vt) and len(ut) and len(ur):
                r = (v - sm)[sv >= tail_start]
                around_best = max(sm.min(), np.median(v[np.abs(sv - b) <= width / 2]))
                # the rise by the mean, smoothed minimum and root mean square residual, or by the median, the
                # median around the best and the median absolute residual
                rises = [level >= (1 + th.overfit_rise) * ref and level - ref >= th.overfit_noise * noise
                         for level, ref, noise in (
                             (vt.mean(), sm.min(), np.sqrt(1.5 * np.mean(r ** 2))),
                             (np.median(vt), around_best, 1.4826 * np.sqrt(1.5) * np.median(np.abs(r))))]
                if (b < tail_start and sm.min() > 0 and any(rises)
                        and np.median(ur) > 0 and ut.mean() <= (1 - th.overfit_train_drop) * np.median(ur)):
                    out[(trial, "overfitting")] = b

        s, y = first_of("val_loss", "train_loss")
        loss_only = not any("accuracy" in name for name in frame.columns)
        if loss_only and len(y) >= th.still_min_points:  # loss only: never 1% under where it started
            start = max(y[0], *finite("train_loss")[1][:1])
            if start > 0 and y.min() >= (1 - th.no_learning_tolerance) * start:
                out[(trial, "no_learning")] = first

        s, y = first_of("train_loss", "val_loss", positive=True)
        if len(y):
            sm = _smooth(y)
            best = np.minimum.accumulate(sm)
            length = th.plateau_fraction * span
            for i in range(len(y)):
                if s[i] > first + th.plateau_start * span:
                    break
                j = max(k for k in range(len(y)) if s[k] <= s[i] + length)
                if (length > 0 and s[-1] >= s[i] + length and j - i + 1 >= th.plateau_min_steps
                        and best[j] >= (1 - th.plateau_min_improvement) * best[i]
                        and sm[j] <= (1 + th.plateau_max_rise) * best[i]):
                    out[(trial, "plateau")] = s[i]
                    break

        def turns_of(y: np.ndarray) -> list[int]:
            scale = max(y.max() - y.min(), np.abs(y).mean())
            d = np.diff(y)
            big = [k for k in range(len(d)) if abs(d[k]) >= th.oscillation_swing * scale]
            turns = [big[k - 1] + 1 for k in range(1, len(big)) if np.sign(d[big[k]]) != np.sign(d[big[k - 1]])]
            return turns if len(turns) >= th.oscillation_min_count and len(
                turns) >= th.oscillation_min_fraction * (len(y) - 2) else []

        s, y = first_of("train_loss", "val_loss")
        v = finite("val_loss")[1]
        on_train = len(finite("train_loss")[1]) > 0
        if len(y) >= 2 and (turns := turns_of(y)) and (not on_train or not len(v) or turns_of(v)):
            out[(trial, "oscillation")] = s[turns[0]]

        s, y = first_of("val_loss", "train_loss")
        tail = s >= last - width
        if tail.sum() >= max(th.still_min_points, 3):
            fit = stats.linregress(s[tail], y[tail])
            sm = _smooth(y)
            if (y[tail].mean() > 0 and -fit.slope * width >= th.still_min_drop * y[tail].mean()
                    and fit.slope < 0 and stats.t.cdf(fit.slope / fit.stderr if fit.stderr > 0 else -np.inf,
                                                      tail.sum() - 2) <= th.still_p
                    and s[np.argmin(sm)] >= last - th.still_best_fraction * span):
                out[(trial, "still_improving")] = last
    return out


def _random_curves(seed: int, n_trials: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_trials):
        n = int(rng.choice([1, 2, 3, 5, 8, 20, 40, 80]))
        steps = np.sort(rng.choice(np.arange(0, 3 * n + 1), size=n, replace=False)).astype(float)
        t = np.arange(n)
        kind = rng.integers(0, 7)
        base = 0.2 + 2 * np.exp(-t / max(1.0, rng.uniform(0.05, 0.5) * n))
        train = base * np.exp(rng.normal(0, rng.choice([0.0, 0.01, 0.05, 0.3]), n))
        val = (base + 0.1) * np.exp(rng.normal(0, rng.choice([0.0, 0.01, 0.05]), n))
        if kind == 1:  # overfitting, maybe with one bad evaluation in the final window
            val = val + 0.02 * np.maximum(t - n // 3, 0)
            if k % 2:
                val[rng.integers(n - n // 5 - 1, n)] *= rng.uniform(1.2, 3)
        elif kind == 2:  # blow-up, maybe to NaN / inf
            at = rng.integers(0, n)
            train[at:] *= 10 ** rng.uniform(0, 4, n - at)
            if rng.random() < 0.5:
                train[min(at + 2, n):] = rng.choice([np.nan, np.inf])
        elif kind == 3:  # zigzag: unstable weights (both losses) or dropout's noise (the train loss alone)
            amp = rng.uniform(0, 1)
            train = train + amp * (t % 2)
            if k % 3:
                val = val + amp * (t % 2)
        elif kind == 4:  # stuck
            train = np.full(n, 2.3) * np.exp(rng.normal(0, 0.002, n))
            val = np.full(n, 2.4) * np.exp(rng.normal(0, 0.002, n))
        elif kind == 5:  # still falling
            val = 2 - rng.uniform(0, 0.03) * t + rng.normal(0, 0.01, n)
        train_missing = rng.random(n) < 0.1
        val_missing = rng.random(n) < 0.3
        parts.append(pd.DataFrame({
            "trial_id": f"t{k}", "epoch": steps, "train_loss": train, "val_loss": val,
            "train_loss_missing": train_missing, "val_loss_missing": val_missing,
        }))
    frame = pd.concat(parts, ignore_index=True)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # unsorted input


def _as_text(frame: pd.DataFrame) -> RawTable:
    cells = {"trial_id": frame.trial_id, "epoch": frame.epoch.map(lambda e: f"{e:g}")}
    for col in ("train_loss", "val_loss"):
        cells[col] = [None if miss else repr(float(x)) for x, miss in zip(frame[col], frame[f"{col}_missing"])]
    return RawTable(pd.DataFrame(cells, dtype=object), "<random>")


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_detectors_equal_the_per_trial_reference(seed):
    frame = _random_curves(seed)
    issues = detect_curve_issues(build_curve_table(_as_text(frame)), TH)
    ours = dict(zip(zip(issues.trial_id, issues.type), issues.epoch))
    expected = _reference(frame, TH)
    assert set(ours) == set(expected)
    for key in expected:
        assert ours[key] == pytest.approx(expected[key], nan_ok=True), key
    assert {k for _, k in expected} == set(CURVE_ISSUE_TYPES)  # the random curves exercise every rule


def test_reference_agrees_on_real_curves_too():
    table = build_curve_table(read_results(DEEPOBS))
    frame = pd.read_csv(DEEPOBS).rename(columns={"test_loss": "val_loss"})
    frame["train_loss_missing"] = False
    frame["val_loss_missing"] = False
    issues = detect_curve_issues(table)
    ours = dict(zip(zip(issues.trial_id, issues.type), issues.epoch))
    assert ours == _reference(frame, TH)


def test_test_data_is_genuine_and_small():
    for path in (DEEPOBS, NANOGPT, DEEPCAVE):
        assert Path(path).stat().st_size < 200_000
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name in ("deepobs_curves_slice.csv", "nanogpt_wandb_history.csv", "deepcave_mnist_long.csv"):
        assert name in readme


def test_vectorised_number_formatting_matches_describe_value():
    from core.curves.detectors import _fmt
    from core.values import describe_value

    rng = np.random.default_rng(0)
    values = np.concatenate([10 ** rng.uniform(-8, 20, 2000) * rng.choice([-1, 1], 2000),
                             rng.integers(-10**6, 10**6, 200).astype(float),
                             [0.0, -0.0, np.nan, np.inf, -np.inf, 1e15, 1e16, 2.5, 1e-3, 1e5, 99999.5]])
    assert _fmt(values).tolist() == [describe_value(v) for v in values]


def test_blocks_of_trials_give_the_same_issues_as_the_whole_table(monkeypatch):
    import core.curves.detectors

    table = build_curve_table(_as_text(_random_curves(7)))
    whole = detect_curve_issues(table)
    monkeypatch.setattr(core.curves.detectors, "BLOCK_ROWS", 97)  # cuts fall inside trials: blocks round to whole trials
    blocked = detect_curve_issues(build_curve_table(_as_text(_random_curves(7))))
    assert len(table.blocks(97)) > 10
    pd.testing.assert_frame_equal(blocked, whole)


def test_curve_overfitting_with_a_train_loss_of_exactly_zero():
    n = 40
    train = [max(0.0, 1.0 - 0.1 * e) for e in range(n)]  # memorised: exactly 0 from epoch 10
    val = [0.9 + 0.002 * (e - 12) ** 2 for e in range(n)]
    table = build_curve_table(long_frame({"memorised": {"train_loss": train, "val_loss": val}}))
    assert epoch_of(table, "memorised", "overfitting") == 12


def test_the_curve_rule_replaces_the_final_value_rule_for_the_trials_it_judges():
    from core.summary import analyze_sweep

    n = 40
    trials = RawTable(frame=pd.DataFrame({
        "trial_id": ["rises", "steady", "no_curve"],
        "train_loss": ["0.3", "0.3", "0.3"],
        "val_loss": ["1.0", "0.6", "0.6"],
        "best_val_loss": ["0.9", "0.4", "0.4"],  # the table says every trial rose >= 10 % after its best ...
    }), source="t.csv")
    curves = long_frame({
        "rises": {"train_loss": list(decay(n, tau=6)), "val_loss": [0.9 + 0.002 * (e - 12) ** 2 for e in range(n)]},
        # ... but this one's curve shows a held-out loss that never rose: the curve wins
        "steady": {"train_loss": list(decay(n, tau=6)), "val_loss": list(decay(n, start=2.4, floor=0.35, tau=6))},
    })
    summary = analyze_sweep(trials, infer_roles(trials.frame, "t.csv"), curves=curves)
    kinds = {(i["trial_id"], i["type"]) for i in summary["issues"]}
    assert ("rises", "overfitting") in kinds
    assert ("steady", "overfitting") not in kinds and ("steady", "generalization_gap") in kinds
    assert ("no_curve", "overfitting") in kinds  # no curve: the table's best value still judges it
    rises = [i for i in summary["issues"] if i["trial_id"] == "rises" and i["type"] == "overfitting"]
    assert len(rises) == 1 and rises[0]["epoch"] == 12
    assert ("rises", "generalization_gap") not in kinds


def test_a_run_that_learned_then_collapsed_to_chance_is_collapsed_not_no_learning():
    from core.summary import analyze_sweep

    n = 20
    ids = ["dead", "collapsed", "no_curve", *(f"ok{i}" for i in range(4))]
    final = ["0.1", "0.1", "0.1", "0.8", "0.8", "0.8", "0.8"]
    trials = RawTable(frame=pd.DataFrame({"trial_id": ids, "lr": "1", "val_acc": final}), source="t.csv")
    curves = long_frame({
        "dead": {"val_acc": [0.13, 0.11, 0.1] + [0.1] * (n - 3)},  # step 0 is the untrained net; then at chance
        "collapsed": {"val_acc": [0.3, 0.6, 0.73, 0.7] + [0.1] * (n - 4)},  # learned, then sat at chance
        **{f"ok{i}": {"val_acc": [0.5, 0.7] + [0.8] * (n - 2)} for i in range(4)},
    })
    summary = analyze_sweep(trials, infer_roles(trials.frame, "t.csv"), curves=curves)
    dead = {i["trial_id"] for i in summary["issues"] if i["type"] == "no_learning"}
    assert dead == {"dead", "no_curve"}  # no curve: the table's final value still judges it
    assert {i["trial_id"] for i in summary["issues"] if i["type"] == "collapsed"} == {"collapsed"}


def test_map_names_the_id_of_a_curves_file_and_reaches_it(tmp_path):
    from core.sources import read_sweep
    from core.summary import analyze_sweep

    (tmp_path / "results.csv").write_text("cfg,lr,train_loss,val_loss\na,0.1,0.3,0.4\nb,0.01,0.2,0.3\n")
    rows = ["cfg,epoch,train_loss,val_loss"] + [f"{t},{e},{1 / e:.3f},{1 / e + 0.1:.3f}" for t in "ab" for e in range(1, 9)]
    (tmp_path / "curves.csv").write_text("\n".join(rows) + "\n")
    frame = pd.read_csv(tmp_path / "curves.csv", dtype=str)
    assert not looks_like_curves(frame) and looks_like_curves(frame, {"cfg": "id"})
    with pytest.raises(InputError, match="not long-format curves"):
        read_sweep(str(tmp_path / "results.csv"), curves=str(tmp_path / "curves.csv"))
    sweep = read_sweep(str(tmp_path / "results.csv"), curves=str(tmp_path / "curves.csv"), mapping={"cfg": "id"})
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    summary = analyze_sweep(sweep.trials, roles, curves=sweep.curves, curve_hints=sweep.curve_hints)
    assert roles.id == "cfg" and summary["curves"]["n_matched"] == 2


def test_an_outcome_flag_logged_per_epoch_is_kept_as_the_trials_flag():
    frame = pd.DataFrame({"config_id": ["a"] * 3 + ["b"] * 3, "epoch": ["1", "2", "3"] * 2,
                          "train_loss": ["2.3", "2.3", "2.3", "1.0", "0.8", "0.6"],
                          "epoch_diverged": ["False", "False", "True", "False", "False", "False"]})
    curves = build_curve_table(RawTable(frame=frame, source="c.csv"))
    assert "epoch_diverged" not in curves.ignored
    trials = trials_from_curves(curves)
    assert trials.frame.set_index("config_id")["epoch_diverged"].to_dict() == {"a": "true", "b": "false"}
    roles = infer_roles(trials.frame, "c.csv")
    assert roles.outcomes == {"epoch_diverged": "diverged"}
    issues = detect_issues(build_trial_table(trials, roles))
    assert issues[["trial_id", "type"]].values.tolist() == [["a", "diverged"]]
