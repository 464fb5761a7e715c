"""Wiring: load -> detect -> analyze -> write, and back to analyze on bad citations."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph

from graph.context import Context
from graph.llm import MODEL_RETRY
from graph.nodes import analyze, detect, load, write
from graph.state import InputState, OutputState, State


def route_after_write(state: State) -> Literal["analyze", "__end__"]:
    """Back to the analyst while the draft cites trial ids wrongly (the write node caps the loop)."""
    return "analyze" if state.get("invalid_citations") else END


def build_graph() -> StateGraph:
    """The uncompiled graph (compile it with your own checkpointer if you need one).

    The two nodes that call a model retry transient model errors with
    :data:`graph.llm.MODEL_RETRY`; the nodes themselves stop retrying (and fall back
    to the deterministic path) before ``Context.llm_budget`` seconds are spent.
    """
    builder = StateGraph(State, context_schema=Context, input_schema=InputState, output_schema=OutputState)
    builder.add_node("load", load)
    builder.add_node("detect", detect)
    builder.add_node("analyze", analyze, retry_policy=MODEL_RETRY)
    builder.add_node("write", write, retry_policy=MODEL_RETRY)
    builder.add_edge(START, "load")
    builder.add_edge("load", "detect")
    builder.add_edge("detect", "analyze")
    builder.add_edge("analyze", "write")
    builder.add_conditional_edges("write", route_after_write)
    return builder


graph = build_graph().compile(name="Hyperparameter Pathology Inspector")
