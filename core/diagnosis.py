"""The whole deterministic diagnosis of a sweep in one call: no model, no graph.

What ``python -m graph.run --offline`` computes (roles, detectors, statistics,
patterns, recommendations, next sweep), for callers that diagnose again and again
while a sweep runs (:mod:`hparam_inspector.watch`) and must stay cheap and
import-light.
"""

from __future__ import annotations

from typing import Any

from core.detectors import Thresholds
from core.next_sweep import plan_next_sweep
from core.patterns import analyze_patterns
from core.roles import infer_roles
from core.summary import analyze_sweep
from core.sweep import Sweep


def diagnose(sweep: Sweep, thresholds: Thresholds | None = None, alpha: float = 0.05,
             min_support: int = 3) -> dict[str, Any]:
    """The full summary of ``sweep`` as the deterministic analyst and writer give it.

    Returns the keys of :func:`core.summary.build_summary` plus ``patterns``,
    ``leads``, ``recommendations``, ``analysis``, ``writer`` (deterministic) and
    ``next_sweep``: ready for :func:`graph.report.markdown.render_report`.
    """
    sweep.trials.format = sweep.format  # shown in the report ("Read as ...")
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    curves = sweep.curves
    summary = analyze_sweep(sweep.trials, roles, thresholds, curves=curves, curve_hints=sweep.curve_hints,
                            search_space=sweep.space, alpha=alpha, min_support=min_support)
    analysis = analyze_patterns(summary, alpha=alpha, min_support=min_support)
    for group in ("patterns", "recommendations"):
        analysis[group] = [item | {"phrased_by_model": False} for item in analysis[group]]
    full = summary | analysis | {"hypotheses": [], "writer": {
        "author": "deterministic", "analyst": "deterministic", "narrative": None, "notes": [],
        "revisions": 0, "rejected_ids": [], "removed_sentences": 0}}
    full["next_sweep"] = plan_next_sweep(full)
    return full
