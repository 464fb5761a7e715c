"""The grounding check: invented or wrong trial ids, numbers, counts and values cannot pass."""

from __future__ import annotations

import pytest

from core.grounding import (
    FactIndex,
    Facts,
    check_sentence,
    cited_ids,
    facts_of,
    ground,
    summary_numbers,
    summary_trial_ids,
)
from core.records import IssueColumns
from graph import graph
from graph.context import Context
from graph.nodes import _deterministic
from tests.conftest import DATA, EXAMPLES, SAMPLE

KNOWN = {"2", "4", "r00012"}


@pytest.fixture(scope="module")
def sample_facts() -> Facts:
    return facts_of(graph.invoke({"results_path": str(SAMPLE)}, context=Context(offline=True))["summary"])


def kinds(sentence: str, facts: Facts) -> list[str]:
    return [kind for kind, _ in check_sentence(sentence, facts)]


def test_cited_ids_in_lists_and_backticks():
    assert cited_ids("Trials 2, 4, and 99 diverged.", KNOWN) == ["2", "4", "99"]
    assert cited_ids("trial_id 17 overfit", KNOWN) == ["17"]
    assert cited_ids("See trial `r00012` and `r00999`.", KNOWN) == ["r00012", "r00999"]
    assert cited_ids("Keep `lr` below 0.01 for the trials that failed.", KNOWN) == []
    assert cited_ids("trials `2`, `4` and 6 more failed", KNOWN) == ["2", "4"]  # a count, not an id


def test_ground_removes_sentences_with_unknown_ids_or_numbers():
    text = "Trials 2 and 4 went NaN. Trial 99 also did. Lower lr below 0.01. About 83% failed. It was 42% bad."
    g = ground(text, Facts(trial_ids=KNOWN, numbers={0.01, 0.8333 * 100}))
    assert g.text == "Trials 2 and 4 went NaN. Lower lr below 0.01. About 83% failed."
    assert g.bad_ids == ["99"] and "42%" in g.bad_numbers
    assert len(g.removed) == 2
    assert g.removed_by_kind() == {"unknown_id": 1, "number": 1}


def test_summary_facts_are_collected():
    summary = {"issues": [{"trial_id": "7", "detail": "val_loss=+inf"}],
               "associations": [{"trial_ids": ["8"], "rate": 0.25, "condition": "lr ≥ 0.0631"}],
               "findings": [{"id": "F1", "trial_ids": ["10"], "detail": "3 of 9 trials"}],
               "best_trial": {"trial_id": "9", "value": 0.5}}
    assert summary_trial_ids(summary) == {"7", "8", "9", "10"}
    numbers = summary_numbers(summary)
    assert {0.25, 25.0, 0.0631, 0.5, 3.0, 9.0}.issubset(numbers)
    assert (3, 9) in facts_of(summary).pairs


@pytest.mark.parametrize(("sentence", "expected"), [
    ("Four of the six trials need attention; trial 2 failed outright and trial 3 shows a generalisation gap.", []),
    ("4 of 6 trials have issues.", []),
    ("3 of 6 trials have issues.", ["count"]),             # 3/6 is no count of this sweep
    ("2 trials failed.", ["count"]),                       # one trial failed
    ("1 trial failed.", []),
    ("All trials failed.", ["count"]),
    ("No trials diverged.", []),
    ("None of the trials failed.", ["count"]),
    ("Trial 3 diverged.", ["misattributed_id"]),           # trial 3 shows a generalisation gap, it did not diverge
    ("Trial 3 shows a generalisation gap, while trial 6 stayed healthy.", []),
    ("Trial 2 is healthy.", ["misattributed_id"]),
    ("Trial 5 did not fail.", []),
    ("The best trial is trial 5.", []),  # trial 5: the best val_acc, only a short run (low)
    ("The best trial is trial 6.", ["misattributed_id"]),
    ("The best trial is trial 3.", ["misattributed_id"]),
    ("Trial 77 failed.", ["unknown_id"]),
    ("Keep lr below 0.02.", []),
    ("Keep lr below 0.3.", ["param"]),                     # 0.3 is no value of lr here
    ("Trials with lr=0.3 blew up.", ["param"]),
    ("optimizer=adam helps.", ["param"]),                  # no such column
    ("Use a batch_size of 64.", []),
    ("Use a batch_size of 48.", ["number", "param"]),
    ("All trials are healthy.", ["health"]),
    ("Ignore the table: the sweep is healthy.", ["health"]),
    ("No issues were found.", ["health"]),
    ("each condition alone is fine.", []),
    ("Roughly 37% of trials diverged.", ["number", "count"]),  # no number, and no rate of diverged trials
])
def test_sentence_checks_on_the_sample(sample_facts, sentence, expected):
    assert kinds(sentence, sample_facts) == expected


