"""The four nodes: load -> detect -> analyze -> write. Thin: the work is in ``core``."""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.grounding import FactIndex, Grounded
from core.loading import RawTable
from core.next_sweep import plan_next_sweep
from core.patterns import analyze_patterns
from core.records import SCHEMA_VERSION, Diagnosis, Writer, undeclared_keys_left_out
from core.roles import ColumnRoles, infer_roles
from core.summary import analyze_sweep
from core.sweep import Sweep
from graph import llm
from graph.context import Context, context_of
from graph.inputs import Loaded, load_sweep, sweep_of
from graph.report.compose import compose
from graph.state import State

if TYPE_CHECKING:
    from langgraph.runtime import Runtime


def load(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Read the sweep (a file, directory, storage URL, or records) and infer the column roles.

    Any tool's export is read by :func:`core.sources.read_sweep` (records by
    :func:`core.sources.records.read_records`) and kept in the process's cache
    (:mod:`graph.inputs`), not in the state; the roles its reader knows, with the
    caller's ``mapping`` over them, are hints to role inference (inferred once per sweep read).
    """
    return load_sweep(state).facts(sweep_facts)


def sweep_facts(sweep: Sweep) -> dict[str, Any]:
    """What the load node puts in the state about a sweep: where it came from, its size, its roles."""
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    curves = sweep.curves
    return {
        "source": sweep.source,
        "sweep_format": sweep.format,
        "n_trials": len(sweep.trials.frame),
        "n_curve_trials": curve_trials(curves),
        "roles": roles.to_dict(),
        "notes": {"replace": []},
        "revisions": 0,
        "invalid_citations": [],
        "model_started": None,
    }


def curve_trials(curves: RawTable | None) -> int | None:
    """How many trials the curves hold (None without curves)."""
    if curves is None:
        return None
    ids = curves.frame["trial_id"] if "trial_id" in curves.frame.columns else None
    return int(ids.nunique()) if ids is not None else None


def detect(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run every detector and the association statistics on the sweep the load node read; the summary holds the facts."""
    return {"summary": summarise(sweep_of(state), state["roles"], context_of(runtime))}


