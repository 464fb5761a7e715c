"""Checking model-written text against the summary: ids, numbers, counts, values, claims.

A model may phrase findings, never supply them. :func:`facts_of` collects what a
summary holds; :func:`ground` splits a text into sentences and removes every sentence
that states something those facts do not back. The problems it recognises, by kind:

``unknown_id``
    a trial id the summary does not hold.
``misattributed_id``
    a known trial id given an issue it does not have ("trial 1 failed"), or called
    healthy or best when it is not.
``number``
    a number that is no number of the summary, as written, rounded or as a percentage.
``count``
    a ``k of n`` / ``k/n`` pair that no count of the summary gives, or "N trials failed",
    "all trials ...", "no trials ..." when the summary counts otherwise.
``param``
    ``param=value``, ``param ≥ value``, ``param of value``... where the value is not one
    the summary gives for that column, or ``name=value`` for a name that is not a column.
``health``
    the sweep, or every trial, called healthy while some trials have issues.
``claim``
    a claim of safety or absence the analysis cannot back: something called "safe"
    or "risk-free", or a region that "never" shows an issue (the summary holds no
    such guarantee); "no trial"/"zero trials" claims are checked as counts instead.
``markup``
    a link, an image, an HTML tag or a bare ``www.`` address: model prose has no use
    for them, and they are how injected text would leave the page.

The caller decides whether to ask the model again (bad trial ids) before removing.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from core.issue_types import ISSUE_TYPES, NEEDS_RESULT, NO_OUTCOME, SICK_SEVERITIES, UNTRAINED, names_where
from core.records import INTERNED_FIELDS, ISSUE_FIELDS, IssueColumns
from core.status import EARLY_STOPPED

_BARE_TOKEN = re.compile(r"(?<![\w.\-:/`])[A-Za-z0-9][\w.\-:/]*[A-Za-z0-9](?![\w`])")
_BACKTICKED_SPAN = re.compile(r"`[^`]*`")
_RATE_KEYS = frozenset({"rate", "rate_rest", "ci"})
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?%?(?![\w])")
_TRIAL_LIST = re.compile(
    r"\btrials?(?:[ _]?ids?)?\b\s*(?:#|no\.?|number)?\s*[:=]?\s*"
    r"((?:`?[\w.:\-/]+`?)(?:\s*(?:,\s*(?:and|or)?|\band\b|&|\bor\b|/)\s*(?:trial\s+)?`?[\w.:\-/]+`?)*)",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"`?([\w.:\-/]+?)`?(?=\s*(?:,|and\b|&|or\b|/|$))", re.IGNORECASE)
_BACKTICKED = re.compile(r"`([^`\s]+)`")
_N_MORE = re.compile(r"(?:\band\b|\bplus\b|\+)\s*\d+\s+(?:more|others?)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[^a-z\s])")
_WORDS_AFTER_TRIAL = {"and", "or", "with", "the", "that", "which", "were", "was", "had", "in", "of", "is", "are"}

KINDS = ("unknown_id", "misattributed_id", "count", "param", "number", "health", "claim", "markup")
"""Problem kinds, most serious first (a removed sentence is counted under its first)."""

# What words say which issue a sentence attributes to a trial (each type's ``words``).
_ISSUE_WORDS = {name: t.words for name, t in ISSUE_TYPES.items()}
_COUNTED_NOT_BLAMED = frozenset(names_where(lambda t: t.severity not in SICK_SEVERITIES))
"""``info`` types (pruned): a trial that has only these may be called healthy."""
_HEALTHY_WORDS = r"healthy|no issues?|without (?:any )?issues?|clean|succeeded|successful"
_BEST_WORDS = (r"best(?=(?:[\s-]+[\w-]+)?\s+(?:trials?|runs?|configurations?|configs?|results?|ones?|models?|settings?)\b"
               r"|\s*(?:[.,;:!?)]|$))")
""""the best trial", "is the best.": a claim about the best trial; "its best epoch", "best point" are not."""
_NEGATION = re.compile(r"(?:\b(?:not|no|never|without|nor)\b|n't)(?:\W+\w+){0,2}\W*$", re.IGNORECASE)
_GENERIC_SICK = r"issues?|problems?|sick|affected|need attention|patholog\w*"
_HEALTH_CLAIMS = [
    re.compile(r"\b(?:all|every|each)\s+(?:of\s+the\s+)?(?:\d+\s+)?(?:\w+\s+)?(?:trials?|runs?|configurations?)\b"
               r"(?:\W+\w+){0,4}?\W+(?:healthy|fine|ok|okay|clean|succeeded|successful(?:ly)?)\b", re.IGNORECASE),
    re.compile(r"\b(?:sweep|study|experiment|search)\b(?:\W+\w+){0,3}?\W+(?:is|was|looks|seems|appears)\W+"
               r"(?:\w+\W+)?(?:healthy|fine|clean)\b", re.IGNORECASE),
    re.compile(r"\bno\s+(?:\w+\s+)?(?:issues|problems|failures|pathologies)\s+(?:were\s+|was\s+)?(?:found|detected|seen)\b",
               re.IGNORECASE),
    re.compile(r"\bnothing\s+(?:is\s+|was\s+)?wrong\b", re.IGNORECASE),
    re.compile(r"\b(?:everything|all\s+(?:runs?|trials?|configurations?))\s+(?:looks?|looked|is|are|was|were|seems?|went)"
               r"\s+(?:\w+\s+)?(?:healthy|fine|good|great|ok|okay|well|clean)\b", re.IGNORECASE),
    re.compile(r"\bin\s+(?:great|good|fine|excellent)\s+shape\b", re.IGNORECASE),
    re.compile(r"\b(?:has|have|had|with|shows?|showed)\s+no\s+(?:\w+\s+)?(?:problems|issues|failures|pathologies)\b",
               re.IGNORECASE),
]
_MARKUP = re.compile(r"https?://|\bwww\.|\]\(|!\[|</?[A-Za-z!?]|\bjavascript:|\bdata:\w+/", re.IGNORECASE)
_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
_NUMBER_WORDS |= {"thousand": 1000, "dozen": 12}
_ONE_WORD = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_SPELLED = re.compile(rf"\b(?:{_ONE_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_ONE_WORD}))*\b", re.IGNORECASE)
_COUNTING_AFTER = re.compile(r"\s+(?:of\b|out\s+of\b|(?:\w+\s+)?(?:trials?|runs?|configurations?)\b)", re.IGNORECASE)
_COUNTING_BEFORE = re.compile(r"\b(?:of|out of)\s+(?:the\s+)?$", re.IGNORECASE)
_FRACTION_WORDS = re.compile(r"\b(?:one|a)[\s-]+(half|third|quarter|fifth|tenth|hundredth|thousandth)s?\b"
                             r"|\b(half|a third|a quarter)\b(?=\s+(?:of|the)\b)", re.IGNORECASE)
_FRACTIONS = {"half": "50%", "third": "33%", "quarter": "25%", "fifth": "0.2", "tenth": "0.1",
              "hundredth": "0.01", "thousandth": "0.001", "a third": "33%", "a quarter": "25%"}
_SAFE = re.compile(r"\b(?:(?:completely|totally|perfectly|entirely|always|100\s*%)\s+)?"
                   r"(?:safe(?:ly|st|r)?|risk[- ]free|harmless|no risk|without (?:any )?risk|guarantee[sd]?|"
                   r"bullet-?proof|fool-?proof|cannot (?:fail|diverge|go wrong))\b", re.IGNORECASE)
_NEVER = re.compile(r"\b(?:never|at no point|under no circumstances|not once|in no case)\b", re.IGNORECASE)
_PAIR = re.compile(r"(?<![\w.])(\d+)\s*(?:/|\bof\b|\bout\s+of\b)\s*(?:the\s+)?(\d+)(?![\w%]|\.\d)", re.IGNORECASE)
_COUNT = re.compile(
    r"(?<![\w.])(?<!of )(?<!of the )(?<!/)(\d+)\s+(?:[a-z]+\s+)?(?:trials?|runs?|configurations?)\s+((?:[\w'-]+\s+){0,3}[\w'-]+)",
    re.IGNORECASE,
)
_QUANTIFIED = re.compile(
    r"\b(all|every|none|no)\b\s+(?:of\s+the\s+)?(?:\d+\s+)?(?:trials?|runs?|configurations?)\s+((?:[\w'-]+\s+){0,3}[\w'-]+)",
    re.IGNORECASE,
)
_SYMBOL_OPS = r"==|=|≥|>=|≤|<=|<|>|:"
_WORD_OPS = r"\bof\b|\bat\b|\babove\b|\bbelow\b|\bover\b|\bunder\b"
_PARAM_OPS = _SYMBOL_OPS + "|" + _WORD_OPS
_VALUE = r"`?([^\s,;)`]+)`?"
_NUMERIC_VALUE = r"`?([-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan)\b`?"
_UNKNOWN_ASSIGN = re.compile(r"(?<![\w.`])([A-Za-z_][\w.\-/]*)\s*=+\s*`?([^\s,;)`]+)`?")
_CONDITION_OPS = (r"==|!=|≠|>=|<=|=|≥|≤|<|>|:|\bin\b|\bbetween\b|\bof\b|\bat\b|\babove\b|\bbelow\b|\bover\b"
                  r"|\bunder\b|\bis\b")
_NUMERAL = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
_CONDITION_VALUE = rf"`?(\[[^\])]*[\])]|{_NUMERAL}\s+and\s+{_NUMERAL}|[^\s,;)`]+)`?"
"""A condition's value: a word or number, an interval "[0.01, 0.1)", or "0.01 and 0.1" (after "between")."""
_REGION_NEGATION = re.compile(r"\b(?:without|outside|not|except|excluding|other than|apart from)\b", re.IGNORECASE)
_NEGATION_WORD = re.compile(r"\b(?:no|not|never|none|nor|without)\b", re.IGNORECASE)
"""Negation words a categorical value may be spelled as ("scale_inputs = no")."""
_STAT_WORDS = {"p", "q", "k", "n", "alpha", "rate", "rr", "risk_ratio", "ci", "or", "odds_ratio", "x", "y"}


