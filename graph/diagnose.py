"""``diagnose(sweep)``: the whole diagnosis as plain Python, no graph, no model.

    from graph import diagnose
    summary = diagnose("results.csv")              # a file, directory or storage URL
    summary = diagnose(study)                      # a live optuna.Study
    summary = diagnose(study.trials_dataframe())   # a pandas DataFrame (or a list of dicts)
    summary["patterns"], summary["next_sweep"]

It runs what the graph's nodes run with the deterministic analyst and writer, and
returns the summary exactly as ``hparam_summary.json`` holds it (the graph's
``summary`` of an offline run).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import InputError
from core.patterns import analyze_patterns
from core.roles import infer_roles
from core.sources import apply_mapping, mark_running_best, read_curves, read_sweep
from core.sources.records import read_frame, read_records, read_study
from core.summary import analyze_sweep
from core.sweep import Sweep
from core.table import build_trial_table
from graph.context import Context


def diagnose(
    sweep: str | os.PathLike[str] | Any,
    *,
    format: str | None = None,
    study: str | None = None,
    curves: str | os.PathLike[str] | None = None,
    mapping: Mapping[str, str] | None = None,
    context: Context | None = None,
) -> dict[str, Any]:
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
        its model settings are ignored: no model is called.

    Returns
    -------
    dict
        The summary, as ``hparam_summary.json`` holds it (schema in ``schema/``).

    Raises
    ------
    InputError
        Bad input, with one line naming the file, row or column.
    """
    from graph.nodes import complete_summary, deterministic_analysis

    ctx = context or Context(offline=True)
    read = _read(sweep, format=format, study=study, curves=curves, mapping=dict(mapping or {}))
    roles = infer_roles(read.trials.frame, read.source, read.role_hints)
    summary = analyze_sweep(read.trials, roles, ctx.thresholds(), table=build_trial_table(read.trials, roles),
                            curves=read.curves, curve_hints=read.curve_hints, search_space=read.space)
    analysis = deterministic_analysis(analyze_patterns(summary, alpha=ctx.alpha, min_support=ctx.min_support))
    writer = {"author": "deterministic", "analyst": "deterministic", "model_called": None, "narrative": None,
              "notes": [], "revisions": 0, "rejected_ids": [], "removed_sentences": 0}
    return complete_summary(summary, analysis, writer)


def _read(sweep: Any, *, format: str | None, study: str | None, curves: str | os.PathLike[str] | None,
          mapping: dict[str, str]) -> Sweep:
    """The sweep from whatever was given, with ``curves`` and ``mapping`` applied."""
    if isinstance(sweep, (str, os.PathLike)):
        return read_sweep(sweep, format=format, study=study, curves=curves, mapping=mapping)
    if format is not None or study is not None:
        raise InputError("format= and study= apply to a path or URL, not to a sweep given in memory")
    if _is_frame(sweep):
        read = read_frame(sweep)
    elif hasattr(sweep, "get_trials") and hasattr(sweep, "study_name"):
        read = read_study(sweep)
    elif isinstance(sweep, Sequence) and not isinstance(sweep, (str, bytes)):
        read = read_records(sweep)
    else:
        raise InputError(f"cannot diagnose a {type(sweep).__name__}: give a path, a pandas DataFrame, an optuna.Study "
                         "or a list of dicts (one per trial)")
    if curves is not None:
        read.curves = read_curves(curves, read, mapping)
    apply_mapping(read, mapping)
    mark_running_best(read, mapping)
    return read


def _is_frame(value: Any) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)
