"""Use the inspector as one node of your own pipeline.

Run: ``python examples/embed_as_subgraph.py examples/sample_results.csv``.
The parent graph below trains nothing: it stands for the step of your pipeline that
produced a sweep. The compiled inspector graph is added as a node, reads the
``results_path`` key of the parent state and writes ``report`` and ``summary`` back.
"""

from __future__ import annotations

import sys
from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from graph import graph as inspector
from graph.context import Context


class PipelineState(TypedDict, total=False):
    results_path: str
    report: str
    summary: dict[str, Any]
    verdict: str


def gate(state: PipelineState) -> dict[str, str]:
    """Stop the pipeline when the sweep has high-severity trouble."""
    high = state["summary"]["severity_counts"]["high"]
    return {"verdict": "blocked: fix the sweep first" if high else "ok: promote the best trial"}


def build_pipeline() -> Any:
    builder = StateGraph(PipelineState, context_schema=Context)
    builder.add_node("inspect_sweep", inspector)
    builder.add_node("gate", gate)
    builder.add_edge(START, "inspect_sweep")
    builder.add_edge("inspect_sweep", "gate")
    builder.add_edge("gate", END)
    return builder.compile()


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "examples/sample_results.csv"
    result = build_pipeline().invoke({"results_path": path}, context=Context(offline=True))
    print(result["verdict"])
    print(result["report"].splitlines()[0])
