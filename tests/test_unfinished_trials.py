"""Trials with no outcome yet (still running at export) count on neither side of a comparison of outcomes."""

from __future__ import annotations

from core.associations import associate_issues
from core.detectors import detect_issues
from core.patterns import find_patterns
from tests.helpers import table_from_records


def _records(running_low: int, completed_low: int) -> list[dict[str, object]]:
    """8 trials at lr = 0.5 (4 NaN), then at lr = 0.001 ``completed_low`` healthy finished trials and
    ``running_low`` trials still running (no value yet)."""
    high = [{"trial_id": f"h{i}", "lr": 0.5, "status": "completed", "val_loss": "nan" if i < 4 else 0.4}
            for i in range(8)]
    done = [{"trial_id": f"c{i}", "lr": 0.001, "status": "completed", "val_loss": 0.3} for i in range(completed_low)]
    running = [{"trial_id": f"r{i}", "lr": 0.001, "status": "running", "val_loss": ""} for i in range(running_low)]
    return high + done + running


def _nonfinite(records: list[dict[str, object]]) -> list:
    table = table_from_records(records)
    return [a for a in associate_issues(table, detect_issues(table)) if a.issue_type == "nonfinite_metric"]


def test_running_trials_do_not_pass_for_healthy_ones():
    """The rest's only healthy trials but 2 are running ones: 4/8 against 0/2 finished is no pattern."""
    records = _records(running_low=20, completed_low=2)
    assocs = _nonfinite(records)
    assert assocs and all(a.n + a.n_rest == 10 for a in assocs)  # the 20 running trials are on neither side
    assert not any(a.trial_ids and a.trial_ids[0].startswith("r") for a in assocs)
    table = table_from_records(records)
    patterns, _ = find_patterns(associate_issues(table, detect_issues(table)))
    assert patterns == []


def test_the_same_sweep_finished_shows_the_pattern():
    """With the 20 trials finished healthy, the contrast is real: 4/8 against 0/22 is a pattern."""
    table = table_from_records(_records(running_low=0, completed_low=22))
    patterns, _ = find_patterns(associate_issues(table, detect_issues(table)))
    assert [(p["issue_type"], p["hyperparameter"]) for p in patterns] == [("nonfinite_metric", "lr")]
    assert patterns[0]["evidence"]["k"] == 4 and patterns[0]["evidence"]["n_rest"] + 8 == 30


def test_a_sweep_with_no_running_trial_is_compared_over_every_trial():
    assocs = _nonfinite(_records(running_low=0, completed_low=22))
    assert assocs and all(a.n + a.n_rest == 30 and a.k + a.k_rest == 4 for a in assocs)


def test_running_trials_are_neither_trained_runs_nor_the_rest_in_what_the_report_says():
    from core.patterns import rest_label, trained_count, with_outcome

    summary = {"sweep": {"n_trials": 10}, "issues": [{"trial_id": "a", "type": "failed"},
                                                     {"trial_id": "b", "type": "running"}]}
    assert trained_count(summary) == 8  # neither the failed run nor the running one trained
    counts = {"running": 5, "nonfinite_metric": 4}
    assert with_outcome(35, counts) == 30
    # every trial set lr; 30 of 35 compared because 5 were running: the rest of the sweep, not "trials with lr set"
    assert rest_label("lr", 30, with_outcome(35, counts)) == "rest of the sweep"
    assert rest_label("lr", 20, with_outcome(35, counts)) == "other trials with lr set"
