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
        ("3", "overfitting"),  # 0.80 / 0.15 = 5.3
        ("5", "short_run"),  # 5 epochs vs a median of 20
    }


def test_inf_is_not_called_nan_and_inf_val_loss_is_not_also_overfitting():
    issues = detect_issues(table_from_text(SAMPLE))
    four = issues[issues.trial_id == "4"]
    assert four.type.tolist() == ["nonfinite_metric"]
    assert four.detail.iloc[0] == "val_loss=+inf"
    two = issues[(issues.trial_id == "2") & (issues.type == "nonfinite_metric")]
    assert "train_loss=NaN" in two.detail.iloc[0]


@pytest.mark.parametrize("spelling", ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "1e999"])
def test_every_spelling_of_nan_or_inf_is_flagged(write_csv, spelling):
    path = write_csv(HEADER + f"a,completed,0.1,0.5,{spelling},10\nb,completed,0.1,0.5,0.6,10\n")
    assert issues_of(table_from_text(path)) == {("a", "nonfinite_metric")}


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


def test_pruned_and_completed_vocabularies_are_not_issues(write_csv):
    rows = "".join(f"{i},{w},0.1,0.5,0.6,10\n" for i, w in enumerate(
        ["completed", "COMPLETE", "finished", "success", "pruned", "early_stopped", "TERMINATED"]))
    assert issues_of(table_from_text(write_csv(HEADER + rows))) == set()


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
        assert list(out.columns) == ISSUE_COLUMNS
        assert set(out["type"]) <= set(ISSUE_TYPES)
        assert all(SEVERITY[t] == s for t, s in zip(out["type"], out["severity"]))


def test_durations_in_optuna_format_are_seconds(write_csv):
    path = write_csv("number,value,duration,state\n0,0.5,0 days 00:01:40,COMPLETE\n1,0.4,0 days 00:01:50,COMPLETE\n")
    assert table_from_text(path).runtime.tolist() == [100.0, 110.0]
