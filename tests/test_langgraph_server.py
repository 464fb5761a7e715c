"""Self-test for `tests/langgraph_server.py` against a throwaway LangGraph project.

The server tests are marked ``studio`` (each starts a real ``langgraph dev``,
about 2 s); the marker is registered under ``[tool.pytest.ini_options] markers``
in pyproject.toml.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client
from langgraph_server import LangGraphServerError, free_port, langgraph_dev

ECHO_GRAPH = """
import os
from typing import Literal, TypedDict

from langgraph.graph import END, START, StateGraph

ENV_NAMES = ("HF_TOKEN", "HF_HUB_OFFLINE", "LANGGRAPH_CLI_NO_ANALYTICS", "ECHO_MARK")


class State(TypedDict, total=False):
    text: str
    reply: str
    env: dict[str, str | None]


def echo(state: State) -> State:
    return {"reply": state["text"], "env": {name: os.environ.get(name) for name in ENV_NAMES}}


def shout(state: State) -> State:
    return {"reply": state["reply"].upper()}


def route(state: State) -> Literal["shout", "__end__"]:
    return "shout" if state["text"].endswith("!") else END


builder = StateGraph(State)
builder.add_node("echo", echo)
builder.add_node("shout", shout)
builder.add_edge(START, "echo")
builder.add_conditional_edges("echo", route)
builder.add_edge("shout", END)
graph = builder.compile()
"""


@pytest.fixture
def echo_project(tmp_path: Path) -> Path:
    """Create a two-node LangGraph project with a conditional edge."""
    project = tmp_path / "echo_project"
    project.mkdir()
    (project / "langgraph.json").write_text(
        '{"dependencies": ["."], "graphs": {"echo": "./echo_graph.py:graph"}}'
    )
    (project / "echo_graph.py").write_text(ECHO_GRAPH)
    return project


def test_free_port_avoids_default() -> None:
    assert all(free_port() != 2024 for _ in range(20))


@pytest.mark.studio
def test_runs_graph_and_exposes_conditional_edges(
    echo_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test_secret")
    log_file = tmp_path / "server.log"
    started = time.monotonic()
    with langgraph_dev(echo_project, log_file=log_file, env={"ECHO_MARK": "set"}) as url:
        startup = time.monotonic() - started
        client = get_sync_client(url=url, api_key=None)
        thread = client.threads.create()
        quiet = client.runs.wait(thread["thread_id"], "echo", input={"text": "hello"})
        loud = client.runs.wait(None, "echo", input={"text": "hey!"})
        graph = client.assistants.get_graph("echo")

    print(f"langgraph dev ready after {startup:.1f} s")  # visible with -s
    assert url.startswith("http://127.0.0.1:")
    assert not url.endswith(":2024")
    assert (quiet["text"], quiet["reply"]) == ("hello", "hello")
    assert loud["reply"] == "HEY!"
    assert quiet["env"] == {
        "HF_TOKEN": None,
        "HF_HUB_OFFLINE": "1",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "ECHO_MARK": "set",
    }
    conditional = {(e["source"], e["target"]) for e in graph["edges"] if e.get("conditional")}
    assert conditional == {("echo", "shout"), ("echo", "__end__")}
    assert (echo_project / ".langgraph_api").is_dir()
    assert "Application started up" in log_file.read_text()


@pytest.mark.studio
def test_startup_failure_reports_log_tail(tmp_path: Path) -> None:
    broken = tmp_path / "broken_project"
    broken.mkdir()
    (broken / "langgraph.json").write_text('{"dependencies": ["."], "graphs": {"g": "./missing.py:graph"}}')
    started = time.monotonic()
    with pytest.raises(LangGraphServerError) as excinfo, langgraph_dev(broken, timeout=30):
        pytest.fail("the server should not have become ready")
    assert time.monotonic() - started < 30  # noticed the exit, did not wait for the timeout
    message = str(excinfo.value)
    assert "exited with code" in message
    assert "last 40 lines" in message
    assert "Failed to load graph 'g'" in message
