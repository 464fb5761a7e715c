"""Checking model-written text against the summary: trial ids and numbers.

A model may phrase findings, never supply them. Every trial id a text cites must be
one the summary holds, and every number in it must match a number of the summary
(as written, rounded, or as a percentage). Sentences that fail are removed; the
caller decides whether to ask the model again first.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?%?(?![\w])")
_TRIAL_LIST = re.compile(
    r"\btrials?(?:[ _]?ids?)?\s*(?:#|no\.?|number)?\s*[:=]?\s*"
    r"((?:`?[\w.:\-/]+`?)(?:\s*(?:,\s*(?:and|or)?|\band\b|&|\bor\b|/)\s*(?:trial\s+)?`?[\w.:\-/]+`?)*)",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"`?([\w.:\-/]+?)`?(?=\s*(?:,|and\b|&|or\b|/|$))", re.IGNORECASE)
_BACKTICKED = re.compile(r"`([^`\s]+)`")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`*\"'])")
_WORDS_AFTER_TRIAL = {"and", "or", "with", "the", "that", "which", "were", "was", "had", "in", "of", "is", "are"}


@dataclass
class Grounded:
    """Text after the check: what was kept and what was taken out, and why."""

    text: str
    bad_ids: list[str] = field(default_factory=list)
    bad_numbers: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def summary_trial_ids(summary: dict[str, Any]) -> set[str]:
    """Every trial id the summary (and so the report) may cite."""
    ids = {i["trial_id"] for i in summary.get("issues", [])}
    for group in ("associations", "patterns", "leads", "recommendations"):
        for item in summary.get(group, []):
            ids.update(item.get("trial_ids", []))
    best = summary.get("best_trial")
    if best:
        ids.add(best["trial_id"])
    return ids


def summary_numbers(summary: Any) -> set[float]:
    """Every number in the summary: values, numbers inside its strings, rates as %."""
    found: set[float] = set()

    def walk(node: Any) -> None:
        if isinstance(node, bool) or node is None:
            return
        if isinstance(node, (int, float)):
            if math.isfinite(node):
                found.add(float(node))
                found.add(float(node) * 100)
        elif isinstance(node, str):
            found.update(_parse(m) for m in _NUMBER.findall(node))
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(key)
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(summary)
    return found


def cited_ids(text: str, known: set[str]) -> list[str]:
    """Trial ids a text cites: lists after "trial(s)", and backticked id-like tokens.

    A backticked token counts only when it looks like the sweep's ids (same shape:
    letters, digits and separators in the same places), so `lr` is not an id.
    """
    cited: list[str] = []
    for match in _TRIAL_LIST.finditer(text):
        for item in _LIST_ITEM.findall(match.group(1)):
            token = item.strip("`.,;:")
            if token and token.lower() not in _WORDS_AFTER_TRIAL and (
                any(c.isdigit() for c in token) or token in known
            ):
                cited.append(token)
    shapes = {_shape(k) for k in known}
    for token in _BACKTICKED.findall(text):
        if token in known or _shape(token) in shapes:
            cited.append(token)
    return list(dict.fromkeys(cited))


def ground(text: str, known_ids: set[str], numbers: set[float]) -> Grounded:
    """Remove every sentence that cites an unknown trial id or an unknown number."""
    kept, result = [], Grounded(text="")
    for sentence in _SENTENCE.split(text.strip()):
        bad_ids = [i for i in cited_ids(sentence, known_ids) if i not in known_ids]
        bad_numbers = [n for n in _NUMBER.findall(_without_ids(sentence, known_ids)) if not _grounded(n, numbers)]
        if bad_ids or bad_numbers:
            result.bad_ids += bad_ids
            result.bad_numbers += bad_numbers
            result.removed.append(sentence)
        else:
            kept.append(sentence)
    result.text = " ".join(kept)
    return result


def _without_ids(sentence: str, known_ids: set[str]) -> str:
    """The sentence with cited known ids blanked, so an id "17" is not read as a number."""
    for token in cited_ids(sentence, known_ids):
        if token in known_ids:
            sentence = re.sub(rf"(?<![\w.]){re.escape(token)}(?![\w])", " ", sentence)
    return sentence


def _parse(token: str) -> float:
    return float(token.rstrip("%"))


def _grounded(token: str, numbers: set[float]) -> bool:
    value = _parse(token)
    digits = token.rstrip("%").lstrip("+-")
    if "e" in digits.lower():
        return any(math.isclose(value, n, rel_tol=0.05) for n in numbers)
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return any(abs(round(n, decimals) - value) < 10 ** (-decimals) / 2 + 1e-12
               or math.isclose(value, n, rel_tol=0.005) for n in numbers)


def _shape(token: str) -> str:
    """Letters become a, digits d; runs collapsed: "r00123" -> "ad", "run_1_c0" -> "a_d_ad"."""
    shape = re.sub(r"[A-Za-z]+", "a", token)
    return re.sub(r"\d+", "d", shape)
