"""The four nodes: load -> detect -> analyze -> write. Thin: the work is in ``core``."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from langgraph.runtime import Runtime

from core.grounding import cited_ids, ground, summary_numbers, summary_trial_ids
from core.loading import RawTable, records_to_raw
from core.patterns import analyze_patterns
from core.render import render_report
from core.roles import ColumnRoles, infer_roles
from core.sources import read_curves, read_sweep
from core.sources._common import merge_hints
from core.summary import analyze_sweep
from core.sweep import Sweep
from graph import llm
from graph.context import Context
from graph.phrasing import phrase_analysis, write_narrative
from graph.state import State

DEFAULT_RESULTS = "results.csv"


def load(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Read the sweep (a file, directory, storage URL, or records) and infer the column roles.

    Any tool's export is read by :func:`core.sources.read_sweep`; the roles its reader
    knows, with the caller's ``mapping`` over them, are hints to role inference.
    """
    mapping = dict(state.get("mapping") or {})
    if state.get("records"):
        raw = records_to_raw(state["records"])
        sweep = Sweep(trials=raw, role_hints=merge_hints({}, mapping), format="records")
        if state.get("curves_path"):
            sweep.curves = read_curves(state["curves_path"], sweep)
    else:
        path = state.get("results_path") or os.environ.get("HPATH_RESULTS_CSV") or DEFAULT_RESULTS
        sweep = read_sweep(path, format=state.get("format"), study=state.get("study"),
                           curves=state.get("curves_path"), mapping=mapping)
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    frame, curves = sweep.trials.frame, sweep.curves
    return {
        "source": sweep.source,
        "sweep_format": sweep.format,
        "raw": {col: frame[col].tolist() for col in frame.columns},
        "curves": {col: curves.frame[col].tolist() for col in curves.frame.columns} if curves is not None else None,
        "role_hints": sweep.role_hints,
        "roles": roles.to_dict(),
        "notes": sweep.notes,
        "revisions": 0,
        "invalid_citations": [],
    }


def detect(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run every detector and the association statistics; the summary holds the facts."""
    raw = RawTable(frame=pd.DataFrame(state["raw"], dtype=object), source=state["source"],
                   notes=list(state.get("notes", [])), format=state.get("sweep_format") or "csv")
    roles, thresholds = ColumnRoles.from_dict(state["roles"]), runtime.context.thresholds()
    if state.get("curves"):
        curves = RawTable(frame=pd.DataFrame(state["curves"], dtype=object), source=state["source"])
        summary = analyze_sweep(raw, roles, thresholds, curves=curves)
    else:
        summary = analyze_sweep(raw, roles, thresholds)
    return {"summary": summary}


def analyze(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Turn associations into patterns and recommendations; a model may reword them."""
    ctx = runtime.context
    analysis = analyze_patterns(state["summary"], alpha=ctx.alpha, min_support=ctx.min_support)
    model = llm.get_chat_model(ctx)
    if model is None:
        return {"analysis": analysis}
    try:
        phrased, notice = phrase_analysis(model, state["summary"], analysis, state.get("invalid_citations", []))
    except Exception as exc:  # noqa: BLE001 - any model failure falls back to the deterministic analyst
        return {"analysis": analysis, "notes": [f"model analyst unavailable ({_reason(exc)}); used the deterministic analyst"]}
    return {"analysis": phrased, "notes": [notice] if notice else []}


def write(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Render the report; send the analysis back if model text cites unknown trial ids.

    Model-written text (wording of patterns and recommendations, the overview
    paragraph) is checked against the summary. Unknown trial ids send the flow back to
    the analyst until ``max_revisions`` is reached; after that, and for any unknown
    number, the offending sentences are removed and the report says so in one line.
    """
    ctx = runtime.context
    summary, analysis = state["summary"], state["analysis"]
    file_notes = set(summary["sweep"]["notes"])
    notes = [n for n in state.get("notes", []) if n not in file_notes]
    narrative, new_notes = None, []
    model = llm.get_chat_model(ctx)
    if model is not None:
        try:
            narrative = write_narrative(model, summary, analysis, state.get("invalid_citations", []))
        except Exception as exc:  # noqa: BLE001 - the report is still written without it
            new_notes.append(f"model writer unavailable ({_reason(exc)}); the overview has no model paragraph")

    known = summary_trial_ids(summary)
    texts = _model_texts(analysis, narrative)
    bad_ids = sorted({i for text in texts for i in cited_ids(text, known) if i not in known})
    revisions = state.get("revisions", 0)
    if bad_ids and revisions < ctx.max_revisions:
        return {"invalid_citations": bad_ids, "revisions": revisions + 1, "notes": new_notes}

    numbers = summary_numbers(summary)
    removed: list[str] = []
    final = _grounded_analysis(analysis, known, numbers, removed)
    if narrative:
        checked = ground(narrative, known, numbers)
        removed += checked.removed
        narrative = checked.text or None
    if removed:
        cause = (f"cited {len(bad_ids)} trial id(s) not in the data after {revisions} revision(s)"
                 if bad_ids else "stated numbers not in the analysis")
        new_notes.append(f"{len(removed)} model-written sentence(s) that {cause} were removed")
    author = _model_name(model) if model is not None and _used_model(final, narrative) else "deterministic"
    full = summary | final | {
        "writer": {"author": author, "narrative": narrative,
                   "notes": notes + new_notes, "revisions": revisions, "rejected_ids": bad_ids},
    }
    return {"summary": full, "report": render_report(full), "invalid_citations": [], "notes": new_notes}


def _model_texts(analysis: dict[str, Any], narrative: str | None) -> list[str]:
    texts = [v for item in analysis["patterns"] + analysis["recommendations"]
             for v in item.get("phrasing", {}).values()]
    return texts + ([narrative] if narrative else [])


def _grounded_analysis(
    analysis: dict[str, Any], known: set[str], numbers: set[float], removed: list[str]
) -> dict[str, Any]:
    """Apply the model's wording where it survives grounding; drop the ``phrasing`` keys."""
    def apply(item: dict[str, Any]) -> dict[str, Any]:
        phrasing = item.get("phrasing")
        out = {k: v for k, v in item.items() if k != "phrasing"}
        out["phrased_by_model"] = False
        for key, text in (phrasing or {}).items():
            checked = ground(text, known, numbers)
            removed.extend(checked.removed)
            if checked.text:
                out[key] = checked.text
                out["phrased_by_model"] = True
        return out

    return analysis | {
        "patterns": [apply(p) for p in analysis["patterns"]],
        "recommendations": [apply(r) for r in analysis["recommendations"]],
    }


def _used_model(analysis: dict[str, Any], narrative: str | None) -> bool:
    return bool(narrative) or any(
        item["phrased_by_model"] for item in analysis["patterns"] + analysis["recommendations"]
    )


def _model_name(model: Any) -> str:
    return str(getattr(model, "model_id", None) or getattr(model, "model_name", None) or type(model).__name__)


def _reason(exc: Exception) -> str:
    """A one-line reason that never carries a secret."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    token = os.environ.get("HF_TOKEN")
    return text.replace(token, "***") if token else text

