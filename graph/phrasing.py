"""What a model is shown, what it may answer, and how its answer is checked.

- :func:`compact_view` turns the summary into the JSON the model reads: counts, the
  strongest associations and findings with a few example ids, the deterministic
  patterns; never the whole table, and at most ``budget`` tokens whatever the sweep's
  size. Every string from the input (column names, values, ids, messages) is quoted
  JSON data, shortened, with ``<`` and ``>`` escaped so it cannot close the
  ``<data>`` block.
- :func:`ask_analyst` asks for :class:`AnalystReply` (structured output, pydantic
  validated, one repair round) and :func:`apply_drafts` maps it onto the deterministic
  analysis: the model may rank, merge and explain the patterns of ``core/`` and add
  hypotheses marked as such, never drop a pattern or state a new fact; its evidence
  is references (``A3``, ``F1``, ``P2``, ``L1``) into the summary.
- :func:`ask_writer` asks for the overview paragraph. Nothing here trusts a reply:
  the write node grounds every model-written sentence against the summary.

Token counts are estimated without a tokenizer (nothing may be downloaded): one token
per 3 ASCII characters plus one per other character. BPE vocabularies of current chat
models (Llama 3, Qwen 2, Mistral) average about 4 characters per token on English and
3 to 3.5 on JSON with numbers, so the estimate errs on the high side.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.records import Association, BestTrial, Finding, IssueColumns, Pattern, Recommendation, SweepInfo
from core.values import format_p
from prompts import load_prompt

if TYPE_CHECKING:
    from graph.llm import ModelCalls

DEFAULT_BUDGET = 6000
REPAIR_RESERVE = 900
"""Tokens kept free in the first prompt so the repair prompt (first prompt, the bad
reply cut to :data:`_REPLY_CHARS`, the errors) fits the same budget."""
_REPLY_CHARS = 1500
_MAX_HYPOTHESES = 3


@dataclass(frozen=True)
class _Level:
    """How much of the summary a view shows; levels are tried in turn until one fits."""

    associations: int
    findings: int
    ids: int
    """Example trial ids per item."""
    chars: int
    """Characters per string from the input."""
    hyperparameters: int
    values: int
    """Values shown per categorical hyperparameter."""
    items: int
    """Leads, recommendations, statuses and best-trial values shown."""


_LEVELS = [_Level(40, 20, 3, 160, 30, 8, 10), _Level(25, 12, 3, 120, 20, 6, 8), _Level(15, 8, 2, 100, 15, 5, 6),
           _Level(10, 5, 2, 80, 10, 4, 5), _Level(6, 3, 1, 60, 8, 3, 4), _Level(3, 2, 1, 40, 5, 2, 3),
           _Level(0, 0, 0, 30, 3, 0, 2), _Level(0, 0, 0, 20, 0, 0, 0)]


class PatternDraft(BaseModel):
    """One pattern as the model states it: words, and references for the facts."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(max_length=300, description="Short title, e.g. 'NaN losses at high learning rate'.")
    issue_type: str = Field(max_length=60, description="Issue type of the evidence, e.g. 'nonfinite_metric'.")
    condition: str = Field(default="", max_length=300,
                           description="Hyperparameter condition exactly as in the evidence, e.g. 'lr ≥ 0.0631'.")
    evidence: list[str] = Field(default_factory=list, max_length=8,
                                description="Ids of the facts this rests on: P1, A3, L1, F2 ...")
    explanation: str = Field(default="", max_length=1200, description="Likely mechanism, 1-2 sentences.")
    recommendation: str = Field(default="", max_length=800, description="One concrete next step.")
    hypothesis: bool = Field(default=False,
                             description="True when this is a guess the analysis did not test.")


class AnalystReply(BaseModel):
    """The analyst's whole reply: patterns, most important first."""

    model_config = ConfigDict(extra="ignore")

    patterns: list[PatternDraft] = Field(default_factory=list, max_length=20)


def estimate_tokens(text: str) -> int:
    """A conservative token count: ceil(ASCII characters / 3) + other characters."""
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_chars / 3) + (len(text) - ascii_chars)


