"""The next sweep to run: search ranges and settings derived from the findings.

:func:`plan_next_sweep` reads a summary (with the analyst's ``patterns``) and returns a
plan, JSON-native, that a sweep tool can take. Every number in it is read from the
summary (searched ranges, thresholds and region bounds of the associations, epochs of
curve issues) or follows from one by a stated rule (widening: one decade beyond the
edge of a log-scaled range, else twice or half the edge; a longer run: twice the
epochs). Nothing is estimated here.

The plan
--------
``objective``
    ``{"metric", "goal"}`` (``goal`` is ``"min"`` or ``"max"``), or None.
``hyperparameters``
    One entry per hyperparameter of the sweep, in the sweep's order. Numeric:
    ``{"kind": "float" | "int", "low", "high", "log", "exclude", "searched"}``: sample
    in ``[low, high]`` (log-uniformly when ``log``) but never inside an ``exclude``
    interval ``[lo, hi]`` (closed: a threshold itself is where the issue starts, so a
    range capped at it keeps ``high`` equal to it and excludes it). Categorical:
    ``{"kind": "categorical", "values", "exclude", "searched"}`` (``values`` are the
    ones to keep searching). ``searched`` is what the sweep searched
    (``{"low", "high"}`` or ``{"values", "n_values"}``); ``changed`` says whether
    the range of the whole sweep changed (conditions aside).
``conditions``
    Ranges that hold only within a region of another hyperparameter, for tools with
    conditional search spaces: ``{"when": REGION, "hyperparameter", "low", "high",
    "exclude", "evidence"}``, where a REGION is ``{"hyperparameter", "condition"}``
    plus ``"value"`` (a categorical value or a number) or ``"low"``/``"high"``.
``settings``
    Budget changes, e.g. ``{"epochs": {"column", "from", "to", "when"}}``, only for a sweep
    without a planned-budget hyperparameter (with one, ``more_epochs`` raises its range).
``start_from``
    The best healthy trial (``{"trial_id", "hyperparameters"}``), to enqueue first.
``changes``
    What changed and why, one entry each: ``{"hyperparameter", "action", "from",
    "to", "when", "evidence", "reason", "trial_ids"}``. ``evidence`` is the id of the
    fact it follows from (pattern ``P2``, finding ``F1``, association ``A12``), or
    ``issue_counts.TYPE`` for a count of issues. Actions: ``cap`` (lower the upper
    end), ``raise_low``, ``exclude`` (a bucket, value or categorical value),
    ``cap_when`` / ``raise_low_when`` / ``exclude_when`` (within a region),
    ``widen`` (the best trial sits at the edge, and the top trials crowd there), ``regularise`` (widen a
    weight-decay/dropout range where overfitting concentrates), ``add`` (a
    hyperparameter the sweep lacks; no range is given, since nothing in the sweep says
    which), ``more_epochs``. A hyperparameter capped (or its floor raised) within one
    region by several facts has one change there: the tightest bound, its reason first,
    the other facts after it, the evidence and trial ids of all.

Building a sweep from it: :func:`to_wandb_sweep` gives a W&B sweep configuration
(exclusions and conditions cannot be said there; they are left to the training
script), and :func:`suggest_params` samples one configuration through an Optuna trial
(define-by-run: categorical values first, then the ranges their conditions give).
"""

from __future__ import annotations

import math
import re
from typing import Any

from core.domains import edge_cut, log_scaled, natural_domain
from core.issue_types import AVOIDABLE, CUT_WHILE_TRAINING, ISSUE_TYPES, label_of, names_where
from core.patterns import keeps_the_setting, rare_even_there, sweep_wide, trained_count
from core.records import (
    SAME_VALUE_RTOL,
    Association,
    Change,
    Epochs,
    NextCategorical,
    NextNumeric,
    NextSweep,
    Objective,
    PlanCondition,
    PlanRegion,
    Region,
    SearchedCategorical,
    SearchedNumeric,
    Settings,
    StartFrom,
    issue_columns_of,
    top_configurations,
)
from core.regions import holds, past
from core.stats import binomial_sf, wilson_interval
from core.values import format_number

Plan = dict[str, Any]


_REGULARISERS = re.compile(r"weight[_\-. ]?decay|(^|[_\-./ ])(wd|l2|l2_reg)($|[_\-./ ])|dropout|drop[_\-]?rate|"
                           r"regulari[sz]|label[_\-]?smoothing", re.IGNORECASE)
_EXCLUDE_SHARE = 0.5  # a categorical value is dropped when at least this share of its trials went bad


def plan_next_sweep(summary: dict[str, Any]) -> Plan:
    """The next sweep, derived from a summary's patterns, findings and issues.

    Parameters
    ----------
    summary : dict
        The summary of :func:`core.summary.build_summary` with the analyst's
        ``patterns`` (and ``analysis``); ``curves`` when the sweep had curves.

    Returns
    -------
    dict
        The plan (see the module docstring): ``objective``, ``hyperparameters``,
        ``conditions``, ``settings``, ``start_from``, ``changes``. A sweep without
        hyperparameters gives empty ranges; a healthy one gives the searched ranges
        unchanged (and widening where the best trial sits at an edge).
    """
    planner = _Planner(summary)
    patterns = summary.get("patterns") or []
    # Ranges of the whole sweep first, so that a condition is kept only where it is tighter.
    for pattern in sorted(patterns, key=planner.conditional):
        if not pattern.get("explained_by"):  # a marginal a pair explains: the pair's condition is the cause
            planner.pattern(pattern)
    planner.regularise_sweep(patterns)
    planner.spare_top_settings(patterns)
    planner.never_ran()
    for finding in summary.get("findings") or []:
        if finding.get("kind") == "edge_of_range":
            planner.widen(finding)
    planner.epochs()
    planner.drop_empty_regions()
    return planner.result().to_dict()


# --------------------------------------------------------------------------------------
# Building sweep configurations
# --------------------------------------------------------------------------------------


