"""The sweep-diagnosis graph: ``from graph import graph, build_graph`` (and :func:`diagnose` without LangGraph).

The names are imported on first use, so ``python -m graph.run --help`` and the plain
:func:`diagnose` do not pay for LangGraph and LangChain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graph.builder import build_graph, graph
    from graph.diagnose import diagnose

__all__ = ["build_graph", "diagnose", "graph"]
_HOME = {"build_graph": "graph.builder", "graph": "graph.builder", "diagnose": "graph.diagnose"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'graph' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(_HOME[name]), name)
    globals()[name] = value
    return value
