"""The graph's nodes without LangGraph: ``diagnose(sweep)`` for Python callers, and the offline command line.

    from graph import diagnose
    diagnosis = diagnose("results.csv")              # a file, directory or storage URL
    diagnosis = diagnose(study)                      # a live optuna.Study
    diagnosis = diagnose(study.trials_dataframe())   # a pandas DataFrame (or a list of dicts)
    diagnosis.patterns, diagnosis.next_sweep, diagnosis.to_dict()   # typed; the dict is hparam_summary.json

:func:`run_nodes` runs the four nodes in the graph's order and merges their updates as
the graph does; a run that calls no model needs nothing else of LangGraph (no retry, no
checkpoint, no interrupt), so the command line uses it then and starts faster.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.records import Diagnosis
from graph.context import Context
from graph.inputs import Loaded, read_given
from graph.state import add_notes


@dataclass
class _Runtime:
    """What the nodes read of LangGraph's ``Runtime``: the context (no retries: nothing to retry without a model)."""

    context: Context
    execution_info: None = None


def run_nodes(state: dict[str, Any], context: Context, start: str = "load") -> Iterator[tuple[str, dict[str, Any]]]:
    """Run the nodes from ``start`` on, as the graph routes them; yield ``(node, update)`` and update ``state``."""
    from graph.nodes import analyze, detect, load, write

    nodes = {"load": load, "detect": detect, "analyze": analyze, "write": write}
    order = list(nodes)
    runtime = _Runtime(context)
    name: str | None = start
    while name is not None:
        update = nodes[name](state, runtime)  # type: ignore[arg-type]
        for key, value in update.items():
            state[key] = add_notes(state.get(key), value) if key == "notes" else value
        yield name, update
        if name == "write":
            name = "analyze" if update.get("invalid_citations") else None
        else:
            name = order[order.index(name) + 1]


def diagnose(
    sweep: str | os.PathLike[str] | Any,
    *,
    format: str | None = None,
    study: str | None = None,
    curves: str | os.PathLike[str] | None = None,
    mapping: Mapping[str, str] | None = None,
    context: Context | None = None,
) -> Diagnosis:
    """Diagnose a sweep: which trials are sick, why, and what to try next.

    Parameters
    ----------
    sweep : path, DataFrame, optuna.Study or list of dict
        A results table, SQLite file, storage URL or tool directory (as the command line
        takes it); a pandas DataFrame or a list of dicts, one row per trial (``None``/NA
        missing, NaN a reported non-finite value; an Optuna ``trials_dataframe()`` is read
        as Optuna's, where NaN is missing); or a live ``optuna.Study`` (its intermediate
        values become curves, its distributions the declared search space).
    format, study, curves, mapping
        As the command line's ``--format``, ``--study``, ``--curves`` and ``--map``.
    context : Context, optional
        Thresholds and analysis settings (``alpha``, ``min_support``, ``n_classes``, ...);
        no model is called, whatever its model settings say.

    Returns
    -------
    Diagnosis
        The typed summary (:class:`core.records.Diagnosis`); ``.to_dict()`` is the summary
        as ``hparam_summary.json`` holds it, the graph's ``summary`` of the same sweep offline.

    Raises
    ------
    InputError
        Bad input, with one line naming the file, row or column.
    """
    from dataclasses import replace

    from graph.nodes import diagnosis_of, keeping_diagnosis, summarise, sweep_facts

    ctx = replace(context or Context(), offline=True, chat_model=None, pictures=False)
    loaded = Loaded(read_given(sweep, format=format, study=study, curves=curves, mapping=dict(mapping or {})), None)
    state = sweep_facts(loaded.sweep)
    state["notes"] = []
    state["summary"] = summarise(loaded, state["roles"], ctx)
    with keeping_diagnosis():
        for _ in run_nodes(state, ctx, start="analyze"):
            pass
        return diagnosis_of(state["summary"])