def compact_view(summary: dict[str, Any], analysis: dict[str, Any], budget: int = DEFAULT_BUDGET) -> str:
    """The summary as the model reads it: JSON of at most ``budget`` estimated tokens.

    Shows the sweep's counts, hyperparameter ranges, the deterministic patterns
    (with ``k/n`` in and out of the region), leads, the strongest other associations
    and the findings, each with a few example trial ids. When the whole view is too
    long, fewer associations, findings, ids and shorter strings are shown, in steps.
    ``summary`` holds the facts (its issues as rows or columns), ``analysis`` the
    patterns, leads and recommendations; both are read as typed records, once.
    """
    shown = _Shown.of(summary, analysis)
    for level in _LEVELS:
        text = _dump(_view(shown, level))
        if estimate_tokens(text) <= budget:
            return text
    return _dump({  # the least a model needs: the counts and which patterns exist
        "sweep": {"n_trials": shown.sweep.n_trials, "trials_affected": shown.trials_affected,
                  "issue_counts": shown.issue_counts},
        "patterns": [{"id": p.id, "issue_type": p.issue_type} for p in shown.patterns],
    })


@dataclass(frozen=True)
class _Shown:
    """What :func:`compact_view` shows the model, typed once and cut down level by level."""

    sweep: SweepInfo
    trials_affected: int
    issue_counts: dict[str, int]
    severity_counts: dict[str, int]
    issues: IssueColumns
    associations: list[Association]
    best_trial: BestTrial | None
    findings: list[Finding]
    patterns: list[Pattern]
    leads: list[Pattern]
    recommendations: list[Recommendation]

    @classmethod
    def of(cls, summary: dict[str, Any], analysis: dict[str, Any]) -> _Shown:
        best = summary.get("best_trial")
        return cls(sweep=SweepInfo.from_dict(summary["sweep"]), trials_affected=summary["trials_affected"],
                   issue_counts=summary["issue_counts"], severity_counts=summary["severity_counts"],
                   issues=IssueColumns.of(summary["issues"]),
                   associations=[Association.from_dict(a) for a in summary["associations"]],
                   best_trial=BestTrial.from_dict(best) if best else None,
                   findings=[Finding.from_dict(f) for f in summary.get("findings") or []],
                   patterns=[Pattern.from_dict(p) for p in analysis.get("patterns", [])],
                   leads=[Pattern.from_dict(p) for p in analysis.get("leads", [])],
                   recommendations=[Recommendation.from_dict(r) for r in analysis.get("recommendations", [])])


def _view(shown: _Shown, level: _Level) -> dict[str, Any]:
    chars, n_ids, n = level.chars, level.ids, level.items

    def q(value: Any, limit: int = chars) -> Any:
        return _quote(value, limit)

    def ids(values: list[Any] | None) -> list[Any]:
        return [q(v, 40) for v in (values or [])[:n_ids]]

    sweep = shown.sweep
    by_type: dict[str, list[str]] = {}  # the first example ids of each issue type, from the columns
    for kind, trial in zip(shown.issues.type, shown.issues.trial_id):
        listed = by_type.setdefault(kind, [])
        if len(listed) < n_ids:
            listed.append(trial)
    in_analysis = {p.association_id for p in shown.patterns + shown.leads}
    associations = sorted((a for a in shown.associations if a.id not in in_analysis and a.k >= 1 and a.rate > a.rate_rest),
                          key=lambda a: (a.q, -a.k))
    view: dict[str, Any] = {
        "sweep": {
            "n_trials": sweep.n_trials,
            "trials_affected": shown.trials_affected,
            "issue_counts": shown.issue_counts,
            "severity_counts": shown.severity_counts,
            "status_counts": {q(k, 40): v for k, v in list(sweep.status_counts.items())[:n]},
            "example_trial_ids_by_issue": {k: ids(v) for k, v in by_type.items()} if n_ids else {},
        },
        "hyperparameters": [_hp_view(name, info, q, level.values) for name, info in
                            list(sweep.hyperparameters.items())[:level.hyperparameters]],
        "best_trial": _best_view(shown.best_trial, q, n),
        "patterns": [_pattern_view(p, q, ids) for p in shown.patterns],
        "leads": [_pattern_view(p, q, ids) for p in shown.leads[:n]],
        "other_associations": [_association_view(a, q, ids) for a in associations[:level.associations]],
        "recommendations": [{"id": r.id, "pattern": r.pattern_id, "text": q(r.text, 2 * chars)}
                            for r in shown.recommendations[:n]],
        "findings": [_finding_view(f, q) | ({"example_trial_ids": ids(f.trial_ids)} if n_ids else {})
                     for f in shown.findings[:level.findings]],
    }
    return view


