"""The model path over HTTP: a local OpenAI-compatible server, never the internet.

``HF_TOKEN`` goes to Hugging Face hosts only: with a local ``endpoint_url`` no
Authorization header arrives, and the token appears in no output of the run (report,
summary, checkpointed state, logs, stderr, failure notices).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from openai_stub import ChatCompletionsStub, StubReply

from graph import build_graph, graph
from graph.context import Context
from tests.conftest import SAMPLE

SECRET = "hf_test_secret_do_not_send"
ANALYST = json.dumps({"patterns": [{
    "title": "NaN at these learning rates", "issue_type": "nonfinite_metric", "evidence": ["L1"], "hypothesis": True,
    "explanation": "Trials 2 and 4 produced NaN or infinite losses: lower the learning rate for configurations "
                   "like them."}]})
WRITER = "Four of the six trials need attention; trial 2 failed outright and trial 3 shows a generalisation gap."


def every_token_source(monkeypatch, token_path: Path) -> None:
    """The token in every place huggingface_hub looks: env, legacy env, stored login."""
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", SECRET)
    token_path.parent.mkdir(parents=True, exist_ok=True)
    token_path.write_text(SECRET)


def test_endpoint_url_path_uses_the_reply_and_never_sends_the_token(hf_sandbox: Path, monkeypatch, caplog, tmp_path):
    every_token_source(monkeypatch, hf_sandbox)
    caplog.set_level(logging.DEBUG)
    compiled = build_graph().compile(checkpointer=SqliteSaver(sqlite3.connect(tmp_path / "cp.sqlite",
                                                                              check_same_thread=False)))
    config = {"configurable": {"thread_id": "secret"}}
    with ChatCompletionsStub(replies=[ANALYST, WRITER]) as stub:
        out = compiled.invoke({"results_path": str(SAMPLE)}, config,
                              context=Context(endpoint_url=stub.url, model="my-served-model"))
    assert len(stub.requests) == 2
    for request in stub.requests:
        assert request.path.endswith("/chat/completions")
        assert "authorization" not in request.headers
        assert SECRET not in json.dumps(request.headers) + json.dumps(request.body)
        assert request.body["model"] == "my-served-model"
        assert request.body["messages"][0]["role"] == "user"
        assert request.body["stream"] is False
    analyst_prompt = stub.requests[0].body["messages"][0]["content"]
    assert "<data>" in analyst_prompt and '"L1"' in analyst_prompt and "never instructions" in analyst_prompt
    report, summary = out["report"], out["summary"]
    assert WRITER in report
    assert "lower the learning rate for configurations like them" in report
    assert summary["writer"]["author"] == "my-served-model"
    states = [json.dumps(s.values) for s in compiled.get_state_history(config)]
    for text in [report, json.dumps(summary), caplog.text, *states]:
        assert SECRET not in text


def test_server_error_falls_back_with_a_note_and_no_secret(hf_sandbox: Path, monkeypatch):
    every_token_source(monkeypatch, hf_sandbox)
    echo = StubReply(status=500, body={"error": f"bad header Authorization: Bearer {SECRET} ({SECRET})"})
    with ChatCompletionsStub(replies=[echo]) as stub:
        out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(endpoint_url=stub.url, llm_budget=3))
    assert out["summary"]["writer"]["author"] == "deterministic"
    assert "model unavailable" in out["report"]
    assert SECRET not in out["report"] and SECRET not in json.dumps(out["summary"])
    assert all("authorization" not in r.headers for r in stub.requests)


def test_cli_output_never_shows_the_token(hf_sandbox: Path, monkeypatch, tmp_path, capsys):
    from graph.run import main

    every_token_source(monkeypatch, hf_sandbox)
    monkeypatch.chdir(tmp_path)
    with ChatCompletionsStub(replies=[StubReply(status=403, body={"error": f"token {SECRET} refused"})]) as stub:
        assert main([str(SAMPLE), "--endpoint-url", stub.url, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "note: model unavailable" in captured.err
    outputs = [captured.out, captured.err, *(p.read_text() for p in tmp_path.iterdir() if p.is_file())]
    assert all(SECRET not in text for text in outputs)


def test_slow_server_times_out_and_the_run_still_ends(hf_sandbox: Path):
    with ChatCompletionsStub(replies=[StubReply(delay=5, content="late")]) as stub:
        out = graph.invoke({"results_path": str(SAMPLE)},
                           context=Context(endpoint_url=stub.url, llm_timeout=1, llm_budget=2))
    assert out["summary"]["writer"]["author"] == "deterministic"
    assert "unavailable" in out["report"]


@pytest.mark.parametrize(("text", "secret"), [
    ("503 from http://tok_abc123@host/v1", "tok_abc123"),
    ("GET http://user:pw_abc123@h:8/v1 failed", "pw_abc123"),
    ("headers {'Authorization': 'Bearer sk_live_abc123'}", "sk_live_abc123"),
    ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ("https://h/v1?api_key=k_abc123&x=1", "k_abc123"),
    ('{"token": "t_abc123"}', "t_abc123"),
    ("hf_abcdefghijklmnop in a message", "abcdefghijklmnop"),
    ("key sk-abcdefghijklmnop", "abcdefghijklmnop"),
])
def test_every_kind_of_secret_is_redacted(text, secret):
    from graph.llm import redact

    assert secret not in redact(text)


def test_redact_strips_terminal_escapes():
    from graph.llm import redact

    assert redact("Service \x1b]0;pwned\x07Unavailable\x1b[31m!\x1b[0m") == "Service Unavailable!"


@pytest.mark.parametrize(("spec", "name", "url"), [
    ("openai:NAME@http://user:pass@host/v1", "NAME", "http://user:pass@host/v1"),
    ("openai:llama3.1:8b@https://tok@host:1/v1", "llama3.1:8b", "https://tok@host:1/v1"),
    ("openai:http://user:pass@host/v1", "", "http://user:pass@host/v1"),
])
def test_name_and_url_split_at_the_at_before_the_url(spec, name, url):
    from graph.context import Context
    from graph.llm import choose_provider

    choice = choose_provider(Context(model=spec))
    assert (choice.name, choice.url) == (name, url)


def test_an_endpoint_without_a_model_sends_no_hub_model_name(hf_sandbox: Path):
    from graph.context import Context
    from graph.llm import choose_provider, model_label

    context = Context(endpoint_url="http://127.0.0.1:9/v1")
    assert choose_provider(context).name == ""
    assert model_label(context, object()) == "the model served at http://127.0.0.1:9/v1"


@pytest.mark.parametrize(("text", "parsed"), [
    ('chatter {"a": 1} more', {"a": 1}),
    ('```json\n{"a": {"b": [1, "}{"]}}\n```', {"a": {"b": [1, "}{"]}}),
    ('a stray { then {"a": 2}', {"a": 2}),
    ('{not json} {"c": "\\"}"}', {"c": '"}'}),
    ("{" * 2_000_000, None),
    ('{"a": "' * 300_000, None),
    ("[" * 100_000 + "]" * 100_000, None),
    ('{"a":' * 70 + "1" + "}" * 70, None),  # deeper than anything we ask for
])
def test_parse_json_finds_the_object_and_survives_hostile_text(text, parsed):
    from graph.llm import parse_json

    assert parse_json(text) == parsed
