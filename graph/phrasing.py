"""Asking a model to phrase the analysis, and checking what it wrote.

The model sees a compact view of the summary and may only reword titles,
explanations and recommendations, and write an overview paragraph. Its replies are
validated with pydantic; anything unusable leaves the deterministic text in place.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from prompts import load_prompt

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

_MAX_ITEMS = 12


class PhrasedPattern(BaseModel):
    """A model's wording for one pattern."""

    id: str
    title: str
    explanation: str
    recommendation: str


class PhrasedRecommendation(BaseModel):
    """A model's wording for one recommendation."""

    id: str
    text: str


class AnalystReply(BaseModel):
    """The analyst's whole reply."""

    patterns: list[PhrasedPattern] = []
    recommendations: list[PhrasedRecommendation] = []


def compact_view(summary: dict[str, Any], analysis: dict[str, Any]) -> str:
    """What the model is shown: counts, example ids, patterns and recommendations."""
    view = {
        "n_trials": summary["sweep"]["n_trials"],
        "hyperparameters": summary["sweep"]["roles"]["hyperparameters"],
        "issue_counts": summary["issue_counts"],
        "trials_affected": summary["trials_affected"],
        "example_issues": summary["issues"][:_MAX_ITEMS],
        "best_trial": summary.get("best_trial"),
        "patterns": [
            {k: p[k] for k in ("id", "issue_type", "condition", "title", "explanation",
                               "recommendation", "evidence")}
            | {"trial_ids": p["trial_ids"][:5]}
            for p in analysis["patterns"][:_MAX_ITEMS]
        ],
        "inconclusive_leads": [
            {k: lead[k] for k in ("condition", "issue_type", "evidence")}
            for lead in analysis["leads"][:_MAX_ITEMS]
        ],
        "recommendations": [
            {"id": r["id"], "text": r["text"], "trial_ids": r["trial_ids"]}
            for r in analysis["recommendations"][:_MAX_ITEMS]
        ],
    }
    return json.dumps(view, ensure_ascii=False, indent=1, default=str)


def _prompt(name: str, data: str, invalid_ids: list[str]) -> str:
    feedback = (
        "- Your previous answer cited trial ids that do not exist in this sweep: "
        + ", ".join(invalid_ids)
        + ". Do not cite them again; cite only ids present in the data."
        if invalid_ids
        else ""
    )
    return load_prompt(name).replace("{feedback}", feedback).replace("{data}", data)


def phrase_analysis(
    model: BaseChatModel,
    summary: dict[str, Any],
    analysis: dict[str, Any],
    invalid_ids: list[str],
) -> tuple[dict[str, Any], str | None]:
    """The analysis with the model's wording beside the deterministic one.

    Each pattern or recommendation the model phrased gets a ``phrasing`` dict (the
    fields it reworded); the writer grounds it before use. Returns the new analysis
    and a one-line notice when the reply could not be used.
    Exceptions from the model call propagate (the node turns them into a fallback).
    """
    reply = model.invoke(_prompt("analyst", compact_view(summary, analysis), invalid_ids))
    try:
        parsed = AnalystReply.model_validate(_json_object(_text(reply)))
    except (ValueError, ValidationError):
        return analysis, "the model's analysis was not valid JSON of the expected form; kept the deterministic wording"
    phrased = {p.id: p.model_dump(exclude={"id"}) for p in parsed.patterns}
    recs = {r.id: r.model_dump(exclude={"id"}) for r in parsed.recommendations}
    patterns = [p | {"phrasing": phrased[p["id"]]} if p["id"] in phrased else p
                for p in analysis["patterns"]]
    recommendations = [r | {"phrasing": recs[r["id"]]} if r["id"] in recs else r
                       for r in analysis["recommendations"]]
    return analysis | {"patterns": patterns, "recommendations": recommendations}, None


def write_narrative(
    model: BaseChatModel, summary: dict[str, Any], analysis: dict[str, Any], invalid_ids: list[str]
) -> str:
    """The model's overview paragraph (unchecked: the caller grounds it)."""
    return _text(model.invoke(_prompt("writer", compact_view(summary, analysis), invalid_ids))).strip()


def _text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def _json_object(text: str) -> Any:
    """The first JSON object in a reply, tolerating code fences and chatter around it."""
    text = re.sub(r"```(?:json)?", "", text)
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the reply")
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    return obj
