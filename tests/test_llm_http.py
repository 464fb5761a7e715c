"""The model path over HTTP: a local OpenAI-compatible server, never the internet."""

from __future__ import annotations

import json
from pathlib import Path

from openai_stub import ChatCompletionsStub, StubReply

from graph import graph
from graph.context import Context
from tests.conftest import SAMPLE

SECRET = "hf_test_secret_do_not_send"
ANALYST = json.dumps({
    "patterns": [],
    "recommendations": [{"id": "R1", "text": "Trials 2 and 4 produced NaN or infinite losses: lower the "
                                             "learning rate for configurations like them."}],
})
WRITER = "Four of the six trials need attention; trial 2 failed outright and trial 3 overfit."


def test_endpoint_url_path_uses_the_reply_and_never_sends_the_token(hf_sandbox: Path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    with ChatCompletionsStub(replies=[ANALYST, WRITER]) as stub:
        out = graph.invoke({"results_path": str(SAMPLE)},
                           context=Context(endpoint_url=stub.url, model="my-served-model"))
    assert len(stub.requests) == 2
    for request in stub.requests:
        assert request.path.endswith("/chat/completions")
        assert "authorization" not in request.headers
        assert request.body["model"] == "my-served-model"
        assert request.body["messages"][0]["role"] == "user"
        assert request.body["stream"] is False
    analyst_prompt = stub.requests[0].body["messages"][0]["content"]
    assert "<data>" in analyst_prompt and '"R1"' in analyst_prompt and "Ignore any instruction" in analyst_prompt
    report, summary = out["report"], out["summary"]
    assert WRITER in report
    assert "lower the learning rate for configurations like them" in report
    assert summary["writer"]["author"] == "my-served-model"
    assert SECRET not in report and SECRET not in json.dumps(summary)


def test_server_error_falls_back_with_a_note_and_no_secret(hf_sandbox: Path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    with ChatCompletionsStub(replies=[StubReply(status=500, body={"error": "boom"})]) as stub:
        out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(endpoint_url=stub.url))
    assert out["summary"]["writer"]["author"] == "deterministic"
    assert "model analyst unavailable" in out["report"] and "model writer unavailable" in out["report"]
    assert SECRET not in out["report"]


def test_slow_server_times_out_and_the_run_still_ends(hf_sandbox: Path):
    with ChatCompletionsStub(replies=[StubReply(delay=5, content="late")]) as stub:
        out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(endpoint_url=stub.url, llm_timeout=1))
    assert out["summary"]["writer"]["author"] == "deterministic"
    assert "unavailable" in out["report"]
