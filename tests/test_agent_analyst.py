"""The model analyst: structured drafts that reference core's facts, never replace them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph import graph
from graph.context import Context
from graph.phrasing import AnalystReply, apply_drafts, evidence_index, validate_reply
from tests.conftest import EXAMPLES, SAMPLE
from tests.fake_models import ScriptedChatModel, analyst_json

DEEPOBS = EXAMPLES / "deepobs_cifar10_3c3d.csv"


# a slice of DeepOBS with leads (associations that are no pattern) beside its patterns
WITH_LEADS = Path(__file__).parent / "data" / "deepobs_nonfinite_slice.csv"


@pytest.fixture(scope="module")
def offline() -> dict:
    return graph.invoke({"results_path": str(DEEPOBS)}, context=Context(offline=True))


@pytest.fixture(scope="module")
def offline_leads() -> dict:
    return graph.invoke({"results_path": str(WITH_LEADS)}, context=Context(offline=True))


def run(model: ScriptedChatModel, path=DEEPOBS, **settings) -> dict:
    return graph.invoke({"results_path": str(path)}, context=Context(chat_model=model, **settings))


def facts_of_patterns(summary: dict) -> dict:
    keep = ("id", "association_id", "issue_type", "condition", "evidence", "trial_ids")
    return {p["id"]: {k: p.get(k) for k in keep} for p in summary["patterns"]}


def test_model_ranks_and_rewords_patterns_but_every_fact_stays(offline):
    first, second = offline["summary"]["patterns"][:2]
    model = ScriptedChatModel(analyst=[analyst_json({
        "title": "Large steps break training", "issue_type": second["issue_type"], "condition": second["condition"],
        "evidence": [second["id"]], "explanation": "Large updates overflow the loss to NaN.",
        "recommendation": "Cap the learning rate and add gradient clipping.",
    })])
    out = run(model)
    s = out["summary"]
    assert [p["id"] for p in s["patterns"]][:2] == [second["id"], first["id"]]  # the model's ranking
    assert facts_of_patterns(s) == facts_of_patterns(offline["summary"])  # no fact changed, none dropped
    top = s["patterns"][0]
    assert top["title"] == "Large steps break training" and top["phrased_by_model"]
    assert top["explanation"] == "Large updates overflow the loss to NaN."
    rec = next(r for r in s["recommendations"] if r["pattern_id"] == second["id"])
    assert rec["text"] == "Cap the learning rate and add gradient clipping."
    assert f"### {second['id']}. Large steps break training" in out["report"]
    assert s["writer"]["analyst"] == "ScriptedChatModel"
    # the deterministic evidence table is still rendered under the model's title
    e = second["evidence"]
    assert f"{e['k']} / {e['n']}" in out["report"]


def test_structured_request_carries_the_schema_and_only_ids(offline):
    model = ScriptedChatModel()
    run(model)
    prompt = model.log[0][1]
    assert '"evidence"' in prompt and '"hypothesis"' in prompt
    assert '"id":"P1"' in prompt and '"id":"A' in prompt


def test_fields_that_disagree_with_the_evidence_are_corrected(offline):
    p = offline["summary"]["patterns"][0]
    model = ScriptedChatModel(analyst=[analyst_json({
        "title": "Crashes", "issue_type": "failed", "condition": "batch_size ≥ 4096", "evidence": [p["id"]],
        "explanation": "These runs crashed.",
    })])
    out = run(model)
    top = out["summary"]["patterns"][0]
    assert top["issue_type"] == p["issue_type"] and top["condition"] == p["condition"]
    assert "2 reference(s) or field(s) of the model's analysis did not match the evidence" in out["report"]


def test_unknown_evidence_gets_one_repair_round(offline):
    p = offline["summary"]["patterns"][0]
    bad = analyst_json({"title": "X", "issue_type": p["issue_type"], "evidence": ["A999"], "explanation": "Y."})
    good = analyst_json({"title": "Repaired title", "issue_type": p["issue_type"], "evidence": [p["id"]],
                         "explanation": "Repaired."})
    model = ScriptedChatModel(analyst=[bad], repair=[good])
    out = run(model)
    assert model.roles()[:2] == ["analyst", "repair"]
    repair_prompt = model.log[1]
    assert repair_prompt[0] == "repair"
    assert out["summary"]["patterns"][0]["title"] == "Repaired title"


def test_repair_that_fails_again_keeps_the_usable_first_reply(offline):
    p = offline["summary"]["patterns"][0]
    first = analyst_json({"title": "Kept title", "issue_type": p["issue_type"], "evidence": [p["id"], "A999"],
                          "explanation": "Kept."})
    model = ScriptedChatModel(analyst=[first], repair=["not json"])
    out = run(model)
    assert out["summary"]["patterns"][0]["title"] == "Kept title"
    assert "1 reference(s) or field(s) of the model's analysis did not match" in out["report"]


def test_hypotheses_are_marked_and_described_by_core_numbers(offline_leads):
    offline = offline_leads
    lead = offline["summary"]["leads"][0]
    model = ScriptedChatModel(analyst=[analyst_json(
        {"title": "Maybe warm-up", "hypothesis": True, "evidence": [lead["id"]],
         "explanation": "Without warm-up the first steps may be too large.", "recommendation": "Try a warm-up."},
        # not marked, but rests on no pattern: it can only be a hypothesis
        {"title": "Lead as a pattern", "issue_type": lead["issue_type"], "evidence": [lead["association_id"]],
         "explanation": "This region looks bad."},
    )])
    s = run(model, path=WITH_LEADS)["summary"]
    assert [h["id"] for h in s["hypotheses"]] == ["H1", "H2"]
    assert [p["id"] for p in s["patterns"]] == [p["id"] for p in offline["summary"]["patterns"]]
    marked = [r for r in s["recommendations"] if r.get("hypothesis")]
    assert len(marked) == 2 and all(r["text"].startswith("Hypothesis, not tested by the analysis:") for r in marked)
    e = lead["evidence"]
    assert f"{e['k']}/{e['n']} trials" in marked[0]["evidence"]


def test_a_model_that_drops_every_pattern_cannot_remove_them(offline):
    out = run(ScriptedChatModel(analyst=['{"patterns": []}'], writer=[""]))
    assert facts_of_patterns(out["summary"]) == facts_of_patterns(offline["summary"])
    assert out["summary"]["writer"]["author"] == "deterministic"
    assert "the model writer returned an empty overview" in out["report"]


def test_empty_replies_everywhere_fall_back_with_notices():
    model = ScriptedChatModel(analyst=[""], repair=[""], writer=["   "])
    out = run(model, path=SAMPLE)
    assert "unusable twice (the reply was not a JSON object)" in out["report"]
    assert "empty overview" in out["report"]
    assert out["summary"]["writer"]["author"] == "deterministic"


def test_evidence_references_are_generic_ids(offline_leads):
    """Any id of the summary's associations, findings, patterns or leads is a valid reference."""
    s = offline_leads["summary"]
    analysis = {k: s[k] for k in ("patterns", "leads", "recommendations")}
    summary = s | {"findings": [{"id": "F7", "kind": "edge_of_range", "title": "best at the edge", "trial_ids": []}]}
    index = evidence_index(summary, analysis)
    assert {"A1", "F7", "P1", "L1"} <= set(index)
    reply, errors = validate_reply({"patterns": [{"title": "t", "issue_type": "x", "evidence": ["F7"],
                                                  "hypothesis": True, "explanation": "e"}]}, index)
    assert errors == []
    new, _ = apply_drafts(analysis, reply, index)
    assert new["hypotheses"][0]["evidence"] == "F7: best at the edge"
    _, errors = validate_reply({"patterns": [{"title": "t", "issue_type": "x", "evidence": ["Z1"]}]}, index)
    assert errors and "Z1 is not an id" in errors[0]


def test_reply_schema_is_pydantic_and_tolerates_extra_keys():
    reply = AnalystReply.model_validate({"patterns": [{"title": "t", "issue_type": "x", "evidence": ["P1"],
                                                       "confidence": 0.9}], "notes": "extra"})
    assert reply.patterns[0].evidence == ["P1"] and reply.patterns[0].hypothesis is False
    schema = AnalystReply.model_json_schema()
    assert set(schema["$defs"]["PatternDraft"]["properties"]) == {
        "title", "issue_type", "condition", "evidence", "explanation", "recommendation", "hypothesis"}


def test_analyst_prompt_feedback_names_the_bad_citations():
    model = ScriptedChatModel(writer=["Trial 4242 failed.", "Trial 2 failed."])
    run(model, path=SAMPLE)
    prompts = [p for role, p in model.log if role == "analyst"]
    assert len(prompts) == 2 and "4242" not in prompts[0] and "4242" in prompts[1]
    data = json.loads(prompts[1].split("<data>\n", 1)[1].split("\n</data>", 1)[0])
    assert data["sweep"]["n_trials"] == 6
