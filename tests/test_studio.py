"""LangGraph Studio's API: the graph served by `langgraph dev` on a free port, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client
from langgraph_server import langgraph_dev

from tests.conftest import ROOT, SAMPLE

PROJECT_FILES = ("core", "graph", "prompts", "langgraph.json", "pyproject.toml", "README.md", ".env.example")


@pytest.mark.studio
def test_graph_runs_under_langgraph_dev(tmp_path: Path):
    project = tmp_path / "project"  # a copy, so the server's .langgraph_api/ never lands in the repo
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            project.mkdir(exist_ok=True)
            shutil.copy(source, project / name)
    with langgraph_dev(project, timeout=90) as url:
        client = get_sync_client(url=url, api_key=None)
        assistants = client.assistants.search(graph_id="hparam_inspector")
        assert assistants, "graph not registered"
        assistant_id = assistants[0]["assistant_id"]

        drawn = client.assistants.get_graph(assistant_id)
        node_ids = {n["id"] for n in drawn["nodes"]}
        assert {"load", "detect", "analyze", "write"} <= node_ids
        conditional = {(e["source"], e["target"]) for e in drawn["edges"] if e.get("conditional")}
        assert ("write", "analyze") in conditional

        thread = client.threads.create()
        result = client.runs.wait(thread["thread_id"], assistant_id, input={"results_path": str(SAMPLE)})
        assert result["report"].startswith("# Hyperparameter Sweep Pathology Report")
        assert result["pictures"] and all(f"]({p['path']})" in result["report"] for p in result["pictures"])
        assert result["report_html"].count('src="data:image/png;base64,') == len(result["pictures"])  # the CLI's pictures
        assert result["summary"]["issue_counts"]["nonfinite_metric"] == 2
        state = client.threads.get_state(thread["thread_id"])
        assert state["values"]["summary"]["sweep"]["n_trials"] == 6
