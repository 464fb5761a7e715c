"""`k of n` counts in model text: the denominator must be the population the sentence names, the pair the type's.

Two ways a model could slip a false count past the check before: "12 of 40 runs that
trained overfit" where 40 is the sweep's size (or a region's), not the runs that trained;
and "3 of 40 trials overfit" where 3 of 40 is the count of another type (no trial overfit).
"""

from __future__ import annotations

import pytest

from core.grounding import FactIndex, facts_of, ground
from core.issue_types import ISSUE_TYPES, label_of
from graph import graph
from graph.context import Context
from graph.nodes import _deterministic
from tests.conftest import DATA, EXAMPLES, ROOT, SAMPLE
from tests.fake_models import ScriptedChatModel, analyst_json


def _rows(kind: str, ids: range, severity: str) -> list[dict]:
    return [{"trial_id": f"t{i:02d}", "type": kind, "severity": severity, "detail": ""} for i in ids]


# 40 trials: 4 failed and 3 diverged (no result), so 33 trained; 12 of them overfit, 10 of the 15 with dropout = 0.
SWEEP = {
    "sweep": {"n_trials": 40, "status_counts": {"completed": 36, "failed": 4},
              "roles": {"hyperparameters": ["dropout"], "metrics": {"val_loss": {}}},
              "hyperparameters": {"dropout": {"values": {"0": 15, "0.2": 25}}}},
    "issues": _rows("failed", range(0, 4), "high") + _rows("diverged", range(4, 7), "high")
    + _rows("overfitting", range(10, 22), "medium"),
    "issue_counts": {"failed": 4, "diverged": 3, "overfitting": 12},
    "trials_affected": 19,
    "patterns": [{"id": "P1", "issue_type": "overfitting", "hyperparameter": "dropout", "condition": "dropout = 0",
                  "value": 0, "evidence": {"k": 10, "n": 15, "k_rest": 2, "n_rest": 18}, "trial_ids": ["t10"]}],
}

TRUE = [
    "3 of the 40 trials diverged.",
    "Of the 40 trials, 3 diverged.",
    "Of the 33 runs that trained, 12 overfit.",
    "12 of the 33 runs that trained overfit.",
    "12 of the 33 trained runs overfit.",
    "Among the 33 runs with a result, 12 overfit.",
    "12 of 33 finished runs overfit.",           # a run that finished may be read as one that trained
    "12/33 overfitting trials.",
    "12/40 overfitting trials.",                 # out of the whole sweep
    "Overfitting hit 12 of the 33 runs that trained.",
    "10 of the 15 trials with dropout = 0 overfit, against 2 of 18 of the others.",
    "10 of the 15 runs that trained with dropout = 0 overfit.",  # a region of the runs that trained: its own size
    "Of the 15 trials with dropout = 0, 10 overfit.",
    "12 of the 33 trials compared overfit.",
    "4 of 40 trials failed and 12 of 33 runs that trained overfit.",
]
LIES = [
    "12 of 40 runs that trained overfit.",       # 40 is the sweep, 33 trained
    "Of the 40 runs that trained, 12 overfit.",
    "10 of 15 runs that trained overfit.",       # 15 is a region's size
    "12 of the 40 trained runs overfit.",
    "3 of 40 trials overfit.",                   # 3 of 40 diverged; 12 overfit
    "Of the 40 trials, 3 overfit.",
    "4/40 overfitting trials.",                  # 4 of 40 failed
    "3 of the 40 trials show generalisation gaps.",  # no trial shows one
    "3 of the 40 trials were pruned.",
    "4 of the 40 trials are hidden failures.",   # "failures" inside "hidden failures" names no failure
    "Overfitting hit 3 of the 40 trials.",       # the type named before the pair
    "4 of 40 trials failed and 12 of 40 runs that trained overfit.",
]


@pytest.mark.parametrize("text", TRUE)
def test_true_counts_pass(text):
    assert ground(text, facts_of(SWEEP)).problems == []


@pytest.mark.parametrize("text", LIES)
def test_a_pair_with_another_population_or_type_is_removed(text):
    g = ground(text, facts_of(SWEEP))
    assert [kind for kind, _, _ in g.problems] == ["count"] and g.text == ""


def test_a_sweep_without_a_type_backs_no_pair_of_it():
    """Nothing overfits in a clean sweep: "3 of 40 trials overfit" is false although 3 of 40 is stated elsewhere."""
    clean = {"sweep": {"n_trials": 40, "status_counts": {"completed": 40},
                       "notes": ["3 of 40 trials share the seed 7"]}, "issues": [], "issue_counts": {},
             "trials_affected": 0}
    facts = facts_of(clean)
    assert ground("3 of 40 trials share the seed 7.", facts).problems == []
    assert [kind for kind, _, _ in ground("3 of 40 trials overfit.", facts).problems] == ["count"]


