"""A slow, broken or rate-limiting model server: retries within a budget, then the deterministic path.

Every test talks to the local OpenAI-compatible stub (tests/openai_stub.py) through the
real client (ChatHuggingFace over huggingface_hub); nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from openai_stub import ChatCompletionsStub, StubReply

from graph import graph
from graph.context import Context
from graph.llm import TransientModelError, is_transient, retry_after
from tests.conftest import SAMPLE

ANALYST = json.dumps({"patterns": [{"title": "Idea", "issue_type": "nonfinite_metric", "evidence": ["L1"],
                                    "explanation": "Trials 2 and 4 produced NaN or infinite losses.",
                                    "hypothesis": True}]})
WRITER = "Four of the six trials need attention; trial 2 failed outright and trial 3 shows a generalisation gap."


def invoke(stub: ChatCompletionsStub, **settings) -> tuple[dict, float]:
    """The graph on the sample, timed; without pictures: these tests time the model's budget, and drawing
    (after the model, in the write node; seconds on a loaded machine) is no model time."""
    start = time.monotonic()
    out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(endpoint_url=stub.url, pictures=False, **settings))
    return out, time.monotonic() - start


def gaps(stub: ChatCompletionsStub) -> list[float]:
    times = [r.received_at for r in stub.requests]
    return [b - a for a, b in zip(times, times[1:])]


@pytest.mark.parametrize("failure", [StubReply(status=500), StubReply(status=503), StubReply(status=502),
                                     StubReply(drop=True)], ids=["500", "503", "502", "connection-reset"])
def test_a_transient_failure_is_retried_then_the_model_is_used(hf_sandbox: Path, failure):
    with ChatCompletionsStub(replies=[failure, ANALYST, WRITER]) as stub:
        out, _ = invoke(stub)
    assert len(stub.requests) == 3
    assert WRITER in out["report"]
    assert out["summary"]["writer"]["author"] != "deterministic"
    assert not [n for n in out["summary"]["writer"]["notes"] if "unavailable" in n]


def test_429_waits_at_least_retry_after(hf_sandbox: Path):
    with ChatCompletionsStub(replies=[StubReply(status=429, headers={"Retry-After": "2"}), ANALYST, WRITER]) as stub:
        out, _ = invoke(stub)
    assert len(stub.requests) == 3 and gaps(stub)[0] >= 2.0
    assert WRITER in out["report"]


def test_retry_after_beyond_the_budget_falls_back_at_once(hf_sandbox: Path):
    with ChatCompletionsStub(replies=[StubReply(status=429, headers={"Retry-After": "300"})]) as stub:
        out, elapsed = invoke(stub, llm_budget=20)
    assert len(stub.requests) == 1 and elapsed < 10
    assert out["summary"]["writer"]["author"] == "deterministic"
    assert "the server asked to wait 300 s, beyond the time budget of 20 s" in out["report"]


def test_persistent_server_errors_give_up_within_the_budget(hf_sandbox: Path):
    with ChatCompletionsStub(replies=[StubReply(status=503)]) as stub:
        out, elapsed = invoke(stub, llm_budget=4)
    assert 2 <= len(stub.requests) <= 3 and elapsed < 4 + 2
    notes = out["summary"]["writer"]["notes"]
    assert len(notes) == 1 and "time budget of 4 s spent" in notes[0]
    assert "the deterministic analyst and writer were used" in notes[0]
    assert "time budget of 4 s spent" in out["report"]


def test_a_timeout_falls_back_and_the_run_ends(hf_sandbox: Path):
    with ChatCompletionsStub(replies=[StubReply(delay=30, content="late")]) as stub:
        out, elapsed = invoke(stub, llm_timeout=1, llm_budget=2.5)
    assert elapsed < 6
    assert out["summary"]["writer"]["author"] == "deterministic"
    assert "model unavailable" in out["report"] and "Timeout" in out["report"]


def test_a_client_error_is_not_retried(hf_sandbox: Path):
    with ChatCompletionsStub(replies=[StubReply(status=400)]) as stub:
        out, _ = invoke(stub)
    # one structured request; a 400 may mean "no response_format here", so one plain request
    assert len(stub.requests) == 2
    assert "response_format" in stub.requests[0].body and "response_format" not in stub.requests[1].body
    assert "model unavailable (BadRequestError" in out["report"]


def test_a_writer_failure_keeps_the_analysts_work(hf_sandbox: Path):
    with ChatCompletionsStub(replies=[ANALYST, StubReply(status=401)]) as stub:
        out, _ = invoke(stub)
    notes = out["summary"]["writer"]["notes"]
    assert any(n.startswith("model writer unavailable (HfHubHTTPError") for n in notes)
    assert "Hypothesis, not tested by the analysis" in out["report"]


def test_the_analyst_asks_for_structured_output_over_http(hf_sandbox: Path):
    with ChatCompletionsStub(replies=[ANALYST, WRITER]) as stub:
        invoke(stub)
    body = stub.requests[0].body
    assert body["response_format"]["type"] == "json_object"
    assert "evidence" in json.dumps(body["response_format"]["schema"])
    assert "response_format" not in stub.requests[1].body  # the writer answers in prose


def test_cli_prints_the_fallback_notice_on_stderr(hf_sandbox: Path, tmp_path, monkeypatch, capsys):
    from graph.run import main

    monkeypatch.setenv("HPATH_LLM_TIMEOUT", "1")
    monkeypatch.setenv("HPATH_LLM_BUDGET", "2")
    monkeypatch.chdir(tmp_path)
    with ChatCompletionsStub(replies=[StubReply(delay=30)]) as stub:
        assert main([str(SAMPLE), "--endpoint-url", stub.url, "--out", str(tmp_path), "--quiet"]) == 0
    err = capsys.readouterr().err.splitlines()
    notes = [line for line in err if line.startswith("note: model unavailable")]
    assert len(notes) == 1 and "ModelTimeout" in notes[0]
    assert notes[0][len("note: "):] in (tmp_path / "hparam_report.md").read_text()


def test_retry_policy_predicate_and_retry_after_parsing():
    class Response:
        def __init__(self, status, headers=None):
            self.status_code, self.headers = status, headers or {}

    class HTTPError(Exception):
        def __init__(self, status, headers=None):
            super().__init__(f"status {status}")
            self.response = Response(status, headers)

    assert is_transient(TransientModelError("x")) and is_transient(TimeoutError())
    assert is_transient(ConnectionResetError()) and not is_transient(ConnectionRefusedError())
    assert is_transient(HTTPError(429)) and is_transient(HTTPError(500)) and is_transient(HTTPError(504))
    assert not is_transient(HTTPError(400)) and not is_transient(HTTPError(401)) and not is_transient(ValueError())
    assert retry_after(HTTPError(429, {"retry-after": "7"})) == 7
    assert retry_after(HTTPError(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after(HTTPError(429)) is None


def test_retries_log_no_secret(hf_sandbox: Path, monkeypatch, caplog):
    secret = "hf_retrylogsecret0123456789"
    monkeypatch.setenv("HF_TOKEN", secret)
    caplog.set_level(logging.DEBUG)
    with ChatCompletionsStub(replies=[StubReply(status=500, body={"error": f"echo Bearer {secret}"}), ANALYST,
                                      WRITER]) as stub:
        invoke(stub)
    assert "Retrying task analyze" in caplog.text
    assert secret not in caplog.text
