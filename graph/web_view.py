"""What the diagnosis page shows, as plain data for its template (which escapes every cell).

Everything here is read from the run's summary (the facts of ``core/``), the raw
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
        the trials with issues, ids only.
    pictures : list of dict
        :func:`graph.report.pictures.draw_pictures` links (``path``, ``title``, ``section``,
        ``hyperparameter`` for isolation plots).
    """
    summary = final["summary"]
    roles = final.get("roles") or summary["sweep"]["roles"]
    trials = _trials(trial_columns(final), roles, summary)
    href = trials["href"]
    anchors = _anchors(summary)
    isolation = {p["hyperparameter"]: _figure(p) for p in pictures if p.get("hyperparameter")}
    heatmap = next((_figure(p) for p in pictures if p["section"] == "pathologies"), None)
    patterns = []
    for p in summary.get("patterns") or []:
        hps = p.get("hyperparameters") or [p.get("hyperparameter")]
        figure = next((isolation[hp] for hp in hps if hp in isolation), heatmap)  # a categorical one: its heatmap row
        patterns.append({**p, "ids": _ids(p.get("trial_ids") or [], href), "figure": figure,
                         "k_total": (p.get("evidence") or {}).get("k")})
    return {
        "summary": summary,
        "source": summary["sweep"]["source"],
        "n_trials": summary["sweep"]["n_trials"],
        "issue_counts": [{"type": t, "n": n, "severity": summary["issue_types"][t]["severity"]}
                         for t, n in summary["issue_counts"].items()],
        "severity_counts": summary.get("severity_counts") or {},
        "best": _best(summary, href),
        "issues": [{**i, "href": href.get(i["trial_id"]), "rank": SEVERITY_RANK.get(i["severity"], 9)}
                   for i in summary["issues"][:MAX_ISSUE_ROWS]],
        "issues_total": len(summary["issues"]),
        "findings": [{**f, "ids": _ids(f.get("trial_ids") or [], href)} for f in summary.get("findings") or []],
        "patterns": patterns,
        "leads": [{**lead, "ids": _ids(lead.get("trial_ids") or [], href)} for lead in summary.get("leads") or []],
        "recommendations": [{**r, "evidence_links": _evidence(r.get("evidence") or "", anchors),
                             "pattern_href": anchors.get(r.get("pattern_id") or ""),
                             "ids": _ids(r.get("trial_ids") or [], href)}
                            for r in summary.get("recommendations") or []],
        "next": _next_sweep(summary.get("next_sweep") or {}, anchors, href),
        "figures": {section: [_figure(p) for p in pictures if p["section"] == section]
                    for section in ("breakdown", "pathologies", "isolation", "next")},
        "trials": trials,
        "notes": summary["writer"].get("notes") or [],
        "narrative": summary["writer"].get("narrative"),
        "author": summary["writer"].get("author"),
    }


def _figure(picture: dict[str, str]) -> dict[str, str]:
    return {"name": picture["path"].rsplit("/", 1)[-1], "title": picture["title"]}


