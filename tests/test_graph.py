"""The graph: offline run, loop-back on invented ids, cap, checkpointers, embedding."""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from core.records import with_issue_rows
from graph import build_graph, graph
from graph.builder import route_after_write
from graph.context import Context
from tests.conftest import EXAMPLES, SAMPLE
from tests.fake_models import ScriptedChatModel, analyst_json

SECTIONS = ["## Overview", "## Issue Breakdown", "## Hyperparameter Pathologies", "## Recommendations"]
REAL_IDS = {"1", "2", "3", "4", "5", "6"}


def cited(report: str) -> set[str]:
    """Every backticked token and every id after 'trial(s)' in a report."""
    ids = set(re.findall(r"`([^`]+)`", report))
    for match in re.finditer(r"\btrials?\s+((?:\w+(?:,\s*|\s+and\s+)?)+)", report, re.IGNORECASE):
        ids.update(re.findall(r"\w+", match.group(1)))
    return ids


def hypothesis(text: str = "Regularise trial 3.") -> str:
    return analyst_json({"title": "A guess", "hypothesis": True, "evidence": ["L1"], "explanation": text})


def test_offline_run_has_all_sections_and_only_real_ids():
    out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(offline=True))
    assert set(out) == {"report", "summary", "report_html", "pictures"}
    report = out["report"]
    positions = [report.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    ids_in_report = {t for t in cited(report) if t.isdigit()}
    assert ids_in_report <= REAL_IDS and {"2", "3", "4", "5"} <= ids_in_report
    s = out["summary"]
    assert s["schema_version"] == "1.6" and s["sweep"]["n_trials"] == 6
    assert s["issue_counts"] == {"nonfinite_metric": 2, "status_mismatch": 1, "failed": 1, "generalization_gap": 1,
                                 "short_run": 1}
    assert set(s["issues"]) == {"rows", "trial_id", "type", "severity", "detail", "epoch"}  # column by column
    rows = with_issue_rows(s)["issues"]
    assert len(rows) == s["issues"]["rows"] == 6 and all(isinstance(i["trial_id"], str) for i in rows)
    assert Counter(i["type"] for i in rows) == s["issue_counts"] and rows[0]["trial_id"] == "2"
    assert s["writer"]["author"] == "deterministic"
    json.dumps(s, allow_nan=False)


def test_records_input_gives_the_same_summary_as_the_file():
    import csv

    with open(SAMPLE, newline="") as handle:
        records = list(csv.DictReader(handle))
    from_records = graph.invoke({"records": records}, context=Context(offline=True))["summary"]
    from_file = graph.invoke({"results_path": str(SAMPLE)}, context=Context(offline=True))["summary"]
    assert from_records["issues"] == from_file["issues"]


def test_a_files_text_cells_are_let_go_once_its_trial_table_is_built(tmp_path):
    from graph.inputs import sweep_of, trial_columns

    path = tmp_path / "results.csv"
    path.write_bytes(SAMPLE.read_bytes())
    inputs = {"results_path": str(path)}
    first = graph.invoke(inputs, context=Context(offline=True))
    loaded = sweep_of(inputs)
    assert loaded.sweep.trials.frame.empty and list(loaded.sweep.trials.frame.columns)  # no rows: nothing held
    assert loaded.sweep.source == str(path) and loaded.sweep.trials.format == "csv"
    cells = trial_columns(inputs)  # read again from the file when asked (the web page's trial rows)
    assert cells is not None and cells["trial_id"] == ["1", "2", "3", "4", "5", "6"]
    again = graph.invoke(inputs, context=Context(offline=True))  # the cache's roles and typed table serve a re-run
    assert sweep_of(inputs) is loaded and again["summary"] == first["summary"]
    records = [{"trial_id": "a", "val_loss": 0.5}, {"trial_id": "b", "val_loss": float("nan")}]
    graph.invoke({"records": records}, context=Context(offline=True))
    assert len(sweep_of({"records": records}).sweep.trials.frame) == 2  # records cannot be read again: kept


def test_model_citing_an_unknown_id_loops_exactly_once():
    model = ScriptedChatModel(analyst=[hypothesis()], writer=[
        "Trial 42 diverged badly and trial 2 failed.",  # first draft: 42 is invented
        "Trial 2 failed and trial 4 reported an infinite validation loss.",
    ])
    updates = list(graph.stream({"results_path": str(SAMPLE)}, context=Context(chat_model=model),
                                stream_mode="updates"))
    nodes = [next(iter(u)) for u in updates]
    assert nodes == ["load", "detect", "analyze", "write", "analyze", "write"]
    assert updates[3]["write"]["invalid_citations"] == ["42"]
    second_analyst_prompt = [p for role, p in model.log if role == "analyst"][1]
    assert "cited these trial ids wrongly" in second_analyst_prompt and "42" in second_analyst_prompt
    final = updates[-1]["write"]
    assert "42" not in cited(final["report"])
    assert "trial 4 reported an infinite validation loss" in final["report"]
    assert final["summary"]["writer"]["revisions"] == 1
    assert final["summary"]["writer"]["author"] == "ScriptedChatModel"
    from graph import nodes

    assert nodes._INDEXES == {}  # the facts kept for the revision go with the report: a server keeps no sweep


def test_misattributed_known_id_also_loops_back():
    model = ScriptedChatModel(analyst=[hypothesis()], writer=["Trial 3 diverged.", "Trial 3 shows a generalisation gap."])
    updates = list(graph.stream({"results_path": str(SAMPLE)}, context=Context(chat_model=model),
                                stream_mode="updates"))
    assert updates[3]["write"]["invalid_citations"] == ["3"]  # 3 exists but has a generalisation gap, it did not diverge
    assert "Trial 3 shows a generalisation gap." in updates[-1]["write"]["report"]


def test_model_that_always_invents_ids_ends_at_the_cap_without_them():
    model = ScriptedChatModel(
        analyst=[hypothesis("Rerun trial 777 with a smaller learning rate.")],
        writer=["Trial 999 and trial 2 both failed. The sweep has 4 sick trials."],
    )
    updates = list(graph.stream({"results_path": str(SAMPLE)}, context=Context(chat_model=model, max_revisions=2),
                                stream_mode="updates"))
    nodes = [next(iter(u)) for u in updates]
    assert nodes == ["load", "detect", "analyze", "write"] + ["analyze", "write"] * 2
    final = updates[-1]["write"]
    report = final["report"]
    assert "777" not in report and "999" not in report
    assert "The sweep has 4 sick trials." in report  # the grounded sentence of the draft stays
    assert final["summary"]["writer"]["revisions"] == 2
    notes = [line for line in report.splitlines() if line.startswith("> Note:")]
    assert len(notes) == 1
    assert "2 model-written sentence(s) were removed: 2 cited trial ids not in the data" in notes[0]
    assert "after 2 revision(s)" in notes[0]
    assert final["summary"]["writer"]["rejected_ids"] == ["777", "999"]  # JSON only, for debugging
    # the deterministic recommendation survives in place of the removed wording
    assert "Inspect trials `2`, `4`" in report


def test_invented_numbers_are_removed_without_a_loop():
    model = ScriptedChatModel(analyst=[hypothesis()], writer=[
        "4 of 6 trials have issues. Roughly 37% of trials diverged at lr 0.3. Trial 3 shows a generalisation gap.",
    ])
    out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(chat_model=model))
    report = out["report"]
    assert "4 of 6 trials have issues. Trial 3 shows a generalisation gap." in report
    assert "37%" not in report and "0.3." not in report
    assert "1 stated counts the analysis does not give" in report  # 37% is no rate of diverged trials
    assert model.roles() == ["analyst", "writer"]