@dataclass
class ParamFacts:
    """Values the summary states for one column: numbers, and words (lower case)."""

    numbers: set[float] = field(default_factory=set)
    words: set[str] = field(default_factory=set)


@dataclass
class Facts:
    """What a summary lets model text state. Empty fields disable their check."""

    trial_ids: set[str] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)
    pairs: set[tuple[int, int]] = field(default_factory=set)
    typed_pairs: dict[str, set[tuple[int, int]]] | None = None
    """Issue type -> the ``(k, n)`` pairs the summary gives for it (regions, their rests and parts, totals).

    None: unknown, a pair said of a type is checked as a pair only. A type the dict does
    not hold has no pair: "3 of 40 trials overfit" is false when no trial overfits.
    """
    populations: Populations | None = None
    """The sizes of the populations prose counts among ("runs that trained"); None: not checked."""
    counts: dict[str, set[int]] = field(default_factory=dict)
    """Issue type (or ``"any"``) -> the trial counts the summary gives for it."""
    params: dict[str, ParamFacts] = field(default_factory=dict)
    """Lower-cased column name -> the values the summary states for it."""
    trial_issues: Mapping[str, set[str]] = field(default_factory=dict)
    """Trial id -> its issue types, ``info`` ones (pruned) included: "trial 6 was pruned" is checked too."""
    best_trial: str | None = None
    n_trials: int | None = None
    trials_affected: int | None = None
    cells: dict[tuple[int, int], list[Cell]] | None = None
    """``(k, n)`` -> the region cells that count it (:func:`_cells`); None: a pair said of a region is not bound to it."""
    known_shapes: dict[str, tuple[int, int]] | None = field(default=None, repr=False, compare=False)
    """:func:`id_shapes` of ``trial_ids`` when already computed (another :class:`Facts` of the same ids)."""
    text: str = field(default="", repr=False, compare=False)
    """The summary's own sentences (every string of it): what they state, a model may state too."""

    @cached_property
    def stated_counts(self) -> dict[str, set[int]]:
        """Issue type -> the "N trials ..." counts the summary's own sentences give it ("1 trial with unfinished runs")."""
        out: dict[str, set[int]] = {}
        for n, phrase in _COUNT.findall(self.text):
            for kind in _issues_named(phrase):
                out.setdefault(kind, set()).add(int(n))
        return out

    @cached_property
    def stated_assignments(self) -> set[tuple[str, str]]:
        """``(name, value)`` (lower case) of each ``name=value`` in the summary's own sentences ("drop_last=True" of an error)."""
        return {(name.lower(), value.rstrip(".:").lower()) for name, value in _UNKNOWN_ASSIGN.findall(self.text)}

    @property
    def id_shapes(self) -> dict[str, tuple[int, int]]:
        """See :func:`id_shapes`; computed once per summary, not per sentence."""
        if self.known_shapes is None:
            self.known_shapes = id_shapes(self.trial_ids)
        return self.known_shapes

    def pair_known(self, pair: tuple[int, int], kind: str | None = None, region: bool = False) -> bool:
        """Whether the summary gives ``k of n``: of the type ``kind``, or (None) of any type or of all trials.

        ``region``: the pair is said of a region ("of the 33 trials with dropout = 0"), so
        the whole population's ``(k, trained)``, which the summary never lists, does not back it.
        """
        given = self.pairs if kind is None else (self.typed_pairs or {}).get(kind, ())
        return pair in given or (not region and self.populations is not None
                                 and self.populations.is_trained_pair(pair, kind))

    def region_backs(self, pair: tuple[int, int], named: set[str], region: str) -> bool:
        """Whether ``k of n`` is a cell of the region ``region`` states ("with dropout = 0", "outside lr ≥ 0.1").

        A region that names a column must be counted by a cell on exactly its columns, on
        the side each stated condition says (:meth:`Cell.fits`), of a type ``named`` (any
        when empty). A region that names no column ("with issues", "with large steps") is
        not bound: the pair is checked as the population's.
        """
        reader = self.region_reader
        if self.cells is None or reader is None:
            return True
        columns = reader.columns(region)
        if not columns:
            return True
        stated = reader.conditions(region)
        return any(cell.fits(columns, stated) for cell in self.cells.get(pair, ())
                   if not named or cell.kind is None or cell.kind in named)

    def with_issues(self, excluded: set[str]) -> set[tuple[int, int]]:
        """``(k, n)`` of the trials with issues: all of them, or those with an issue other than the ``excluded`` types."""
        if not isinstance(self.n_trials, int):
            return set()
        found = {(self.trials_affected, self.n_trials)} if isinstance(self.trials_affected, int) else set()
        if excluded and self.populations is not None:
            found.add((self.populations.sick_without(frozenset(excluded)), self.n_trials))
        return found

    def is_size(self, token: str) -> bool:
        """Whether a written number is the size of a population (the runs that trained: 370) the text may name."""
        return self.populations is not None and token.isdigit() and int(token) in self.populations.every_size

    @cached_property
    def sorted_numbers(self) -> list[float]:
        """``numbers`` sorted, for tolerant look-ups."""
        return sorted(self.numbers)

    @cached_property
    def claim_patterns(self) -> tuple[_ColumnClaims, _ColumnClaims] | None:
        """``column OP value`` finders: any value after a symbol, numbers after a word."""
        if not self.params:
            return None
        return (_ColumnClaims(self.params, _SYMBOL_OPS, _VALUE), _ColumnClaims(self.params, _WORD_OPS, _NUMERIC_VALUE))

    @cached_property
    def region_reader(self) -> _ColumnClaims | None:
        """The columns a region names and the conditions it states ("with dropout = 0", "outside lr in [0.01, 0.1]")."""
        return _ColumnClaims(self.params, _CONDITION_OPS, _CONDITION_VALUE, capture_op=True) if self.params else None

    def as_values(self, text: str) -> str:
        """``text`` with each value spelled like a negation after a column ("scale_inputs = no") made no negation."""
        if self.claim_patterns is None or not _NEGATION_WORD.search(text):
            return text
        for start, end in reversed(self.claim_patterns[0].negation_values(text)):
            text = f"{text[:start]}_{text[start:end]}_{text[end:]}"
        return text


_IDENTIFIER = r"[A-Za-z_][\w.\-/]*"
MAX_ODD_NAMES = 500
"""Column names that are no identifier ("learning rate", "lr (log)") searched for in model text, at most."""


class _ColumnClaims:
    """Finds ``column OP value`` in a text for a set of lower-cased column names, in time linear in the text.

    Identifier-like names (almost all) are found by one generic pattern and a dictionary
    look-up, not by an alternation of every name (which costs the number of columns at
    every position: 10,000 columns took over a minute); the few other names share a
    small alternation.
    """

    def __init__(self, names: Iterable[str], ops: str, value: str, capture_op: bool = False) -> None:
        self.names = set(names)
        odd = sorted((n for n in self.names if not re.fullmatch(_IDENTIFIER, n)), key=len, reverse=True)
        tail = rf"`?\s*({ops})\s*{value}" if capture_op else rf"`?\s*(?:{ops})\s*{value}"
        self.generic = re.compile(rf"(?<![\w.`])`?({_IDENTIFIER}){tail}", re.IGNORECASE)
        alternation = "|".join(re.escape(n) for n in odd[:MAX_ODD_NAMES])
        self.odd = re.compile(rf"(?<![\w.`])`?({alternation}){tail}", re.IGNORECASE) if odd else None
        self._names = re.compile(rf"(?<![\w.`])({_IDENTIFIER}{'|' + alternation if odd else ''})", re.IGNORECASE)

    def findall(self, text: str) -> list[tuple[str, str]]:
        """``(name as written, value)`` for every claim about a known column."""
        found = [(name, value) for name, value in self.generic.findall(text) if name.lower() in self.names]
        if self.odd is not None:
            found += self.odd.findall(text)
        return found

    def _matches(self, text: str) -> Iterator[re.Match[str]]:
        yield from (m for m in self.generic.finditer(text) if m[1].lower() in self.names)
        if self.odd is not None:
            yield from self.odd.finditer(text)

    def columns(self, text: str) -> set[str]:
        """The known columns a text names (lower case), with or without a value."""
        return {name.lower().rstrip(".-/") for name in self._names.findall(text)} & self.names

    def conditions(self, text: str) -> list[tuple[str, str, str, bool]]:
        """``(column, op, value, negated)`` of each condition a region states (made with ``capture_op``).

        ``negated``: a word such as "without", "outside" or "not" stands between the
        previous condition (or the start) and this one.
        """
        found, last = [], 0
        for m in sorted(self._matches(text), key=lambda m: m.start()):
            negated = bool(_REGION_NEGATION.search(text, last, m.start()))
            value = m[3].rstrip(".:").strip("'\"")
            if _NEGATION_WORD.fullmatch(value.strip("_")):
                value = value.strip("_")  # spelled as a value by :meth:`Facts.as_values`
            found.append((m[1].lower(), m[2].lower(), value, negated))
            last = m.end()
        return found

    def negation_values(self, text: str) -> list[tuple[int, int]]:
        """Spans of the values spelled like a negation word that follow a known column ("scale_inputs = no")."""
        spans = []
        for m in self._matches(text):
            value = m[2].rstrip(".:")
            if _NEGATION_WORD.fullmatch(value):
                spans.append((m.start(2), m.start(2) + len(value)))
        return sorted(spans)


