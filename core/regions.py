"""Regions of the search space a diagnosis condemns, and whether a configuration falls in one.

A sweep that is still running can stop sampling where trials keep dying. A region is
*condemned* only on strong evidence: a pattern (:func:`core.patterns.find_patterns`:
Benjamini-Hochberg q below ``alpha``, at least ``min_support`` affected trials) of a
**high-severity** issue type (NaN/inf metrics, hidden failures, failed runs,
divergence, no learning), never of a by-design outcome (pruned, early-stopped, a
shorter budget: those types are not high severity), and never a region that holds the
best healthy trial so far. Pure functions over the summary: no printing, no tuner.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.issue_types import label_of, names_where
from core.values import format_number, format_p

_INTERVAL = re.compile(r"^in \[(?P<lo>[^,\]]+), (?P<hi>[^\])]+)(?P<close>[\])])$")


@dataclass(frozen=True)
class Condition:
    """One hyperparameter's part of a region.

    ``op`` is ``">="`` / ``"<="`` (a threshold: ``bound``), ``"in"`` (``[lo, hi)``, or
    ``[lo, hi]`` when ``closed``) or ``"="`` (``value``: the value as the report writes
    it, compared with a numeric parameter formatted the same way).
    """

    hyperparameter: str
    op: str
    bound: float | None = None
    lo: float | None = None
    hi: float | None = None
    closed: bool = False
    value: str | None = None

    def holds(self, value: Any) -> bool:
        """True when a parameter value lies in this condition (a missing value never does, but ``(missing)``)."""
        if self.op == "=":
            if value is None:
                return self.value == "(missing)"
            return _as_text(value) == self.value
        x = _as_float(value)
        if x is None or math.isnan(x):
            return False
        if self.op == ">=":
            return x >= self.bound
        if self.op == "<=":
            return x <= self.bound
        return self.lo <= x and (x <= self.hi if self.closed else x < self.hi)


@dataclass(frozen=True)
class Region:
    """A condemned region: where one high-severity issue concentrates, with its evidence."""

    pattern_id: str
    issue_type: str
    condition: str
    conditions: tuple[Condition, ...]
    k: int
    n: int
    k_rest: int
    n_rest: int
    q: float
    trial_ids: tuple[str, ...]

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        """Identity across diagnoses: the issue type and the hyperparameters (a threshold may move a little)."""
        return (self.issue_type, self.hyperparameters)

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        """The hyperparameters the region is defined on."""
        return tuple(c.hyperparameter for c in self.conditions)

    def decided(self, params: Mapping[str, Any]) -> bool:
        """True when ``params`` holds every hyperparameter the region is defined on."""
        return all(hp in params for hp in self.hyperparameters)

    def contains(self, params: Mapping[str, Any]) -> bool:
        """True when every condition holds for ``params`` (a hyperparameter not in ``params`` fails)."""
        return self.decided(params) and all(c.holds(params[c.hyperparameter]) for c in self.conditions)

    def line(self) -> str:
        """One line, e.g. ``NaN/inf metrics at lr ≥ 0.0631: 12/15 vs 0/40, q = 1.0e-06``."""
        label = label_of(self.issue_type)
        return f"{label} at {self.condition}: {self.k}/{self.n} vs {self.k_rest}/{self.n_rest}, q = {format_p(self.q)}"

    def reason(self, params: Mapping[str, Any]) -> str:
        """Why a configuration is not worth training, for the record of a trial pruned before training."""
        shown = ", ".join(f"{hp} = {_as_text(params[hp])}" for hp in self.hyperparameters)
        return f"{shown} lies in a condemned region ({self.pattern_id}): {self.line()}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form, for the watch's summary."""
        return {"pattern_id": self.pattern_id, "issue_type": self.issue_type, "condition": self.condition,
                "hyperparameters": list(self.hyperparameters), "k": self.k, "n": self.n, "k_rest": self.k_rest,
                "n_rest": self.n_rest, "q": self.q, "trial_ids": list(self.trial_ids), "line": self.line()}