def _hp_view(name: str, info: Any, q: Any, n_values: int) -> dict[str, Any]:
    out = {"name": q(name, 60), "kind": info.kind}
    if info.kind == "categorical":
        out["values"] = [q(v, 40) for v in list(info.values)[:n_values]]
    else:
        out |= {"min": info.min, "max": info.max}
    return out


def _best_view(best: BestTrial | None, q: Any, n: int) -> dict[str, Any] | None:
    if best is None:
        return None
    return {"trial_id": q(best.trial_id, 40), "metric": q(best.metric, 60), "value": best.value,
            "hyperparameters": {q(k, 60): q(v, 40) for k, v in list(best.hyperparameters.items())[:n]}}


def _pattern_view(p: Pattern, q: Any, ids: Any) -> dict[str, Any]:
    e = p.evidence
    out = {"id": p.id, "association": p.association_id, "issue_type": p.issue_type,
           "hyperparameter": q(p.hyperparameter, 60), "condition": q(p.condition), "title": q(p.title),
           "k": e.k, "n": e.n, "k_rest": e.k_rest, "n_rest": e.n_rest,
           "rate": _round(e.rate), "rate_rest": _round(e.rate_rest), "q": _round(e.q)}
    # What the model must not lose: why a lead is not a pattern, and which pattern explains which.
    out |= {k: q(v) for k, v in (("why", p.why), ("explained_by", p.explained_by)) if v}
    if p.also_issue_types:
        out["also_issue_types"] = list(p.also_issue_types)
    return out | {"example_trial_ids": ids(p.trial_ids)}


def _association_view(a: Association, q: Any, ids: Any) -> dict[str, Any]:
    out = {"id": a.id, "hyperparameter": q(a.hyperparameter, 60), "condition": q(a.condition),
           "issue_type": a.issue_type, "k": a.k, "n": a.n, "k_rest": a.k_rest, "n_rest": a.n_rest}
    out |= {k: _round(v) for k, v in (("rate", a.rate), ("rate_rest", a.rate_rest), ("q", a.q),
                                      ("risk_ratio", a.risk_ratio)) if isinstance(v, (int, float))}
    if a.ci is not None:
        out["ci"] = [_round(v) for v in a.ci]
    return out | {"example_trial_ids": ids(a.trial_ids)}


def _finding_view(f: Finding, q: Any) -> dict[str, Any]:
    """A finding's words (its kind-specific ``hyperparameter`` too) and counts, in the order the finding holds them."""
    data = f.to_dict()
    return ({k: q(v) for k, v in data.items() if k in ("id", "kind", "title", "detail", "hyperparameter")}
            | {k: data[k] for k in ("n_trials", "k", "n") if isinstance(data.get(k), (int, float))})