@dataclass
class Grounded:
    """Text after the check: what was kept, what was taken out, and why."""

    text: str
    bad_ids: list[str] = field(default_factory=list)
    """Cited ids the summary does not hold."""
    misattributed_ids: list[str] = field(default_factory=list)
    """Known ids cited with an issue (or health) they do not have."""
    bad_numbers: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    """``(kind, token, sentence)`` for every problem found, in text order."""

    @property
    def citation_errors(self) -> list[str]:
        """Ids the analyst must not cite again: unknown or misattributed."""
        return list(dict.fromkeys(self.bad_ids + self.misattributed_ids))

    def removed_by_kind(self) -> dict[str, int]:
        """Removed sentences counted by their most serious problem."""
        out: dict[str, int] = {}
        for sentence in self.removed:
            kinds = {k for k, _, s in self.problems if s == sentence}
            kind = next(k for k in KINDS if k in kinds)
            out[kind] = out.get(kind, 0) + 1
        return out


def summary_trial_ids(summary: dict[str, Any]) -> set[str]:
    """Every trial id the summary (and so the report) may cite (its issues as rows or columns)."""
    ids = set(map(str, _issue_columns(summary)["trial_id"]["values"]))
    for group in ("associations", "findings", "patterns", "leads", "recommendations"):
        for item in summary.get(group) or []:
            ids.update(str(t) for t in item.get("trial_ids") or [])
    ids.update(str(t["trial_id"]) for t in summary.get("top_trials") or [])
    best = summary.get("best_trial")
    if best:
        ids.add(str(best["trial_id"]))
    return ids


def summary_numbers(summary: Any, scan: _Scan | None = None) -> set[float]:
    """Every number in the summary: values, numbers inside its strings, and rates as %.

    Only rates (``rate``, ``rate_rest`` and the ``ci`` bounds) are also taken × 100;
    taking every number × 100 would let "99%" pass wherever some 0.99 is stored.
    ``scan`` is :func:`_scan` of the summary when the caller has it.
    """
    scan = scan or _scan(summary)
    found = set(scan.numbers)
    found.update(_parse(m) for m in _NUMBER.findall(scan.text))
    for item in _walk_dicts(scan.rest):
        for key in _RATE_KEYS & item.keys():
            values = item[key] if isinstance(item[key], list) else [item[key]]
            found.update(100 * float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v))
    return found


@dataclass
class _Scan:
    """Every string of a summary (keys included) as one text, and every finite number in it.

    The strings are joined by a line holding ";", which no pattern here reads across, so
    one regex pass over the text finds what a pass over each string would: a large
    sweep's summary holds hundreds of thousands of strings (its issue rows, the trial
    ids of its associations), and one call per string took 40 s at 1M trials. The issue
    rows are read column by column, each distinct value once.
    """

    text: str
    numbers: set[float]
    rest: Any
    """The summary without its issue rows (which hold no rates and no ``k``/``n`` pairs)."""


def _issue_columns(summary: Any) -> dict[str, Any]:
    """The summary's issues column by column (:meth:`core.records.IssueColumns.to_state`), whichever form it holds."""
    issues = summary.get("issues") if isinstance(summary, dict) else None
    if isinstance(issues, dict):
        return issues
    rows = [row for row in issues or [] if isinstance(row, dict)]  # a partial row is read as far as it goes
    return IssueColumns(**{name: [row.get(name) for row in rows] for name in ISSUE_FIELDS}).to_state()


def _scan(summary: Any) -> _Scan:
    rest, columns = summary, None
    if isinstance(summary, dict) and "issues" in summary:
        columns = _issue_columns(summary)  # a row that is not an object is no fact (facts_of leaves it out too)
        rest = {k: v for k, v in summary.items() if k != "issues"}
    strings: list[str] = []
    numbers: set[float] = set()
    for value in _walk(rest):
        if isinstance(value, str):
            strings.append(value)
        elif math.isfinite(value):
            numbers.add(float(value))
    if columns is not None and columns["rows"]:
        strings += [*ISSUE_FIELDS, *(v for name in INTERNED_FIELDS for v in columns[name]["values"] if isinstance(v, str))]
        numbers.update(float(v) for v in columns["epoch"]["values"]
                       if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
    return _Scan("\n;\n".join(strings), numbers, rest)


def facts_of(summary: dict[str, Any]) -> Facts:
    """Everything :func:`ground` checks model text against, read from a summary.

    Pass the summary merged with the deterministic analysis (patterns, leads,
    recommendations), never with model-written text. Its issues may be rows or columns
    (:meth:`core.records.IssueColumns.to_state`); each distinct id, type and detail is read
    once, a trial's issue types only when a text cites it.
    """
    columns = _issue_columns(summary)
    if "issues" in summary:
        summary = summary | {"issues": columns}
    return _facts(summary, summary_trial_ids(summary), TrialIssues(columns))


def _facts(summary: dict[str, Any], trial_ids: set[str], trial_issues: TrialIssues) -> Facts:
    """:func:`facts_of` a summary whose issues, if it has them, are columns; the trial ids and issues given."""
    sweep = summary.get("sweep") or {}
    n_trials = sweep.get("n_trials")
    affected = summary.get("trials_affected")
    counts: dict[str, set[int]] = {"any": {v for v in (affected, _total(summary)) if isinstance(v, int)}}
    for kind, n in (summary.get("issue_counts") or {}).items():
        counts.setdefault(kind, set()).add(int(n))
    for a in (summary.get("associations") or []) + (summary.get("patterns") or []) + (summary.get("leads") or []):
        e = a.get("evidence") if isinstance(a.get("evidence"), dict) else a
        kind = a.get("issue_type")
        if kind and isinstance(e.get("k"), int):
            counts.setdefault(kind, set()).update({e["k"], e.get("k_rest", e["k"])})
    for f in summary.get("findings") or []:
        for key in ("n_trials", "k", "count"):
            if isinstance(f.get(key), int):
                counts.setdefault(str(f.get("kind")), set()).add(f[key])
                counts["any"].add(f[key])
    best = summary.get("best_trial") or {}
    scan = _scan(summary)
    typed = _typed_pairs(summary, n_trials)
    return Facts(
        trial_ids=trial_ids,
        numbers=summary_numbers(summary, scan),
        pairs=_pairs(summary, n_trials, affected, scan).union(*typed.values()),  # a count of a type is a count
        typed_pairs=typed,
        populations=Populations(summary, trial_issues) if isinstance(n_trials, int) else None,
        cells=_cells(summary),
        counts=counts,
        params=_params(summary, scan),
        trial_issues=trial_issues,
        best_trial=str(best["trial_id"]) if best.get("trial_id") is not None else None,
        n_trials=n_trials,
        trials_affected=affected,
        text=scan.text,
    )


class TrialIssues(Mapping[str, set[str]]):
    """Trial id -> its issue types (``info`` ones included), read from the issue columns.

    Only the ids a text cites are looked up (a scan of the codes of the trial column), so
    a sweep with a quarter of a million issue rows is not turned into a dictionary.
    """

    def __init__(self, columns: dict[str, Any]) -> None:
        self._columns = columns
        self._found: dict[str, set[str]] = {}
        self._with: dict[tuple[frozenset[str], bool], int] = {}

    @cached_property
    def _trial(self) -> np.ndarray:
        return np.asarray(self._columns["trial_id"]["codes"], dtype=np.int64)

    def __getitem__(self, trial_id: str) -> set[str]:
        if trial_id not in self._found:
            try:
                code = self._columns["trial_id"]["values"].index(trial_id)
            except ValueError:
                raise KeyError(trial_id) from None
            rows = np.flatnonzero(self._trial == code)
            types = self._columns["type"]
            found = {types["values"][types["codes"][r]] for r in rows}
            self._found[trial_id] = {kind for kind in found if kind}
        return self._found[trial_id]

    def trials_with(self, kinds: frozenset[str], sick: bool = False) -> int:
        """How many distinct trials have an issue of one of ``kinds`` (of a sick severity if ``sick``).

        Vectorised over the issue rows, once per question.
        """
        if (kinds, sick) not in self._with:
            rows = self._of(self._columns["type"], kinds)
            if sick:
                rows &= self._of(self._columns["severity"], frozenset(SICK_SEVERITIES))
            seen = np.zeros(len(self._columns["trial_id"]["values"]), dtype=bool)
            seen[self._trial[rows]] = True
            self._with[kinds, sick] = int(seen.sum())
        return self._with[kinds, sick]

    @staticmethod
    def _of(column: dict[str, Any], values: frozenset[str]) -> np.ndarray:
        """Which rows of an issue column hold one of ``values``."""
        codes = [c for c, value in enumerate(column["values"]) if value in values]
        return np.isin(np.asarray(column["codes"], dtype=np.int64), codes)

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns["trial_id"]["values"])

    def __len__(self) -> int:
        return len(self._columns["trial_id"]["values"])


