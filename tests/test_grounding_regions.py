"""A `k of n` said of a region must be that region's cell; "trials with issues" counts the trials with issues.

Holes closed here, each shown on hand-made model text:
- a pair was not bound to the condition it is said of: a pattern's whole comparison (12 of 33) backed
  "12 of the 33 trials with dropout = 0", and a pair pattern's cells backed each other's conditions;
- "3 of 40 trials have issues" passed as any known pair (3 of 40 diverged);
- a type named in an earlier clause attached to the pair ("Overfitting aside, 11 of 40 trials had issues" was
  checked as a count of overfitting);
- a categorical value spelled like a negation ("scale_inputs = no") read as one ("no never learned").
"""

from __future__ import annotations

import pytest

from core.grounding import FactIndex, facts_of, ground
from graph import graph
from graph.context import Context
from tests.conftest import DATA
from tests.fake_models import ScriptedChatModel, analyst_json


def _rows(kind: str, ids: range, severity: str) -> list[dict]:
    return [{"trial_id": f"t{i:02d}", "type": kind, "severity": severity, "detail": ""} for i in ids]


# 40 trials: 4 failed and 3 diverged (no result), so 33 trained; 12 of them overfit, 10 of the 15 with dropout = 0.
# 4 plateaued, 3 of the 4 with scale_inputs = no and lr <= 0.001. 23 trials have an issue, 11 other than overfitting.
PAIR = {"id": "P2", "issue_type": "plateau", "hyperparameter": "scale_inputs", "rule": "pair",
        "hyperparameters": ["scale_inputs", "lr"], "condition": "scale_inputs = no and lr ≤ 0.001",
        "parts": [{"hyperparameter": "scale_inputs", "rule": "value", "condition": "scale_inputs = no", "value": "no",
                   "lo": None, "hi": None, "direction": None, "k": 0, "n": 16},
                  {"hyperparameter": "lr", "rule": "threshold", "condition": "lr ≤ 0.001", "value": None, "lo": None,
                   "hi": 0.001, "direction": "below", "k": 1, "n": 6}],
        "evidence": {"k": 3, "n": 4, "k_rest": 1, "n_rest": 36}, "trial_ids": ["t30"]}
SWEEP = {
    "sweep": {"n_trials": 40, "status_counts": {"completed": 36, "failed": 4},
              "roles": {"hyperparameters": ["dropout", "scale_inputs", "lr"], "metrics": {"val_loss": {}}},
              "hyperparameters": {"dropout": {"kind": "numeric", "values": [0.0, 0.2], "n_values": 2},
                                  "scale_inputs": {"kind": "categorical", "values": {"no": 20, "yes": 20},
                                                   "n_values": 2},
                                  "lr": {"kind": "numeric", "min": 1e-5, "max": 0.3, "n_values": 40}}},
    "issues": _rows("failed", range(0, 4), "high") + _rows("diverged", range(4, 7), "high")
    + _rows("overfitting", range(10, 22), "medium") + _rows("plateau", range(30, 34), "low"),
    "issue_counts": {"failed": 4, "diverged": 3, "overfitting": 12, "plateau": 4},
    "trials_affected": 23,
    "patterns": [{"id": "P1", "issue_type": "overfitting", "hyperparameter": "dropout", "rule": "value",
                  "condition": "dropout = 0", "value": None, "lo": 0.0, "hi": 0.0,
                  "evidence": {"k": 10, "n": 15, "k_rest": 2, "n_rest": 18}, "trial_ids": ["t10"]}, PAIR],
}