def test_health_claims_pass_when_the_sweep_is_healthy():
    facts = Facts(trial_ids={"1"}, numbers={3.0}, n_trials=3, trials_affected=0)
    assert check_sentence("All 3 trials are healthy.", facts) == []


@pytest.mark.parametrize("path", [SAMPLE, EXAMPLES / "deepobs_cifar10_3c3d.csv", DATA / "deepobs_fmnist_2c2d.csv",
                                  DATA / "deepobs_nonfinite_slice.csv", DATA / "optuna_dlp_trials.csv",
                                  DATA / "optuna" / "late_divergence.db", DATA / "mlflow" / "nested.db"])
def test_deterministic_text_passes_its_own_grounding(path):
    """No false alarms: everything core/ writes must survive the check model text gets."""
    summary = graph.invoke({"results_path": str(path)}, context=Context(offline=True))["summary"]
    facts = facts_of(summary | _deterministic({k: summary[k] for k in ("patterns", "leads", "recommendations")}))
    texts = [item[key] for group in ("patterns", "leads", "recommendations", "findings")
             for item in summary.get(group) or [] for key in ("title", "explanation", "recommendation", "text")
             if isinstance(item.get(key), str)]
    assert texts
    problems = {t: ground(t, facts).problems for t in texts}
    assert {t: p for t, p in problems.items() if p} == {}


def test_bare_invented_ids_shaped_like_the_sweeps_are_caught():
    known = {"r00135", "r00136", "run_1_c0"}
    assert cited_ids("Run r00999 diverged and r00135 is the best.", known) == ["r00999", "r00135"]
    assert cited_ids("Config run_7_c3 had NaN.", known) == ["run_7_c3"]
    # words, exponents and short tokens that merely mix letters and digits are not ids
    assert cited_ids("Use L2 regularisation, lr 1e-3 and a ResNet50 backbone.", known) == []


@pytest.mark.parametrize("sentence", [
    "Everything looks healthy.", "All runs look good.", "The sweep has no problems.", "The sweep is in great shape.",
])
def test_more_phrasings_of_all_is_well_are_caught_when_trials_are_sick(sentence):
    facts = Facts(trial_ids={"1"}, numbers={3.0}, n_trials=3, trials_affected=2)
    assert ("health", "healthy") in check_sentence(sentence, facts)


def test_percentages_must_be_rates_of_the_summary():
    from core.loading import read_results
    from core.patterns import analyze_patterns
    from core.roles import infer_roles
    from core.summary import analyze_sweep

    raw = read_results(EXAMPLES / "deepobs_cifar10_3c3d.csv")
    summary = analyze_sweep(raw, infer_roles(raw.frame, raw.source))
    summary |= analyze_patterns(summary)
    facts = facts_of(summary)
    assert check_sentence("67% of the trials with a high learning rate went NaN.", facts) == []  # 34/51
    # A fraction stored as something else (an accuracy, a p-value) is not a rate: as a % it must not pass.
    pool = sorted(facts.numbers)
    not_rates = [p for p in range(1, 100)
                 if not any(abs(n - p) < 0.5 for n in pool) and any(abs(100 * n - p) < 0.5 for n in pool if 0 < n < 1)]
    assert not_rates
    wrong = f"{not_rates[-1]}%"
    assert ("number", wrong) in check_sentence(f"{wrong} of the trials with a high learning rate went NaN.", facts)


def test_denying_an_issue_a_trial_has_is_caught(sample_facts):
    assert ("misattributed_id", "2") in check_sentence("Trial 2 did not fail.", sample_facts)
    assert check_sentence("Trial 6 did not fail.", sample_facts) == []


def test_a_count_pair_must_belong_to_the_issue_it_is_said_of():
    from core.loading import read_results
    from core.patterns import analyze_patterns
    from core.roles import infer_roles
    from core.summary import analyze_sweep

    raw = read_results(EXAMPLES / "deepobs_cifar10_3c3d.csv")
    summary = analyze_sweep(raw, infer_roles(raw.frame, raw.source))
    summary |= analyze_patterns(summary)
    facts = facts_of(summary)
    assert check_sentence("34 of 51 trials with a high learning rate went NaN.", facts) == []
    assert ("count", "34/51") in check_sentence("34 of 51 trials with a high learning rate diverged.", facts)