def to_wandb_sweep(plan: Plan, *, method: str = "bayes") -> dict[str, Any]:
    """A W&B sweep configuration (``wandb.sweep(config)``) from a plan.

    Floats on a log scale become ``log_uniform_values``, other floats ``uniform``, ints
    ``int_uniform`` (``q_log_uniform_values`` with ``q=1`` on a log scale), categorical
    ones ``values``, a range of one value ``value``; a raised epoch budget becomes a
    fixed parameter. Exclusions inside a range and conditions cannot be expressed in
    W&B (a sweep's ``parameters`` are ``value``, ``values`` or a distribution, with no
    condition on another parameter): the training script should skip those
    configurations. A raised budget that holds only within a region (``settings.epochs``
    with a ``when``) becomes ``values: [from, to]`` and the configuration's
    ``description`` (a W&B sweep key) says where the larger one is meant, for the
    training script to apply.
    """
    parameters: dict[str, Any] = {}
    for name, hp in plan["hyperparameters"].items():
        if hp["kind"] == "categorical":
            if hp["values"]:
                parameters[name] = {"values": list(hp["values"])}
        elif hp["low"] is None:
            continue
        elif hp.get("values"):
            parameters[name] = {"values": list(hp["values"])}
        elif hp["low"] == hp["high"]:
            parameters[name] = {"value": hp["low"]}
        elif hp["kind"] == "int":
            parameters[name] = ({"distribution": "q_log_uniform_values", "q": 1} if hp["log"]
                                else {"distribution": "int_uniform"}) | {"min": int(hp["low"]), "max": int(hp["high"])}
        else:
            parameters[name] = {"distribution": "log_uniform_values" if hp["log"] else "uniform",
                                "min": hp["low"], "max": hp["high"]}
    epochs = plan["settings"].get("epochs")
    notes = []
    if epochs and epochs.get("column"):
        column, low, high = epochs["column"], _int(float(epochs["from"])), _int(float(epochs["to"]))
        if epochs.get("when"):
            parameters[column] = {"values": [low, high]}
            notes.append(f"{column} = {format_number(high)} is meant only where {epochs['when']} "
                         f"({format_number(low)} elsewhere): W&B cannot condition a parameter, so the training "
                         "script should apply it.")
        else:
            parameters[column] = {"value": high}
    config: dict[str, Any] = {"method": method, "parameters": parameters}
    if notes:
        config["description"] = " ".join(notes)
    objective = plan.get("objective")
    if objective:
        config["metric"] = {"name": objective["metric"], "goal": "minimize" if objective["goal"] == "min" else "maximize"}
    return config


def suggest_params(trial: Any, plan: Plan) -> dict[str, Any] | None:
    """Sample one configuration of the plan through an Optuna trial (define-by-run).

    Categorical hyperparameters are suggested first, then the numeric ones that
    conditions depend on (``when``), then the rest, each within the range that the
    conditions matching the values so far give. Returns the parameters,
    or None when a value fell into an excluded interval or the conditions met leave
    no range at all (prune the trial, e.g.
    ``raise optuna.TrialPruned()``). Optuna itself is not imported here.
    """
    hps = plan["hyperparameters"]
    params: dict[str, Any] = {}
    conditioning = {cond["when"]["hyperparameter"] for cond in plan["conditions"]}
    order = sorted(hps, key=lambda name: (hps[name]["kind"] != "categorical", name not in conditioning))
    for name in order:
        hp = hps[name]
        if hp["kind"] == "categorical":
            if hp["values"]:
                params[name] = trial.suggest_categorical(name, list(hp["values"]))
            continue
        if hp["low"] is None:
            continue
        low, high, exclude = hp["low"], hp["high"], list(hp["exclude"])
        for cond in plan["conditions"]:
            if cond["hyperparameter"] == name and _in_region(params, cond["when"]):
                low = max(low, cond["low"]) if cond.get("low") is not None else low
                high = min(high, cond["high"]) if cond.get("high") is not None else high
                exclude += cond.get("exclude") or []
        if low > high:
            return None  # the conditions met leave nothing of this range: prune the trial
        if hp.get("values"):  # a grid stays a grid: always the same choices (Optuna wants that), pruned outside
            value: float = trial.suggest_categorical(name, list(hp["values"]))
            if not low <= value <= high:
                return None
        elif hp["kind"] == "int":
            value = trial.suggest_int(name, int(low), int(high), log=hp["log"])
        else:
            value = trial.suggest_float(name, low, high, log=hp["log"])
        if any(lo <= value <= hi for lo, hi in exclude):
            return None
        params[name] = value
    return params


def _in_region(params: dict[str, Any], region: dict[str, Any]) -> bool:
    """True when ``params`` lies in a plan region (a value, or closed bounds), as :func:`core.regions.holds` judges."""
    hp = region["hyperparameter"]
    value = params.get(hp)
    if value is None:
        return False
    if "value" in region:
        return _same(value, region["value"])
    if isinstance(value, str):
        return False
    return holds([Region(hyperparameter=hp, rule="bucket", low=region.get("low"), high=region.get("high"))], params)


# --------------------------------------------------------------------------------------
# The planner
# --------------------------------------------------------------------------------------