TRUE = [
    "10 of the 15 trials with dropout = 0 overfit.",
    "With dropout = 0 (P1), 10 of the 15 trials overfit.",
    "10 of the 15 trials with dropout=0.0 overfit.",
    "10 of the 15 trials with `dropout` = 0 overfit, against 2 of 18 of the others.",
    "Of the 15 trials with dropout = 0, 10 overfit.",
    "2 of the 18 runs that trained with dropout = 0.2 overfit.",      # dropout has two values: the rest is 0.2
    "2 of the 18 trials without dropout = 0 overfit.",
    "2 of the 18 trials with dropout above 0 overfit.",
    "12 of the 33 runs that trained overfit.",                          # no region: the comparison's whole
    "3 of the 4 trials with scale_inputs = no and lr ≤ 0.001 plateaued.",
    "3 of the 4 trials with lr <= 0.001 and scale_inputs = no plateaued.",
    "3 of the 20 trials with scale_inputs = no plateaued.",             # that condition overall
    "4 of the 10 trials with lr ≤ 0.001 plateaued.",
    "0 of the 16 trials with scale_inputs = no and lr above 0.001 plateaued.",  # one part without the other
    "1 of the 6 trials with lr ≤ 0.001 and scale_inputs = yes plateaued.",
    "1 of the 6 trials with lr ≤ 0.001 but not scale_inputs = no plateaued.",
    "1 of the 36 trials outside scale_inputs = no and lr ≤ 0.001 plateaued.",
    "10 of the 15 trials with a large dropout overfit.",                # a column named without a value: its cells
    "3 of the 40 trials with issues diverged.",                         # "with issues" is no condition
    "With dropout = 0, 10 of the 15 trials overfit.",                   # the condition right before the pair
    "dropout = 0: 10/15 trials overfit, against 2/18 elsewhere.",
    "P1: 10/15 trials with dropout = 0 vs 2/18 elsewhere.",
    "The pair concentrates it (scale_inputs = no without lr ≤ 0.001: 0 of 16; scale_inputs = no overall: 3 of 20).",
    "Outside the region of P1 (dropout = 0), 2 of the 18 trials overfit.",  # an aside that closed: no condition
]
LIES = [
    "12 of the 33 trials with dropout = 0 overfit.",                    # the comparison's whole, not dropout = 0
    "At dropout = 0 (P1), 12 of the 33 trials overfit.",                # a cited id closes no clause of its own
    "With dropout = 0 (pattern P1), 12 of the 33 trials overfit.",
    "With dropout = 0 (see P1), 2 of the 18 trials overfit.",
    "Of the 33 trials with dropout = 0, 12 overfit.",
    "12 of the 33 runs that trained with dropout = 0 overfit.",
    "2 of the 18 trials with dropout = 0 overfit.",                     # the rest said as the region
    "10 of the 15 trials with dropout = 0.2 overfit.",                  # the region said as the rest
    "10 of the 15 trials without dropout = 0 overfit.",
    "3 of the 20 trials with scale_inputs = no and lr ≤ 0.001 plateaued.",  # scale_inputs = no overall, not the pair
    "3 of the 4 trials with scale_inputs = no plateaued.",              # the pair, not scale_inputs = no
    "4 of the 10 trials with scale_inputs = no plateaued.",             # lr ≤ 0.001's cell
    "1 of the 36 trials with scale_inputs = no and lr ≤ 0.001 plateaued.",
    "0 of the 16 trials with scale_inputs = no and lr ≤ 0.001 plateaued.",
    "10 of the 15 trials with lr ≤ 0.001 overfit.",                     # dropout's cell said of lr
    "10 of the 15 trials with dropout = 0 and lr ≤ 0.001 overfit.",
    "With dropout = 0, 12 of the 33 trials overfit.",
    "dropout = 0: 12/33 trials overfit.",
    "With dropout = 0, 2 of the 18 runs that trained overfit.",        # the rest said as the region
    "scale_inputs = no overall: 3 of 4 trials plateaued.",
]


@pytest.mark.parametrize("text", TRUE)
def test_a_regions_true_cells_pass(text):
    assert ground(text, facts_of(SWEEP)).problems == []
    assert FactIndex(SWEEP).ground(text).problems == []


@pytest.mark.parametrize("text", LIES)
def test_a_pair_said_of_a_region_must_be_that_regions_cell(text):
    for g in (ground(text, facts_of(SWEEP)), FactIndex(SWEEP).ground(text)):
        assert [kind for kind, _, _ in g.problems] == ["count"] and g.text == "", text


def test_a_region_cell_found_only_among_the_associations_is_read_from_them():
    """The index checks against the patterns first, then the associations (sweep-sized) when the text needs them."""
    summary = SWEEP | {"associations": [{"id": "A7", "issue_type": "overfitting", "hyperparameter": "lr",
                                         "rule": "threshold", "condition": "lr ≥ 0.01", "lo": 0.01, "hi": None,
                                         "direction": "above", "k": 7, "n": 9, "k_rest": 5, "n_rest": 24}]}
    index = FactIndex(summary)
    assert index.ground("7 of the 9 trials with lr ≥ 0.01 overfit.").problems == []
    assert index.ground("5 of the 24 trials with lr below 0.01 overfit.").problems == []
    assert [k for k, _, _ in index.ground("5 of the 24 trials with lr ≥ 0.01 overfit.").problems] == ["count"]