def _round(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(format_p(value)) if value < 1e-4 else round(value, 4)
    return value


def _quote(value: Any, limit: int) -> Any:
    """Untrusted text as a short one-line string (numbers and None unchanged)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = re.sub(r"[\x00-\x1f\x7f\s]+", " ", str(value)).strip()
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def _dump(view: Any) -> str:
    """Compact JSON in which no string can open or close a tag of the prompt."""
    text = json.dumps(view, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def build_prompt(name: str, data: str, invalid_ids: list[str]) -> str:
    """A prompt file of ``prompts/`` with its ``{feedback}`` and ``{data}`` filled in."""
    feedback = (
        "Your previous draft cited these trial ids wrongly (not in this sweep, or without the issue "
        "the sentence gave them): " + ", ".join(_quote(i, 40) for i in invalid_ids[:20])
        + ". Do not cite them again; cite only ids listed in the data, for the issue listed there."
        if invalid_ids else ""
    )
    return load_prompt(name).replace("{feedback}", feedback).replace("{data}", data)


def analyst_prompt(summary: dict[str, Any], analysis: dict[str, Any], invalid_ids: list[str],
                   budget: int = DEFAULT_BUDGET) -> str:
    """The analyst's first prompt, within ``budget`` (room left for a repair round)."""
    frame = estimate_tokens(build_prompt("analyst", "", invalid_ids))
    view = compact_view(summary, analysis, max(0, budget - frame - REPAIR_RESERVE))
    return build_prompt("analyst", view, invalid_ids)


def writer_prompt(summary: dict[str, Any], analysis: dict[str, Any], invalid_ids: list[str],
                  budget: int = DEFAULT_BUDGET) -> str:
    """The writer's prompt, within ``budget``."""
    frame = estimate_tokens(build_prompt("writer", "", invalid_ids))
    return build_prompt("writer", compact_view(summary, analysis, max(0, budget - frame)), invalid_ids)


def repair_messages(prompt: str, raw: str, errors: list[str]) -> list[tuple[str, str]]:
    """The conversation for the repair round: prompt, the unusable reply, what was wrong."""
    reply = raw if len(raw) <= _REPLY_CHARS else raw[:_REPLY_CHARS] + "…"
    problems = "\n".join(f"- {_quote(e, 200)}" for e in errors[:10])
    return [("user", prompt), ("assistant", reply or "(empty reply)"),
            ("user", load_prompt("analyst_repair").replace("{errors}", problems))]


def evidence_index(summary: dict[str, Any], analysis: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every fact a draft may reference, by id: associations, findings, patterns, leads."""
    index: dict[str, dict[str, Any]] = {}
    for group in (summary.get("associations"), summary.get("findings"), summary.get("patterns"),
                  analysis.get("patterns"), analysis.get("leads")):
        for item in group or []:
            if isinstance(item, dict) and item.get("id"):
                index[str(item["id"])] = item
    return index


def validate_reply(parsed: Any, index: dict[str, dict[str, Any]]) -> tuple[AnalystReply | None, list[str]]:
    """The reply as :class:`AnalystReply` and what is wrong with it (empty: usable as is)."""
    if parsed is None:
        return None, ["the reply was not a JSON object"]
    if isinstance(parsed, list):
        parsed = {"patterns": parsed}
    try:
        reply = AnalystReply.model_validate(parsed)
    except ValidationError as exc:
        return None, [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:8]]
    errors = []
    for n, draft in enumerate(reply.patterns, start=1):
        unknown = [r for r in draft.evidence if r not in index]
        if unknown:
            errors.append(f"pattern {n}: evidence {', '.join(unknown)} is not an id in the data")
        if not draft.hypothesis and not any(r in index for r in draft.evidence):
            errors.append(f"pattern {n}: no evidence id; cite P/A/L/F ids or mark it as a hypothesis")
    return reply, errors


def ask_analyst(calls: ModelCalls, summary: dict[str, Any], analysis: dict[str, Any], invalid_ids: list[str],
                budget: int = DEFAULT_BUDGET) -> tuple[dict[str, Any], list[str]]:
    """The analysis with the model's ranking and wording applied, and one-line notices.

    Structured output first; an unusable reply gets one repair round with the list of
    errors; if that is unusable too, the deterministic analysis is returned with a
    notice. Exceptions from the model call propagate (the node retries or falls back).
    """
    index = evidence_index(summary, analysis)
    prompt = analyst_prompt(summary, analysis, invalid_ids, budget)
    parsed, raw = calls.invoke_json(prompt, AnalystReply)
    reply, errors = validate_reply(parsed, index)
    if errors:
        parsed, raw = calls.invoke_json(repair_messages(prompt, raw, errors), AnalystReply)
        repaired, repair_errors = validate_reply(parsed, index)
        reply = repaired or reply
        if reply is None:
            return analysis, [f"the model's analysis was unusable twice ({repair_errors[0]}); "
                              "kept the deterministic analyst's wording"]
    return apply_drafts(analysis, reply, index)


def ask_writer(calls: ModelCalls, summary: dict[str, Any], analysis: dict[str, Any], invalid_ids: list[str],
               budget: int = DEFAULT_BUDGET) -> str:
    """The model's overview paragraph (unchecked: the caller grounds it)."""
    return calls.invoke(writer_prompt(summary, analysis, invalid_ids, budget)).strip()


def apply_drafts(analysis: dict[str, Any], reply: AnalystReply,
                 index: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Map the model's drafts onto the deterministic analysis.

    - A draft whose first pattern reference (``P2``, or the association or lead of a
      pattern) names a deterministic pattern rewords that pattern (``phrasing``, grounded
      later) and its recommendation; patterns are ordered as the model ranked them,
      the ones it left out follow with their deterministic wording. No pattern is
      dropped: a model cannot remove a finding.
    - Other patterns the draft references are recorded as ``merged_with``.
    - ``issue_type`` and ``condition`` that disagree with the evidence are corrected
      to the evidence's values; unknown references are dropped.
    - A draft marked ``hypothesis``, or resting on no pattern, becomes a hypothesis
      (at most three), shown as such.
    Returns the analysis and one-line notices of what was corrected.
    """
    patterns = {p["id"]: p for p in analysis["patterns"]}
    by_association = {p.get("association_id"): p["id"] for p in analysis["patterns"]}
    phrasing: dict[str, dict[str, str]] = {}
    merged: dict[str, list[str]] = {}
    order: list[str] = []
    hypotheses: list[dict[str, Any]] = []
    corrections = 0
    for draft in reply.patterns:
        refs = [r for r in dict.fromkeys(draft.evidence) if r in index]
        corrections += len(draft.evidence) - len(set(draft.evidence) & set(refs))
        targets = [t for t in (r if r in patterns else by_association.get(r) for r in refs) if t]
        targets = list(dict.fromkeys(targets))
        if targets and targets[0] in phrasing and not draft.hypothesis:
            continue  # a second draft about the same pattern: the first one stands
        if draft.hypothesis or not targets:
            if len(hypotheses) < _MAX_HYPOTHESES and (draft.explanation or draft.recommendation):
                hypotheses.append(_hypothesis(draft, refs, index, len(hypotheses) + 1))
            continue
        target = targets[0]
        facts = patterns[target]
        corrections += _differs(draft.issue_type, facts.get("issue_type"))
        corrections += bool(draft.condition) and _differs(draft.condition, facts.get("condition"))
        phrasing[target] = {k: v for k, v in (("title", draft.title), ("explanation", draft.explanation),
                                               ("recommendation", draft.recommendation)) if v.strip()}
        merged[target] = targets[1:]
        order.append(target)
    order += [pid for pid in patterns if pid not in order]
    new_patterns = []
    for pid in order:
        p = dict(patterns[pid])
        if pid in phrasing:
            p["phrasing"] = phrasing[pid]
            if merged[pid]:
                p["merged_with"] = merged[pid]
        new_patterns.append(p)
    recommendations = []
    for r in analysis["recommendations"]:
        text = phrasing.get(r.get("pattern_id") or "", {}).get("recommendation")
        recommendations.append(r | {"phrasing": {"text": text}} if text else r)
    notices = [f"{corrections} reference(s) or field(s) of the model's analysis did not match the evidence "
               "and were corrected to the analysis's values"] if corrections else []
    return analysis | {"patterns": new_patterns, "recommendations": recommendations,
                       "hypotheses": hypotheses}, notices


def _differs(stated: str, actual: Any) -> bool:
    def norm(s: Any) -> str:
        return re.sub(r"[\s`'\"]+", "", str(s or "")).replace(">=", "≥").replace("<=", "≤").lower()

    return bool(actual) and norm(stated) != norm(actual)


def _hypothesis(draft: PatternDraft, refs: list[str], index: dict[str, dict[str, Any]], n: int) -> dict[str, Any]:
    """A model's untested idea, with the facts it points at described by ``core``'s numbers."""
    return {
        "id": f"H{n}",
        "title": draft.title,
        "explanation": draft.explanation,
        "recommendation": draft.recommendation,
        "evidence_ids": refs,
        "evidence": "; ".join(_describe_ref(r, index[r]) for r in refs) or "none: an untested idea",
    }


def _describe_ref(ref: str, item: dict[str, Any]) -> str:
    e = item.get("evidence") if isinstance(item.get("evidence"), dict) else item
    if isinstance(e.get("k"), int) and isinstance(e.get("n"), int):
        where = item.get("condition") or item.get("hyperparameter") or ""
        rest = f" vs {e['k_rest']}/{e['n_rest']} elsewhere" if isinstance(e.get("k_rest"), int) else ""
        q = f", q = {format_p(e['q'])}" if isinstance(e.get("q"), float) else ""
        return f"{ref}: {item.get('issue_type', '')} in {e['k']}/{e['n']} trials with {where}{rest}{q}".replace("  ", " ")
    return f"{ref}: {_quote(item.get('title') or item.get('detail') or item.get('kind') or '', 120)}"
