"""Each detector on hand-made frames, including the ugly cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.detectors import DETECTORS, ISSUE_COLUMNS, Thresholds, detect_issues
from core.errors import InputError
from core.issue_types import ISSUE_TYPES
from tests.conftest import SAMPLE
from tests.helpers import issues_of, table_from_records, table_from_text

HEADER = "trial_id,status,lr,train_loss,val_loss,epochs\n"


def test_seed_sample_issues_are_exactly_the_true_ones():
    found = issues_of(table_from_text(SAMPLE))
    assert found == {
        ("2", "nonfinite_metric"),
        ("2", "failed"),
        ("4", "nonfinite_metric"),  # val_loss = inf
        ("4", "status_mismatch"),  # ... while its status says completed: a hidden failure
        ("3", "generalization_gap"),  # 0.80 / 0.15 = 5.3 at the end: a gap; no best value shows a rise
        ("5", "short_run"),  # 5 epochs vs a median of 20
    }


def test_inf_is_not_called_nan_and_inf_val_loss_is_not_also_overfitting():
    issues = detect_issues(table_from_text(SAMPLE))
    four = issues[issues.trial_id == "4"]
    assert four.type.tolist() == ["nonfinite_metric", "status_mismatch"]
    assert four.detail.iloc[0] == "val_loss=+inf"
    two = issues[(issues.trial_id == "2") & (issues.type == "nonfinite_metric")]
    assert "train_loss=NaN" in two.detail.iloc[0]


@pytest.mark.parametrize("spelling", ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "1e999"])
def test_every_spelling_of_nan_or_inf_is_flagged(write_csv, spelling):
    path = write_csv(HEADER + f"a,completed,0.1,0.5,{spelling},10\nb,completed,0.1,0.5,0.6,10\n")
    assert issues_of(table_from_text(path)) == {("a", "nonfinite_metric"), ("a", "status_mismatch")}


def test_crashed_trial_with_empty_cells_is_failed_not_non_finite(write_csv):
    path = write_csv(HEADER + "a,crashed,0.1,,,\nb,completed,0.1,0.5,0.6,10\nc,completed,0.2,0.4,0.5,10\n")
    assert issues_of(table_from_text(path)) == {("a", "failed")}


@pytest.mark.parametrize(
    ("word", "kind"),
    [("FAILED", "failed"), ("Error", "failed"), ("crashed", "failed"), ("killed", "killed"),
     ("interrupted", "killed"), ("timeout", "timeout"), ("Running", "running"),
     ("TrialState.FAIL", "failed")],
)
def test_status_vocabularies(write_csv, word, kind):
    path = write_csv(HEADER + f"a,{word},0.1,0.5,0.6,10\nb,finished,0.1,0.5,0.6,10\nc,success,0.1,0.5,0.6,10\n")
    assert issues_of(table_from_text(path)) == {("a", kind)}


def test_completed_vocabularies_are_not_issues_and_pruned_is_info_only(write_csv):
    rows = "".join(f"{i},{w},0.1,0.5,0.6,10\n" for i, w in enumerate(
        ["completed", "COMPLETE", "finished", "success", "pruned", "early_stopped", "TERMINATED"]))
    issues = detect_issues(table_from_text(write_csv(HEADER + rows)))
    assert set(zip(issues.trial_id, issues.type)) == {("4", "pruned"), ("5", "pruned")}
    assert set(issues.severity) == {"info"}


def test_generalization_gap_ratio_and_min_epochs(write_csv):
    path = write_csv(HEADER + "a,completed,0.1,0.2,0.31,10\nb,completed,0.1,0.2,0.29,10\n"
                     "c,completed,0.1,0.2,0.9,3\nd,completed,0.1,0.2,0.25,10\n")
    # a: 1.55 >= 1.5; b: 1.45; c: ratio 4.5 but only 3 epochs (< 5) -> not judged, and short
    found = issues_of(table_from_text(path))
    assert ("a", "generalization_gap") in found
    assert ("b", "generalization_gap") not in found and ("c", "generalization_gap") not in found
    assert not any(kind == "overfitting" for _, kind in found)  # a final gap is not overfitting
    assert issues_of(table_from_text(path), Thresholds(overfit_ratio=1.4)) >= {("b", "generalization_gap")}


def test_healthy_sweep_has_zero_short_runs():
    # Same epoch budget; runtimes vary by +-40 % as real runtimes do.
    records = [
        {"trial_id": i, "status": "completed", "lr": 10 ** -(i % 4), "train_loss": 0.3,
         "val_loss": 0.35, "epochs": 50, "runtime_sec": 100 * (0.6 + 0.8 * ((i * 37) % 100) / 100)}
        for i in range(200)
    ]
    assert issues_of(table_from_records(records)) == set()
    no_epochs = [{k: v for k, v in r.items() if k != "epochs"} for r in records]
    assert issues_of(table_from_records(no_epochs)) == set()


def test_short_runs_relative_to_budget_and_never_for_failed_or_pruned(write_csv):
    rows = "".join(f"t{i},completed,0.1,0.3,0.35,100\n" for i in range(10))
    rows += "short,completed,0.1,0.3,0.35,20\npruned,pruned,0.1,0.3,0.35,5\nfail,failed,0.1,0.3,0.35,3\n"
    found = issues_of(table_from_text(write_csv(HEADER + rows)))
    assert ("short", "short_run") in found
    assert ("pruned", "short_run") not in found and ("fail", "short_run") not in found


def test_divergence_finite_blowup(write_csv):
    rows = "".join(f"t{i},completed,0.01,0.5,0.6,10\n" for i in range(10))
    rows += "big,completed,1.0,80,90,10\nhuge,completed,3.0,2e6,0.6,10\nok,completed,0.5,10,12,10\n"
    found = issues_of(table_from_text(write_csv(HEADER + rows)))
    assert ("big", "diverged") in found and ("huge", "diverged") in found  # >= 100x the median 0.5
    assert ("ok", "diverged") not in found  # 20x


def test_string_ids_are_kept_as_text(write_csv):
    path = write_csv(HEADER + "007,failed,0.1,,,\nrun-b,completed,0.1,0.5,0.6,10\n1e3,completed,0.1,0.5,0.6,10\n")
    assert table_from_text(path).ids.tolist() == ["007", "run-b", "1e3"]
    assert issues_of(table_from_text(path)) == {("007", "failed")}


def test_duplicate_ids_are_rejected_naming_the_lines(write_csv):
    path = write_csv(HEADER + "a,completed,0.1,0.5,0.6,10\nb,completed,0.1,0.5,0.6,10\na,failed,0.1,,,\n")
    with pytest.raises(InputError, match=r"duplicate trial id 'a' in column 'trial_id' on lines 2, 4"):
        table_from_text(path)


def test_empty_id_is_rejected(write_csv):
    with pytest.raises(InputError, match="line 3 has an empty trial id"):
        table_from_text(write_csv(HEADER + "a,completed,0.1,0.5,0.6,10\n,completed,0.1,0.5,0.6,10\n"))


def test_text_in_a_metric_column_is_rejected_naming_column_and_line(write_csv):
    path = write_csv(HEADER + "a,completed,0.1,0.5,0.6,10\nb,completed,0.1,0.5,oops,10\nc,completed,0.1,0.5,0.6,10\n")
    with pytest.raises(InputError, match=r"column 'val_loss', line 3: 'oops' is not a number"):
        table_from_text(path)


def test_every_detector_returns_the_issue_columns_and_known_types():
    table = table_from_text(SAMPLE)
    for detector in DETECTORS:
        out = detector(table, Thresholds())
        assert list(out.columns) == [*ISSUE_COLUMNS, "row"]
        assert list(table.ids.to_numpy()[out["row"].to_numpy(dtype=int)]) == list(out["trial_id"])
        assert set(out["type"]) <= set(ISSUE_TYPES)
        assert all(ISSUE_TYPES[t].severity == s for t, s in zip(out["type"], out["severity"]))


def test_durations_in_optuna_format_are_seconds(write_csv):
    path = write_csv("number,value,duration,state\n0,0.5,0 days 00:01:40,COMPLETE\n1,0.4,0 days 00:01:50,COMPLETE\n")
    assert table_from_text(path).runtime.tolist() == [100.0, 110.0]


def _types(rows: list[dict[str, object]], **thresholds) -> set[tuple[str, str]]:
    return issues_of(table_from_records(rows), Thresholds(**thresholds) if thresholds else None)


def test_status_mismatch_is_a_hidden_failure():
    rows = [
        {"trial_id": "done_no_metric", "status": "completed", "lr": 0.1, "val_loss": ""},
        {"trial_id": "early_nan", "status": "early_stopped", "lr": 0.1, "val_loss": "nan"},
        {"trial_id": "pruned_empty", "status": "pruned", "lr": 0.1, "val_loss": ""},
        {"trial_id": "ok", "status": "completed", "lr": 0.1, "val_loss": 0.4},
    ]
    found = _types(rows)
    assert ("done_no_metric", "status_mismatch") in found
    assert ("early_nan", "status_mismatch") in found and ("early_nan", "nonfinite_metric") in found
    assert not {t for t in found if t[0] in ("pruned_empty", "ok") and t[1] != "pruned"}


def test_error_text_saying_nan_is_a_nonfinite_metric():
    rows = [
        {"trial_id": "a", "status": "failed", "lr": 1.0, "val_loss": "", "error": "RuntimeError: Loss is NaN at step 12"},
        {"trial_id": "b", "status": "failed", "lr": 1.0, "val_loss": "", "error": "ValueError: non-finite loss"},
        {"trial_id": "c", "status": "failed", "lr": 1.0, "val_loss": "", "error": "CUDA out of memory; info: 3 GiB"},
        {"trial_id": "d", "status": "completed", "lr": 0.1, "val_loss": 0.3, "error": ""},
    ]
    issues = detect_issues(table_from_records(rows))
    nonfinite = issues[issues.type == "nonfinite_metric"]
    assert nonfinite.trial_id.tolist() == ["a", "b"]
    assert "'RuntimeError: Loss is NaN at step 12'" in nonfinite.detail.iloc[0]
    failed = issues[issues.type == "failed"].set_index("trial_id").detail
    assert "CUDA out of memory" in failed["c"]


def test_no_learning_at_chance_accuracy_with_inferred_classes():
    accs = [0.1, 0.1, 0.1001, 0.1, 0.62, 0.71, 0.75, 0.8, 0.83, 0.85]
    rows = [{"trial_id": i, "lr": lr, "val_acc": a, "val_loss": 1.0}
            for i, (a, lr) in enumerate(zip(accs, [3, 3, 2, 1e-6] + [0.01] * 6))]
    issues = detect_issues(table_from_records(rows))
    dead = issues[issues.type == "no_learning"]
    assert dead.trial_id.tolist() == ["0", "1", "2", "3"]
    assert dead.detail.iloc[0] == "val_acc=0.1 at chance (1/10)"
    from core.detectors import infer_classes

    assert infer_classes(table_from_records(rows), Thresholds()) == (10, "4 trials at val_acc ≈ 1/10")


def test_a_run_whose_best_held_out_result_was_above_chance_learned_and_collapsed():
    # every run ends at chance; "collapsed" reached 70% first (its running best says so), "dead" never did
    rows = [{"trial_id": t, "lr": 1, "val_acc": 0.1, "best_val_acc": b, "val_loss": 2.3026, "best_val_loss": bl}
            for t, b, bl in [("dead", 0.1, 2.3026), ("dead2", 0.11, 2.30), ("collapsed", 0.7, 0.9),
                             ("collapsed_loss_only", 0.1, 1.2)]]
    rows += [{"trial_id": f"ok{i}", "lr": 0.01, "val_acc": 0.8, "best_val_acc": 0.8, "val_loss": 0.6,
              "best_val_loss": 0.6} for i in range(4)]
    found = _types(rows, n_classes=10)
    assert {t for t, kind in found if kind == "no_learning"} == {"dead", "dead2"}
    assert {t for t, kind in found if kind == "collapsed"} == {"collapsed", "collapsed_loss_only"}
    issues = detect_issues(table_from_records(rows), Thresholds(n_classes=10)).set_index(["trial_id", "type"])
    assert issues.loc[("collapsed", "collapsed"), "detail"] == (
        "val_acc=0.1 at chance (1/10); val_loss=2.303 ≈ ln(10) = 2.303; it had learned: best_val_acc=0.7, best_val_loss=0.9")


def test_no_learning_from_loss_at_ln_classes_and_given_classes():
    rows = [{"trial_id": i, "lr": 1, "val_loss": v} for i, v in enumerate([2.3026, 2.31, 0.5, 0.6, 0.4, 0.45])]
    assert {t for t in _types(rows, n_classes=10) if t[1] == "no_learning"} == {("0", "no_learning"), ("1", "no_learning")}
    assert not any(t[1] == "no_learning" for t in _types(rows))  # 1 exact hit is not enough to infer C


def test_healthy_sweep_has_no_chance_level_trials():
    rows = [{"trial_id": i, "lr": 0.01, "val_acc": 0.6 + 0.03 * i, "train_acc": 0.62 + 0.03 * i, "val_loss": 1 - 0.05 * i,
             "train_loss": 0.9 - 0.05 * i} for i in range(10)]
    assert _types(rows) == set()


@pytest.mark.parametrize(
    ("train", "val", "flagged"),
    [(0.80, 0.70, True), (0.80, 0.71, False), (0.95, 0.88, True), (0.95, 0.89, False), (95, 88, True), (80, 71, False)],
)
def test_generalization_gap_accuracy_rule(train, val, flagged):
    rows = [{"trial_id": "a", "train_acc": train, "val_acc": val}, {"trial_id": "b", "train_acc": train, "val_acc": train}]
    assert (("a", "generalization_gap") in _types(rows)) is flagged
    assert ("a", "overfitting") not in _types(rows)


def test_generalization_gap_accuracy_rule_only_where_the_losses_cannot_judge():
    # the loss is the quantity trained: with both losses logged, their ratio decides. A 12-point accuracy gap at
    # a test/train loss ratio of 1.3 (DeepOBS CIFAR-100 at its best settings) is where the threshold cuts, not a gap
    rows = [{"trial_id": "acc_only_gap", "train_loss": 1.10, "val_loss": 1.43, "train_acc": 0.70, "val_acc": 0.58},
            {"trial_id": "loss_gap", "train_loss": 0.20, "val_loss": 0.40, "train_acc": 0.95, "val_acc": 0.94},
            {"trial_id": "no_train_loss", "train_loss": None, "val_loss": 1.43, "train_acc": 0.70, "val_acc": 0.58},
            {"trial_id": "fine", "train_loss": 0.50, "val_loss": 0.55, "train_acc": 0.80, "val_acc": 0.79},
            # a negative loss (a density's log-likelihood) has no meaningful ratio: the accuracy judges
            {"trial_id": "negative_train_loss", "train_loss": -0.5, "val_loss": 0.2, "train_acc": 0.70, "val_acc": 0.58}]
    gaps = {t for t, kind in _types(rows) if kind == "generalization_gap"}
    # the accuracy rule still judges a trial without a loss pair that means something
    assert gaps == {"loss_gap", "no_train_loss", "negative_train_loss"}


def test_suspicious_validation():
    rows = [
        {"trial_id": "leak", "train_acc": 0.70, "val_acc": 0.80},
        {"trial_id": "perfect", "train_acc": 0.99, "val_acc": 1.0},
        {"trial_id": "dropout", "train_acc": 0.80, "val_acc": 0.83},
    ]
    found = {t for t in _types(rows) if t[1] == "suspicious_validation"}
    assert found == {("leak", "suspicious_validation"), ("perfect", "suspicious_validation")}


def test_diverged_against_uniform_prediction_loss_when_classes_are_known():
    rows = [{"trial_id": i, "val_loss": v} for i, v in enumerate([0.3, 0.35, 0.4, 23.1, 22.9])]
    # with the classes known the trivial predictor's loss is the reference (issue 10): 10 x ln(10) = 23.03
    # flags only the first; 100 x the median 0.4 (40) would flag neither
    assert {t for t in _types(rows, n_classes=10) if t[1] == "diverged"} == {("3", "diverged")}


def test_short_run_never_flags_pruned_or_early_stopped():
    rows = [{"trial_id": i, "status": s, "val_loss": 0.3, "epochs": e} for i, (s, e) in enumerate(
        [("completed", 50), ("completed", 50), ("completed", 48), ("pruned", 3), ("early_stopped", 4), ("completed", 5)])]
    assert {t for t in _types(rows) if t[1] == "short_run"} == {("5", "short_run")}


def test_context_passes_thresholds_and_classes_through(monkeypatch):
    from graph.context import Context

    monkeypatch.delenv("HPATH_CLASSES", raising=False)
    assert Context().thresholds() == Thresholds()
    assert Context(accuracy_gap=0.2, overfit_ratio=2.0).thresholds() == Thresholds(accuracy_gap=0.2, overfit_ratio=2.0)
    monkeypatch.setenv("HPATH_CLASSES", "100")
    assert Context().thresholds().n_classes == 100


# --- issue 10 item 1: a planned budget is the trial's own budget --------------------------------


def _budget_sweep(**extra):
    """A healthy sweep whose trials ran their full, mixed planned budgets (10, 30 or 100 epochs)."""
    return [{"trial_id": i, "status": "completed", "lr": 10 ** -(1 + i % 3), "max_epochs": b, "epochs_run": b,
             "train_loss": 0.3, "val_loss": 0.35, **extra} for i, b in enumerate([10, 30, 100] * 6)]


def test_mixed_planned_budgets_give_zero_short_runs_and_the_budget_is_a_hyperparameter():
    table = table_from_records(_budget_sweep())
    assert (table.roles.budget, table.roles.epochs) == ("max_epochs", "epochs_run")
    assert "max_epochs" in table.roles.hyperparameters
    assert not any(kind == "short_run" for _, kind in issues_of(table))
    # the same sweep read against the sweep's median (no plan) would flag the 10-epoch trials
    rows = [{k: v for k, v in r.items() if k != "max_epochs"} for r in _budget_sweep()]
    assert sum(kind == "short_run" for _, kind in issues_of(table_from_records(rows))) == 6


def test_short_run_is_judged_against_the_trials_own_budget():
    rows = _budget_sweep()
    rows[2]["epochs_run"] = 40   # planned 100, stopped at 40, completed: short
    rows[1]["epochs_run"] = 20   # planned 30, ran 20 (>= 0.5 x 30): not clearly short
    rows[5]["epochs_run"] = 3    # planned 100 ...
    rows[5]["status"] = "timeout"  # ... but it hit its time budget: that issue, not short_run
    found = issues_of(table_from_records(rows))
    assert {t for t in found if t[1] == "short_run"} == {("2", "short_run")}
    detail = detect_issues(table_from_records(rows)).set_index("type").loc["short_run", "detail"]
    assert detail == "epochs_run=40 < 50 (0.5 x its own max_epochs=100)"


@pytest.mark.parametrize("extra", [{"early_stopping": "True"}, {"patience": 5}, {"n_iter_no_change": 10}])
def test_early_stopping_configured_is_never_a_short_run(extra):
    rows = _budget_sweep(**extra)
    rows[2]["epochs_run"] = 12
    assert not any(kind == "short_run" for _, kind in issues_of(table_from_records(rows)))


def test_early_stopping_off_still_judges_short_runs():
    rows = _budget_sweep(early_stopping="False")
    rows[2]["epochs_run"] = 12
    assert ("2", "short_run") in issues_of(table_from_records(rows))


@pytest.mark.parametrize("plan", ["max_iter", "max_t", "num_train_epochs", "budget_epochs"])
def test_planned_budget_names(plan):
    rows = [{"trial_id": i, "val_loss": 0.3, plan: 50 + i, "epochs": 50} for i in range(4)]
    assert table_from_records(rows).roles.budget == plan


def test_n_epochs_beside_epochs_run_is_the_plan_and_alone_is_what_was_used():
    both = table_from_records([{"trial_id": i, "val_loss": 0.3, "n_epochs": 50, "epochs_run": 50} for i in range(4)])
    assert (both.roles.budget, both.roles.epochs) == ("n_epochs", "epochs_run")
    alone = table_from_records([{"trial_id": i, "val_loss": 0.3, "n_epochs": 50} for i in range(4)])
    assert (alone.roles.budget, alone.roles.epochs) == (None, "n_epochs")


def test_a_readers_epochs_parameter_is_the_planned_budget():
    from core.loading import RawTable
    from core.roles import infer_roles
    from core.table import build_trial_table

    frame = pd.DataFrame({"number": ["0", "1", "2", "3"], "value": ["0.3", "0.2", "0.4", "0.3"],
                          "n_epochs": ["10", "40", "10", "40"], "lr": ["0.1", "0.01", "0.1", "0.01"]})
    roles = infer_roles(frame, "t", {"n_epochs": "hyperparameter", "lr": "hyperparameter"})
    assert roles.budget == "n_epochs" and roles.epochs is None and "n_epochs" in roles.hyperparameters
    table = build_trial_table(RawTable(frame=frame, source="t"), roles)
    assert not any(kind == "short_run" for _, kind in issues_of(table))


def test_a_run_that_stopped_early_with_a_nonfinite_loss_is_not_a_short_run():
    rows = _budget_sweep()
    rows[2].update(epochs_run=7, val_loss="nan")
    found = {t for t in issues_of(table_from_records(rows)) if t[0] == "2"}
    assert found == {("2", "nonfinite_metric"), ("2", "status_mismatch")}


# --- issue 10 item 3: overfitting is a rise after the best point; a final gap is its own type -----


def test_overfitting_needs_a_rise_after_the_best_value():
    rows = [
        {"trial_id": "rose", "train_loss": 0.05, "val_loss": 0.60, "best_val_loss": 0.40, "epochs": 50, "best_epoch": 12},
        {"trial_id": "gap_only", "train_loss": 0.05, "val_loss": 0.41, "best_val_loss": 0.40, "epochs": 50,
         "best_epoch": 48},
        {"trial_id": "late_best", "train_loss": 0.05, "val_loss": 0.60, "best_val_loss": 0.40, "epochs": 50,
         "best_epoch": 45},  # its best is in the last 20 %: no rise after it to speak of
        {"trial_id": "fine", "train_loss": 0.30, "val_loss": 0.33, "best_val_loss": 0.33, "epochs": 50, "best_epoch": 50},
    ]
    table = table_from_records(rows)
    assert table.roles.best_epoch == "best_epoch" and table.roles.metric("loss", held_out=True) == "val_loss"
    assert "best_val_loss" not in table.roles.hyperparameters
    found = issues_of(table)
    assert {t for t in found if t[1] == "overfitting"} == {("rose", "overfitting")}
    # the other two with a large final gap are generalisation gaps (low), and "rose" is not given both
    assert {t for t in found if t[1] == "generalization_gap"} == {("gap_only", "generalization_gap"),
                                                                  ("late_best", "generalization_gap")}
    detail = detect_issues(table).set_index(["trial_id", "type"]).loc[("rose", "overfitting"), "detail"]
    assert detail == "val_loss=0.6 rose 50% above its best best_val_loss=0.4 (best_epoch=12: stop there)"
    assert ISSUE_TYPES["generalization_gap"].severity == "low" and ISSUE_TYPES["overfitting"].severity == "medium"


def test_overfitting_from_a_best_accuracy_column():
    rows = [{"trial_id": "fell", "train_acc": 0.99, "val_acc": 0.80, "best_val_acc": 0.86},
            {"trial_id": "kept", "train_acc": 0.99, "val_acc": 0.85, "best_val_acc": 0.86}]
    found = issues_of(table_from_records(rows))
    assert ("fell", "overfitting") in found and ("kept", "overfitting") not in found


def test_a_train_loss_of_exactly_zero_does_not_hide_a_gap():
    rows = [{"trial_id": "memorised", "train_loss": 0.0, "val_loss": 0.9},
            {"trial_id": "both_zero", "train_loss": 0.0, "val_loss": 0.0},
            {"trial_id": "fine", "train_loss": 0.3, "val_loss": 0.35}]
    issues = detect_issues(table_from_records(rows))
    gaps = issues[issues.type == "generalization_gap"]
    assert gaps.trial_id.tolist() == ["memorised"]
    assert gaps.detail.iloc[0] == "val_loss/train_loss = inf (train loss 0) (0.9 vs 0)"


def test_reconcile_merges_one_row_per_trial_and_type():
    from core.detectors import reconcile_issues

    issues = pd.DataFrame({"trial_id": ["a", "a", "a", "b"], "type": ["diverged", "diverged", "short_run", "short_run"],
                           "severity": ["high", "high", "low", "low"], "detail": ["x", "y", "s", "t"], "row": [0, 0, 0, 1]})
    out = reconcile_issues(issues)
    assert out[["trial_id", "type", "detail"]].values.tolist() == [["a", "diverged", "x; y"], ["b", "short_run", "t"]]


# --- issue 10 item 2: regression metrics ------------------------------------------------------------


def _regression_sweep():
    """val/train r2 and mse of a regression sweep: learners, non-learners, a blow-up, an overfitter."""
    rows = [{"trial_id": f"ok{i}", "alpha": 1e-4 * (i + 1), "train_r2": 0.9, "val_r2": 0.85 - 0.01 * i,
             "train_mse": 0.1, "val_mse": 0.15} for i in range(8)]
    rows += [{"trial_id": f"flat{i}", "alpha": 10.0, "train_r2": 0.01, "val_r2": -0.02 * i, "train_mse": 0.99,
              "val_mse": 1.02} for i in range(4)]
    rows.append({"trial_id": "blown", "alpha": 1e-4, "train_r2": -400.0, "val_r2": -350.0, "train_mse": 401.0,
                 "val_mse": 351.0})
    rows.append({"trial_id": "memoriser", "alpha": 0.0, "train_r2": 0.99, "val_r2": -0.3, "train_mse": 0.01,
                 "val_mse": 1.3})
    return rows


def test_regression_metrics_are_metrics_with_the_right_direction():
    from core.roles import classify_metric

    for name in ("val_r2", "train_r2", "r2_score", "test_explained_variance", "val_pearson", "val/spearmanr"):
        info = classify_metric(name)
        assert info is not None and (info.kind, info.goal) == ("score", "max"), name
    for name in ("val_mae", "test_rmse", "val_mape", "train_mse"):
        assert classify_metric(name).goal == "min", name
    table = table_from_records(_regression_sweep())
    assert table.roles.hyperparameters == ["alpha"]


def test_regression_no_learning_is_held_out_r2_at_or_below_zero_with_a_low_train_r2():
    found = issues_of(table_from_records(_regression_sweep()))
    assert {t for t in found if t[1] == "no_learning"} == {(f"flat{i}", "no_learning") for i in range(4)}
    # the memoriser learned its training set (train r2 0.99): a gap, not "no learning"
    assert ("memoriser", "generalization_gap") in found


def test_regression_divergence_is_judged_against_the_mean_predictor():
    table = table_from_records(_regression_sweep())
    issues = detect_issues(table)
    diverged = issues[issues.type == "diverged"]
    assert diverged.trial_id.tolist() == ["blown"]
    assert "val_r2=-350: squared error 351x the mean predictor's" in diverged.detail.iloc[0]
    assert ("blown", "no_learning") not in set(zip(issues.trial_id, issues.type))


def test_regression_targets_of_different_scales_do_not_diverge_by_the_median():
    # two targets, one ~1e3 times the other: a sweep-wide median would call every large-target trial diverged
    rows = [{"trial_id": f"s{i}", "dataset": "small", "val_mse": 0.01 * (1 + i % 3), "val_r2": 0.8} for i in range(10)]
    rows += [{"trial_id": f"l{i}", "dataset": "large", "val_mse": 900.0 * (1 + i % 3), "val_r2": 0.7} for i in range(4)]
    assert not any(kind == "diverged" for _, kind in issues_of(table_from_records(rows)))


def test_no_learning_is_not_read_off_every_accuracy_named_score():
    # A contrastive loss at ln(128) and zero-shot retrieval scores near zero: no 128 classes, nothing "at chance".
    rows = [{"trial_id": i, "lr": 1e-4 * (1 + i), "val_clip_loss": float(np.log(128)) if i < 6 else 1.2 + 0.01 * i,
             "val_retrieval_recall": 0.004 if i < 6 else 0.4, "val_zeroshot_acc": 0.001 if i < 6 else 0.3}
            for i in range(20)]
    table = table_from_records(rows)
    from core.detectors import infer_classes

    assert infer_classes(table, Thresholds()) == (None, "")
    assert not any(kind == "no_learning" for _, kind in issues_of(table))


def test_a_class_count_needs_the_accuracy_to_support_the_loss():
    dead = [{"trial_id": f"d{i}", "val_loss": 2.3026, "val_acc": 0.1} for i in range(4)]
    live = [{"trial_id": f"l{i}", "val_loss": 0.4 + 0.01 * i, "val_acc": 0.88} for i in range(10)]
    from core.detectors import infer_classes

    assert infer_classes(table_from_records(dead + live), Thresholds())[0] == 10
    unsupported = [{**r, "val_acc": 0.55} for r in dead] + live  # at ln 10 by the loss, far from 1/10 by accuracy
    assert infer_classes(table_from_records(unsupported), Thresholds()) == (None, "")


# --- issue 10 item 4: held-out above training is usually by design ----------------------------------


def _val_above_train(**hps):
    rows = [{"trial_id": f"t{i}", "train_acc": 0.80, "val_acc": 0.90, **hps} for i in range(3)]
    return rows + [{"trial_id": "fine", "train_acc": 0.9, "val_acc": 0.88, **hps}]


@pytest.mark.parametrize("hps", [{"dropout": 0.3}, {"label_smoothing": 0.1}, {"augment": "true"}, {"mixup_alpha": 0.2}])
def test_a_regulariser_explains_held_out_above_training(hps):
    assert not any(kind == "suspicious_validation" for _, kind in issues_of(table_from_records(_val_above_train(**hps))))


def test_only_the_trials_with_the_regulariser_off_are_suspicious():
    rows = _val_above_train(dropout=0.5)
    rows[0]["dropout"] = 0.0
    issues = detect_issues(table_from_records(rows))
    flagged = issues[issues.type == "suspicious_validation"]
    assert flagged.trial_id.tolist() == ["t0"]
    assert flagged.detail.iloc[0] == (
        "val_acc=0.9 above train_acc=0.8 by 0.100 with dropout off; nothing marks train_acc as a train-mode running "
        "mean: if it is one (Keras and many loops log the epoch's running mean), that explains it; else check the "
        "split for leakage or duplicates")


def test_a_train_mode_running_accuracy_explains_moderate_gaps_only():
    rows = [{"trial_id": "small", "accuracy": 0.80, "val_accuracy": 0.90},
            {"trial_id": "large", "accuracy": 0.60, "val_accuracy": 0.90},
            {"trial_id": "fine", "accuracy": 0.9, "val_accuracy": 0.88}]
    issues = detect_issues(table_from_records(rows))
    flagged = issues[issues.type == "suspicious_validation"]
    assert flagged.trial_id.tolist() == ["large"]
    assert "train-mode running mean, which explains gaps up to 0.15, not this" in flagged.detail.iloc[0]


def test_a_collapsed_run_explains_held_out_above_training():
    rows = [{"trial_id": f"ok{i}", "train_acc": 0.9, "val_acc": 0.88, "train_loss": 0.3, "val_loss": 0.35}
            for i in range(6)]
    rows += [{"trial_id": f"dead{i}", "train_acc": 0.09, "val_acc": 0.1, "train_loss": 2.31, "val_loss": 2.3026}
             for i in range(3)]
    rows.append({"trial_id": "blown", "train_acc": 0.3, "val_acc": 0.5, "train_loss": 900.0, "val_loss": 1e6})
    found = issues_of(table_from_records(rows))
    assert not any(kind == "suspicious_validation" for _, kind in found)
    assert ("blown", "diverged") in found


def test_perfect_on_both_splits_is_an_easy_task_not_a_leak():
    rows = [{"trial_id": "easy", "train_acc": 1.0, "val_acc": 1.0}, {"trial_id": "odd", "train_acc": 0.97, "val_acc": 1.0}]
    found = {t for t in issues_of(table_from_records(rows)) if t[1] == "suspicious_validation"}
    assert found == {("odd", "suspicious_validation")}


def test_drop_last_is_not_a_regulariser():
    from core.detectors import regularisers

    table = table_from_records(_val_above_train(drop_last="True", drop_path=0.1))
    assert regularisers(table)[1] == ["drop_path"]


# --- chance is a floor; two unbalanced classes; placeholders of a run that never started ---------


def test_a_cluster_of_accuracies_that_is_not_the_floor_is_not_chance():
    # 4 classes with label noise: five trials happen to end at 0.502, but most trials sit below it
    rows = [{"trial_id": f"a{i}", "val_acc": 0.502, "val_loss": 1.1} for i in range(5)]
    rows += [{"trial_id": f"b{i}", "val_acc": 0.35 + 0.01 * i, "val_loss": 1.2} for i in range(12)]
    from core.detectors import infer_classes

    table = table_from_records(rows)
    assert infer_classes(table, Thresholds()) == (None, "")
    assert not any(kind == "no_learning" for _, kind in issues_of(table))


def test_two_unbalanced_classes_dead_networks_sit_at_the_majority_share():
    p = 143 / 228
    entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    rows = [{"trial_id": f"dead{i}", "val_acc": p, "val_loss": entropy * (1 + 0.01 * i)} for i in range(5)]
    rows += [{"trial_id": f"ok{i}", "val_acc": 0.95 + 0.002 * i, "val_loss": 0.12} for i in range(15)]
    from core.detectors import chance_level

    classes, chance, loss, how = chance_level(table_from_records(rows), Thresholds())
    assert (classes, round(chance, 4), round(loss, 4)) == (2, round(p, 4), round(entropy, 4))
    assert "majority class" in how
    issues = detect_issues(table_from_records(rows))
    dead = issues[issues.type == "no_learning"]
    assert set(dead.trial_id) == {f"dead{i}" for i in range(5)}
    assert "at chance (the majority class share 0.6272)" in dead.detail.iloc[0]


def test_a_run_that_failed_before_its_first_epoch_is_failed_not_nonfinite():
    rows = [{"trial_id": "crash", "status": "failed", "epochs": 0, "val_loss": "nan", "val_acc": "nan"},
            {"trial_id": "late", "status": "failed", "epochs": 7, "val_loss": "nan", "val_acc": "nan"},
            {"trial_id": "ok", "status": "completed", "epochs": 10, "val_loss": 0.3, "val_acc": 0.9}]
    found = issues_of(table_from_records(rows))
    assert {t for t in found if t[0] == "crash"} == {("crash", "failed")}
    assert ("late", "nonfinite_metric") in found


def test_rows_with_no_status_column_and_no_metric_at_all_are_flagged():
    rows = [{"trial_id": "empty", "lr": 0.1, "val_loss": "", "val_acc": ""},
            {"trial_id": "half", "lr": 0.1, "val_loss": "0.4", "val_acc": ""},
            {"trial_id": "ok", "lr": 0.1, "val_loss": "0.3", "val_acc": "0.9"}]
    issues = detect_issues(table_from_records(rows))
    assert issues[["trial_id", "type"]].values.tolist() == [["empty", "status_mismatch"]]
    assert issues.detail.iloc[0] == "no status column and no metric reported: the run gave no result"


def test_a_blown_up_run_is_diverged_not_overfitting():
    rows = [{"trial_id": f"ok{i}", "train_loss": 0.3, "val_loss": 0.33, "best_val_loss": 0.33, "val_acc": 0.9,
             "train_acc": 0.91} for i in range(5)]
    rows += [{"trial_id": f"dead{i}", "train_loss": 2.31, "val_loss": 2.3026, "best_val_loss": 2.3, "val_acc": 0.1,
              "train_acc": 0.1} for i in range(3)]
    rows.append({"trial_id": "blown", "train_loss": 1e6, "val_loss": 3e6, "best_val_loss": 8.6, "val_acc": 0.1,
                 "train_acc": 0.1})
    found = {t for t in issues_of(table_from_records(rows)) if t[0] == "blown"}
    assert ("blown", "diverged") in found
    assert not found & {("blown", "overfitting"), ("blown", "generalization_gap")}


def test_a_run_that_blew_up_and_then_sat_at_chance_is_diverged_not_no_learning():
    from core.detectors import reconcile_issues

    issues = pd.DataFrame({"trial_id": ["blown", "blown", "nan", "nan", "dead"],
                           "type": ["diverged", "no_learning", "nonfinite_metric", "no_learning", "no_learning"],
                           "severity": ["high"] * 5,
                           "detail": ["val_loss=3e+04", "val_acc=0.1 at chance (1/10)", "val_loss=NaN",
                                      "val_acc=0.1 at chance (1/10)", "val_acc=0.1 at chance (1/10)"],
                           "row": [0, 0, 1, 1, 2]})
    out = reconcile_issues(issues)
    assert out[["trial_id", "type"]].values.tolist() == [["blown", "diverged"], ["nan", "nonfinite_metric"],
                                                        ["dead", "no_learning"]]  # a dead run that never blew up stays
    assert out.detail.tolist()[:2] == ["val_loss=3e+04; it ended no better than a trivial predictor",
                                       "val_loss=NaN; it ended no better than a trivial predictor"]


def test_early_stopping_that_restored_its_best_epoch_is_not_overfitting():
    rows = [{"trial_id": "restored", "status": "early_stopped", "patience": 5, "train_loss": 0.05, "val_loss": 0.40,
             "best_val_loss": 0.40, "epochs": 30, "best_epoch": 12},  # the rise was seen, the best weights kept
            {"trial_id": "kept_last", "status": "early_stopped", "patience": 5, "train_loss": 0.05, "val_loss": 0.55,
             "best_val_loss": 0.40, "epochs": 30, "best_epoch": 12}]  # the last weights kept: it overfits
    found = issues_of(table_from_records(rows))
    assert ("restored", "overfitting") not in found
    assert ("kept_last", "overfitting") in found


# --- short_run on runtime alone: peers of the same search space, and only outliers among them ---------------


def _timed(i: int, runtime: float, **params: object) -> dict[str, object]:
    return {"number": i, "state": "COMPLETE", "value": 0.5 + 0.001 * (i % 7), "duration_s": runtime, "lr": 10 ** -(i % 4),
            "width": "", "optimizer": "", **params}


def test_runtime_only_short_runs_compare_trials_of_the_same_search_space():
    # a study whose space changed: phase 1 searched width (runs of ~1,000 s), phase 2 the optimizer (~30 s);
    # across phases all 12 phase-2 trials are under 0.1x the median; within its phase only trial 29 (1 s) is cut
    rows = [_timed(i, 1000 + 40 * (i % 5), width=[64, 128][i % 2]) for i in range(18)]
    rows += [_timed(i, 30 + i % 4, optimizer=["adam", "sgd"][i % 2]) for i in range(18, 29)]
    rows += [_timed(29, 1.0, optimizer="adam")]
    table = table_from_records(rows)
    assert {t for t in issues_of(table) if t[1] == "short_run"} == {("29", "short_run")}
    detail = detect_issues(table).set_index("trial_id").loc["29", "detail"]
    assert "0.1 x the median of the trials of its search space" in detail
    assert not issues_of(table_from_records(rows[:-1]))  # both phases complete: zero flags, not 11


def test_runtime_only_short_runs_are_outliers_not_a_second_mode():
    # by design: the objective stops early inside itself on a third of the configurations (~2 s against ~33 s)
    # and reaches the same results: a quarter or more of the peers that short is how they run, not a cut
    rows = [_timed(i, 2.0 + 0.1 * (i % 3) if i % 3 == 0 else 33 + i % 4, optimizer=["adam", "sgd"][i % 2])
            for i in range(21)]
    assert not any(kind == "short_run" for _, kind in issues_of(table_from_records(rows)))
    for i in (3, 6, 9, 12):  # the same sweep where only 3 of 21 ran that short: outliers, cut short
        rows[i]["duration_s"] = 33.0
    flagged = {t for t, kind in issues_of(table_from_records(rows)) if kind == "short_run"}
    assert flagged == {"0", "15", "18"}