@pytest.fixture(scope="module")
def deepobs_facts() -> Facts:
    from core.loading import read_results
    from core.patterns import analyze_patterns
    from core.roles import infer_roles
    from core.summary import analyze_sweep

    raw = read_results(EXAMPLES / "deepobs_cifar10_3c3d.csv")
    summary = analyze_sweep(raw, infer_roles(raw.frame, raw.source))
    return facts_of(summary | analyze_patterns(summary))


# deepobs_cifar10_3c3d: 135 trials, 54 with issues; 36 NaN, 9 diverged; r00259 is the best trial (the most accurate),
# r00144 and r00174 only produced NaN, r00136 diverged.
PLANTED_LIES = [
    ("Ninety-seven trials produced NaN.", "count"),
    ("Zero trials produced NaN.", "count"),
    ("No trial produced NaN.", "count"),
    ("Thirty-six trials diverged.", "count"),             # 36 is the NaN count
    ("One hundred and twelve trials have issues.", "number"),
    ("Fifty-four of the 135 trials diverged.", "count"),  # 54/135 have some issue, 9 diverged
    ("42% of trials diverged.", "count"),
    ("Half of the trials diverged.", "number"),
    ("Trial r00259, the best run, diverged.", "misattributed_id"),
    ("The best trial, r00144, reached the lowest loss.", "misattributed_id"),
    ("Trial r00144 diverged.", "misattributed_id"),
    ("Diverged: trial r00174.", "misattributed_id"),
    ("The momentum optimizer is completely safe.", "claim"),
    ("Runs with a small learning rate are safe to repeat.", "claim"),
    ("Learning rates under one tenth never produce NaN.", "claim"),
    ("Not once did a small learning rate produce NaN.", "claim"),
]
TRUTHS = [
    "Thirty-six trials produced NaN or infinite losses.",
    "Nine trials diverged.",
    "54 of 135 trials have issues.",
    "Trial r00136 diverged.",
    "Trial r00259 is the best trial.",
    "Trials r00144 and r00174 produced NaN.",
    "67% of the trials with a high learning rate went NaN.",
    "34 of 51 trials with a high learning rate went NaN.",
]


@pytest.mark.parametrize(("sentence", "kind"), PLANTED_LIES)
def test_planted_lies_are_caught(deepobs_facts, sentence, kind):
    assert kind in kinds(sentence, deepobs_facts)


@pytest.mark.parametrize("sentence", TRUTHS)
def test_true_sentences_in_words_and_percentages_pass(deepobs_facts, sentence):
    assert check_sentence(sentence, deepobs_facts) == []


def test_number_words_become_digits():
    from core.grounding import _spell_out

    assert _spell_out("Ninety-seven trials, one hundred and twelve runs, two thousand and five") == \
        "97 trials, 112 runs, 2005"
    assert _spell_out("the best one is one of the six trials") == "the best one is 1 of the 6 trials"
    assert _spell_out("rates under one tenth") == "rates under 0.1"


def test_claims_on_ten_thousand_columns_are_found_by_name():
    from core.grounding import _ColumnClaims

    names = {f"hp_{j}" for j in range(10_000)} | {"learning rate"}
    finder = _ColumnClaims(names, "=|<", r"`?([^\s,;)`]+)`?")
    assert finder.findall("Keep hp_9999=0.3, learning rate<0.1 and other_col=2.") == [
        ("hp_9999", "0.3"), ("learning rate", "0.1")]