def test_model_failure_falls_back_to_the_deterministic_path():
    model = ScriptedChatModel(analyst=[ConnectionError("connection refused")], writer=["never asked"])
    out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(chat_model=model))
    assert out["summary"]["writer"]["author"] == "deterministic"
    assert ("model unavailable (ConnectionError: connection refused); the deterministic analyst and writer "
            "were used") in out["report"]
    assert model.roles() == ["analyst"]  # not retried (not transient), and the writer is not asked


def test_a_second_run_on_the_same_thread_does_not_carry_old_notes():
    app = build_graph().compile(checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "t"}}
    failing = ScriptedChatModel(analyst=[ConnectionError("refused")], writer=["never asked"])
    first = app.invoke({"results_path": str(SAMPLE)}, thread, context=Context(chat_model=failing))
    assert "model unavailable" in first["report"]
    second = app.invoke({"results_path": str(EXAMPLES / "deepobs_cifar10_3c3d.csv")}, thread,
                        context=Context(offline=True))
    assert "model unavailable" not in second["report"]
    assert second["summary"]["sweep"]["notes"] == []


def test_a_chat_model_passed_by_code_wins_over_model_none(monkeypatch):
    monkeypatch.setenv("MODEL", "none")
    model = ScriptedChatModel(analyst=[ConnectionError("refused")], writer=["never asked"])
    out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(chat_model=model))
    assert model.roles() == ["analyst"] and "model unavailable" in out["report"]