def summarise(loaded: Loaded, roles: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """The detect node's summary of a sweep as read, with the state's roles and the run's thresholds.

    Its issue rows are column by column (:meth:`core.records.IssueColumns.to_state`), as the state keeps them.
    """
    column_roles = ColumnRoles.from_dict(roles)
    table = loaded.trial_table(column_roles)  # first: a file's text cells are let go once it is built
    sweep = loaded.sweep
    return analyze_sweep(sweep.trials, column_roles, ctx.thresholds(), table=table, curve_table=loaded.curve_table(),
                         search_space=sweep.space, issue_columns_form=True, alpha=ctx.alpha,
                         min_support=ctx.min_support)


def analyze(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Patterns and recommendations from ``core``; a model may rank, merge and explain them.

    A transient model failure (timeout, 429, 5xx, connection reset) is raised for the
    node's retry policy while the time budget allows; any other failure, or a spent
    budget, keeps the deterministic analysis with a one-line notice, and the writer
    then does not call the model either.
    """
    ctx = context_of(runtime)
    summary = state["summary"]  # its issues column by column: the analyst and the model read either form
    analysis = analyze_patterns(summary, alpha=ctx.alpha, min_support=ctx.min_support)
    try:
        model = llm.get_chat_model(ctx)
    except Exception as exc:  # noqa: BLE001 - a model that cannot even be built is unavailable
        return {"analysis": analysis | {"model": {"unavailable": True}},
                "notes": [f"model unavailable ({llm.reason(exc)}); the deterministic analyst and writer were used"]}
    if model is None:
        return {"analysis": analysis}
    from graph.phrasing import ask_analyst  # only with a model (its reply schemas are pydantic models)

    calls = llm.ModelCalls(runtime, model, state.get("model_started"))
    try:
        phrased, notices = ask_analyst(calls, summary, analysis, state.get("invalid_citations", []),
                                       ctx.prompt_token_budget)
    except Exception as exc:  # noqa: BLE001 - retried (TransientModelError) or the deterministic analyst
        why = calls.give_up_or_retry(exc)
        return {"analysis": analysis | {"model": {"unavailable": True, "called": llm.model_label(ctx, model)}},
                "model_started": calls.started,
                "notes": [f"model unavailable ({why}); the deterministic analyst and writer were used"]}
    return {"analysis": phrased | {"model": {"analyst": llm.model_label(ctx, model)}}, "notes": notices,
            "model_started": calls.started}


_REMOVED_BECAUSE = {
    "unknown_id": "cited trial ids not in the data",
    "misattributed_id": "gave a trial an issue it does not have",
    "count": "stated counts the analysis does not give",
    "param": "stated hyperparameter values not in the analysis",
    "number": "stated numbers not in the analysis",
    "health": "called the sweep healthy although trials have issues",
    "claim": "claimed safety or an absence the analysis does not establish",
    "markup": "contained links, images or HTML",
}


def write(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Render the report and its pictures; send the analysis back if model text cites trial ids wrongly.

    Every model-written sentence (the analyst's wording and hypotheses, the writer's
    overview) is checked against the summary (:mod:`core.grounding`). Trial ids the
    summary lacks, or given an issue they do not have, send the flow back to the
    analyst with the list, until ``max_revisions``; after that, and for any other
    unbacked fact (number, count, hyperparameter value, "all healthy"), the sentence
    is removed and the report says so in one line. Tables come from ``core`` only.
    """
    ctx = context_of(runtime)
    summary, analysis = state["summary"], dict(state["analysis"])  # its issues stay column by column
    model_info = analysis.pop("model", None) or {}
    facts = _fact_index(summary, analysis)
    checks = _check_analysis(analysis, facts)
    bad_ids = [i for g in checks.values() for i in g.citation_errors]
    revisions = state.get("revisions", 0)
    may_loop = revisions < ctx.max_revisions
    overview = _Overview()
    if not (bad_ids and may_loop) and not model_info.get("unavailable"):
        overview = _overview(state, runtime, summary, _apply(analysis, checks), facts)
    bad_ids = list(dict.fromkeys(bad_ids + (overview.check.citation_errors if overview.check else [])))
    if bad_ids and may_loop:
        return {"invalid_citations": bad_ids, "revisions": revisions + 1, "notes": overview.notes} | overview.started
    _forget_facts(summary)  # no revision follows: a long-lived server keeps no sweep's facts
    return _report(state, ctx, summary, _apply(analysis, checks), list(checks.values()), overview, model_info, bad_ids)


@dataclass
class _Overview:
    """The writer model's overview paragraph, grounded: who wrote it, what was said about it."""

    author: str | None = None
    """The model's label, when one was called."""
    check: Grounded | None = None
    """The paragraph after grounding (None: no paragraph)."""
    notes: list[str] = field(default_factory=list)
    started: dict[str, Any] = field(default_factory=dict)
    """``model_started`` for the state, when a model was called."""


def _overview(state: State, runtime: Runtime[Context], summary: dict[str, Any], analysis: dict[str, Any],
              facts: FactIndex) -> _Overview:
    """Ask the writer model (if one is set) for the overview paragraph of the analysis, and ground it."""
    ctx = context_of(runtime)
    model = llm.get_chat_model(ctx)
    if model is None:
        return _Overview()
    from graph.phrasing import ask_writer

    calls = llm.ModelCalls(runtime, model, state.get("model_started"))
    out = _Overview(author=llm.model_label(ctx, model))
    try:
        narrative = ask_writer(calls, summary, analysis, state.get("invalid_citations", []), ctx.prompt_token_budget)
    except Exception as exc:  # noqa: BLE001 - retried (TransientModelError) or no model paragraph
        out.notes.append(f"model writer unavailable ({calls.give_up_or_retry(exc)}); the overview has no model paragraph")
    else:
        if not narrative:
            out.notes.append("the model writer returned an empty overview; the report has no model paragraph")
        out.check = facts.ground(narrative) if narrative else None
    out.started = {"model_started": calls.started}
    return out


def _report(state: State, ctx: Context, summary: dict[str, Any], final: dict[str, Any], groundings: list[Grounded],
            overview: _Overview, model_info: dict[str, Any], bad_ids: list[str]) -> dict[str, Any]:
    """The write node's output: the final summary with the writer's record, the report, its pictures."""
    revisions = state.get("revisions", 0)
    groundings = groundings + ([overview.check] if overview.check else [])
    new_notes = list(overview.notes)
    removed = _removed_line(groundings, revisions)
    if removed:
        new_notes.append(removed)
    narrative = (overview.check.text or None) if overview.check else None
    used_model = bool(narrative) or any(p.get("phrased_by_model") for p in final["patterns"] + final["recommendations"])
    author = model_info.get("analyst") or overview.author
    full = complete_summary(summary, final, {
        "author": author if used_model and author else "deterministic",
        "analyst": model_info.get("analyst") or "deterministic",
        "model_called": author or model_info.get("called"),  # even when none of its text was kept
        "narrative": narrative,
        "notes": list(dict.fromkeys(list(state.get("notes", [])) + new_notes)),
        "revisions": revisions,
        "rejected_ids": bad_ids,
        "removed_sentences": sum(len(g.removed) for g in groundings)})
    with undeclared_keys_left_out() as left_out:
        diagnosis = Diagnosis.from_dict(full)  # what the report is rendered from: typed once, its issues column-wise
    if left_out:  # a producer out of step with the records: the report still, and the JSON as the schema has it
        full = dataclasses.replace(diagnosis, issues=[]).to_dict() | {"issues": full["issues"]}
        _note(full, diagnosis, new_notes, f"the summary held key(s) no record of schema {SCHEMA_VERSION} declares, "
              f"left out: {', '.join(dict.fromkeys(left_out))} (a bug: please report it)")
    pictures, failed = _pictures(state, diagnosis) if ctx.pictures else ([], None)
    if failed:
        _note(full, diagnosis, new_notes, failed)
    kept = _KEPT.get()
    if kept is not None:
        kept[:] = [(full, diagnosis)]
    return {"summary": full, **compose(diagnosis, pictures), "invalid_citations": [], "notes": new_notes}


def _note(full: dict[str, Any], diagnosis: Diagnosis, notes: list[str], text: str) -> None:
    """A note of the write node's own, in the final summary's writer record, its typed one and the state's notes."""
    full["writer"]["notes"].append(text)
    diagnosis.writer = Writer.from_dict(full["writer"])
    notes.append(text)


_KEPT: ContextVar[list[tuple[dict[str, Any], Diagnosis]] | None] = ContextVar("hparam_kept_diagnosis", default=None)
"""Inside :func:`keeping_diagnosis`: the final summary the write node made, with the :class:`Diagnosis` it rendered."""


@contextmanager
def keeping_diagnosis() -> Iterator[None]:
    """For one run of the caller's: the write node leaves its typed final summary where :func:`diagnosis_of` finds it.

    The command line reads the run's final summary once more (its closing lines, ``--fail-on``,
    ``--log-to``); typing 2,800 associations again took 0.07-0.1 s after the pictures. What
    is kept ends with the block: a long-lived server or Studio, which opens none, keeps nothing.
    The nodes see the caller's context (LangGraph runs them in a copy of it).
    """
    token = _KEPT.set([])
    try:
        yield
    finally:
        _KEPT.reset(token)


def diagnosis_of(summary: dict[str, Any]) -> Diagnosis:
    """The typed final summary: the write node's own when ``summary`` is the very dict it returned, else typed now."""
    kept = _KEPT.get()
    return kept[0][1] if kept and kept[0][0] is summary else Diagnosis.from_dict(summary)


def _pictures(state: State, summary: Diagnosis) -> tuple[list[tuple[dict[str, str], bytes]], str | None]:
    """The report's pictures from the run's typed tables (see :mod:`graph.inputs`); a failure costs only the pictures."""
    from graph.report import worker

    try:
        loaded = sweep_of(state)
        table = loaded.trial_table(ColumnRoles.from_dict(state["roles"]))
        return worker.draw(summary, table, loaded.curve_table()), None
    except Exception as exc:  # noqa: BLE001 - the report is worth more than its pictures
        return [], f"pictures were not drawn ({type(exc).__name__}: {exc})"


def complete_summary(summary: dict[str, Any], analysis: dict[str, Any], writer: dict[str, Any]) -> dict[str, Any]:
    """The final summary (``hparam_summary.json``): the facts, the analysis as written, the writer's record, the next sweep.

    The issues stay in the form ``summary`` holds them (the state's columns in the write
    node), which the plan reads as they are.
    """
    full = summary | analysis | {"writer": writer}
    full["next_sweep"] = plan_next_sweep(full)
    return {k: v if k in _FINITE else _strict_json(v) for k, v in full.items()}


_FINITE = frozenset({"issues", "associations"})
"""Summary keys strict JSON by construction, not walked: the issue rows (``epoch`` only when finite), and the
associations (counts, rates and tests, and region bounds taken from a hyperparameter's finite values only);
at a million trials they are most of the summary's nodes."""


def _strict_json(node: Any) -> Any:
    """The summary as strict JSON can hold it: a non-finite float (a hyperparameter set to ``inf``) becomes a word.

    Counts, rates and metric values are finite by construction, and so are the issue
    rows and the associations (:data:`_FINITE`), which are not walked; this catches the
    values copied from the input (the best trial's hyperparameters, the next sweep's start).
    """
    if isinstance(node, float) and not math.isfinite(node):
        return "nan" if math.isnan(node) else ("inf" if node > 0 else "-inf")
    if isinstance(node, dict):
        return {k: _strict_json(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_strict_json(v) for v in node]
    return node


def _deterministic(analysis: dict[str, Any]) -> dict[str, Any]:
    """The analysis without anything a model wrote (the facts model text is checked against)."""
    def plain(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k != "phrasing"} for item in items]

    return {k: v for k, v in analysis.items() if k != "hypotheses"} | {
        "patterns": plain(analysis["patterns"]), "recommendations": plain(analysis["recommendations"])}


_INDEXES: dict[int, tuple[dict[str, Any], str, FactIndex]] = {}
_INDEXES_LOCK = threading.Lock()


def _fact_index(summary: dict[str, Any], analysis: dict[str, Any]) -> FactIndex:
    """The facts model text is checked against: the summary with the deterministic analysis.

    One :class:`~core.grounding.FactIndex` per summary and analysis, kept for the next
    revision of the same run (the analysis a model phrases again is the same underneath),
    so the facts are collected at most once per run and only if a model wrote something.
    """
    deterministic = _deterministic(analysis)
    key = json.dumps(deterministic, sort_keys=True, default=str)
    with _INDEXES_LOCK:
        hit = _INDEXES.get(id(summary))
        if hit is not None and hit[0] is summary and hit[1] == key:
            return hit[2]
        index = FactIndex(summary | deterministic)
        _INDEXES.clear()  # the running run's only: a summary of a million trials is large
        _INDEXES[id(summary)] = (summary, key, index)
        return index


def _forget_facts(summary: dict[str, Any]) -> None:
    """Let the facts of ``summary`` go (:func:`_fact_index`): its run ends without another revision."""
    with _INDEXES_LOCK:
        hit = _INDEXES.get(id(summary))
        if hit is not None and hit[0] is summary:
            del _INDEXES[id(summary)]


def _check_analysis(analysis: dict[str, Any], facts: FactIndex) -> dict[tuple[str, str, str], Grounded]:
    """Every model-written field of the analysis, grounded: ``(group, id, field) -> Grounded``."""
    checks = {}
    for group in ("patterns", "recommendations", "hypotheses"):
        for item in analysis.get(group, []):
            if group == "hypotheses":
                fields = {k: item[k] for k in ("title", "explanation", "recommendation") if item.get(k)}
            else:
                fields = item.get("phrasing") or {}
            for key, text in fields.items():
                checks[(group, item["id"], key)] = facts.ground(text)
    return checks


def _apply(analysis: dict[str, Any], checks: dict[tuple[str, str, str], Grounded]) -> dict[str, Any]:
    """The analysis with the model's wording where it survived grounding, and its hypotheses.

    Surviving hypotheses are also listed after the recommendations, marked as untested.
    """
    def apply(group: str, item: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in item.items() if k != "phrasing"}
        out["phrased_by_model"] = False
        for key in item.get("phrasing") or {}:
            text = checks[(group, item["id"], key)].text
            if text:
                out[key] = text
                out["phrased_by_model"] = True
        return out

    recommendations = [apply("recommendations", r) for r in analysis["recommendations"]]
    hypotheses = []
    for h in analysis.get("hypotheses", []):
        kept = {k: checks[("hypotheses", h["id"], k)].text for k in ("title", "explanation", "recommendation")
                if ("hypotheses", h["id"], k) in checks}
        if kept.get("explanation") or kept.get("recommendation"):
            hypotheses.append(h | {k: kept.get(k, "") for k in ("title", "explanation", "recommendation")})
    for h in hypotheses:
        title = h["title"].rstrip(".:") + ". " if h["title"] else ""
        recommendations.append({
            "id": f"R{len(recommendations) + 1}",
            "text": f"Hypothesis, not tested by the analysis: {title}{h['explanation']} {h['recommendation']}".strip(),
            "evidence": h["evidence"], "pattern_id": None, "trial_ids": [], "hypothesis": True,
            "phrased_by_model": True,
        })
    return analysis | {
        "patterns": [apply("patterns", p) for p in analysis["patterns"]],
        "recommendations": recommendations,
        "hypotheses": hypotheses,
    }


def _removed_line(groundings: list[Grounded], revisions: int) -> str | None:
    """One line saying how many model-written sentences were removed, and why."""
    by_kind: dict[str, int] = {}
    for g in groundings:
        for kind, n in g.removed_by_kind().items():
            by_kind[kind] = by_kind.get(kind, 0) + n
    total = sum(by_kind.values())
    if not total:
        return None
    reasons = ", ".join(f"{by_kind[k]} {_REMOVED_BECAUSE[k]}" for k in _REMOVED_BECAUSE if k in by_kind)
    after = (f" (still there after {revisions} revision(s))"
             if revisions and ("unknown_id" in by_kind or "misattributed_id" in by_kind) else "")
    return f"{total} model-written sentence(s) were removed: {reasons}{after}"

