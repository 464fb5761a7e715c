"""What the report says of the best trial: which one, which higher-scoring one was left out and why, and none at all."""

from __future__ import annotations

import re

from graph import graph
from graph.context import Context
from tests.conftest import DATA, EXAMPLES


def _report(path, **state) -> tuple[str, dict]:
    out = graph.invoke({"results_path": str(path), **state}, context=Context(offline=True))
    return out["report"], out["summary"]


def test_an_objective_without_a_direction_says_why_no_trial_is_named_best():
    """Ray Tune's fixture: `score` with no mode; nothing is ranked, and the report says how to give the direction."""
    report, summary = _report(DATA / "raytune" / "deepcave_run_2")
    assert summary["best_trial"] is None
    assert ("- No trial is named best: the input does not say whether `score` is to be minimised or maximised, so no "
            "configuration is kept safe from the advice below; give `--map score=metric:objective:max` (or `:min`)."
            in report)
    assert "the best trial sits" not in report


def test_a_low_issue_does_not_drop_the_best_scoring_trial_and_the_report_says_what_it_has():
    """examples/sample_results.csv: trial 5 (val_acc 0.93, best on every metric) is only a short run (low).

    It was silently passed over for trial 6 (0.88), and "widen batch_size upwards" followed trial 6's batch size 128.
    """
    report, summary = _report(EXAMPLES / "sample_results.csv")
    assert summary["best_trial"]["trial_id"] == "5" and summary["top_trials"][0]["trial_id"] == "5"
    assert "- Best finished trial without a serious issue: `5` (`val_acc` = 0.93;" in report
    assert "  Trial 5 itself shows runs cut short (epochs=5" in report
    edges = [f for f in summary["findings"] if f["kind"] == "edge_of_range"]
    assert [(f["hyperparameter"], f["side"], f["trial_ids"]) for f in edges] == [("batch_size", "low", ["5"])]
    assert "Try batch_size below 8: the best trial sits at the lowest value searched" in report
    assert "batch_size upwards" not in report and "Widen the range" not in report
    # the plan keeps the range (one best trial at an edge), and says so instead of "inside every searched range"
    # one trial, one verb: no "trial `3` end", "it says they ended", "trial `5` ... they did not fail"; and no curves
    # were given, so no "where per-epoch held-out curves were read"
    assert ". Trial `3` ends with held-out results well below training" in report
    assert "Do not trust the status of trial `4`: it says it ended normally (completed or stopped early), but its " \
           "metrics are non-finite or missing." in report
    assert "Check why trial `5` stopped far short of the sweep's budget although it did not fail; its metrics" in report
    assert "curves were read" not in report and "1 of 4 runs that trained shows generalisation gaps" in report
    assert summary["next_sweep"]["changes"] == []
    assert ("No change: no region of the search space is significantly associated with an issue, and the best trial "
            "sits at the edge of `batch_size` (F2), but a best trial alone at an edge does not widen the plan: the top "
            "trials would have to crowd there too, beyond chance.") in report


def test_a_better_trial_left_out_for_a_high_severity_issue_is_named(write_csv):
    path = write_csv("trial_id,lr,train_loss,val_loss,val_acc,epochs\n"
                     "a,0.001,0.30,0.35,0.80,20\n"
                     "b,0.003,0.28,0.33,0.82,20\n"
                     "c,0.01,nan,0.30,0.90,20\n"
                     "d,0.0003,0.40,0.45,0.70,20\n")
    report, summary = _report(path)
    assert summary["best_trial"]["trial_id"] == "b"
    assert ("Trial c reached a better val_acc (0.9) but is left out: NaN/inf metrics, hidden failures (status says "
            "finished) (high severity)" in report) or ("Trial c reached a better val_acc (0.9) but is left out: NaN/inf "
                                                        "metrics (high severity)" in report), report


def test_every_finding_a_recommendation_cites_is_shown_even_without_issues():
    """Ray Tune's fixture with its direction given: no issue, but the best trial sits at edges (F1, F2 cited)."""
    report, summary = _report(DATA / "raytune" / "deepcave_run_2", mapping={"score": "metric:objective:max"})
    assert not summary["issue_counts"] and summary["findings"]
    cited = {f for r in summary["recommendations"] for f in re.findall(r"\bF\d+\b", r["evidence"])}
    assert cited and all(f"- **{f}.**" in report for f in cited)
