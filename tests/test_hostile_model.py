"""A hostile model server: the CLI still ends in bounded time and memory, grounded, with no secret shown.

Each test runs the real command line in a subprocess against the local OpenAI-compatible
stub (tests/openai_stub.py) scripted to misbehave: trickle one byte at a time, answer
40 MB, never stop, nest braces two million deep, fail with a 503 that echoes the URL
(and its token) with terminal escapes in the reason phrase. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openai_stub import ChatCompletionsStub, StubReply

from tests.conftest import ROOT, SAMPLE

SECRET = "tok_Zx81hostile5ecret"
MB = 1 << 20
# Runs the CLI's own entry point and reports the child's peak memory on the last stderr line.
# (VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child of a big pytest process would report the parent's.)
_MEASURED = ("import sys; sys.argv[0] = 'graph.run'; from graph import run\n"
             "try:\n    run.cli()\nfinally:\n"
             "    hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
             "    print('maxrss_kb', hwm[0], file=sys.stderr)")


def run_cli(url: str, out: Path, *extra: str, budget: float = 6, timeout: float = 2) -> tuple[subprocess.CompletedProcess,
                                                                                                float, int]:
    """The CLI against ``url``: (result, seconds, peak memory in MB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HPATH_", "LLM_", "MODEL"))}
    env |= {"PYTHONPATH": str(ROOT), "HPATH_LLM_TIMEOUT": str(timeout), "HPATH_LLM_BUDGET": str(budget)}
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", _MEASURED, str(SAMPLE), "--out", str(out), *extra,
                             *(["--endpoint-url", url] if "--model" not in extra else [])],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    seconds = time.monotonic() - start
    rss = [line for line in result.stderr.splitlines() if line.startswith("maxrss_kb")]
    return result, seconds, int(rss[-1].split()[1]) // 1024 if rss else -1


def outputs(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in out.iterdir() if p.is_file())


def test_a_trickling_server_cannot_hold_the_process(tmp_path):
    """One byte every 0.2 s: the reply is cut off at the deadline and the process exits at once after the report."""
    with ChatCompletionsStub(replies=[StubReply(content="x" * 5000, trickle=0.2)]) as stub:
        result, seconds, _ = run_cli(stub.url, tmp_path, budget=4, timeout=2)
    assert result.returncode == 0, result.stderr
    assert seconds < 90, seconds  # start-up + analysis + a 4 s budget (~25 s on a loaded machine), never the 1000 s trickle
    summary = json.loads((tmp_path / "hparam_summary.json").read_text())
    assert summary["writer"]["author"] == "deterministic"
    assert any("model unavailable" in n for n in summary["writer"]["notes"])


@pytest.mark.parametrize("reply", [
    StubReply(content="x" * (40 * MB)),
    StubReply(endless=True),
    StubReply(content="{" * (2 * MB)),
    StubReply(content='{"a": "' * 300_000),
], ids=["40MB", "endless", "nested-braces", "unclosed-strings"])
def test_huge_endless_or_nested_replies_are_cut_off_in_bounded_time_and_memory(tmp_path, reply):
    with ChatCompletionsStub(replies=[reply]) as stub:
        result, seconds, rss = run_cli(stub.url, tmp_path, budget=20, timeout=10)
    assert result.returncode == 0, result.stderr
    assert seconds < 120, seconds
    assert 0 < rss < 700, rss  # the CLI alone is ~300 MB (pandas, matplotlib, LangGraph)
    summary = json.loads((tmp_path / "hparam_summary.json").read_text())
    assert summary["writer"]["narrative"] is None or len(summary["writer"]["narrative"]) < 10_000
    assert "x" * 1000 not in outputs(tmp_path)


def test_a_503_echoing_the_url_shows_no_secret_and_no_escape(tmp_path):
    echo = StubReply(status=503, reason="Unavailable \x1b]0;pwned\x07\x1b[31m",
                     body={"error": f"upstream http://{SECRET}@127.0.0.1/v1 said Authorization: Bearer {SECRET}; "
                                    f"api_key={SECRET}"})
    with ChatCompletionsStub(replies=[echo]) as stub:
        url = stub.url.replace("http://", f"http://{SECRET}@")
        result, seconds, _ = run_cli(url, tmp_path, budget=4, timeout=2)
        named, _, _ = run_cli("", tmp_path / "named", "--model", f"openai:served@{url.replace(SECRET, 'u:' + SECRET)}",
                              budget=4, timeout=2)
    assert result.returncode == 0 and named.returncode == 0, result.stderr + named.stderr
    assert stub.requests and stub.requests[-1].body["model"] == "served"  # split before the URL, not inside it
    for text in (result.stderr, result.stdout, named.stderr, outputs(tmp_path), outputs(tmp_path / "named")):
        assert SECRET not in text
        assert "\x1b" not in text
    assert "model unavailable" in result.stderr


def test_an_unnamed_endpoint_is_credited_as_what_was_called(tmp_path):
    writer = "Four of the six trials have issues."
    with ChatCompletionsStub(replies=['{"patterns": []}', writer]) as stub:
        url = stub.url
        result, _, _ = run_cli(url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert all("Llama" not in json.dumps(r.body) for r in stub.requests)
    summary = json.loads((tmp_path / "hparam_summary.json").read_text())
    assert summary["writer"]["author"] == f"the model served at {url}"
    assert "Llama" not in (tmp_path / "hparam_report.md").read_text()


def test_one_time_budget_for_the_whole_run(tmp_path):
    """Slow but valid replies: analyst, writer and revisions share one budget, not one each."""
    slow = StubReply(content='{"patterns": [{"title": "t", "evidence": ["L1"], "explanation": "Trial r999 failed."}]}',
                     delay=1.5)
    with ChatCompletionsStub(replies=[slow]) as stub:
        result, seconds, _ = run_cli(stub.url, tmp_path, budget=4, timeout=3)
    assert result.returncode == 0, result.stderr
    first, last = stub.requests[0].received_at, stub.requests[-1].received_at
    assert last - first < 4, [r.received_at - first for r in stub.requests]
    assert seconds < 90


def test_subtle_lies_from_the_server_do_not_reach_the_report(tmp_path):
    writer = ("4 of 6 trials have issues. Ninety-seven trials produced NaN. Zero trials failed. "
              "The momentum optimizer is completely safe. Learning rates under one tenth never produce NaN. "
              "Trial 6, the best run, diverged. 42% of trials diverged.")
    with ChatCompletionsStub(replies=['{"patterns": []}', writer]) as stub:
        result, _, _ = run_cli(stub.url, tmp_path)
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "hparam_report.md").read_text()
    assert "4 of 6 trials have issues." in report
    for lie in ("Ninety-seven", "Zero trials", "completely safe", "never produce", "the best run, diverged", "42%"):
        assert lie not in report
    assert "6 model-written sentence(s) were removed" in report
