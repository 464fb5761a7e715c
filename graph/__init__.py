"""The sweep-diagnosis graph: ``from graph import graph, build_graph``."""

from graph.builder import build_graph, graph

__all__ = ["build_graph", "graph"]