class Populations:
    """The populations prose counts trials among, and the sizes the summary gives each.

    "12 of 95 runs that trained overfit": a ``k of n`` pair whose sentence names its
    population must give that population's size as ``n`` (not a region's, nor another
    count's). The names, and the sizes each may be:

    ``trained``
        the runs that trained (:func:`core.patterns.trained_count`: no failure, NaN,
        blow-up or dead run, and not still running), counted from the issue columns on
        first use; a type only a run with a result can show is compared among them.
    ``finished``
        the runs that finished or completed: the status ``completed`` (``unknown`` when
        the sweep logs none), those that ended of their own (time-budget cuts and early
        stops too), those with an outcome (not still running), or the runs that trained.
    ``ran``
        as ``finished``, or the whole sweep.
    ``compared``
        the whole sweep, the trials with an outcome, the runs that trained, or a region
        comparison's trials (``n + n_rest`` of an association, pattern or lead).
    """

    def __init__(self, summary: dict[str, Any], trial_issues: TrialIssues) -> None:
        sweep = summary.get("sweep") or {}
        self.n_trials = int(sweep["n_trials"])
        counts = summary.get("issue_counts") or {}
        statuses = sweep.get("status_counts") or {}
        self._trial_issues = trial_issues
        self._needs_result = {kind: int(k) for kind, k in counts.items() if kind in NEEDS_RESULT}
        outcome = self.n_trials - sum(int(counts.get(kind, 0)) for kind in NO_OUTCOME)
        completed = sum(int(statuses.get(s, 0)) for s in ("completed", "unknown"))
        ended = completed + sum(int(statuses.get(s, 0)) for s in ("timeout", "pruned", EARLY_STOPPED))
        self._finished = {completed, ended, outcome}
        self._compared = {self.n_trials, outcome}
        for a in (summary.get("associations") or []) + (summary.get("patterns") or []) + (summary.get("leads") or []):
            e = a.get("evidence") if isinstance(a.get("evidence"), dict) else a
            if all(isinstance(e.get(key), int) for key in ("n", "n_rest")):
                self._compared.add(e["n"] + e["n_rest"])

    @cached_property
    def trained(self) -> int:
        """The runs that trained: the sweep less the trials with a no-result or no-outcome issue."""
        return self.n_trials - self._trial_issues.trials_with(frozenset(UNTRAINED))

    def sick_without(self, excluded: frozenset[str]) -> int:
        """How many trials have an issue (of a sick severity) other than of the ``excluded`` types."""
        return self._trial_issues.trials_with(frozenset(ISSUE_TYPES) - excluded, sick=True)

    def sizes(self, name: str) -> set[int]:
        """The sizes the population ``name`` (see the class) may be written with."""
        if name == "trained":
            return {self.trained}
        finished = self._finished | {self.trained}
        if name == "finished":
            return finished
        return finished | {self.n_trials} if name == "ran" else self._compared | {self.trained}

    @cached_property
    def every_size(self) -> frozenset[int]:
        """Every population's sizes: numbers a text may state."""
        return frozenset(self.sizes("ran") | self.sizes("compared"))

    def is_trained_pair(self, pair: tuple[int, int], kind: str | None = None) -> bool:
        """Whether ``pair`` is ``(k, trained)`` of a type compared among the runs that trained (of ``kind`` if given).

        The runs that trained are counted only when ``k`` is such a type's count.
        """
        counts = [self._needs_result.get(kind)] if kind else self._needs_result.values()
        return pair[0] in counts and pair[1] == self.trained

    def trained_pair(self, kind: str) -> tuple[int, int] | None:
        """The ``(k, trained)`` pair of one type compared among the runs that trained, if it is one."""
        return (self._needs_result[kind], self.trained) if kind in self._needs_result else None


_SWEEP_SIZED = ("issues", "associations")
"""Parts of a summary that grow with the sweep (a quarter of a million issue rows, thousands of associations at 1M)."""
_DETAIL_KINDS = frozenset({"number", "count", "param"})
"""Problems that the sweep-sized parts (a number, ``k/n`` or ``column=value`` they state) may clear."""


class FactIndex:
    """The facts model text is checked against, for one summary, in time that follows the text.

    The summary's parts of bounded size (sweep, counts, best trial, findings, the
    analysis's patterns and leads) and its trial ids are collected on first use; a cited
    trial's issue types are looked up for that trial only (:class:`TrialIssues`). The
    sweep-sized parts (the associations, and the issue rows' details, each distinct one
    once) are read only when a text states a number, ``k/n`` count or ``column=value``
    that the rest does not back, and kept for the next text. Either way a text gets the
    verdict :func:`facts_of` the whole summary gives (facts only ever back more text). A
    run whose writer sends the analysis back checks every draft against the same index.
    """

    def __init__(self, summary: dict[str, Any]) -> None:
        columns = _issue_columns(summary)
        self.summary = summary | {"issues": columns} if "issues" in summary else summary
        self._trial_issues = TrialIssues(columns)  # one lookup per cited trial, for both sets of facts

    @cached_property
    def trial_ids(self) -> set[str]:
        """Every trial id the summary may cite (:func:`summary_trial_ids`), collected once."""
        return summary_trial_ids(self.summary)

    @cached_property
    def bounded(self) -> Facts:
        """The facts of the summary's parts of bounded size, with every trial id and each cited trial's issues.

        Left out: the issue rows' text and the associations (thousands on a large sweep,
        each region tested); :attr:`facts` has them.
        """
        parts = {k: v for k, v in self.summary.items() if k not in _SWEEP_SIZED}
        return _facts(parts, self.trial_ids, self._trial_issues)

    @cached_property
    def facts(self) -> Facts:
        """Every fact (:func:`facts_of` the summary), the issue rows' text included."""
        facts = _facts(self.summary, self.trial_ids, self._trial_issues)
        facts.known_shapes = self.bounded.id_shapes  # the same ids: shapes computed once
        return facts

    def ground(self, text: str) -> Grounded:
        """:func:`ground` against this summary's facts, reading the issue rows' text only if the text needs it."""
        grounded = ground(text, self.bounded)
        if any(kind in _DETAIL_KINDS for kind, _, _ in grounded.problems):
            grounded = ground(text, self.facts)
        return grounded


def cited_ids(text: str, known: set[str], shapes: dict[str, tuple[int, int]] | None = None) -> list[str]:
    """Trial ids a text cites: after "trial(s)", in backticks, or shaped like the sweep's ids.

    Lists after "trial(s)" count, and backticked id-like tokens, and bare tokens shaped
    like the sweep's mixed letter-and-digit ids. A backticked token counts only when it looks like the sweep's ids (same shape:
    letters, digits and separators in the same places), so `lr` is not an id. A bare
    word counts when its shape mixes letters and digits like the sweep's ids and its
    length is within theirs ("r00999" against ids like "r00135"; not "L2" or "1e-3"),
    so an invented id cannot slip through without "trial" or backticks. ``shapes``
    is :func:`id_shapes` of ``known`` (computed when not given).
    """
    cited: list[str] = []
    text = _N_MORE.sub(" ", text)  # "trials `a`, `b` and 6 more": 6 is a count, not an id
    for match in _TRIAL_LIST.finditer(text):
        for item in _LIST_ITEM.findall(match.group(1)):
            token = item.strip("`.,;:")
            if not (token and token.lower() not in _WORDS_AFTER_TRIAL and (
                any(c.isdigit() for c in token) or token in known
            )):
                break  # "trials failed and 12 of 33 ...": a word, not an id, ends the list
            cited.append(token)
    shapes = id_shapes(known) if shapes is None else shapes
    every_shape = {_shape(k) for k in known} if len(known) < 5000 else set(shapes)
    for token in _BACKTICKED.findall(text):
        if token in known or _shape(token) in every_shape or _shape(token) in shapes:
            cited.append(token)
    for token in _BARE_TOKEN.findall(_BACKTICKED_SPAN.sub(" ", text)):
        length = shapes.get(_shape(token))
        if length and length[0] <= len(token) <= length[1]:
            cited.append(token)
    return list(dict.fromkeys(cited))


def id_shapes(known: set[str]) -> dict[str, tuple[int, int]]:
    """Shapes of the ids that mix letters and digits -> (shortest, longest) length.

    The ids are shaped in one regex pass over their joined text and grouped by shape in
    pandas (one call and a dictionary update per id took a second for a 1M-trial
    sweep's 176,000 ids).
    """
    ids = [k for k in known if "\n" not in k]
    shapes = _shape("\n".join(ids)).split("\n") if ids else []
    odd = [k for k in known if "\n" in k]
    ids, shapes = ids + odd, shapes + [_shape(k) for k in odd]
    extents = pd.Series([len(k) for k in ids], dtype="int64").groupby(shapes).agg(["min", "max"])
    return {shape: (int(lo), int(hi)) for shape, lo, hi in extents.itertuples() if "a" in shape and "d" in shape}


