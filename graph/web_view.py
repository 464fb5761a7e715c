"""What the diagnosis page shows, as plain data for its template (which escapes every cell).

Everything here is read by field from the run's typed diagnosis (:class:`core.records.Diagnosis`,
the facts of ``core/``; the template reads the diagnosis by attribute, and the patterns and trial
rows as plain data made here), the raw
cells of the graph's state (the trial rows) and the pictures the graph drew; nothing is
computed twice. Trial ids and evidence ids become links to anchors that are made of
row numbers and fact ids (``#t12``, ``#pattern-P1``), never of input text.
"""

from __future__ import annotations

import json
import pprint
import re
from typing import Any

from core.issue_types import SEVERITY_RANK
from core.next_sweep import to_wandb_sweep
from core.patterns import compared_with
from core.records import Diagnosis, NextSweep, Roles
from graph.inputs import trial_columns

MAX_TRIAL_ROWS = 5000
"""Trial rows shown; a larger sweep shows its affected trials (and the best one) first, up to this many."""
MAX_ISSUE_ROWS = 20000
"""Issue rows shown in the table (every one is in the JSON download)."""
MAX_HP_COLUMNS = 10
MAX_METRIC_COLUMNS = 8
_EVIDENCE_ID = re.compile(r"\b([PAFLR]\d+)\b")


def build_view(final: dict[str, Any], pictures: list[dict[str, str]]) -> dict[str, Any]:
    """The page's data from the graph's final state and the pictures' links.

    Parameters
    ----------
    final : dict
        The inputs and merged node updates of one run (``results_path`` or ``records``,
        ``summary``, ``roles``); without inputs (a watch's summary) the trial table lists
        the trials with issues, ids only. The summary's issues may be rows or columns.
    pictures : list of dict
        :func:`graph.report.pictures.draw_pictures` links (``path``, ``title``, ``section``,
        ``hyperparameter`` for isolation plots).
    """
    d = Diagnosis.of(final["summary"])
    roles = Roles.from_dict(final["roles"]) if final.get("roles") else d.sweep.roles
    trials = _trials(trial_columns(final), roles, d)
    href = trials["href"]
    anchors = _anchors(d)
    isolation = {p["hyperparameter"]: _figure(p) for p in pictures if p.get("hyperparameter")}
    heatmap = next((_figure(p) for p in pictures if p["section"] == "pathologies"), None)
    patterns = []
    for p in d.patterns:
        figure = next((isolation[hp] for hp in p.hyperparameters or [p.hyperparameter] if hp in isolation),
                      heatmap)  # a categorical one: its heatmap row
        patterns.append(p.to_dict() | {"ids": _ids(p.trial_ids, href), "figure": figure, "k_total": p.evidence.k,
                                       "compared_with": compared_with(p, d)})
    issues = d.issues
    return {
        "summary": d,
        "source": d.sweep.source,
        "n_trials": d.sweep.n_trials,
        "issue_counts": [{"type": t, "n": n, "severity": d.issue_types[t].severity} for t, n in d.issue_counts.items()],
        "severity_counts": d.severity_counts,
        "best": d.best_trial.to_dict() | {"href": href.get(str(d.best_trial.trial_id))} if d.best_trial else None,
        "issues": [i | {"href": href.get(i["trial_id"]), "rank": SEVERITY_RANK.get(i["severity"], 9)}
                   for i in issues[:MAX_ISSUE_ROWS].rows()],
        "issues_total": len(issues),
        "findings": [f.to_dict() | {"ids": _ids(f.trial_ids, href)} for f in d.findings],
        "patterns": patterns,
        "leads": [lead.to_dict() | {"ids": _ids(lead.trial_ids, href)} for lead in d.leads],
        "recommendations": [r.to_dict() | {"evidence_links": _evidence(r.evidence or "", anchors),
                                           "pattern_href": anchors.get(r.pattern_id or ""),
                                           "ids": _ids(r.trial_ids, href)}
                            for r in d.recommendations],
        "next": _next_sweep(d.next_sweep, anchors, href),
        "figures": {section: [_figure(p) for p in pictures if p["section"] == section]
                    for section in ("breakdown", "pathologies", "isolation", "next")},
        "trials": trials,
        "notes": d.writer.notes,
        "narrative": d.writer.narrative,
        "author": d.writer.author,
    }


def _figure(picture: dict[str, str]) -> dict[str, str]:
    return {"name": picture["path"].rsplit("/", 1)[-1], "title": picture["title"]}


def _trials(raw: dict[str, list[str | None]] | None, roles: Roles, d: Diagnosis) -> dict[str, Any]:
    """The trial rows: id, status, budget, hyperparameters and metrics as the file had them, with their issues."""
    by_trial: dict[str, list[int]] = {}  # trial id -> its issue rows, read from the columns
    for row, trial in enumerate(d.issues.trial_id):
        by_trial.setdefault(trial, []).append(row)
    best = d.best_trial.trial_id if d.best_trial else None
    if raw is None:
        raw = {roles.id: list(dict.fromkeys([*by_trial, *([str(best)] if best is not None else [])]))}
    ids = [str(v) for v in raw[roles.id]]
    if len(ids) <= MAX_TRIAL_ROWS:
        rows = list(range(len(ids)))
    else:
        first = [i for i, t in enumerate(ids) if t in by_trial or t == best]
        rows = sorted(first[:MAX_TRIAL_ROWS])
    columns = [c for c in (roles.status, roles.epochs, roles.runtime) if c]
    columns += list(roles.hyperparameters)[:MAX_HP_COLUMNS] + list(roles.metrics)[:MAX_METRIC_COLUMNS]
    columns = [c for c in columns if c in raw]
    shown = []
    severity, kind = d.issues.severity, d.issues.type
    for i in rows:
        issues = by_trial.get(ids[i], [])
        worst = min((SEVERITY_RANK.get(severity[x], 9) for x in issues), default=None)
        shown.append({"anchor": f"t{i}", "id": ids[i], "cells": ["" if raw[c][i] is None else str(raw[c][i]) for c in columns],
                      "issues": sorted({kind[x] for x in issues}), "worst": worst, "best": ids[i] == best})
    total = d.sweep.n_trials
    return {"columns": columns, "rows": shown, "total": total, "href": {r["id"]: "#" + r["anchor"] for r in shown}}