def test_the_trained_populations_pair_backs_no_region():
    """12 of the 33 runs that trained overfit; "12 of the 33 trials with dropout = 0" says it of a region, which it is not.

    Without the pattern (whose overall cell is 12 of 33 too), only the derived (overfit, trained) pair could back it.
    """
    facts = facts_of({key: value for key, value in SWEEP.items() if key != "patterns"})
    assert ground("12 of the 33 runs that trained overfit.", facts).problems == []
    for text in ("12 of the 33 trials with dropout = 0 overfit.", "12 of the 33 runs that trained with dropout = 0 "
                 "overfit.", "Of the 33 trials with dropout = 0.2, 12 overfit."):
        assert [kind for kind, _, _ in ground(text, facts).problems] == ["count"], text


def test_the_index_gives_the_same_verdicts_and_counts_the_runs_that_trained_only_when_needed():
    """FactIndex: the same verdict as the whole summary's facts; the issue rows are read for the trained count only
    when a text names that population (or states a number nothing else backs)."""
    whole = facts_of(SWEEP)
    index = FactIndex(SWEEP)
    for text in ["3 of the 40 trials diverged.", "3 of 40 trials overfit."]:
        assert index.ground(text) == ground(text, whole), text
    assert "trained" not in index.bounded.populations.__dict__
    for text in TRUE + LIES:
        assert index.ground(text) == ground(text, whole), text
    assert index.bounded.populations.trained == 33
    assert ground("Only 33 runs trained.", whole).problems == []  # the size of a population is a number to state


CORPUS = ROOT / "benchmarks" / "corpus"


@pytest.fixture(scope="module")
def real_indexes() -> dict[str, tuple[dict, FactIndex]]:
    """Real sweeps of the test data and the judgment corpus, as the write node checks them: the summary with the
    deterministic analysis. The corpus's breast_cancer_mlp has a crash group explained by a pattern, digits_mlp
    early stops, time-budget cuts and types compared among the runs that trained."""
    out = {}
    inputs = [{"results_path": str(path)} for path in (
        SAMPLE, EXAMPLES / "deepobs_cifar10_3c3d.csv", DATA / "mlflow" / "nested.db",
        DATA / "optuna" / "late_divergence.db", DATA / "optuna_dlp_trials.csv")]
    inputs += [{"results_path": str(CORPUS / name / "results.csv"), "curves_path": str(CORPUS / name / "curves.csv")}
               for name in ("breast_cancer_mlp", "digits_mlp")]
    for state in inputs:
        summary = graph.invoke(state, context=Context(offline=True, pictures=False))["summary"]
        full = summary | _deterministic({k: summary[k] for k in ("patterns", "leads", "recommendations")})
        out[state["results_path"]] = (full, FactIndex(full))
    return out


def _trained(summary: dict) -> int:
    untrained = {t for t, kind in zip(_ids(summary), _types(summary))
                 if ISSUE_TYPES[kind].no_result or ISSUE_TYPES[kind].no_outcome}
    return summary["sweep"]["n_trials"] - len(untrained)


def _ids(summary: dict) -> list[str]:
    c = summary["issues"]["trial_id"]
    return [c["values"][i] for i in c["codes"]]


def _types(summary: dict) -> list[str]:
    c = summary["issues"]["type"]
    return [c["values"][i] for i in c["codes"]]


def test_every_types_true_counts_pass_and_other_types_counts_do_not_on_real_sweeps(real_indexes):
    """Each type's count, phrased as a model would, passes; the same pair said of any other type is removed."""
    checked = 0
    for name, (summary, index) in real_indexes.items():
        n, counts, trained = summary["sweep"]["n_trials"], summary["issue_counts"], _trained(summary)
        for kind, k in counts.items():
            label = label_of(kind)
            truths = [f"{k} of the {n} trials show {label}.", f"Of the {n} trials, {k} show {label}.",
                      f"{k}/{n} trials show {label}."]
            if ISSUE_TYPES[kind].needs_result:
                truths += [f"Of the {trained} runs that trained, {k} show {label}.",
                           f"{k} of the {trained} runs that trained show {label}."]
                if trained != n:
                    lie = f"{k} of the {n} runs that trained show {label}."
                    assert ground_kinds(index, lie) == ["count"], (name, lie)
            for text in truths:
                assert index.ground(text).problems == [], (name, text)
            for other in ISSUE_TYPES:
                if counts.get(other) != k:
                    lie = f"{k} of the {n} trials show {label_of(other)}."
                    assert ground_kinds(index, lie) == ["count"], (name, lie)
                    checked += 1
    assert checked > 50


def ground_kinds(index: FactIndex, text: str) -> list[str]:
    return [kind for kind, _, _ in index.ground(text).problems]