def ground(text: str, facts: Facts) -> Grounded:
    """Remove every sentence that states something the facts do not back."""
    kept, result = [], Grounded(text="")
    for sentence in split_sentences(text):
        problems = check_sentence(sentence, facts)
        if not problems:
            kept.append(sentence)
            continue
        result.removed.append(sentence)
        for kind, token in problems:
            result.problems.append((kind, token, sentence))
            {"unknown_id": result.bad_ids, "misattributed_id": result.misattributed_ids,
             "number": result.bad_numbers}.get(kind, []).append(token)
    result.text = " ".join(kept)
    return result


def split_sentences(text: str) -> list[str]:
    """The sentences of a text (whitespace collapsed)."""
    text = re.sub(r"\s+", " ", text or "").strip()
    return [s for s in _SENTENCE.split(text) if s] if text else []


def check_sentence(sentence: str, facts: Facts) -> list[tuple[str, str]]:
    """Every problem of one sentence, as ``(kind, token)``."""
    problems: list[tuple[str, str]] = []
    ids = cited_ids(sentence, facts.trial_ids, facts.id_shapes)
    problems += [("unknown_id", i) for i in ids if i not in facts.trial_ids]
    known = [i for i in ids if i in facts.trial_ids]
    plain = _without_ids(sentence, ids)
    sentence = facts.as_values(sentence)  # "scale_inputs = no never learned": "no" is a value, not a negation
    problems += [("misattributed_id", i) for i in _misattributed(sentence, known, facts)]
    spelled = _spell_out(facts.as_values(plain))
    derived: set[int] = set()
    counts = _count_problems(spelled, facts, derived)
    problems += [("number", n) for n in _NUMBER.findall(spelled) if not _grounded(n, facts.sorted_numbers)
                 and not facts.is_size(n) and not (n.isdigit() and int(n) in derived)]
    problems += _percent_problems(spelled, facts)
    problems += counts
    problems += _param_problems(plain, facts)
    if facts.trials_affected and any(p.search(sentence) for p in _HEALTH_CLAIMS):
        problems.append(("health", "healthy"))
    problems += _claim_problems(sentence, known)
    markup = _MARKUP.search(sentence)
    if markup:
        problems.append(("markup", markup.group(0)))
    return list(dict.fromkeys(problems))


def _claim_problems(sentence: str, ids: list[str]) -> list[tuple[str, str]]:
    """Claims of safety, or that a region never shows an issue: nothing in the analysis backs them.

    "Trial 2 never finished" (about a cited trial) is left to the attribution check, and
    a "never" that is part of an issue's name ("8 trials never learned") is no claim.
    """
    safe = _SAFE.search(sentence)
    if safe:
        return [("claim", safe.group(0))]
    named = [span for words in _ISSUE_WORDS.values() for span in _spans(sentence, words)]
    never = next((m for m in _NEVER.finditer(sentence) if not any(s <= m.start() < e for s, e in named)), None)
    if never and not ids and (_issues_named(sentence) or _issues_denied(sentence)
                              or _mentions(sentence, _GENERIC_SICK)):
        return [("claim", never.group(0))]
    return []


def _percent_problems(text: str, facts: Facts) -> list[tuple[str, str]]:
    """A percentage said of an issue must be a rate the summary gives for that issue ("42% of trials diverged")."""
    if facts.typed_pairs is None or "%" not in text:
        return []
    named = _issues_named(text)
    if not named:
        return []
    rates = [100 * k / n for kind in named for k, n in (facts.typed_pairs or {}).get(kind, ()) if n]
    if facts.n_trials and facts.trials_affected is not None:
        rates.append(100 * facts.trials_affected / facts.n_trials)
    bad = [token for token in _PERCENT.findall(text) if not _grounded(token, sorted(rates))]
    if bad and facts.populations is not None:  # a rate among the runs that trained: counted only now
        rates += [100 * k / n for kind in named if (pair := facts.populations.trained_pair(kind)) for k, n in [pair] if n]
        bad = [token for token in bad if not _grounded(token, sorted(rates))]
    return [("count", token) for token in bad]


_NOUN = r"(?:trials?|runs?|configurations?|configs?)"
_POPULATION = re.compile(
    rf"\s+(?:(trained|finished|completed)\s+{_NOUN}\b"
    rf"|{_NOUN}\s+(?:(?:that|which)\s+(?:(?:were|was|have|had|got)\s+)?(?:(?!not\b|never\b)\w+\s+)?"
    r"(trained|finished|completed|ended|ran|compared)\b"
    r"|(compared)\b|with\s+(?:a\s+)?(?:usable\s+)?(results?)\b))",
    re.IGNORECASE,
)
"""The population a count is out of: "95 runs that trained", "95 trained runs", "92 trials compared", "runs with a result"."""
_POPULATION_OF = {"trained": "trained", "finished": "finished", "completed": "finished", "ended": "finished",
                  "ran": "ran", "compared": "compared"}
"""Word of :data:`_POPULATION` -> :class:`Populations` name (any other, "with a result": trained)."""
_REGION_WORDS = "outside|inside|in|with|without|below|above|under|over|where|at|from|among|when|if"
"""Words that narrow the trials a count is of to a region ("with dropout = 0", "above lr 0.1")."""
_COUNTED_NOUN = re.compile(rf"\s+(?:[\w-]+\s+)?{_NOUN}\b", re.IGNORECASE)
"""The trials a count is of, right after it ("33 trials", "33 healthy runs")."""
_NARROWED = re.compile(rf"\s+(?:{_REGION_WORDS}|for|on|using|having|whose)\b", re.IGNORECASE)
"""Words after a population that narrow it to a region ("runs that trained with lr ≥ 0.1"): its size is then a region's."""
_OF_THE_N = re.compile(
    rf"(?<!\d )\b(?:of|among|out\s+of)\s+(?:the\s+|all\s+|these\s+|those\s+)?(\d+)"
    rf"(?=\s+(?:[\w-]+\s+)?{_NOUN}\b)((?:\[[^\])]{{0,40}}[\])]|[\w\s'≥≤<>=-]|(?<=\d)\.(?=\d)){{0,80}}),\s*(?:only\s+|just\s+)?(\d+)"
    r"(?![\w%]|\.\d)",
    re.IGNORECASE,
)
"""A count before its population: "Of the 95 runs that trained, 12 overfit" (N, what they are, K)."""
_ASIDE = re.compile(r"\([^()]*\d[^()]*\)")
"""A parenthesis holding a number: a rate, or a breakdown whose counts are not the pair's ("(36 early-stopped, ...)")."""
_CLAUSE_END = re.compile(r"[;:]|\b(?:while|whereas|but|and trials?|and runs?)\b", re.IGNORECASE)
_REGION_END = re.compile(
    r";|,\s+(?!\d)|\s\((?!\d)|\b(?:is|are|was|were|has|have|had|show\w*|saw|went|got|did|does|do|ended|stopped|reached"
    r"|hit|ran|fell|stayed|remained|became|need\w*|must|should|could|would|will|may|might)\b|(?<![\w-])(?:"
    + "|".join(f"(?:{words})" for words in _ISSUE_WORDS.values()) + ")",
    re.IGNORECASE,
)
"""Where the words narrowing a count to a region end: at its verb, the issue it names, or the clause's end."""
_BEFORE_PAIR = re.compile(r"(?:^|[;:(,])((?:\[[^\])]*[\])]|[^;:(),\[])*)[:,(]?\s*$")
"""The text after the last clause mark (";", ":", "(" or a comma, not inside an interval) before a pair, when no
parenthesis closes in it ("Outside the region of P5 (lr ≤ 0.001), 9 of ..." is said of no condition)."""
_CITATION = re.compile(r"\s*\((?:see\s+|cf\.\s+)?(?:(?:pattern|finding|lead)s?\s+)?[PFRAL]\d+"
                       r"(?:\s*(?:,|and)\s*[PFRAL]\d+)*\)", re.IGNORECASE)
"""A parenthesis that only cites ids ("(P1)", "(see pattern P1)"): it closes no clause of its own, so "With dropout =
0 (P1), 12 of 33" is still said of dropout = 0."""
_SYMBOL_CONDITION = re.compile(r"[=≥≤<>]|\bin\s*[\[(]")
_SET_ASIDE = re.compile(
    r"\b(?:other than|apart from|aside from|besides|except(?:\s+for)?|excluding|not counting|leaving aside|setting aside)"
    r"\b(?:[^,;:.()]|\([^()]*\))*|(?:[^,;:.()]|\([^()]*\))*\baside\b",
    re.IGNORECASE,
)
"""A type set aside ("Overfitting aside, ...", "issues other than overfitting"): what follows is not of that type."""
_SICK_BEFORE = re.compile(rf"(?<![\w-])(?:{_GENERIC_SICK})\W+(?:\w+\W+){{0,2}}$", re.IGNORECASE)
"""Generic issue words right before a pair ("Issues hit 23 of ..."): the pair counts the trials with issues."""
_RESTRICTED = re.compile(rf"\b(?:{_REGION_WORDS})\b", re.IGNORECASE)
"""Words that narrow "0 trials ..." to a region, where 0 may be true although the sweep has the issue."""
_PERCENT = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)%(?=\s+(?:of\b|(?:\w+\s+)?(?:trials?|runs?)\b))", re.IGNORECASE)


