"""Regions of the search space a diagnosis condemns, and whether a configuration falls in one.

A sweep that is still running can stop sampling where trials keep dying. A region is
*condemned* only on strong evidence: a pattern (:func:`core.patterns.find_patterns`:
Benjamini-Hochberg q below ``alpha``, at least ``min_support`` affected trials) of a
**high-severity** issue type (NaN/inf metrics, hidden failures, failed runs,
divergence, no learning), never of a by-design outcome (pruned, early-stopped, a
shorter budget: those types are not high severity), and never a region that holds one of
the best healthy trials so far (``top_trials``). Pure functions over the summary: no printing, no tuner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core import records
from core.issue_types import HIGH_SEVERITY, label_of
from core.values import format_p


@dataclass(frozen=True)
class Region:
    """A condemned region: where one high-severity issue concentrates, with its evidence.

    ``conditions`` are the regions of its hyperparameters (one, or two for a pair);
    ``condition`` is the text the report shows.
    """

    pattern_id: str
    issue_type: str
    condition: str
    conditions: tuple[records.Region, ...]
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
        return holds(self.conditions, params)

    def line(self) -> str:
        """One line, e.g. ``NaN/inf metrics at lr ≥ 0.0631: 12/15 vs 0/40, q = 1.0e-06``."""
        label = label_of(self.issue_type)
        return f"{label} at {self.condition}: {self.k}/{self.n} vs {self.k_rest}/{self.n_rest}, q = {format_p(self.q)}"

    def reason(self, params: Mapping[str, Any]) -> str:
        """Why a configuration is not worth training, for the record of a trial pruned before training."""
        shown = ", ".join(f"{hp} = {records.as_text(params[hp])}" for hp in self.hyperparameters)
        return f"{shown} lies in a condemned region ({self.pattern_id}): {self.line()}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form, for the watch's summary."""
        return {"pattern_id": self.pattern_id, "issue_type": self.issue_type, "condition": self.condition,
                "hyperparameters": list(self.hyperparameters), "k": self.k, "n": self.n, "k_rest": self.k_rest,
                "n_rest": self.n_rest, "q": self.q, "trial_ids": list(self.trial_ids), "line": self.line()}


def holds(conditions: Iterable[records.Region], params: Mapping[str, Any]) -> bool:
    """True when a configuration (``{hyperparameter: value}``) lies in every one of ``conditions``.

    A hyperparameter the configuration lacks fails its condition; each value is judged by
    :meth:`core.records.Region.contains` (a bound reached within ``SAME_VALUE_RTOL`` counts).
    The one test of "is this trial in that region" for the condemned regions, the
    patterns' top trials and the next sweep's exclusions.
    """
    return all(c.hyperparameter in params and c.contains(params[c.hyperparameter]) for c in conditions)


def short_of(x: float, bound: float) -> bool:
    """True when ``x`` lies below ``bound`` by more than :data:`core.records.SAME_VALUE_RTOL`.

    One grid value written two ways (0.063095734448 and 0.06309573444801936) is one value.
    """
    return x < bound - records.SAME_VALUE_RTOL * abs(bound)


def past(x: float, bound: float) -> bool:
    """True when ``x`` lies above ``bound`` by more than :data:`core.records.SAME_VALUE_RTOL`."""
    return x > bound + records.SAME_VALUE_RTOL * abs(bound)


def condemned_regions(summary: Mapping[str, Any], alpha: float = 0.05) -> list[Region]:
    """The regions a diagnosed summary condemns.

    Parameters
    ----------
    summary : mapping
        A summary with the analyst's keys: ``patterns`` (each with ``association_id``,
        ``issue_type``, ``evidence``), ``associations`` (their regions' fields:
        ``hyperparameter``, ``rule``, ``lo``, ``hi``, ``value``, ``closed``, and a pair's
        ``parts``) and ``top_trials`` (else ``best_trial``).
    alpha : float
        Largest q a condemned pattern may have (patterns already have q below the
        analysis' alpha; this can only be stricter).

    Returns
    -------
    list of Region
        One per high-severity pattern with q < ``alpha`` whose region holds none of
        the best healthy trials, in the patterns' order.
    """
    associations = {a["id"]: a for a in summary.get("associations", [])}
    top = records.top_configurations(summary)
    regions = []
    for pattern in summary.get("patterns", []):
        evidence, a = pattern["evidence"], associations.get(pattern["association_id"])
        if a is None or pattern["issue_type"] not in HIGH_SEVERITY or not evidence["q"] < alpha:
            continue
        conditions = records.Association.regions_of(a)
        region = Region(pattern_id=pattern["id"], issue_type=pattern["issue_type"], condition=a["condition"],
                        conditions=conditions, k=evidence["k"], n=evidence["n"], k_rest=evidence["k_rest"],
                        n_rest=evidence["n_rest"], q=float(evidence["q"]), trial_ids=tuple(pattern["trial_ids"]))
        if any(region.contains(best) for best in top):
            continue  # never steer away from the best trials found so far
        regions.append(region)
    return regions