def _trials(raw: dict[str, list[str | None]] | None, roles: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The trial rows: id, status, budget, hyperparameters and metrics as the file had them, with their issues."""
    by_trial: dict[str, list[dict[str, Any]]] = {}
    for issue in summary["issues"]:
        by_trial.setdefault(issue["trial_id"], []).append(issue)
    best = (summary.get("best_trial") or {}).get("trial_id")
    if raw is None:
        raw = {roles["id"]: list(dict.fromkeys([*by_trial, *([str(best)] if best is not None else [])]))}
    ids = [str(v) for v in raw[roles["id"]]]
    if len(ids) <= MAX_TRIAL_ROWS:
        rows = list(range(len(ids)))
    else:
        first = [i for i, t in enumerate(ids) if t in by_trial or t == best]
        rows = sorted(first[:MAX_TRIAL_ROWS])
    columns = [c for c in (roles.get("status"), roles.get("epochs"), roles.get("runtime")) if c]
    columns += list(roles["hyperparameters"])[:MAX_HP_COLUMNS] + list(roles["metrics"])[:MAX_METRIC_COLUMNS]
    columns = [c for c in columns if c in raw]
    shown = []
    for i in rows:
        issues = by_trial.get(ids[i], [])
        worst = min((SEVERITY_RANK.get(x["severity"], 9) for x in issues), default=None)
        shown.append({"anchor": f"t{i}", "id": ids[i], "cells": ["" if raw[c][i] is None else str(raw[c][i]) for c in columns],
                      "issues": sorted({x["type"] for x in issues}), "worst": worst, "best": ids[i] == best})
    total = summary["sweep"]["n_trials"]
    return {"columns": columns, "rows": shown, "total": total, "href": {r["id"]: "#" + r["anchor"] for r in shown}}


def _ids(trial_ids: list[Any], href: dict[str, str]) -> list[dict[str, str | None]]:
    return [{"id": str(t), "href": href.get(str(t))} for t in trial_ids]


def _best(summary: dict[str, Any], href: dict[str, str]) -> dict[str, Any] | None:
    best = summary.get("best_trial")
    if not best:
        return None
    return {**best, "href": href.get(str(best["trial_id"]))}


def _anchors(summary: dict[str, Any]) -> dict[str, str]:
    """Fact id -> anchor on the page; an association id points at the pattern or lead built on it."""
    anchors: dict[str, str] = {}
    for key, prefix in (("leads", "lead"), ("patterns", "pattern")):  # patterns win over leads for a shared association
        for item in summary.get(key) or []:
            anchors[item["id"]] = f"#{prefix}-{item['id']}"
            if item.get("association_id"):
                anchors[item["association_id"]] = f"#{prefix}-{item['id']}"
    for f in summary.get("findings") or []:
        anchors[f["id"]] = f"#finding-{f['id']}"
    for r in summary.get("recommendations") or []:
        anchors.setdefault(r["id"], f"#rec-{r['id']}")
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


def _next_sweep(plan: dict[str, Any], anchors: dict[str, str], href: dict[str, str]) -> dict[str, Any]:
    """The plan's ranges, conditions and changes with links, and its Optuna and W&B forms."""
    if not plan:
        return {}
    hps = []
    for name, hp in (plan.get("hyperparameters") or {}).items():
        if hp["kind"] == "categorical":
            searched = ", ".join(map(str, (hp.get("searched") or {}).get("values") or []))
            nxt = ", ".join(map(str, hp.get("values") or []))
        else:
            s = hp.get("searched") or {}
            searched = _range(s.get("low"), s.get("high"))
            nxt = _range(hp.get("low"), hp.get("high"))
        excluded = "; ".join(_range(*x) if isinstance(x, (list, tuple)) else str(x) for x in hp.get("exclude") or [])
        hps.append({"name": name, "kind": hp["kind"], "log": hp.get("log"), "searched": searched, "next": nxt,
                    "exclude": excluded, "changed": hp.get("changed")})
    return {
        "hyperparameters": hps,
        "conditions": [{**c, "evidence_links": _evidence(str(c.get("evidence") or ""), anchors),
                        "range": _range(c.get("low"), c.get("high"))} for c in plan.get("conditions") or []],
        "changes": [{**c, "evidence_links": _evidence(str(c.get("evidence") or ""), anchors),
                     "ids": _ids(c.get("trial_ids") or [], href)} for c in plan.get("changes") or []],
        "settings": plan.get("settings") or {},
        "start_from": plan.get("start_from"),
        "start_href": href.get(str((plan.get("start_from") or {}).get("trial_id"))),
        "wandb": json.dumps(to_wandb_sweep(plan), indent=2, ensure_ascii=False, allow_nan=False),
        "optuna": optuna_script(plan),
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
        lines.append('study.enqueue_trial(PLAN["start_from"]["hyperparameters"])  # the best trial without issues first')
    lines.append("study.optimize(objective, n_trials=100)")
    return "\n".join(lines) + "\n"