def _misattributed(sentence: str, ids: list[str], facts: Facts) -> list[str]:
    """Known ids the sentence gives an issue (or health, or best) they do not have.

    Each id is judged by its own clause: the text from it to the next cited id ("Trial
    r00165, the best run, diverged" says r00165 diverged; "trial 3 overfit while trial 6
    stayed healthy" says each its own thing); an id whose clause says nothing ("trials
    2 and 4 went NaN") shares the next clause that does, or else the whole sentence.
    Within its clause an id passes when it has ANY of the issues named there.
    """
    if not ids or not facts.trial_issues and facts.best_trial is None:
        return []
    bad = []
    for i, text in _clauses(sentence, ids).items():
        named, denied = _issues_named(text), _issues_denied(text)
        has = facts.trial_issues.get(i, set())
        if denied & has and not named & has:  # "trial 2 did not fail" when it failed
            bad.append(i)
        elif named:
            if not named & has:
                bad.append(i)
        elif _mentions(text, _HEALTHY_WORDS):
            if has - _COUNTED_NOT_BLAMED:  # a pruned trial is not sick
                bad.append(i)
        elif _mentions(text, _BEST_WORDS) and i != facts.best_trial:
            bad.append(i)
    return bad


def _clauses(sentence: str, ids: list[str]) -> dict[str, str]:
    """Each cited id -> the part of the sentence that speaks of it (see :func:`_misattributed`)."""
    found = []
    for i in ids:
        match = re.search(rf"(?<![\w.]){re.escape(i)}(?![\w])", sentence)
        found.append((match.start() if match else -1, i))
    if any(at < 0 for at, _ in found):
        return dict.fromkeys(ids, sentence)
    found.sort()
    segments = [sentence[at : (found[k + 1][0] if k + 1 < len(found) else len(sentence))]
                for k, (at, _) in enumerate(found)]
    says = [bool(_issues_named(t) or _issues_denied(t) or _mentions(t, _HEALTHY_WORDS) or _mentions(t, _BEST_WORDS))
            for t in segments]
    out = {}
    for k, (_, i) in enumerate(found):
        later = next((segments[j] for j in range(k, len(segments)) if says[j]), None)
        out[i] = later if later is not None else sentence
    return out


def _issues_named(text: str) -> set[str]:
    """Issue types the text names, other than negated.

    Words inside another type's longer words do not count: "hidden failures" names a
    status mismatch, not a failure.
    """
    spans = {kind: found for kind, words in _ISSUE_WORDS.items() if (found := _spans(text, words))}
    longer = [(start, end) for found in spans.values() for start, end in found]
    return {kind for kind, found in spans.items()
            if not all(any(s <= a and b <= e and e - s > b - a for s, e in longer) for a, b in found)}


def _issues_denied(text: str) -> set[str]:
    """Issue types the text names only to deny them ("did not fail", "never diverged")."""
    return {kind for kind, words in _ISSUE_WORDS.items()
            if any(_NEGATION.search(text[: m.start()]) for m in re.finditer(rf"(?<![\w-])(?:{words})", text, re.IGNORECASE))}


def _mentions(text: str, words: str) -> bool:
    """Whether ``words`` occur in ``text`` other than negated ("did not fail")."""
    return bool(_spans(text, words))


def _spans(text: str, words: str) -> list[tuple[int, int]]:
    """Where ``words`` occur in ``text`` other than negated."""
    return [match.span() for match in re.finditer(rf"(?<![\w-])(?:{words})", text, re.IGNORECASE)
            if not _NEGATION.search(text[: match.start()])]


def _count_problems(text: str, facts: Facts, derived: set[int] | None = None) -> list[tuple[str, str]]:
    """Counts the facts do not back; ``derived`` gains the counts backed although no number of the summary states them."""
    problems = []
    if facts.pairs:
        problems += [("count", f"{k}/{n}") for k, n in _false_pairs(text, facts, derived)]
    if facts.counts:
        for n, phrase in _COUNT.findall(text):
            allowed = _allowed_counts(phrase, facts)
            if allowed is not None and int(n) == 0 and not _RESTRICTED.search(phrase):
                allowed = {0} if not any(max(facts.counts.get(kind, {0})) for kind in _issues_named(phrase)) else set()
            if allowed is not None and int(n) not in allowed and not any(
                int(n) in facts.stated_counts.get(kind, ()) for kind in _issues_named(phrase)
            ):
                problems.append(("count", f"{n} trials {phrase}"))
    if facts.n_trials is not None:
        for quantifier, phrase in _QUANTIFIED.findall(text):
            named = _issues_named(phrase)
            counts = {kind: max(facts.counts.get(kind, {0})) for kind in named}
            if quantifier.lower() in ("all", "every") and any(c != facts.n_trials for c in counts.values()):
                problems.append(("count", f"{quantifier} trials {phrase}"))
            if quantifier.lower() in ("none", "no") and any(c > 0 for c in counts.values()):
                problems.append(("count", f"{quantifier} trials {phrase}"))
    return problems


def _false_pairs(text: str, facts: Facts, derived: set[int] | None = None) -> Iterator[tuple[int, int]]:
    """The ``k of n`` pairs of a text the facts do not back: as a pair, as its population's size, or as the named type's.

    A pair passes when the summary gives it; when the sentence names the population it
    counts among ("of 95 runs that trained"), when ``n`` is that population's size (a
    narrower one, "runs that trained with lr ≥ 0.1", is a region: any true pair); and
    when it names an issue type (after the pair, else in the clause before it), when
    ``k of n`` is a count of one of the named types. A type the sweep does not show has
    no count: "3 of 40 trials overfit" is false when no trial overfits, whatever else
    3 of 40 counts.
    """
    for k, n, tail, before, population, region in _stated_pairs(text):
        if not _pair_backed((k, n), tail, before, population, region, facts, derived):
            yield k, n


def _pair_backed(pair: tuple[int, int], tail: str, before: str, population: str | None, region: str,
                 facts: Facts, derived: set[int] | None = None) -> bool:
    """See :func:`_false_pairs`. A type set aside ("overfitting aside", "other than overfitting") is not the pair's."""
    if population and facts.populations is not None and pair[1] not in facts.populations.sizes(population):
        return False
    excluded: set[str] = set()
    for part in (tail, before):
        for match in _SET_ASIDE.finditer(part):
            excluded |= _issues_named(match[0])
    tail, before = _SET_ASIDE.sub(" ", tail), _SET_ASIDE.sub(" ", before)
    named = _issues_named(tail) or _issues_named(before)
    columns = facts.region_reader.columns(region) if region and facts.region_reader else set()
    if not named and not columns and (_mentions(tail, _GENERIC_SICK) or _SICK_BEFORE.search(before)):
        backed = facts.with_issues(excluded)  # "23 of 40 trials have issues": the trials with issues
        if backed:
            if pair in backed and derived is not None:
                derived.add(pair[0])  # "Overfitting aside, 11 of ...": a count the summary holds in no number
            return pair in backed
    if not facts.pair_known(pair, region=bool(region)):
        return False
    if named and facts.typed_pairs is not None and not any(facts.pair_known(pair, kind, bool(region)) for kind in named):
        return False
    return not columns or facts.region_backs(pair, named, region)