def _ids(trial_ids: list[Any], href: dict[str, str]) -> list[dict[str, str | None]]:
    return [{"id": str(t), "href": href.get(str(t))} for t in trial_ids]


def _anchors(d: Diagnosis) -> dict[str, str]:
    """Fact id -> anchor on the page; an association id points at the pattern or lead built on it."""
    anchors: dict[str, str] = {}
    for group, prefix in ((d.leads, "lead"), (d.patterns, "pattern")):  # patterns win over leads for a shared association
        for item in group:
            anchors[item.id] = f"#{prefix}-{item.id}"
            if item.association_id:
                anchors[item.association_id] = f"#{prefix}-{item.id}"
    for f in d.findings:
        anchors[f.id] = f"#finding-{f.id}"
    for r in d.recommendations:
        anchors.setdefault(r.id, f"#rec-{r.id}")
    return anchors


def _evidence(text: str, anchors: dict[str, str]) -> list[dict[str, str | None]]:
    """The evidence text in pieces, each fact id it names a link to that fact."""
    pieces: list[dict[str, str | None]] = []
    at = 0
    for m in _EVIDENCE_ID.finditer(text):
        if m.group(1) not in anchors:
            continue
        if m.start() > at:
            pieces.append({"text": text[at:m.start()], "href": None})
        pieces.append({"text": m.group(1), "href": anchors[m.group(1)]})
        at = m.end()
    if at < len(text):
        pieces.append({"text": text[at:], "href": None})
    return pieces


def _next_sweep(plan: NextSweep | None, anchors: dict[str, str], href: dict[str, str]) -> dict[str, Any]:
    """The plan's ranges, conditions and changes with links, and its Optuna and W&B forms."""
    if plan is None:
        return {}
    hps = []
    for name, hp in plan.hyperparameters.items():
        if hp.kind == "categorical":
            searched = ", ".join(map(str, hp.searched.values))
            nxt = ", ".join(map(str, hp.values))
            log = None
        else:
            searched = _range(hp.searched.low, hp.searched.high)
            nxt = _range(hp.low, hp.high)
            log = hp.log
        excluded = "; ".join(_range(*x) if isinstance(x, (list, tuple)) else str(x) for x in hp.exclude)
        hps.append({"name": name, "kind": hp.kind, "log": log, "searched": searched, "next": nxt,
                    "exclude": excluded, "changed": hp.changed})
    start = plan.start_from
    as_dict = plan.to_dict()  # the sweep tools' forms are made from the plan as hparam_summary.json holds it
    return {
        "hyperparameters": hps,
        "conditions": [c.to_dict() | {"evidence_links": _evidence(c.evidence, anchors), "range": _range(c.low, c.high)}
                       for c in plan.conditions],
        "changes": [c.to_dict() | {"evidence_links": _evidence(c.evidence, anchors), "ids": _ids(c.trial_ids, href)}
                    for c in plan.changes],
        "settings": plan.settings.to_dict(),
        "start_from": start.to_dict() if start else None,
        "start_href": href.get(str(start.trial_id if start else None)),
        "wandb": json.dumps(to_wandb_sweep(as_dict), indent=2, ensure_ascii=False, allow_nan=False),
        "optuna": optuna_script(as_dict),
    }


def _range(lo: Any, hi: Any) -> str:
    if lo is None and hi is None:
        return ""
    if lo is None:
        return f"below {_number(hi)}"
    if hi is None:
        return f"from {_number(lo)}"
    if lo == hi:
        return _number(lo)
    return f"{_number(lo)} – {_number(hi)}"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def optuna_script(plan: dict[str, Any]) -> str:
    """A runnable Optuna study over the plan: :func:`core.next_sweep.suggest_params` samples it.

    The plan goes in as a Python literal (``pprint``: every string through ``repr``), so
    no text of the input can end a string and become code when the script is pasted.
    """
    objective = plan.get("objective") or {}
    direction = "maximize" if objective.get("goal") == "max" else "minimize"
    metric = objective.get("metric") or "the objective"
    lines = [
        "import optuna",
        "",
        "from core.next_sweep import suggest_params",
        "",
        f"PLAN = {pprint.pformat(plan, width=110, sort_dicts=False)}",
        "",
        "",
        "def objective(trial):",
        "    params = suggest_params(trial, PLAN)  # the ranges, exclusions and conditions of the plan",
        "    if params is None:",
        "        raise optuna.TrialPruned()  # the sample fell in an excluded interval",
        f"    return train_and_evaluate(**params)  # your training; returns {json.dumps(metric)[1:-1]}",
        "",
        "",
        f"study = optuna.create_study(direction={direction!r})",
    ]
    if plan.get("start_from"):
        lines.append('study.enqueue_trial(PLAN["start_from"]["hyperparameters"])  # the best trial without a serious issue first')
    lines.append("study.optimize(objective, n_trials=100)")
    return "\n".join(lines) + "\n"
