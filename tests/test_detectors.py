"""Each detector on hand-made frames, including the ugly cases."""

from __future__ import annotations

import pytest

from core.detectors import DETECTORS, ISSUE_COLUMNS, ISSUE_TYPES, SEVERITY, Thresholds, detect_issues
from core.errors import InputError
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
        ("3", "overfitting"),  # 0.80 / 0.15 = 5.3
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


def test_overfitting_ratio_and_min_epochs(write_csv):
    path = write_csv(HEADER + "a,completed,0.1,0.2,0.31,10\nb,completed,0.1,0.2,0.29,10\n"
                     "c,completed,0.1,0.2,0.9,3\nd,completed,0.1,0.2,0.25,10\n")
    # a: 1.55 >= 1.5; b: 1.45; c: ratio 4.5 but only 3 epochs (< 5) -> not judged, and short
    found = issues_of(table_from_text(path))
    assert ("a", "overfitting") in found
    assert ("b", "overfitting") not in found and ("c", "overfitting") not in found
    assert issues_of(table_from_text(path), Thresholds(overfit_ratio=1.4)) >= {("b", "overfitting")}


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
        assert all(SEVERITY[t] == s for t, s in zip(out["type"], out["severity"]))


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
def test_overfitting_accuracy_gap_rule(train, val, flagged):
    rows = [{"trial_id": "a", "train_acc": train, "val_acc": val}, {"trial_id": "b", "train_acc": train, "val_acc": train}]
    assert (("a", "overfitting") in _types(rows)) is flagged


def test_suspicious_validation():
    rows = [
        {"trial_id": "leak", "train_acc": 0.70, "val_acc": 0.80},
        {"trial_id": "perfect", "train_acc": 0.99, "val_acc": 1.0},
        {"trial_id": "dropout", "train_acc": 0.80, "val_acc": 0.83},
    ]
    found = {t for t in _types(rows) if t[1] == "suspicious_validation"}
    assert found == {("leak", "suspicious_validation"), ("perfect", "suspicious_validation")}


def test_diverged_against_uniform_prediction_loss_when_classes_are_known():
    rows = [{"trial_id": i, "val_loss": v} for i, v in enumerate([0.3, 0.35, 0.4, 231.0, 229.0])]
    # median 0.4 alone would flag both; ln(10) x 100 = 230 flags only the first
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