class _Planner:
    """Applies the rules one fact at a time to a copy of the searched space."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        self.alpha = float((summary.get("analysis") or {}).get("alpha", 0.05))
        self.associations = {a["id"]: Association.from_dict(a) for a in summary.get("associations") or []}
        self.issues = issue_columns_of(summary)
        self.space = {hp: _searched(hp, info, summary) for hp, info in summary["sweep"]["hyperparameters"].items()}
        self.conditions: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []
        self.settings: dict[str, Any] = {}
        self.capped: set[tuple[str, str]] = set()  # (hyperparameter, side) cut by a pattern
        self.top = top_configurations(summary)

    # -- patterns --------------------------------------------------------------------

    def conditional(self, p: dict[str, Any]) -> bool:
        """True for a pattern that gives a range within a region (a pair, or a categorical value)."""
        a = self.associations.get(p.get("association_id") or "")
        if a is None:
            return True
        entry = self.space.get(a.hyperparameter)
        return a.rule == "pair" or (entry is not None and entry["kind"] == "categorical")

    def pattern(self, p: dict[str, Any]) -> None:
        a = self.associations.get(p.get("association_id") or "")
        if a is None or rare_even_there(a):  # an issue rare even there: the region stays (the pattern says so)
            return
        kind = a.issue_type
        if kind in AVOIDABLE:
            if a.rule == "pair":
                self._avoid_pair(p, a)
            else:
                self._avoid(p, a)
        elif kind == "overfitting":
            self._regularise(p["id"], _rate_text(a), a)
        elif kind == "still_improving":
            self._longer_when(p, a)

    def _avoid(self, p: dict[str, Any], a: Association) -> None:
        hp = a.hyperparameter
        entry = self.space.get(hp)
        if entry is None:
            return
        why = _rate_text(a)
        if entry["kind"] == "categorical":
            self._avoid_value(p, a, entry, why)
            return
        searched = entry["searched"]
        if a.rule == "threshold" and a.direction == "above":
            self._cap(hp, entry, a.lo, p["id"], why, a)
        elif a.rule == "threshold" and a.direction == "below":
            self._raise_low(hp, entry, a.hi, p["id"], why, a)
        elif a.rule in ("bucket", "value") and a.lo <= searched["low"] and a.hi < searched["high"]:
            self._raise_low(hp, entry, a.hi, p["id"], why, a)
        elif a.rule in ("bucket", "value") and a.hi >= searched["high"] and a.lo > searched["low"]:
            self._cap(hp, entry, a.lo, p["id"], why, a)  # the causal side: batch_size >= where crashes start
        elif a.rule in ("bucket", "value") and self._keeps_best(hp, [a.lo, a.hi]):
            interval = [a.lo, a.hi]
            entry["exclude"].append(interval)
            self._change(hp, "exclude", None, interval, p["id"], f"{why}; leave out {a.condition}", a)

    def _keeps_best(self, hp: str, excluded: Any, when: dict[str, Any] | None = None) -> bool:
        """True unless a top-ranked trial's value of ``hp`` lies in ``excluded`` (an interval, or a categorical value).

        The next sweep never leaves out the configuration of one of the sweep's best
        trials (``top_trials``, else the ``best_trial`` of an older summary): a
        pattern that would is reported, but the plan does not act on it. ``when`` (a
        plan region) limits the check to the trials inside it.
        """
        return not any(_excludes(trial, hp, excluded, when) for trial in self.top)

    def _cap(self, hp: str, entry: dict[str, Any], threshold: float, evidence: str, why: str, a: Association) -> None:
        if threshold > entry["high"] or not self._keeps_best(hp, [threshold, entry["searched"]["high"]]):
            return  # (a threshold at the top value searched still caps: that value is where the issue is)
        old = [entry["low"], entry["high"]]
        below = [v for v in entry["known"] if v < threshold] if entry["kind"] == "int" else []
        entry["high"] = max(below) if below else threshold
        _add_once(entry["exclude"], [threshold, entry["searched"]["high"]])
        self.capped.add((hp, "high"))
        self._change(hp, "cap", old, [entry["low"], entry["high"]], evidence,
                     f"{why}; search {hp} below {format_number(threshold)}", a)

    def _raise_low(self, hp: str, entry: dict[str, Any], threshold: float, evidence: str, why: str,
                   a: Association) -> None:
        if threshold < entry["low"] or not self._keeps_best(hp, [entry["searched"]["low"], threshold]):
            return
        old = [entry["low"], entry["high"]]
        above = [v for v in entry["known"] if v > threshold] if entry["kind"] == "int" else []
        entry["low"] = min(above) if above else threshold
        _add_once(entry["exclude"], [entry["searched"]["low"], threshold])
        self.capped.add((hp, "low"))
        self._change(hp, "raise_low", old, [entry["low"], entry["high"]], evidence,
                     f"{why}; search {hp} above {format_number(threshold)}", a)

    def _avoid_value(self, p: dict[str, Any], a: Association, entry: dict[str, Any], why: str) -> None:
        """A categorical value: a conditional range when a significant pair explains it, else drop it if mostly bad."""
        explaining = sorted(
            (b for b in self.associations.values()
             if b.rule == "pair" and b.direction and b.issue_type == a.issue_type and b.q < self.alpha
             and b.rate > b.rate_rest and b.parts and b.parts[0].region.key == a.regions[0].key),
            key=lambda b: (b.q, -b.k),
        )
        if explaining:
            self._avoid_pair(p, explaining[0], evidence=f"{p['id']}, {explaining[0].id}")
            return
        if (a.rate >= _EXCLUDE_SHARE and a.value in entry["values"] and len(entry["values"]) > 1
                and not keeps_the_setting(a) and self._keeps_best(a.hyperparameter, a.value)):
            entry["values"].remove(a.value)
            entry["exclude"].append(a.value)
            self._change(a.hyperparameter, "exclude", None, a.value, p["id"], f"{why}; leave it out", a)

    def _avoid_pair(self, p: dict[str, Any], a: Association, evidence: str | None = None) -> None:
        """A pair: within the first region, cap/raise/exclude the second hyperparameter."""
        if len(a.regions) != 2:
            return
        first, second = a.regions
        when = _when(first)
        hp = second.hyperparameter
        entry = self.space.get(hp)
        if entry is None:
            return
        why = _rate_text(a)
        evidence = evidence or p["id"]
        if a.direction and entry["kind"] != "categorical":
            key, bound = ("high", a.lo) if a.direction == "above" else ("low", a.hi)
            if (key == "high" and bound >= entry["high"]) or (key == "low" and bound <= entry["low"]):
                return  # the global range already leaves it out
            if ((key == "high" and bound <= entry["low"]) or (key == "low" and bound >= entry["high"])) and not (
                    ISSUE_TYPES[a.issue_type].severity == "high" and "value" in when and self._droppable(when)):
                return  # nothing of the range would be left within the region: no range to give (never low > high)
            # (runs that give no result anywhere the plan samples within a value that can go: drop_empty_regions
            # leaves the value out; breast's unscaled inputs, sick at every batch size the plan keeps)
            span = [bound, entry["searched"]["high"]] if key == "high" else [entry["searched"]["low"], bound]
            if not self._keeps_best(hp, span, when):
                return
            self._condition(when, hp, {key: bound, "exclude": [span]}, evidence)
            action = "cap_when" if key == "high" else "raise_low_when"
            self._change(hp, action, [entry["low"], entry["high"]], [entry["low"], bound] if key == "high"
                         else [bound, entry["high"]], evidence,
                         f"{why}; with {first.condition}, search {hp} {'below' if key == 'high' else 'above'} "
                         f"{format_number(bound)}", a, when=first.condition)
            return
        region = _when(second)
        exclude = [region["value"]] if "value" in region and entry["kind"] == "categorical" else (
            [[region["value"], region["value"]]] if "value" in region else [[region["low"], region["high"]]])
        if not self._keeps_best(hp, exclude[0], when):
            return
        self._condition(when, hp, {"exclude": exclude}, evidence)
        self._change(hp, "exclude_when", None, exclude[0], evidence,
                     f"{why}; avoid the combination {a.condition}", a, when=first.condition)

    def _condition(self, when: dict[str, Any], hp: str, bounds: dict[str, Any], evidence: str) -> None:
        for cond in self.conditions:
            if cond["when"] == when and cond["hyperparameter"] == hp:
                if "high" in bounds:
                    cond["high"] = bounds["high"] if cond.get("high") is None else min(cond["high"], bounds["high"])
                if "low" in bounds:
                    cond["low"] = bounds["low"] if cond.get("low") is None else max(cond["low"], bounds["low"])
                for x in bounds.get("exclude", []):
                    _add_once(cond["exclude"], x)
                cond["evidence"] += f", {evidence}"
                return
        self.conditions.append({"when": when, "hyperparameter": hp, "low": bounds.get("low"),
                                "high": bounds.get("high"), "exclude": list(bounds.get("exclude", [])),
                                "evidence": evidence})

    def _regularise(self, evidence: str, why: str, a: Association | None, trial_ids: list[str] | None = None) -> None:
        """Overfitting concentrates in a region (``a``), or across the sweep (None): more weight decay/dropout there.

        When the region itself is a regulariser's low end (``dropout = 0``, ``weight_decay
        ≤ 1e-4``), the values searched above it are the remedy the sweep already holds:
        the low end is left out (within the pair's other region, and only if no top trial
        lies there), and no range is widened, since nothing shows that the highest values
        searched still overfit. diabetes: "hidden = 32 and dropout = 0" had widened dropout
        to 0.4 and weight decay to 0.02.
        """
        regions = a.regions if a is not None else ()
        where = a.condition if a is not None else None
        regularisers = [hp for hp, e in self.space.items() if _REGULARISERS.search(hp) and e["kind"] != "categorical"]
        low_end = [r for r in regions if r.hyperparameter in regularisers and _low_end(r, self.space[r.hyperparameter])]
        if low_end and a is not None:
            self._regulariser_floor(evidence, a, low_end[0], why)
            return
        there = " there" if a is not None else ""
        if not regularisers:
            self._change(None, "add", None, None, evidence,
                         f"{why}; the sweep has no weight decay or dropout to raise{there}, so add one "
                         "(no range is given: nothing in this sweep says which values)", a, when=where,
                         name="weight_decay or dropout", trial_ids=trial_ids)
            return
        for hp in regularisers:
            entry = self.space[hp]
            if entry["low"] is None:
                continue
            high = _beyond(entry, "high")
            if high is None:
                continue
            region = _when(regions[0]) if a is not None and a.rule != "pair" else None
            if "grid" in entry:
                entry["grid"].append(high)  # the grid gains the larger value (within the region when there is one)
            if region is not None:
                self._condition(region, hp, {"high": high}, evidence)
                self._change(hp, "regularise", [entry["low"], entry["high"]], [entry["low"], high], evidence,
                             f"{why}; allow more {hp} there", a, when=where)
            else:
                old = [entry["low"], entry["high"]]
                entry["high"] = high
                self._change(hp, "regularise", old, [entry["low"], high], evidence, f"{why}; allow more {hp}", a,
                             trial_ids=trial_ids)

    def regularise_sweep(self, patterns: list[dict[str, Any]]) -> None:
        """Most runs that trained overfit and no pattern places it: regularise the whole sweep.

        Overfitting is compared only among the trials that trained
        (:func:`core.patterns.trained_count`), so where no region concentrates it there,
        the remedy is the sweep's, not a region's. "Most" is the 95 % Wilson lower bound
        of the share above one half: a minority that overfits everywhere is said in the
        recommendations, not acted on here.
        """
        if any("overfitting" in (p["issue_type"], *p.get("also_issue_types", [])) for p in patterns):
            return
        ids = list(dict.fromkeys(t for t, kind in zip(self.issues.trial_id, self.issues.type) if kind == "overfitting"))
        trained = trained_count(self.summary, self.issues)
        if trained is None:  # every trial trained
            trained = (self.summary.get("sweep") or {}).get("n_trials")
        if not ids or not trained or wilson_interval(len(ids), int(trained))[0] <= 0.5:
            return
        self._regularise("issue_counts.overfitting", sweep_wide("overfitting", len(ids), int(trained)), None,
                         trial_ids=ids[:5])

    def _regulariser_floor(self, evidence: str, a: Association, low: Region, why: str) -> None:
        """Leave out a regulariser's low end where overfitting concentrates (within a pair's other region)."""
        hp, entry = low.hyperparameter, self.space[low.hyperparameter]
        bound = float(low.high)
        others = [r for r in a.regions if r is not low]
        if not others:
            self._raise_low(hp, entry, bound, evidence, why, a)
            return
        when, span = _when(others[0]), [entry["searched"]["low"], bound]
        if not self._keeps_best(hp, span, when):
            return
        self._condition(when, hp, {"low": bound, "exclude": [span]}, evidence)
        self._change(hp, "raise_low_when", [entry["low"], entry["high"]], [bound, entry["high"]], evidence,
                     f"{why}; with {others[0].condition}, search {hp} above {format_number(bound)}", a,
                     when=others[0].condition)

    def spare_top_settings(self, patterns: list[dict[str, Any]]) -> None:
        """A failure cut that would throw away top trials, applied within the settings where none of them lies.

        For each standing avoid-pattern that cuts a numeric hyperparameter at a threshold,
        the most significant wider threshold of the same issue type and direction
        (``lr ≥ 0.2257`` beside ``lr ≥ 2.222``) is left out of the whole sweep only
        because it holds top-ranked trials. When those all share a few values of one
        other hyperparameter (the one whose values they span least: digits, every top
        trial at lr ≥ 0.2257 is ``sgd``), the wider cut applies within each of its other
        values (with adam, with momentum: lr below 0.2257), so the failures there go
        and the top trials stay. The evidence is the pattern and the wider association.
        """
        for p in patterns:
            a = self.associations.get(p.get("association_id") or "")
            if (a is None or p.get("explained_by") or a.rule != "threshold" or a.issue_type not in AVOIDABLE
                    or rare_even_there(a)
                    or ISSUE_TYPES[a.issue_type].severity != "high" or a.hyperparameter not in self.space
                    or self.space[a.hyperparameter]["kind"] == "categorical"):
                continue
            self._spare(p, a)

    def _spare(self, p: dict[str, Any], a: Association) -> None:
        hp, above = a.hyperparameter, a.direction == "above"
        region = a.regions[0]

        def held(b: Association) -> list[dict[str, Any]]:
            return [t for t in self.top if holds(b.regions, t)]

        wider = [b for b in self.associations.values()
                 if b.rule == "threshold" and b.issue_type == a.issue_type and b.hyperparameter == hp
                 and b.direction == a.direction and b.q < self.alpha and b.rate > b.rate_rest
                 and (b.lo < region.low if above else b.hi > region.high) and held(b)]
        if not wider:
            return
        w = min(wider, key=lambda b: (b.q, b.log_p_or_p))
        inside = held(w)
        split = None
        for other, entry in self.space.items():
            values = entry["values"] if entry["kind"] == "categorical" else entry.get("grid")
            if other == hp or not values or len(values) < 2 or any(t.get(other) is None for t in inside):
                continue
            spared = [v for v in values if any(_same(t[other], v) for t in inside)]
            free = [v for v in values if v not in spared]
            if free and (split is None or len(spared) / len(values) < split[0]):
                split = (len(spared) / len(values), other, spared, free)
        if split is None:
            return
        _, other, spared, free = split
        entry = self.space[hp]
        bound = float(w.lo if above else w.hi)
        key = "high" if above else "low"
        span = [bound, entry["searched"]["high"]] if above else [entry["searched"]["low"], bound]
        for v in free:
            cell = Region(hyperparameter=other, rule="value", value=str(v)) if isinstance(v, str) else Region(
                hyperparameter=other, rule="value", low=float(v), high=float(v))
            when = _when(cell)
            done = [c for c in self.conditions if c["when"] == when and c["hyperparameter"] == hp
                    and c.get(key) is not None and (c[key] <= bound if above else c[key] >= bound)]
            if done or (above and bound >= entry["high"]) or (not above and bound <= entry["low"]) \
                    or not self._keeps_best(hp, span, when) or not self._fails_within(w, other, v):
                continue
            self._condition(when, hp, {key: bound, "exclude": [span]}, f"{p['id']}, {w.id}")
            kept = ", ".join(format_number(s) if not isinstance(s, str) else s for s in spared)
            self._change(hp, "cap_when" if above else "raise_low_when", [entry["low"], entry["high"]],
                         [entry["low"], bound] if above else [bound, entry["high"]], f"{p['id']}, {w.id}",
                         f"{_rate_text(w)}; its top-ranked trials all have {other} = {kept}: with "
                         f"{cell.condition}, search {hp} {'below' if above else 'above'} {format_number(bound)}",
                         w, when=cell.condition)

    def _fails_within(self, w: Association, other: str, v: Any) -> bool:
        """True when the runs with ``other = v`` show ``w``'s issue between ``w``'s cut and the narrower one, beyond the rest.

        The evidence is ``w``'s band (:class:`core.records.Band`: the trials between the
        wider cut and the narrower cut that spares the top trials, per setting), the part
        of ``w``'s region the plan still samples once the narrower cut applies: the 95 %
        Wilson lower bound of ``other = v``'s rate there must lie above ``w``'s rate
        outside its region. A setting whose runs there did not fail (adam: 0 of 68 at lr in
        [0.0026, 0.19), its failures all at lr ≥ 0.32, which the narrower cut leaves out
        already), or that has no run there (nothing shows it fails), keeps its range:
        capping it would throw away its good trials for nothing.
        """
        rest = w.k_rest / w.n_rest if w.n_rest else 0.0
        cells = w.band.cells if w.band is not None else []
        return any(c.hyperparameter == other and _same(c.value if c.value is not None else c.lo, v)
                   and c.n and wilson_interval(c.k, c.n)[0] > rest for c in cells)

    def never_ran(self) -> None:
        """Drop a value (categorical, or of a grid) whose every trial gave no result: it never once ran.

        Such a value needs no test to be left out (``lbfgs`` that always crashed says
        nothing good about itself); at least one value is always kept, and never the
        best trial's.
        """
        for a in self.associations.values():
            entry = self.space.get(a.hyperparameter)
            if (a.rule != "value" or entry is None or a.n == 0 or a.k < a.n
                    or a.issue_type not in ("failed", "status_mismatch", "nonfinite_metric")):
                continue
            why = f"all {a.n} trials with {a.condition} gave no result ({ISSUE_TYPES[a.issue_type].label})"
            if entry["kind"] == "categorical":
                if a.value in entry["values"] and len(entry["values"]) > 1 and self._keeps_best(
                        a.hyperparameter, a.value):
                    entry["values"].remove(a.value)
                    entry["exclude"].append(a.value)
                    self._change(a.hyperparameter, "exclude", None, a.value, a.id, f"{why}; drop it", a)
            elif "grid" in entry and len(_allowed(entry, entry["high"])) > 1 and a.lo in _allowed(entry, entry["high"]) \
                    and self._keeps_best(a.hyperparameter, [a.lo, a.lo]):
                entry["exclude"].append([a.lo, a.lo])
                self._change(a.hyperparameter, "exclude", None, [a.lo, a.lo], a.id, f"{why}; drop it", a)

    # -- findings and curves -----------------------------------------------------------

    def widen(self, f: dict[str, Any]) -> None:
        """The best trial sits at the edge of a searched range, and the top trials lean there: widen it on that side.

        One best trial at an edge is no evidence that the optimum lies beyond it (its lead
        is often a few validation samples): the top trials (``top_trials``) must sit at
        the edge more often than the sweep's trials do, beyond chance (a one-sided binomial
        test at the analysis' alpha; :meth:`_edge_share`). A planned-budget
        hyperparameter (``max_epochs``) is never widened when the best trial stopped
        before its budget (early-stopped, pruned, timed out): the budget did not limit it.
        """
        hp, side = f["hyperparameter"], f["side"]
        entry = self.space.get(hp)
        if entry is None or entry["kind"] == "categorical" or (hp, side) in self.capped:
            return
        if hp == (self.summary["sweep"].get("roles") or {}).get("budget") and self._stopped_early(f["trial_ids"]):
            return
        if not self._edge_supported(hp, entry, side, f.get("edge_share")):
            return
        edge = _beyond(entry, side)
        if edge is None:
            return
        old = [entry["low"], entry["high"]]
        entry["low" if side == "low" else "high"] = edge
        if "grid" in entry:
            entry["grid"].append(edge)  # a grid grows by one value beyond its edge
        step = "one decade beyond the edge" if entry["log"] else ("twice the edge" if side == "high" else "half the edge")
        self._change(hp, "widen", old, [entry["low"], entry["high"]], f["id"],
                     f"the best trial ({', '.join(f['trial_ids'])}) has {hp} = {format_number(f['value'])}, the "
                     f"{'lowest' if side == 'low' else 'highest'} value searched; extend the range "
                     f"{'down' if side == 'low' else 'up'} to {format_number(edge)} ({step})", None)

    def _stopped_early(self, trial_ids: list[str]) -> bool:
        """True when one of these trials ended before its planned budget by a by-design stop or a time limit."""
        stopped = names_where(lambda t: t.stopped_early)
        ids = set(trial_ids)
        best = self.summary.get("best_trial") or {}
        return any(t in ids and kind in stopped for t, kind in zip(self.issues.trial_id, self.issues.type)) or (
            best.get("trial_id") in ids and str(best.get("status")) in {*stopped, "early_stopped"})

    def _edge_supported(self, hp: str, entry: dict[str, Any], side: str, edge_share: float | None = None) -> bool:
        """True when the top trials sit at a range's edge beyond chance: k of n top trials against the sweep's share there.

        At the edge means the edge value of a grid, else the outer tenth of the range (on
        its scale); the sweep's share is the value's count among the trials (a value
        association's ``n``), else one over the grid's size, else the finding's
        ``edge_share`` (the trials in that outer tenth, :func:`core.findings.find_edge_of_range`),
        else a tenth (a range sampled evenly). Supported when
        P(X ≥ k) for X ~ Binomial(n, share) is below alpha.
        """
        top = [t[hp] for t in self.top if isinstance(t.get(hp), (int, float)) and not isinstance(t.get(hp), bool)]
        lo, hi = entry["searched"]["low"], entry["searched"]["high"]
        if not top or lo is None or hi is None or hi <= lo:
            return False
        edge = lo if side == "low" else hi
        share = self._edge_share(hp, edge)
        if share is None and entry.get("grid"):
            share = 1 / len(set(entry["grid"]))  # a grid sampled evenly
        if share is not None:
            k = sum(_same(v, edge) for v in top)
        else:
            share = 0.1 if edge_share is None else edge_share
            cut = edge_cut(lo, hi, side, entry["log"])
            k = sum(v <= cut if side == "low" else v >= cut for v in top)
        return k >= 2 and binomial_sf(k, len(top), share) < self.alpha

    def _edge_share(self, hp: str, edge: float) -> float | None:
        """The share of the sweep's trials at one value of ``hp`` (from its value associations), None without one."""
        counts = [(a.n, a.n + a.n_rest) for a in self.associations.values()
                  if a.rule == "value" and a.hyperparameter == hp and a.lo is not None and _same(a.lo, edge)]
        if not counts:
            return None
        n, total = max(counts, key=lambda c: c[1])
        return n / total if total else None

    def improving(self) -> list[dict[str, Any]]:
        """``still_improving`` issues of runs that ended of their own accord.

        A failed, NaN, diverged, pruned, killed or timed-out run says nothing about
        the budget a healthy run needs ("98 epochs instead of 49" must never come from
        a crashed run).
        """
        issues = self.issues
        stopped_early = names_where(lambda t: t.stopped_early)
        cut = {t for t, kind, severity in zip(issues.trial_id, issues.type, issues.severity)
               if severity == "high" or kind in stopped_early}
        return [issues[i].to_dict() for i, (t, kind, epoch) in enumerate(zip(issues.trial_id, issues.type, issues.epoch))
                if kind == "still_improving" and epoch is not None and t not in cut]

    def epochs(self) -> None:
        """Runs still improving when they ended: twice the epochs they ran (unless a pattern placed them already)."""
        improving = self.improving()
        if not improving or any(c["action"] == "more_epochs" for c in self.changes):
            return
        n_curves = (self.summary.get("curves") or {}).get("n_matched")
        ids = list(dict.fromkeys(i["trial_id"] for i in improving))
        of = f" of {n_curves} with curves" if n_curves else ""
        self._more_epochs(improving, "issue_counts.still_improving",
                          f"{len(ids)} trial(s){of} were still improving when they ended", None, None, ids[:5])

    def _longer_when(self, p: dict[str, Any], a: Association) -> None:
        """A still-improving pattern: more epochs there, its counts among the runs that ended on their own.

        The association compares still-improving runs only among the runs a time limit or
        the scheduler did not cut (:attr:`core.issue_types.IssueType.needs_own_end`); when
        the sweep has such runs, the reason says they were left out.
        """
        improving = self.improving()
        listed = set(a.trial_ids)
        there = [i for i in improving if i["trial_id"] in listed]
        kept = {i["trial_id"] for i in improving}
        cut = any(kind in CUT_WHILE_TRAINING for kind in self.issues.type)
        why = _rate_text(a) + (" (among the runs that trained and ended on their own: runs a time limit or the "
                               "scheduler cut are no evidence)" if cut else "")
        self._more_epochs(there or improving, p["id"], why, a, a.condition, [t for t in a.trial_ids if t in kept][:5])

    def _more_epochs(self, improving: list[dict[str, Any]], evidence: str, why: str, a: Association | None,
                     when: str | None, trial_ids: list[str]) -> None:
        """Twice the epochs the improving runs ran: the planned-budget hyperparameter's range when the sweep has one.

        With a budget hyperparameter (``max_epochs``, see :mod:`core.roles`), its range
        grows to twice the last epoch of those runs (a grid gains that value), and no
        separate ``epochs`` setting contradicts it; nothing changes when the sweep
        already searched that budget. That range is the whole sweep's (a plan condition
        only narrows a range), so the change has no ``when`` and its reason says so.
        Without one, or when the runs' last step is under half the smallest budget
        searched (the curves count epochs, the budget steps: ``max_steps`` 2000 against
        epoch 59), ``settings.epochs`` holds the raised budget,
        its ``when`` naming every region a change placed it in.
        """
        if not improving:
            return
        last = max(i["epoch"] for i in improving)
        roles = self.summary["sweep"].get("roles") or {}
        budget = roles.get("budget")
        entry = self.space.get(budget) if budget else None
        if (entry is not None and entry["kind"] != "categorical" and entry["high"] is not None
                and not last < entry["searched"]["low"] / 2):
            target = _clean(2 * last)
            if target <= entry["searched"]["high"]:
                return  # the sweep already searched that budget
            old = [entry["low"], entry["high"]]
            if target > entry["high"]:
                entry["high"] = target
                if "grid" in entry:
                    entry["grid"].append(target)
            entry["changed"] = True
            done = (f"{why} (last epoch {format_number(last)})" if a is None else
                    f"{why}; those runs ended still improving (last epoch {format_number(last)})")
            # one range per hyperparameter: a plan condition only narrows, so the raise holds for the whole sweep
            whole = f" across the whole sweep (its range is one range, not raised within {when} alone)" if when else ""
            self._change(budget, "more_epochs", old, [entry["low"], entry["high"]], evidence,
                         f"{done}: search {budget} up to {format_number(target)}, twice that,{whole}", a,
                         trial_ids=trial_ids)
            return
        current = self.settings.get("epochs")
        if current is not None and when is not None and current["when"] is not None and when not in current["when"]:
            when_all: str | None = f"{current['when']} or {when}"
        else:
            when_all = None if current is not None and current["when"] is None else when
        self.settings["epochs"] = {"column": roles.get("epochs"), "from": last, "to": 2 * last, "when": when_all}
        runs = f"{why}; give those runs" if a is not None else f"{why} (last epoch {format_number(last)}); give runs"
        self._change(None, "more_epochs", last, 2 * last, evidence, f"{runs} twice the budget", a, when=when,
                     name="epochs", trial_ids=trial_ids)

    # -- regions the plan left empty ---------------------------------------------------

    def drop_empty_regions(self) -> None:
        """Conditions that leave nothing to sample, or that can never apply, are resolved where they hold.

        A value whose conditions exclude every value of another hyperparameter
        (breast: ``scale_inputs = no`` with batch sizes 16 and 32 starving and 128
        diverging, on the grid {16, 32, 128}) is itself dropped from the plan (its
        conditions go with it), unless it is the only value left or a top-ranked
        trial holds it: half the samples would otherwise be pruned. A condition within
        a numeric region the plan no longer samples (``lr in [0.03874, 0.2974]`` with
        lr capped at 0.01027) can never apply: it and its change are left out.
        """
        for cond in list(self.conditions):
            if cond not in self.conditions:
                continue  # gone with a dropped value
            when = cond["when"]
            region = self.space.get(when["hyperparameter"])
            if region is None:
                continue
            if "value" not in when:
                if region["kind"] != "categorical" and _empty(region, when.get("low"), when.get("high"), []):
                    self._drop_conditions(when)
                continue
            entry = self.space.get(cond["hyperparameter"])
            if entry is None or entry["kind"] == "categorical" or not _empty(
                    entry, cond.get("low"), cond.get("high"), cond["exclude"]):
                continue
            self._drop_value(when, cond["hyperparameter"], region)

    def _drop_value(self, when: dict[str, Any], starved: str, region: dict[str, Any]) -> None:
        """Leave out the value ``when`` names, under which nothing of ``starved`` is left to sample."""
        hp, v = when["hyperparameter"], when["value"]
        if not self._droppable(when):
            return
        if region["kind"] == "categorical":
            region["values"].remove(v)
            region["exclude"].append(v)
            excluded: Any = v
        else:
            excluded = [float(v), float(v)]
            region["exclude"].append(excluded)
        gone = self._drop_conditions(when)
        evidence = ", ".join(dict.fromkeys(e for c in gone for e in c["evidence"].split(", ")))
        self._change(hp, "exclude", None, excluded, evidence,
                     f"with {when['condition']}, every {starved} value searched is left out "
                     f"({'; '.join(part[2] for c in gone if c['hyperparameter'] == starved for part in c['parts'])}); "
                     f"leave out {when['condition']} instead", None,
                     trial_ids=list(dict.fromkeys(t for c in gone for t in c["trial_ids"])))

    def _droppable(self, when: dict[str, Any]) -> bool:
        """True when the value a plan region names can be left out: another value stays, and no top trial holds it."""
        hp, v = when["hyperparameter"], when["value"]
        region = self.space[hp]
        if region["kind"] == "categorical":
            return v in region["values"] and len(region["values"]) > 1 and self._keeps_best(hp, v)
        return ("grid" in region and len(_allowed(region, region["high"])) > 1
                and self._keeps_best(hp, [float(v), float(v)]))

    def _drop_conditions(self, when: dict[str, Any]) -> list[dict[str, Any]]:
        """Remove the conditions within ``when`` and their changes; returns the changes removed."""
        self.conditions = [c for c in self.conditions if c["when"] != when]
        gone = [c for c in self.changes if c["when"] == when["condition"]]
        self.changes = [c for c in self.changes if c["when"] != when["condition"]]
        return gone

    # -- output ------------------------------------------------------------------------

    def _change(self, hp: str | None, action: str, old: Any, new: Any, evidence: str, reason: str,
                a: Association | None, *, when: str | None = None, name: str | None = None,
                trial_ids: list[str] | None = None) -> None:
        if hp is not None and hp in self.space:
            self.space[hp]["changed"] |= when is None
            if self.space[hp]["kind"] == "int":
                old, new = _ints(old), _ints(new)
        change = {
            "hyperparameter": hp if hp is not None else name,
            "action": action,
            "from": old,
            "to": new,
            "when": when,
            "evidence": evidence,
            "reason": reason,
            "trial_ids": trial_ids if trial_ids is not None else (list(a.trial_ids[:5]) if a else []),
            "parts": [(new, reason, _rate_text(a) if a else reason)],  # what a later bound of the same kind joins
        }
        if not self._joined(change):
            self.changes.append(change)

    def _joined(self, change: dict[str, Any]) -> bool:
        """Join a cap (or raised floor) within a region to an earlier one on the same hyperparameter there.

        Two patterns (digits: diverged and oscillating losses with adam at high lr), or a
        pattern and :meth:`spare_top_settings`, can bound one hyperparameter within one
        region; the plan's condition keeps the tighter bound, and so does the change: one
        per (hyperparameter, region, side), the tighter bound, the facts it rests on
        joined (evidence, reasons, trial ids). True when ``change`` was joined.
        """
        if change["action"] not in ("cap_when", "raise_low_when"):
            return False
        key = (change["hyperparameter"], change["action"], change["when"])
        same = next((c for c in self.changes if (c["hyperparameter"], c["action"], c["when"]) == key), None)
        if same is None:
            return False
        parts = same["parts"] + change["parts"]
        side = 1 if change["action"] == "cap_when" else 0
        tightest = (min if side else max)(parts, key=lambda part: part[0][side])  # the first of equal bounds
        also = [part[2] for part in parts if part[2] != tightest[2]]
        same.update(to=tightest[0], parts=parts,
                    reason=tightest[1] + "".join(f"; also: {fact}" for fact in dict.fromkeys(also)),
                    evidence=", ".join(dict.fromkeys([*same["evidence"].split(", "), *change["evidence"].split(", ")])),
                    trial_ids=list(dict.fromkeys([*same["trial_ids"], *change["trial_ids"]])))
        return True

    def result(self) -> NextSweep:
        """The plan as a record (:class:`core.records.NextSweep`; ``to_dict`` is the summary's ``next_sweep``)."""
        best = self.summary.get("best_trial")
        epochs = self.settings.get("epochs")
        return NextSweep(
            objective=Objective(metric=best["metric"], goal=best["goal"]) if best else None,
            hyperparameters={hp: self._range(hp, entry) for hp, entry in self.space.items()},
            conditions=[PlanCondition(when=PlanRegion.from_dict(c["when"]), hyperparameter=c["hyperparameter"],
                                      low=c["low"], high=c["high"], exclude=c["exclude"], evidence=c["evidence"])
                        for c in self.conditions],
            settings=Settings(epochs=Epochs(column=epochs["column"], from_=epochs["from"], to=epochs["to"],
                                            when=epochs["when"]) if epochs else None),
            start_from=StartFrom(trial_id=best["trial_id"], hyperparameters=dict(best["hyperparameters"])) if best else None,
            changes=[Change(hyperparameter=c["hyperparameter"], action=c["action"], from_=c["from"], to=c["to"],
                            when=c["when"], evidence=c["evidence"], reason=c["reason"], trial_ids=c["trial_ids"])
                     for c in self.changes],
        )

    def _range(self, hp: str, entry: dict[str, Any]) -> NextNumeric | NextCategorical:
        """One hyperparameter's entry of the plan (integral bounds as ints for an int range)."""
        if entry["kind"] == "categorical":
            return NextCategorical(kind="categorical", values=entry["values"], exclude=entry["exclude"],
                                   changed=entry["changed"], declared=entry.get("declared", False),
                                   searched=SearchedCategorical(**entry["searched"]))
        as_int = entry["kind"] == "int"
        number = _int if as_int else (lambda v: v)
        values = None
        if "grid" in entry:
            top = max([entry["high"], *(c["high"] for c in self.conditions
                                         if c["hyperparameter"] == hp and c.get("high") is not None)])
            values = [number(v) for v in _allowed(entry, top)]
        return NextNumeric(kind=entry["kind"], low=number(entry["low"]), high=number(entry["high"]), log=entry["log"],
                           exclude=[_ints(x) for x in entry["exclude"]] if as_int else entry["exclude"],
                           changed=entry["changed"], declared=entry.get("declared", False), step=entry.get("step"),
                           searched=SearchedNumeric(low=number(entry["searched"]["low"]),
                                                    high=number(entry["searched"]["high"])),
                           values=values)


def _same(value: Any, choice: Any) -> bool:
    """One setting written two ways (``"adam"``, or 128 and 128.0 of a grid) is one setting."""
    if isinstance(value, str) or isinstance(choice, str):
        return str(value) == str(choice)
    return math.isclose(float(value), float(choice), rel_tol=SAME_VALUE_RTOL)


def _low_end(region: Region, entry: dict[str, Any]) -> bool:
    """True when a numeric region starts at a range's lowest searched value and stops below its highest."""
    searched = entry.get("searched") or {}
    if region.value is not None or region.high is None or searched.get("low") is None:
        return False
    start = region.low if region.low is not None else searched["low"]
    return not past(start, searched["low"]) and region.high < searched["high"]


def _add_once(excluded: list[Any], interval: Any) -> None:
    """Exclude an interval (or a categorical value) unless an excluded interval already holds it.

    NaN and divergence often start at the same threshold; and of two caps within one
    region (``lr`` from 0.2257 and from 0.05224 with adam) the wider exclusion replaces
    the one inside it, so the plan never says "below 0.05224, not [0.2257, 2.978]".
    """
    if not isinstance(interval, list):
        if interval not in excluded:
            excluded.append(interval)
        return

    def inside(x: list[float], y: Any) -> bool:
        return isinstance(y, list) and y[0] <= x[0] and x[1] <= y[1]

    if not any(inside(interval, y) for y in excluded):
        excluded[:] = [y for y in excluded if not inside(y, interval)] + [interval]


def _excludes(trial: dict[str, Any], hp: str, excluded: Any, when: dict[str, Any] | None) -> bool:
    """True when a trial's configuration (``{hp: value}``) lies in ``excluded`` of ``hp`` (within ``when``)."""
    value = trial.get(hp)
    if value is None or (when is not None and not _in_region(trial, when)):
        return False
    if isinstance(excluded, list):  # a bound reached within SAME_VALUE_RTOL counts: one grid value written two ways
        return not isinstance(value, str) and holds(
            [Region(hyperparameter=hp, rule="bucket", low=excluded[0], high=excluded[1])], trial)
    return str(value) == str(excluded)


def _when(region: Region) -> dict[str, Any]:
    """A region as the plan's conditions name it (:class:`core.records.PlanRegion`): a value, or its bounds."""
    return PlanRegion.of(region).to_dict()


def _searched(hp: str, info: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The searched space of one hyperparameter, as a mutable plan entry (with the values known, for ints).

    A declared search space (``summary["search_space"]``) wins over what was observed:
    its type, bounds, log scale, step and choices are where the plan starts (numeric
    choices become a grid). Otherwise a numeric hyperparameter searched on a few values
    (``info["values"]``) stays a grid, and the range is the observed one.
    """
    declared = (summary.get("search_space") or {}).get(hp)
    if declared and declared.get("kind") == "categorical" and declared.get("choices"):
        choices = list(declared["choices"])
        if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices):
            values = [str(c) for c in choices]
            return {"kind": "categorical", "values": values, "exclude": [], "changed": False, "declared": True,
                    "searched": {"values": values, "n_values": len(values)}, "known": []}
        info = {"kind": "numeric", "min": float(min(choices)), "max": float(max(choices)),
                "n_values": len(choices), "values": sorted(float(c) for c in choices)}
    if info["kind"] == "categorical":
        values = [v for v in info["values"] if v != "(missing)"]
        return {"kind": "categorical", "values": list(values), "exclude": [], "changed": False,
                "searched": {"values": list(info["values"]), "n_values": info["n_values"]}, "known": []}
    lo, hi = info["min"], info["max"]
    grid = info.get("values")
    known = sorted({a["lo"] for a in summary.get("associations") or []
                    if a["hyperparameter"] == hp and a["rule"] == "value" and a["lo"] is not None} | set(grid or []))
    best = ((summary.get("best_trial") or {}).get("hyperparameters") or {}).get(hp)
    numbers = [v for v in (lo, hi, best, *known) if isinstance(v, (int, float))]
    integral = lo is not None and all(float(v).is_integer() for v in numbers)
    log = log_scaled(lo, hi)
    step = None
    if declared and declared.get("kind") in ("float", "int") and declared.get("low") is not None:
        lo, hi = float(declared["low"]), float(declared["high"])
        integral, log, step = declared["kind"] == "int", bool(declared.get("log")), declared.get("step")
        grid = None  # declared as a range: sampled as one, however few values the sweep happened to try
    entry = {"kind": "int" if integral else "float", "low": lo, "high": hi, "log": bool(log), "exclude": [],
             "changed": False, "searched": {"low": lo, "high": hi}, "known": known,
             "domain": natural_domain(hp, lo, integral)}
    if declared:
        entry["declared"] = True
    if grid:
        entry["grid"] = list(grid)
    if step is not None:
        entry["step"] = step
    return entry


def _beyond(entry: dict[str, Any], side: str) -> float | None:
    """The bound one step beyond a range's edge, inside the natural domain; None when nothing lies beyond.

    A decade on a log scale, else twice/half the edge, but never past the parameter's
    natural bounds (:func:`core.domains.natural_domain`): nothing below 0 (rates,
    decay, dropout) or 1 (counts), and a fraction (dropout, momentum) goes at most
    halfway to 1, never to it.
    """
    edge = entry["high"] if side == "high" else entry["low"]
    if edge is None:
        return None
    lowest, highest, open_high = entry.get("domain") or (-math.inf, math.inf, False)
    if side == "high":
        if edge > 0:
            value = edge * (10 if entry["log"] else 2)
        else:
            value = edge + (entry["high"] - entry["low"])
        if open_high and value >= highest:
            value = (edge + highest) / 2 if edge < highest else edge
        value = min(value, highest)
    else:
        if edge <= 0:
            return None  # 0 (or below) is where weight decay, dropout and friends stop
        value = max(edge / (10 if entry["log"] else 2), lowest)
    if not math.isfinite(value):
        return None  # 1e308 doubled: nothing a sweep can try lies beyond
    if entry["kind"] == "int":
        value = float(math.floor(value)) if side == "low" else float(math.ceil(value))
        if value <= 0 < edge:
            return None
    if value == edge:
        return None
    return _clean(value)


def _allowed(entry: dict[str, Any], top: float) -> list[float]:
    """The grid values a numeric entry still allows: in [low, top] and in no excluded interval.

    ``top`` is the highest value any condition allows (a grid grows within a region).
    """
    return sorted(v for v in set(entry["grid"]) if entry["low"] <= v <= top
                  and not any(lo <= v <= hi for lo, hi in entry["exclude"]))


def _empty(entry: dict[str, Any], low: float | None, high: float | None, exclude: list[Any]) -> bool:
    """True when a numeric entry, within ``[low, high]`` and outside ``exclude`` (and its own exclusions), holds nothing.

    A grid holds its allowed values; a range holds nothing when its bounds cross or
    the (closed) excluded intervals cover it.
    """
    lo = entry["low"] if low is None else max(entry["low"], low)
    hi = entry["high"] if high is None else min(entry["high"], high)
    if lo is None or hi is None or lo > hi:
        return lo is not None and hi is not None
    gaps = sorted(x for x in [*entry["exclude"], *exclude] if isinstance(x, list))
    if "grid" in entry:
        return not any(lo <= v <= hi and not any(a <= v <= b for a, b in gaps) for v in entry["grid"])
    reached = None  # how far from lo the excluded intervals cover [lo, hi] without a gap
    for a, b in gaps:
        if b < lo:
            continue  # wholly below the range: covers none of it
        if a > (lo if reached is None else reached):
            break
        reached = b if reached is None else max(reached, b)
    return reached is not None and reached >= hi


def _int(value: float | None) -> float | int | None:
    """An integral float as an int (JSON ``128`` rather than ``128.0``)."""
    return int(value) if value is not None and float(value).is_integer() else value


def _ints(values: Any) -> Any:
    return [_int(v) for v in values] if isinstance(values, list) else _int(values) if isinstance(values, float) else values


def _clean(value: float) -> float:
    """Drop float noise (``1e-05 / 10`` is ``1.0000000000000002e-06``)."""
    return float(f"{value:.12g}")


def _rate_text(a: Association) -> str:
    label = label_of(a.issue_type)
    return (f"{a.k} of {a.n} trials with {a.condition} show {label}, "
            f"against {a.k_rest} of {a.n_rest} elsewhere" + (" outside the first cause's region" if a.outside else ""))