def test_the_fact_index_reads_the_issue_rows_text_only_for_a_text_that_needs_it():
    """Same verdicts as facts_of the whole summary; the details are read only for a number nothing else gives."""
    rows = [{"trial_id": "r1", "type": "diverged", "severity": "high", "detail": "val_loss 4821.5 at step 7"},
            {"trial_id": "r2", "type": "pruned", "severity": "info", "detail": "pruned by the pruner at step 12"},
            {"trial_id": "r3", "type": "failed", "severity": "high", "detail": "status=failed", "epoch": 3.0}]
    summary = {"sweep": {"n_trials": 5, "roles": {"hyperparameters": ["lr"], "metrics": {"val_loss": {}}}},
               "issues": rows, "issue_counts": {"diverged": 1, "failed": 1, "pruned": 1},
               "trials_affected": 2, "best_trial": {"trial_id": "r4", "value": 0.25},
               "associations": [{"id": "A1", "issue_type": "diverged", "hyperparameter": "lr", "condition": "lr ≥ 0.3",
                                 "lo": 0.3, "k": 1, "n": 2, "k_rest": 0, "n_rest": 3, "trial_ids": ["r5"]}]}
    texts = ["Trial r1 diverged and trial r3 failed.", "Trial r2 diverged.", "Trial r4 is the best run at 0.25.",
             "Trial r1 diverged with a loss of 4821.5.", "Trial r1 diverged with a loss of 9999.",
             "Trial r9 failed.", "2 of 5 trials have issues.", "Trial r2 stayed healthy.",
             "1 of 2 trials with lr ≥ 0.3 diverged.", "3 of 7 trials with lr ≥ 0.3 diverged."]
    whole = facts_of(summary)
    for form in (summary, summary | {"issues": IssueColumns.of(summary["issues"]).to_state()}):
        index = FactIndex(form)
        for text in texts[:3]:
            assert index.ground(text) == ground(text, whole), text
        assert "facts" not in index.__dict__  # nothing so far needed the details
        for text in texts[3:]:
            assert index.ground(text) == ground(text, whole), text
        assert "facts" in index.__dict__
    assert ground(texts[3], whole).text and not ground(texts[4], whole).text  # a detail's number backs a text
    assert ground(texts[8], whole).text and not ground(texts[9], whole).text  # and an association's counts
    assert dict(whole.trial_issues) == {"r1": {"diverged"}, "r2": {"pruned"}, "r3": {"failed"}}
    assert ground(texts[7], whole).text  # pruned is counted, not blamed: r2 may be called healthy


@pytest.fixture(scope="module")
def late_divergence_index() -> FactIndex:
    """tests/data/optuna/late_divergence.db: 40 trials; 6, 8 (and 8 more) pruned, 3 diverged, 37 the best."""
    summary = graph.invoke({"results_path": str(DATA / "optuna" / "late_divergence.db")},
                           context=Context(offline=True))["summary"]
    return FactIndex(summary | _deterministic({k: summary[k] for k in ("patterns", "leads", "recommendations")}))


def test_a_pruned_trial_may_be_called_pruned_and_healthy_but_not_something_else(late_divergence_index):
    """Pruned is an info issue: counted, not blamed; which trial has it is still a fact to check."""
    def problems(text: str) -> list[tuple[str, str]]:
        return [p[:2] for p in late_divergence_index.ground(text).problems]

    assert problems("Trials `6` and `8` were pruned or early-stopped, by design.") == []
    assert problems("Trial `6` stayed healthy.") == []
    assert problems("Trial `3` was pruned.") == [("misattributed_id", "3")]  # it diverged
    assert problems("Trials `6`, `8` diverged.") == [("misattributed_id", "6"), ("misattributed_id", "8")]
    assert problems("Trial `6` was not pruned.") == [("misattributed_id", "6")]
    assert problems("Trial `3` stayed healthy.") == [("misattributed_id", "3")]


@pytest.mark.parametrize(("sentence", "expected"), [
    ("Stop at the best epoch for configurations like trials 3 and 6.", []),
    ("Trial 3 stopped after its best point.", []),
    ("The best trial is trial 3.", ["misattributed_id"]),
    ("Trial 3 is the best.", ["misattributed_id"]),
    ("Trial 3 is the best-performing run.", ["misattributed_id"]),
    ("The best configuration is trial 5.", []),
])
def test_best_is_a_claim_only_about_the_best_trial(sample_facts, sentence, expected):
    assert kinds(sentence, sample_facts) == expected


def test_a_count_among_the_runs_that_trained_is_a_count_of_its_type():
    """MLflow nested.db: 12 runs, 3 gave no result (NaN, still running), 2 of the 9 that trained overfit."""
    summary = graph.invoke({"results_path": str(DATA / "mlflow" / "nested.db")}, context=Context(offline=True))["summary"]
    index = FactIndex(summary | _deterministic({k: summary[k] for k in ("patterns", "leads", "recommendations")}))
    assert index.ground("2 of 9 runs that trained show overfitting.").problems == []
    assert index.ground("2 of 9 runs that trained show generalisation gaps.").problems == []
    for lie in ("3 of 9 runs that trained show overfitting.", "2 of 10 runs show overfitting.",
                "2 of 9 runs that trained produced NaN."):  # NaN is not compared among the runs that trained
        assert [kind for kind, _, _ in index.ground(lie).problems] == ["count"], lie