def test_malformed_analyst_json_keeps_deterministic_wording():
    model = ScriptedChatModel(analyst=["not json at all"], repair=["{still not"], writer=["Trial 2 failed."])
    out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(chat_model=model))
    assert "unusable twice" in out["report"]
    assert "Trial 2 failed." in out["report"]
    assert model.roles() == ["analyst", "repair", "writer"]


def test_router_is_typed_and_terminates():
    assert route_after_write({"invalid_citations": ["9"]}) == "analyze"
    assert route_after_write({"invalid_citations": []}) == "__end__"
    drawn = graph.get_graph()
    conditional = [e for e in drawn.edges if e.conditional]
    assert {(e.source, e.target) for e in conditional} == {("write", "analyze"), ("write", "__end__")}


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
def test_state_round_trips_through_checkpointers(tmp_path, saver):
    checkpointer = InMemorySaver() if saver == "memory" else SqliteSaver(
        sqlite3.connect(tmp_path / "cp.sqlite", check_same_thread=False))
    compiled = build_graph().compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "t1"}}
    out = compiled.invoke({"results_path": str(EXAMPLES / "deepobs_cifar10_3c3d.csv")}, config,
                          context=Context(offline=True))
    state = compiled.get_state(config).values
    assert state["report"] == out["report"] and state["summary"] == out["summary"]
    json.dumps(state, allow_nan=False)  # JSON-native all the way down
    history = list(compiled.get_state_history(config))
    assert len(history) >= 5


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
def test_state_with_a_model_run_stays_json_native(tmp_path, saver):
    """The model lives in the context, never in the state, across a loop-back."""
    checkpointer = InMemorySaver() if saver == "memory" else SqliteSaver(
        sqlite3.connect(tmp_path / "cp.sqlite", check_same_thread=False))
    compiled = build_graph().compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "t2"}}
    model = ScriptedChatModel(analyst=[hypothesis()], writer=["Trial 42 failed.", "Trial 2 failed."])
    compiled.invoke({"results_path": str(SAMPLE)}, config, context=Context(chat_model=model))
    for snapshot in compiled.get_state_history(config):
        json.dumps(snapshot.values, allow_nan=False)
    assert compiled.get_state(config).values["summary"]["writer"]["revisions"] == 1


def test_embedding_as_a_subgraph_example_runs(monkeypatch):
    spec = importlib.util.spec_from_file_location("embed_as_subgraph", EXAMPLES / "embed_as_subgraph.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "embed_as_subgraph", module)
    spec.loader.exec_module(module)
    result = module.build_pipeline().invoke({"results_path": str(SAMPLE)}, context=Context(offline=True))
    assert result["verdict"].startswith("blocked")
    assert result["report"].startswith("# Hyperparameter Sweep Pathology Report")


def test_offline_path_does_not_import_the_llm_client():
    code = ("import sys; from graph import graph; from graph.context import Context; "
            f"graph.invoke({{'results_path': {str(SAMPLE)!r}}}, context=Context()); "
            "print('langchain_huggingface' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