def condemned_regions(summary: Mapping[str, Any], alpha: float = 0.05) -> list[Region]:
    """The regions a diagnosed summary condemns.

    Parameters
    ----------
    summary : mapping
        A summary with the analyst's keys: ``patterns`` (each with ``association_id``,
        ``issue_type``, ``evidence``), ``associations`` (``rule``, ``lo``, ``hi``,
        ``value``, ``direction``, ``hyperparameters``, ``parts``) and ``best_trial``.
    alpha : float
        Largest q a condemned pattern may have (patterns already have q below the
        analysis' alpha; this can only be stricter).

    Returns
    -------
    list of Region
        One per high-severity pattern with q < ``alpha`` whose region does not hold
        the best healthy trial, in the patterns' order.
    """
    associations = {a["id"]: a for a in summary.get("associations", [])}
    best = (summary.get("best_trial") or {}).get("hyperparameters") or {}
    high = names_where(lambda t: t.severity == "high")
    regions = []
    for pattern in summary.get("patterns", []):
        evidence, a = pattern["evidence"], associations.get(pattern["association_id"])
        if a is None or pattern["issue_type"] not in high or not evidence["q"] < alpha:
            continue
        conditions = _conditions(a)
        if conditions is None:
            continue
        region = Region(pattern_id=pattern["id"], issue_type=pattern["issue_type"], condition=a["condition"],
                        conditions=conditions, k=evidence["k"], n=evidence["n"], k_rest=evidence["k_rest"],
                        n_rest=evidence["n_rest"], q=float(evidence["q"]), trial_ids=tuple(pattern["trial_ids"]))
        if best and region.contains(best):
            continue  # never steer away from the best trial found so far
        regions.append(region)
    return regions


def _conditions(a: Mapping[str, Any]) -> tuple[Condition, ...] | None:
    """The conditions of an association: exact bounds for one hyperparameter, the parts' texts for a pair."""
    hp = a["hyperparameter"]
    if a["rule"] == "threshold":
        above = a["direction"] == "above"
        return (Condition(hp, ">=" if above else "<=", bound=float(a["lo"] if above else a["hi"])),)
    if a["rule"] == "bucket":
        return (Condition(hp, "in", lo=float(a["lo"]), hi=float(a["hi"]), closed=a["condition"].endswith("]")),)
    if a["rule"] == "value":
        return (Condition(hp, "=", value=a["condition"][len(hp) + 3:]),)
    parts = [_parse(part["condition"], a.get("hyperparameters") or []) for part in a.get("parts", [])]
    return tuple(parts) if len(parts) == 2 and all(parts) else None


def _parse(text: str, hyperparameters: list[str]) -> Condition | None:
    """A one-hyperparameter condition as the associations write it (``lr ≥ 0.0631``, ``opt = adam``, ``x in [a, b)``)."""
    for hp in sorted(hyperparameters, key=len, reverse=True):
        if not text.startswith(hp + " "):
            continue
        rest = text[len(hp) + 1:]
        if rest.startswith("= "):
            return Condition(hp, "=", value=rest[2:])
        if rest[:2] in ("≥ ", "≤ "):
            bound = _as_float(rest[2:])
            return None if bound is None else Condition(hp, ">=" if rest[0] == "≥" else "<=", bound=bound)
        match = _INTERVAL.match(rest)
        if match:
            lo, hi = _as_float(match["lo"]), _as_float(match["hi"])
            if lo is not None and hi is not None:
                return Condition(hp, "in", lo=lo, hi=hi, closed=match["close"] == "]")
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _as_text(value: Any) -> str:
    """A parameter value as the associations name it: numbers through ``format_number``, the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    x = _as_float(value)
    if x is not None and math.isfinite(x) and not isinstance(value, str):
        return format_number(x)
    return str(value)
