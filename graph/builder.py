"""Wiring: load -> detect -> analyze -> write, and back to analyze on bad citations."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph

from graph.context import Context
from graph.nodes import analyze, detect, load, write
from graph.state import InputState, OutputState, State


def route_after_write(state: State) -> Literal["analyze", "__end__"]:
    """Back to the analyst while the draft cites trial ids the summary lacks."""
    return "analyze" if state.get("invalid_citations") else END


def build_graph() -> StateGraph:
    """The uncompiled graph (compile it with your own checkpointer if you need one)."""
    builder = StateGraph(State, context_schema=Context, input_schema=InputState, output_schema=OutputState)
    builder.add_node("load", load)
    builder.add_node("detect", detect)
    builder.add_node("analyze", analyze)
    builder.add_node("write", write)
    builder.add_edge(START, "load")
    builder.add_edge("load", "detect")
    builder.add_edge("detect", "analyze")
    builder.add_edge("analyze", "write")
    builder.add_conditional_edges("write", route_after_write)
    return builder


graph = build_graph().compile(name="Hyperparameter Pathology Inspector")
