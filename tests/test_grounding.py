"""The grounding check: invented trial ids and numbers cannot pass."""

from __future__ import annotations

from core.grounding import cited_ids, ground, summary_numbers, summary_trial_ids

KNOWN = {"2", "4", "r00012"}


def test_cited_ids_in_lists_and_backticks():
    assert cited_ids("Trials 2, 4, and 99 diverged.", KNOWN) == ["2", "4", "99"]
    assert cited_ids("trial_id 17 overfit", KNOWN) == ["17"]
    assert cited_ids("See trial `r00012` and `r00999`.", KNOWN) == ["r00012", "r00999"]
    assert cited_ids("Keep `lr` below 0.01 for the trials that failed.", KNOWN) == []


def test_ground_removes_sentences_with_unknown_ids_or_numbers():
    text = "Trials 2 and 4 went NaN. Trial 99 also did. Lower lr below 0.01. About 83% failed. It was 42% bad."
    g = ground(text, KNOWN, {0.01, 0.8333 * 100})
    assert g.text == "Trials 2 and 4 went NaN. Lower lr below 0.01. About 83% failed."
    assert g.bad_ids == ["99"] and "42%" in g.bad_numbers
    assert len(g.removed) == 2


def test_summary_facts_are_collected():
    summary = {"issues": [{"trial_id": "7", "detail": "val_loss=+inf"}],
               "associations": [{"trial_ids": ["8"], "rate": 0.25, "condition": "lr ≥ 0.0631"}],
               "best_trial": {"trial_id": "9", "value": 0.5}}
    assert summary_trial_ids(summary) == {"7", "8", "9"}
    numbers = summary_numbers(summary)
    assert {0.25, 25.0, 0.0631, 0.5}.issubset(numbers)