def test_deterministic_counts_of_real_sweeps_pass(real_indexes):
    """No false alarm on what core/ writes itself (every pattern, lead, recommendation and finding, evidence included):
    "1 trial with unfinished runs" (the abandoned one is counted apart), "drop_last=True" quoted from an error."""
    for name, (summary, index) in real_indexes.items():
        texts = [item[key] for group in ("patterns", "leads", "recommendations", "findings")
                 for item in summary.get(group) or []
                 for key in ("title", "explanation", "recommendation", "text", "evidence", "detail")
                 if isinstance(item.get(key), str)]
        assert {t: p for t in texts if (p := index.ground(t).problems)} == {}, name


def test_what_the_summarys_own_sentences_state_a_model_may_repeat_and_nothing_else():
    summary = SWEEP | {
        "issue_counts": SWEEP["issue_counts"] | {"running": 2},
        "findings": [{"id": "F1", "kind": "error_kind", "n_trials": 4,
                      "title": "4 trials: ValueError: batch_size=N is larger than the N samples with drop_last=True"}],
        "recommendations": [{"id": "R1", "text": "Re-run later.", "evidence": "1 trial with unfinished runs"}]}
    facts = facts_of(summary)
    assert ground("The 4 failed trials raised an error with drop_last=True.", facts).problems == []
    assert ground("1 trial with unfinished runs has no outcome yet.", facts).problems == []
    assert [k for k, _, _ in ground("Set drop_last=False for them.", facts).problems] == ["param"]
    assert [k for k, _, _ in ground("3 trials with unfinished runs have no outcome yet.", facts).problems] == ["count"]


LATE = DATA / "optuna" / "late_divergence.db"  # 40 trials: 9 diverged, 1 failed, 2 running, so 28 trained; 15 of them
# still improving; nothing overfits


def test_a_model_cannot_get_a_false_pair_into_the_report():
    """End to end with a fake chat model: the analyst and the writer state false pairs; the report keeps only true ones."""
    offline = graph.invoke({"results_path": str(LATE)}, context=Context(offline=True))["summary"]
    p1 = offline["patterns"][0]
    assert p1["issue_type"] == "diverged" and offline["issue_counts"]["still_improving"] == 15
    analyst = analyst_json({"title": "Large steps blow up", "issue_type": "diverged", "evidence": [p1["id"]],
                            "explanation": "9 of 40 trials overfit at a large learning rate.",  # 9 of 40 diverged
                            "recommendation": "Keep the learning rate small."})
    writer = ("9 of the 40 trials diverged. 15 of 28 runs that trained were still improving. "
              "15 of 40 runs that trained were still improving. 9 of 40 trials overfit. "
              "Of the 40 runs that trained, 15 were still improving.")
    model = ScriptedChatModel(analyst=[analyst], writer=[writer])
    out = graph.invoke({"results_path": str(LATE)}, context=Context(chat_model=model))
    summary, report = out["summary"], out["report"]
    assert summary["writer"]["narrative"] == "9 of the 40 trials diverged. 15 of 28 runs that trained were still improving."
    for lie in ("15 of 40 runs", "9 of 40 trials overfit", "Of the 40 runs that trained"):
        assert lie not in report, lie
    top = next(p for p in summary["patterns"] if p["id"] == p1["id"])
    assert top["title"] == "Large steps blow up" and top["explanation"] == p1["explanation"]  # the false one is gone
    assert "> Note: 4 model-written sentence(s) were removed: 4 stated counts the analysis does not give" in report
    assert summary["writer"]["revisions"] == 0  # counts are removed, not sent back to the analyst (ids are)


def test_early_stopping_is_named_as_the_pruned_type_and_an_aside_with_its_own_counts_names_nothing():
    """36 of 110 runs early-stopped (the ``pruned`` type, by design), 19 were cut by a time budget."""
    summary = {"sweep": {"n_trials": 110, "status_counts": {"completed": 55, "early_stopped": 36, "timeout": 19}},
               "issues": _rows("pruned", range(0, 36), "info") + _rows("timeout", range(36, 55), "medium"),
               "issue_counts": {"pruned": 36, "timeout": 19}, "trials_affected": 19,
               "findings": [{"id": "F1", "kind": "by_design", "n_trials": 55,
                             "title": "55 of 110 trials stopped by design (36 early-stopped, 19 cut by a time budget)"}]}
    facts = facts_of(summary)
    for text in ("36 of the 110 trials stopped early.", "36 trials stopped early.", "Early stopping ended 36 of 110 runs.",
                 "55 of 110 trials stopped by design (36 early-stopped, 19 cut by a time budget).",
                 "Of the 110 trials, 36 were early-stopped."):
        assert ground(text, facts).problems == [], text
    for lie in ("19 of the 110 trials stopped early.", "55 of 110 trials stopped early."):
        assert [kind for kind, _, _ in ground(lie, facts).problems] == ["count"], lie