def _stated_pairs(text: str) -> Iterator[tuple[int, int, str, str, str | None, str]]:
    """``(k, n, tail, before, population, region)`` for each ``k of n`` / ``k/n`` and "of the N runs ..., K" of a text.

    ``tail`` is what the pair is said of (to the end of its clause or the next pair),
    ``before`` the clause before it, both without asides that hold counts of their own
    ("55 of 110 trials stopped by design (36 early-stopped, 19 cut by a time budget)");
    ``population`` the population ``n`` is named as (:class:`Populations`), None when
    unnamed or narrowed to a region; ``region`` the words that narrow the trials ``n``
    counts to a region ("with dropout = 0" of "of the 33 trials with dropout = 0 overfit",
    "above lr 0.1" of "runs that trained above lr 0.1") or the condition right before the
    pair ("dropout = 0" of "With dropout = 0, 10 of 15 trials overfit", "dropout = 0 overall:
    7 of 20"), empty when none do.
    """
    def clause(part: str, last: bool = False) -> str:
        return _ASIDE.sub(" ", _CLAUSE_END.split(part)[-1] if last else _CLAUSE_END.split(part, maxsplit=1)[0])

    matches = list(_PAIR.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        tail, before = clause(text[match.end():end]), clause(text[:match.start()], last=True)
        region, population = _region(text, match.end()), _population(text, match.end())
        if not region and (region := _condition_before(text[:match.start()])):
            population = None  # "With dropout = 0, 10 of the 15 runs that trained": a region's size
        yield int(match[1]), int(match[2]), tail, before, population, region
    for match in _OF_THE_N.finditer(text):  # "Of the 95 runs that trained, 12 overfit"
        yield (int(match[3]), int(match[1]), clause(text[match.end():]), "", _population(text, match.end(1)),
               _region(text, match.end(1)))


def _condition_before(text: str) -> str:
    """The condition a pair right after ``text`` is said of, when the text ends with one.

    "With dropout = 0, " and "(optimizer = momentum without lr ≥ 0.00152: " end with
    one; "..., against " does not. Only a condition written with a symbol ("=", "≥", "in
    [a, b)") counts here.
    """
    segment = _BEFORE_PAIR.search(_CITATION.sub("", text))
    if not segment or not _SYMBOL_CONDITION.search(segment[1]) or _PAIR.search(segment[1]):
        return ""  # "20/20 trials with batch_size ≥ 512 vs 0/80 elsewhere": the second pair is the rest
    return segment[1]


def _population(text: str, at: int) -> str | None:
    """The population named right after a count at ``at`` ("runs that trained": ``trained``), unless a region narrows it."""
    match = _POPULATION.match(text, at)
    if not match or _NARROWED.match(text, match.end()):
        return None
    return _POPULATION_OF.get(next(w for w in match.groups() if w).lower(), "trained")


def _region(text: str, at: int) -> str:
    """The words narrowing the trials counted right after ``at`` to a region; empty when nothing narrows them.

    "with dropout = 0" of "33 trials with dropout = 0 overfit": up to the verb, the issue
    named or the clause's end.
    """
    noun = _COUNTED_NOUN.match(text, at)
    if not noun:
        return ""
    population = _POPULATION.match(text, at)
    start = population.end() if population else noun.end()
    narrowed = _NARROWED.match(text, start)
    if not narrowed:
        return ""
    end = _REGION_END.search(text, narrowed.end())
    return text[start : end.start() if end else len(text)]


def _allowed_counts(phrase: str, facts: Facts) -> set[int] | None:
    """Counts the summary gives for the issue a phrase names (None: names none)."""
    named = _issues_named(phrase)
    if named:
        return set().union(*(facts.counts.get(kind, {0}) for kind in named))
    if _mentions(phrase, _GENERIC_SICK):
        return facts.counts.get("any") or None
    return None


def _param_problems(text: str, facts: Facts) -> list[tuple[str, str]]:
    problems = []
    if facts.claim_patterns:
        for pattern in facts.claim_patterns:
            for name, value in pattern.findall(text):
                value = value.rstrip(".:")
                if value and not _value_known(value, facts.params[name.lower()]):
                    problems.append(("param", f"{name}={value}"))
        for name, value in _UNKNOWN_ASSIGN.findall(text):
            value = value.rstrip(".:")
            if name.lower() not in facts.params and name.lower() not in _STAT_WORDS and (
                (name.lower(), value.lower()) not in facts.stated_assignments
            ):
                problems.append(("param", f"{name}={value}"))
    return problems


def _value_known(value: str, known: ParamFacts) -> bool:
    word = value.strip("'\"").lower()
    if word in known.words:
        return True
    try:
        _parse(word)
    except ValueError:
        return False
    return _grounded(word, sorted(known.numbers))


def _pairs(summary: dict[str, Any], n_trials: Any, affected: Any, scan: _Scan) -> set[tuple[int, int]]:
    """Every ``(k, n)`` the summary gives: counts out of the sweep, and region counts."""
    pairs: set[tuple[int, int]] = set()
    if isinstance(n_trials, int):
        counts = list((summary.get("issue_counts") or {}).values())
        counts += list((summary.get("sweep", {}).get("status_counts") or {}).values())
        counts += [f["n_trials"] for f in summary.get("findings") or [] if isinstance(f.get("n_trials"), int)]
        pairs.update((int(c), n_trials) for c in counts + ([affected] if isinstance(affected, int) else []))
    if isinstance(affected, int):
        pairs.update((int(c), affected) for c in (summary.get("severity_counts") or {}).values())
    for node in _walk_dicts(scan.rest):
        for k, n in (("k", "n"), ("k_rest", "n_rest")):
            if isinstance(node.get(k), int) and isinstance(node.get(n), int):
                pairs.add((node[k], node[n]))
    pairs.update((int(k), int(n)) for k, n in _PAIR.findall(scan.text))
    return pairs


def _typed_pairs(summary: dict[str, Any], n_trials: Any) -> dict[str, set[tuple[int, int]]]:
    """Issue type -> its ``(k, n)`` pairs: out of the sweep, and each region's.

    A region gives its inside, its outside, both together (the trials compared) and, for
    a pair of conditions, each condition without the other and overall. Its count among
    the runs that trained, for a type only they can show, is :meth:`Populations.trained_pair`
    (read from the issue rows only when a text needs it).
    """
    typed: dict[str, set[tuple[int, int]]] = {}
    if isinstance(n_trials, int):
        for kind, count in (summary.get("issue_counts") or {}).items():
            typed.setdefault(kind, set()).add((int(count), n_trials))
    for a in (summary.get("associations") or []) + (summary.get("patterns") or []) + (summary.get("leads") or []):
        kind, e = a.get("issue_type"), a.get("evidence") if isinstance(a.get("evidence"), dict) else a
        if not kind:
            continue
        pairs = typed.setdefault(kind, set())
        for k, n in (("k", "n"), ("k_rest", "n_rest")):
            if isinstance(e.get(k), int) and isinstance(e.get(n), int):
                pairs.add((e[k], e[n]))
        if all(isinstance(e.get(key), int) for key in ("k", "n", "k_rest", "n_rest")):
            pairs.add((e["k"] + e["k_rest"], e["n"] + e["n_rest"]))
        for part in a.get("parts") or []:
            pairs.add((int(part["k"]), int(part["n"])))
            if part.get("n_no_result"):  # "1 of 2 that could show it": the runs another no-result issue ended set apart
                pairs.add((int(part["k"]), int(part["n"]) - int(part["n_no_result"])))
            if isinstance(e.get("k"), int) and isinstance(e.get("n"), int):
                pairs.add((int(part["k"]) + e["k"], int(part["n"]) + e["n"]))
    return typed


@dataclass(frozen=True)
class Condition:
    """One condition of a region, as the summary states it (an association's, a part's): ``column`` in lower case."""

    column: str
    rule: str
    """``value``, ``threshold`` or ``bucket``."""
    lo: float | None = None
    hi: float | None = None
    value: str | float | None = None
    direction: str | None = None
    other: str | None = None
    """The column's other value when it takes two: "dropout = 0.2" is the rest of "dropout = 0"."""

    def side(self, op: str, token: str) -> int | None:
        """Where "column OP token" lies: 1 inside this condition, -1 outside, 0 neither (another value), None unknown."""
        number = _number(token)
        if self.rule == "bucket":
            if op not in ("in", "between"):
                return 0
            bounds = re.findall(_NUMERAL, token)
            if len(bounds) != 2 or self.lo is None or self.hi is None:
                return None
            return 1 if _grounded(bounds[0], [self.lo]) and _grounded(bounds[1], [self.hi]) else 0
        if op in ("in", "between"):
            return 0  # an interval said of a threshold or a value
        if self.rule == "threshold":
            bound = self.lo if self.direction == "above" else self.hi
            if op not in _UP | _DOWN:
                return 0
            if number is None or bound is None:
                return None
            if not _grounded(token, [bound]):
                return 0
            return 1 if (op in _UP) == (self.direction == "above") else -1
        target = self.value if self.value is not None else self.lo
        if target is None:
            return None
        same, other = _same(token, target), self.other is not None and _same(token, self.other)
        if op in _EQ:
            return 1 if same else -1 if other else 0
        if op in _NE:
            return -1 if same else 1 if other else 0
        if op in _STRICT and same and isinstance(target, (int, float)):
            return -1  # "dropout above 0" is the rest of "dropout = 0"
        return None if number is None and not isinstance(target, str) else 0


@dataclass(frozen=True)
class Cell:
    """A ``k of n`` the summary gives for a region: the trials inside (or outside) each of its conditions.

    ``rest``: the trials outside the conditions taken together (a pair's rest of the
    sweep), stated with at least one of them negated.
    """

    kind: str | None
    conditions: tuple[tuple[Condition, bool], ...]
    rest: bool = False

    def fits(self, columns: set[str], stated: list[tuple[str, str, str, bool]]) -> bool:
        """Whether a region naming ``columns`` with the conditions ``stated`` (:meth:`_ColumnClaims.conditions`) is this cell."""
        if {c.column for c, _ in self.conditions} != columns:
            return False
        sides = set()
        for condition, inside in self.conditions:
            found = [-side if negated and side else side for column, op, value, negated in stated
                     if column == condition.column for side in [condition.side(op, value)]]
            if found and all(s == 0 for s in found):
                return False  # another value of the column
            told = {s for s in found if s}
            if not self.rest and told and (1 if inside else -1) not in told:
                return False
            sides |= told
        return not self.rest or -1 in sides or not sides


_EQ = frozenset({"=", "==", ":", "of", "at", "is"})
_NE = frozenset({"!=", "≠"})
_UP = frozenset({"≥", ">=", ">", "above", "over"})
_DOWN = frozenset({"≤", "<=", "<", "below", "under"})
_STRICT = frozenset({">", "above", "over", "<", "below", "under"})


def _number(token: str) -> float | None:
    try:
        return _parse(token)
    except ValueError:
        return None


def _same(token: str, target: str | float) -> bool:
    """Whether a written value is ``target``: the same word, or the same number as written or rounded."""
    if isinstance(target, str) and _number(target) is None:
        return token.lower() == target.lower()
    number = _number(token)
    return number is not None and _grounded(token, [float(target)])


def _cells(summary: dict[str, Any]) -> dict[tuple[int, int], list[Cell]]:
    """``(k, n)`` -> the region cells that count it.

    Each association's, pattern's and lead's inside and rest, a pair's parts (one
    condition without the other, and each overall), and the region a crash group's
    finding names (its ``explained_by``).
    """
    ranges = (summary.get("sweep") or {}).get("hyperparameters") or {}

    def condition(d: dict[str, Any]) -> Condition | None:
        column = d.get("hyperparameter")
        if not isinstance(column, str):
            return None
        lo, hi, value, rule, direction = (d.get(key) for key in ("lo", "hi", "value", "rule", "direction"))
        stated = _STATED_CONDITION.fullmatch(str(d.get("condition") or ""))
        if stated and stated[1].lower() == column.lower():  # as the text says it (a pattern holds no bounds)
            op, token = stated[2], stated[3]
            rule = "value" if op == "=" else "bucket" if op == "in" else "threshold"
            bounds = [float(b) for b in re.findall(_NUMERAL, token)]
            value = token if rule == "value" and _number(token) is None else None
            lo = hi = _number(token) if rule == "value" else None
            if rule == "threshold":
                direction = "above" if op in _UP else "below"
                lo, hi = (_number(token), None) if direction == "above" else (None, _number(token))
            elif rule == "bucket" and len(bounds) == 2:
                lo, hi = bounds
        if rule not in ("value", "threshold", "bucket"):
            return None
        target = value if value is not None else lo
        values = (ranges.get(column) or {}).get("values") or []
        others = [v for v in values if not _same(str(v), target)] if target is not None and len(values) == 2 else []
        return Condition(column.lower(), rule, _finite(lo), _finite(hi),
                         value if isinstance(value, str) else _finite(value), direction,
                         str(others[0]) if len(others) == 1 else None)

    out: dict[tuple[int, int], list[Cell]] = {}

    def add(k: Any, n: Any, cell: Cell) -> None:
        if isinstance(k, int) and isinstance(n, int):
            out.setdefault((k, n), []).append(cell)

    regions = [(a, a.get("issue_type")) for a in (summary.get("associations") or []) + (summary.get("patterns") or [])
               + (summary.get("leads") or [])]
    regions += [(f["explained_by"], None) for f in summary.get("findings") or [] if isinstance(f.get("explained_by"), dict)]
    for a, kind in regions:
        e = a.get("evidence") if isinstance(a.get("evidence"), dict) else a
        parts = [(p, condition(p)) for p in a.get("parts") or []]
        if parts and all(c for _, c in parts):
            both = tuple((c, True) for _, c in parts)
            add(e.get("k"), e.get("n"), Cell(kind, both))
            add(e.get("k_rest"), e.get("n_rest"), Cell(kind, both, rest=True))
            for part, c in parts:
                add(part.get("k"), part.get("n"), Cell(kind, tuple((o, o is c) for _, o in parts)))
                if isinstance(part.get("n_no_result"), int) and isinstance(part.get("n"), int):  # "that could show it"
                    add(part.get("k"), part["n"] - part["n_no_result"], Cell(kind, tuple((o, o is c) for _, o in parts)))
                if all(isinstance(x, int) for x in (part.get("k"), part.get("n"), e.get("k"), e.get("n"))):
                    add(part["k"] + e["k"], part["n"] + e["n"], Cell(kind, ((c, True),)))
        elif not parts and (c := condition(a)) is not None:
            add(e.get("k"), e.get("n"), Cell(kind, ((c, True),)))
            add(e.get("k_rest"), e.get("n_rest"), Cell(kind, ((c, False),)))
    return out


_STATED_CONDITION = re.compile(r"(.+?) (=|≥|>|≤|<|in) (.+)")
"""A region's condition as the summary writes it: "lr ≥ 0.00152", "optimizer = adam", "lr in [0.01, 0.1)"."""


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _params(summary: dict[str, Any], scan: _Scan) -> dict[str, ParamFacts]:
    """Values the summary states per column (hyperparameters and metrics)."""
    roles = (summary.get("sweep") or {}).get("roles") or {}
    columns = set(roles.get("hyperparameters") or []) | set(roles.get("metrics") or {})
    columns |= set((summary.get("sweep") or {}).get("hyperparameters") or {})
    columns |= {c for c in (roles.get(k) for k in ("id", "status", "epochs", "runtime")) if isinstance(c, str)}
    params = {c.lower(): ParamFacts() for c in columns if c}
    if not params:
        return {}

    def add(name: str, value: Any) -> None:
        facts = params.get(str(name).lower())
        if facts is None or value is None or isinstance(value, bool):
            return
        if isinstance(value, (int, float)):
            if math.isfinite(value):
                facts.numbers.add(float(value))
            else:
                facts.words.add("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
        else:
            text = str(value).strip().lower()
            facts.words.add(text)
            for token in _NUMBER.findall(text):
                facts.numbers.add(_parse(token))

    for name, info in ((summary.get("sweep") or {}).get("hyperparameters") or {}).items():
        for key in ("min", "max"):
            add(name, info.get(key))
        for value in info.get("values") or {}:
            add(name, value)
    for a in (summary.get("associations") or []) + (summary.get("patterns") or []) + (summary.get("leads") or []):
        name = a.get("hyperparameter")
        if name:
            for key in ("lo", "hi", "value"):
                add(name, a.get(key))
    for name, value in ((summary.get("best_trial") or {}).get("hyperparameters") or {}).items():
        add(name, value)
    metric = (summary.get("best_trial") or {}).get("metric")
    if metric:
        add(metric, summary["best_trial"].get("value"))
    stated = _ColumnClaims(params, _PARAM_OPS, _VALUE)
    for name, token in stated.findall(scan.text):
        token = token.rstrip(".:").strip("'\"").lower()
        params[name.lower()].words.add(token.lstrip("+"))
        params[name.lower()].words.add(token)
        if _NUMBER.fullmatch(token):
            params[name.lower()].numbers.add(_parse(token))
    return params


def _total(summary: dict[str, Any]) -> int | None:
    counts = summary.get("issue_counts")
    return int(sum(counts.values())) if counts else None


def _walk(node: Any) -> Iterable[Any]:
    """Every number and string in a JSON-like value, keys included."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, (int, float, str)):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def _walk_dicts(node: Any) -> Iterable[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def _spell_out(text: str) -> str:
    """Numbers written in words as digits: "Ninety-seven trials" -> "97 trials", "one tenth" -> "0.1".

    A lone "one" becomes 1 only in counting position ("one of the six", "one trial"),
    so "the best one" stays words.
    """
    def fraction(match: re.Match[str]) -> str:
        return _FRACTIONS[(match.group(1) or match.group(2)).lower()]

    def repl(match: re.Match[str]) -> str:
        words = match.group(0)
        if words.lower() == "one" and not (_COUNTING_AFTER.match(text, match.end())
                                           or _COUNTING_BEFORE.search(text, 0, match.start())):
            return words
        return str(_words_value(words))

    return _SPELLED.sub(repl, _FRACTION_WORDS.sub(fraction, text))


def _words_value(words: str) -> int:
    """The value of number words: ninety-seven -> 97, one hundred and twelve -> 112, two thousand -> 2000."""
    total = current = 0
    for word in re.split(r"[\s-]+", words.lower()):
        if word == "and":
            continue
        value = _NUMBER_WORDS[word]
        if value in (100, 1000):
            current = max(current, 1) * value
            if value == 1000:
                total, current = total + current, 0
        else:
            current += value
    return total + current


def _without_ids(sentence: str, known_ids: Iterable[str]) -> str:
    """The sentence with cited known ids blanked, so an id "17" is not read as a number."""
    for token in known_ids:
        sentence = re.sub(rf"(?<![\w.]){re.escape(token)}(?![\w])", " ", sentence)
    return sentence


def _parse(token: str) -> float:
    return float(token.rstrip("%"))


def _grounded(token: str, numbers: Sequence[float]) -> bool:
    """Whether a written number is one of ``numbers`` (sorted), as written or rounded."""
    value = _parse(token)
    digits = token.rstrip("%").lstrip("+-")
    if "e" in digits.lower():
        width = abs(value) * 0.05

        def same(n: float) -> bool:
            return math.isclose(value, n, rel_tol=0.05)
    else:
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        width = max(10.0 ** -decimals, abs(value) * 0.005)

        def same(n: float) -> bool:
            return (abs(round(n, decimals) - value) < 10 ** (-decimals) / 2 + 1e-12
                    or math.isclose(value, n, rel_tol=0.005))
    i = bisect_left(numbers, value - width)
    while i < len(numbers) and numbers[i] <= value + width:
        if same(numbers[i]):
            return True
        i += 1
    return False


def _shape(token: str) -> str:
    """Letters become a, digits d; runs collapsed: "r00123" -> "ad", "run_1_c0" -> "a_d_ad"."""
    shape = re.sub(r"[A-Za-z]+", "a", token)
    return re.sub(r"\d+", "d", shape)