GENERIC_TRUE = [
    "23 of the 40 trials have issues.",
    "Of the 40 trials, 23 show problems.",
    "23/40 trials are affected.",
    "Overfitting aside, 11 of the 40 trials had issues.",               # trials with an issue other than overfitting
    "Overfitting aside, 3 of the 40 trials diverged.",
    "Apart from overfitting, 11 of the 40 trials had problems.",
    "11 of the 40 trials had issues other than overfitting.",
]
GENERIC_LIES = [
    "3 of 40 trials have issues.",                                      # 3 of 40 diverged: a pair, not this count
    "Of the 40 trials, 12 have issues.",
    "12/40 trials are affected.",
    "Overfitting aside, 12 of the 40 trials had issues.",
    "Overfitting aside, 3 of 40 trials had issues.",
]


@pytest.mark.parametrize("text", GENERIC_TRUE)
def test_the_count_of_trials_with_issues_and_a_type_set_aside_pass(text):
    assert ground(text, facts_of(SWEEP)).problems == []
    assert FactIndex(SWEEP).ground(text).problems == []


@pytest.mark.parametrize("text", GENERIC_LIES)
def test_trials_with_issues_must_be_that_count(text):
    for g in (ground(text, facts_of(SWEEP)), FactIndex(SWEEP).ground(text)):
        assert [kind for kind, _, _ in g.problems] == ["count"] and g.text == "", text


# 51 trials with scale_inputs = no, 16 of them never learned; t01 is one of them, t40 learned and overfit.
NEGATION_VALUES = {
    "sweep": {"n_trials": 100, "status_counts": {"completed": 100},
              "roles": {"hyperparameters": ["scale_inputs", "norm"], "metrics": {"val_loss": {}}},
              "hyperparameters": {"scale_inputs": {"kind": "categorical", "values": {"no": 51, "yes": 49}},
                                  "norm": {"kind": "categorical", "values": {"none": 50, "batch": 50}}}},
    "issues": _rows("no_learning", range(0, 18), "high") + _rows("overfitting", range(40, 45), "medium"),
    "issue_counts": {"no_learning": 18, "overfitting": 5}, "trials_affected": 23,
    "patterns": [{"id": "P1", "issue_type": "no_learning", "hyperparameter": "scale_inputs", "rule": "value",
                  "condition": "scale_inputs = no", "value": "no", "lo": None, "hi": None,
                  "evidence": {"k": 16, "n": 51, "k_rest": 2, "n_rest": 49}, "trial_ids": ["t01"]}],
}


def test_a_value_spelled_like_a_negation_is_a_value():
    facts = facts_of(NEGATION_VALUES)
    for text in ("16 of the 51 trials with scale_inputs = no never learned.",
                 "Trial t01 ran with scale_inputs = no and never learned.",
                 "With `scale_inputs` = `no`, trial t01 did not learn.",
                 "Trial t40 ran with norm = none and overfit."):
        assert ground(text, facts).problems == [], text
    # a negation is still one, and the value is still checked
    assert [k for k, _, _ in ground("Trial t40 with scale_inputs = no never overfit.", facts).problems] \
        == ["misattributed_id"]
    assert [k for k, _, _ in ground("Trial t01 with scale_inputs = no learned nothing and overfit.", facts).problems] \
        == ["misattributed_id"]
    assert [k for k, _, _ in ground("Runs with scale_inputs = maybe never learned.", facts).problems] == ["param"]


LATE = DATA / "optuna" / "late_divergence.db"


def test_a_model_cannot_get_a_cell_of_another_condition_into_the_report():
    """End to end with a fake chat model: the writer says a pattern's whole comparison of its region; it is removed."""
    offline = graph.invoke({"results_path": str(LATE)}, context=Context(offline=True))["summary"]
    p1 = offline["patterns"][0]
    e = p1["evidence"]
    assert p1["issue_type"] == "diverged"
    true = f"{e['k']} of the {e['n']} trials with {p1['condition']} diverged."
    lie = f"{e['k'] + e['k_rest']} of the {e['n'] + e['n_rest']} trials with {p1['condition']} diverged."
    analyst = analyst_json({"title": "Large steps blow up", "issue_type": "diverged", "evidence": [p1["id"]],
                            "explanation": true, "recommendation": "Keep the learning rate small."})
    model = ScriptedChatModel(analyst=[analyst], writer=[f"{true} {lie}"])
    out = graph.invoke({"results_path": str(LATE)}, context=Context(chat_model=model))
    assert out["summary"]["writer"]["narrative"] == true
    assert lie not in out["report"] and true in out["report"]
    assert "> Note: 1 model-written sentence(s) were removed" in out["report"]
