"""Rendering the summary as the markdown report.

Pure formatting: every number and id printed here is read from the summary. Text
that came from the input file (ids, column names, values) or from a model is escaped
so that it cannot add headings, links, images or HTML to the report.
"""

from __future__ import annotations

import re
from typing import Any

from core.findings import STOP_REASONS, listed, stop_reasons
from core.issue_types import ISSUE_TYPES
from core.next_sweep import plan_next_sweep
from core.patterns import HANDFUL, RARE_RATE, compared_with
from core.records import Diagnosis, NextSweep, Pattern, Roles
from core.status import EARLY_STOPPED
from core.values import format_number, format_p, format_rate

_MAX_DETAIL_ROWS = 25
_EXAMPLES = 5


def render_report(summary: Diagnosis | dict[str, Any], images: list[dict[str, str]] | None = None) -> str:
    """The full markdown report of a diagnosis (or of a summary, read as its :class:`~core.records.Diagnosis`).

    Every fact is read by field from the typed diagnosis, built once here when a
    summary is given; ``writer`` holds ``author``, ``notes`` and an optional
    model-written ``narrative``. ``next_sweep`` (see
    :mod:`core.next_sweep`) is planned here when the summary lacks it. ``images``
    are pictures written beside the report, ``{"path", "title", "section"}`` each, with
    ``path`` relative to the report and ``section`` one of ``breakdown`` (linked at
    the end of Issue Breakdown), ``pathologies`` (at the start of Hyperparameter
    Pathologies), ``isolation`` (at its end) and ``next`` (at the end of Next
    experiment).
    """
    d = Diagnosis.of(summary)
    plan = d.next_sweep or NextSweep.from_dict(plan_next_sweep(d.to_dict()))  # the planner reads issue rows
    pictures: dict[str, list[str]] = {}
    for image in images or []:
        pictures.setdefault(image["section"], []).extend([_image(image), ""])
    parts = [
        "# Hyperparameter Sweep Pathology Report",
        "",
        _byline(d),
        "",
        "## Overview",
        "",
        *_overview(d),
        "",
        "## Issue Breakdown",
        "",
        *_breakdown(d),
        "",
        *pictures.get("breakdown", []),
        "## Hyperparameter Pathologies",
        "",
        *pictures.get("pathologies", []),
        *_pathologies(d),
        *pictures.get("isolation", []),
        "## Recommendations",
        "",
        *_recommendations(d),
        "",
        "## Next experiment",
        "",
        *_next_experiment(plan, _no_change(d, plan)),
        "",
        *pictures.get("next", []),
        "## How this was computed",
        "",
        *_method(d.thresholds, d.curves.extra.get("thresholds") if d.curves else None),
    ]
    return "\n".join(parts).rstrip() + "\n"


def code(value: object) -> str:
    """Data as inline code: newlines, backticks and terminal control sequences cannot escape it."""
    text = re.sub(r"\s+", " ", strip_control(str(value))).replace("`", "'")
    return f"`{text}`"


_CONTROL = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b.?|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def strip_control(text: str) -> str:
    """Text without terminal escape sequences (CSI ``ESC[...``, OSC ``ESC]...BEL``) or other control characters.

    Tabs and line breaks stay. Input-derived text (ids, status words, a server's reason
    phrase) passes through this before it reaches stderr or a report, where an OSC
    sequence could retitle the terminal or plant a hidden link.
    """
    return _CONTROL.sub("", text)


def prose(text: str) -> str:
    """Untrusted free text (model output, cell values) made inert as one markdown paragraph.

    Headings, block quotes, list markers at line start, links, images and HTML tags
    are neutralised; emphasis and inline code are kept.
    """
    parts = re.split(r"(`[^`]*`)", re.sub(r"\s+", " ", strip_control(text)).strip())
    text = "".join(part if part.startswith("`") else _inert(part) for part in parts)
    return re.sub(r"^[#>\-+*=|]+\s*", "", text)


def notice(text: str) -> str:
    """A notice (a reader's note, a model fallback) as one inert paragraph.

    Like :func:`prose`, but a URL or e-mail address in it is shown as code text (it
    names where the sweep was read from), not removed.
    """
    parts = re.split(r"(`[^`]*`)", re.sub(r"\s+", " ", strip_control(text)).strip())
    return prose("".join(part if part.startswith("`") else _ADDRESS.sub(lambda m: code(m.group(0)), _LINK.sub(r"\1", part))
                         for part in parts))


def _inert(text: str) -> str:
    """Text outside code spans: HTML escaped, links and images reduced to their text.

    Bare URLs, ``www.`` hosts and e-mail addresses (which GitHub turns into links) are
    replaced by "(link removed)".
    """
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    text = _LINK.sub(r"\1", text)
    text = _URL.sub("(link removed)", text)
    return _EMAIL.sub("(link removed)", text)


# Linear on any text: every pattern starts only where a run of its characters starts
# (a 50,000-character id once took 17 s when each position was tried in turn).
_LINK = re.compile(r"!?\[([^\[\]]*)\]\((?:[^()]|\([^()]*\))*\)")  # a target may hold one level of (...)
_URL = re.compile(r"https?://\S+|\bwww\.\S+", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+")
_ADDRESS = re.compile(f"{_URL.pattern}|{_EMAIL.pattern}", re.IGNORECASE)


def _ids(ids: list[str], total: int | None = None) -> str:
    shown = ", ".join(code(i) for i in ids)
    total = len(ids) if total is None else total
    return shown + (f" (+{total - len(ids)} more)" if total > len(ids) else "")


def _pct(k: int, n: int) -> str:
    return format_rate(k / n) if n else "n/a"


def _byline(d: Diagnosis) -> str:
    writer = d.writer
    called, removed = writer.extra.get("model_called"), writer.extra.get("removed_sentences") or 0
    dropped = f" ({removed} of its sentence(s) removed by the checks)" if removed else ""
    if writer.author != "deterministic":
        author = f"prose phrased by {code(writer.author)}; every id and number checked against the analysis{dropped}"
    elif called and removed:
        author = (f"written by the deterministic writer: {code(called)} was called, and all {removed} sentence(s) it "
                  "wrote failed the checks against the analysis and were removed")
    elif called:
        author = f"written by the deterministic writer: {code(called)} was called, and none of its text was used (see the notes)"
    else:
        author = "written by the deterministic writer (no model)"
    return f"Sweep {code(d.sweep.source)} · {d.sweep.n_trials} trials · {author}"


_STATUS_WORDS = {EARLY_STOPPED: "early-stopped"}
"""A counted status as the Overview writes it (``early_stopped`` is our word, not the data's spelling)."""


def _stopped_early(d: Diagnosis) -> str:
    """"and 11 trial(s) early-stopped, by design; 7 more stopped early after failing, counted above"."""
    reasons = stop_reasons(d.issues.trial_id, d.issues.type, d.issues.detail)
    by_design = " and ".join(f"{len(reasons[r])} trial(s) {r}" for r in STOP_REASONS[:2] if reasons[r])
    failed = len(reasons["failed"])
    after = f"{failed} {'more ' if by_design else 'trial(s) '}stopped early after failing, counted above" if failed else ""
    return "; ".join(part for part in (f"and {by_design}, by design" if by_design else "", after) if part)


def _overview(d: Diagnosis) -> list[str]:
    n = d.sweep.n_trials
    affected = d.trials_affected
    total = sum(d.issue_counts.values())
    sev = d.severity_counts
    pruned = d.issue_counts.get("pruned", 0)
    lines = [
        f"- **{affected} of {n} trials ({_pct(affected, n)}) have at least one issue**; "
        f"{total - pruned} issue(s) in all, across {len([t for t in d.issue_counts if t != 'pruned'])} issue type(s)"
        + (f" ({_stopped_early(d)})." if pruned else "."),
        f"- Severity of the worst issue per affected trial: {sev['high']} high, "
        f"{sev['medium']} medium, {sev['low']} low.",
    ]
    statuses = d.sweep.status_counts
    if set(statuses) != {"unknown"}:
        lines.append("- Status: " + ", ".join(f"{v} {prose(_STATUS_WORDS.get(str(k), str(k)))}"
                                              for k, v in statuses.items()) + ".")
    else:
        lines.append("- The table has no status column: failures are judged from metrics alone.")
    best = d.best_trial
    if best:
        hps = ", ".join(
            f"{code(name)} = {format_number(v) if isinstance(v, float) else code(v)}"
            for name, v in best.hyperparameters.items() if v is not None
        )
        unset = [code(name) for name, v in best.hyperparameters.items() if v is None]
        if unset:  # a conditional parameter, or one the search space did not have for this trial
            hps += f"; not set in this trial: {', '.join(unset)}"
        ended = {"timeout": ", cut by its time budget", "pruned": ", early-stopped"}.get(best.status or "", "")
        lines.append(
            f"- Best finished trial without a serious issue: {code(best.trial_id)} "
            f"({code(best.metric)} = {format_number(best.value)}{ended}; {hps})."
        )
        if best.note:
            lines.append(f"  {prose(best.note[0].upper() + best.note[1:])}.")
    elif (metrics := d.sweep.roles.metrics) and not any(m.goal for m in metrics.values()):
        names = list(metrics)
        lines.append(f"- No trial is named best: the input does not say whether {' or '.join(map(code, names))} is to "
                     "be minimised or maximised, so no configuration is kept safe from the advice below; give "
                     f"{code(f'--map {names[0]}=metric:objective:max')} (or {code(':min')}).")
    elif metrics:
        lines.append("- No trial is named best: no finished trial without a serious issue has a finite value of the "
                     "objective or of a held-out metric.")
    if d.sweep.format:
        lines.append(f"- Read as {code(d.sweep.format)}.")
    lines.append(f"- Columns read as: {_roles(d.sweep.roles)}.")
    if d.sweep.roles.mapping:
        given = ", ".join(f"{code(c)} → {code(r)}" for c, r in d.sweep.roles.mapping.items())
        lines.append(f"- Roles given explicitly (mapping used): {given}.")
    classes = d.classes
    if classes.n:
        how = "given" if classes.how == "given" else f"inferred from {prose(classes.how)}"
        lines.append(f"- Chance level: {classes.n} classes ({how}); used by the no-learning and divergence rules.")
    lines += [f"- Note: {notice(note)}" for note in d.sweep.notes]
    if d.writer.narrative:
        lines += ["", prose(d.writer.narrative)]
    for note in d.writer.notes:
        lines += ["", f"> Note: {notice(note)}"]
    return lines


def _roles(r: Roles) -> str:
    parts = [f"id {code(r.id)}"]
    if r.status:
        parts.append(f"status {code(r.status)}")
    metrics = ", ".join(
        f"{code(c)} ({(m.split + ' ') if m.split else ''}{m.kind})" for c, m in r.metrics.items()
    )
    parts.append(f"metrics {metrics}")
    budget = [code(c) for c in (r.epochs, r.runtime) if c]
    if budget:
        parts.append("budget " + ", ".join(budget))
    if r.budget:
        parts.append(f"planned budget {code(r.budget)} (each trial judged against its own)")
    for role, column in (("error", r.error), ("seed", r.seed), ("best_epoch", r.best_epoch)):
        if column:
            parts.append(f"{role} {code(column)}")
    parts.append(
        "hyperparameters " + (", ".join(code(c) for c in r.hyperparameters) or "none")
    )
    if r.outcomes:
        parts.append("outcome flags the sweep wrote, read as outcomes " + ", ".join(
            f"{code(c)} (sets {kind})" for c, kind in r.outcomes.items()))
    if r.context:
        parts.append("context, shown and never a cause " + ", ".join(
            f"{code(c)} ({why.removeprefix('context: ')})" for c, why in r.context.items()))
    if r.ignored:
        parts.append("not analysed " + ", ".join(f"{code(c)} ({why})" for c, why in r.ignored.items()))
    return "; ".join(parts)


def _breakdown(d: Diagnosis) -> list[str]:
    issues = d.issues
    if not issues:  # the sweep-level findings still stand (an edge of a range...): recommendations cite them
        return ["No issues were found: every trial reported finite metrics, none failed, "
                "and none overfit, diverged or stopped short by the thresholds below.", *_findings(d)]
    by_type: dict[str, list[int]] = {}  # issue type -> its rows, read from the columns (no record per row)
    for row, kind in enumerate(issues.type):
        by_type.setdefault(kind, []).append(row)
    lines = ["| Issue type | Severity | Trials | Example trial_ids |", "| --- | --- | --- | --- |"]
    for kind, rows in by_type.items():
        ids = [issues.trial_id[i] for i in rows]
        lines.append(
            f"| {code(kind)} {ISSUE_TYPES[kind].label} | {issues.severity[rows[0]]} | {len(rows)} | "
            f"{_ids(ids[:_EXAMPLES], len(ids))} |"
        )
    lines += ["", "What was seen:" if len(issues) <= _MAX_DETAIL_ROWS else
              f"Examples ({_EXAMPLES} per issue type; all {len(issues)} are in the JSON summary):", ""]
    for kind, rows in by_type.items():
        for issue in map(issues.__getitem__, rows if len(issues) <= _MAX_DETAIL_ROWS else rows[:_EXAMPLES]):
            lines.append(f"- {code(issue.trial_id)} {kind}: {prose(issue.detail)}")
    return lines + _findings(d)


def _findings(d: Diagnosis) -> list[str]:
    if not d.findings:
        return []
    lines = ["", "### Sweep-level findings", ""]
    for f in d.findings:
        ci = f.extra.get("ci")  # a rate's finding carries its interval
        interval = f" (95% CI {format_rate(ci[0])}–{format_rate(ci[1])})" if "ci" in f.extra else ""
        lines.append(f"- **{f.id}.** {prose(f.title)}{interval}. {prose(f.detail)}. "
                     f"Trials: {_ids(f.trial_ids, f.n_trials)}.")
    return lines


def _pathologies(d: Diagnosis) -> list[str]:
    lines: list[str] = []
    if not d.patterns:
        lines += [
            "No hyperparameter region is significantly associated with any issue "
            f"(Benjamini-Hochberg q < {d.analysis.alpha:g} with at least "
            f"{d.analysis.min_support} affected trials).",
            "",
        ]
    for p in d.patterns:
        lines += [f"### {p.id}. {prose(p.title)}", "", prose(p.explanation), ""]
        lines += _evidence(p, d)
    risky = [lead for lead in d.leads if lead.extra.get("risky")]
    if risky:
        lines += ["**Risky regions** (an issue concentrates there, but so do some of the best trials: stabilise "
                  "or narrow, never exclude):", ""]
        for lead in risky:
            e = lead.evidence
            lines.append(
                f"- {prose(lead.title)}: {e.k}/{e.n} with the issue vs {e.k_rest}/{e.n_rest} "
                f"elsewhere (p = {format_p(e.p)}, q = {format_p(e.q)}); {prose(lead.why)}."
            )
        lines.append("")
    leads = [lead for lead in d.leads if not lead.extra.get("risky")]
    if leads:
        lines += ["**Leads** (not patterns, each says why; worth a targeted re-run, not a conclusion):", ""]
        for lead in leads:
            e = lead.evidence
            why = f" Not a pattern: {prose(lead.why)}." if lead.why else ""
            lines.append(
                f"- {prose(lead.title)}: {e.k}/{e.n} with the issue vs "
                f"{e.k_rest}/{e.n_rest} elsewhere (p = {format_p(e.p)}, q = {format_p(e.q)}); "
                f"trials {_ids(lead.trial_ids)}.{why}"
            )
        lines.append("")
    return lines


def _evidence(p: Pattern, d: Diagnosis) -> list[str]:
    e = p.evidence
    rows = [(prose(p.condition), e.k, e.n, e.ci)]
    rows += [(prose(f"{part.condition} without {other.condition}"
                    + (" (runs that could show it)" if part.n_no_result else "")), part.k, part.n_trained, None)
             for part, other in zip(p.parts, p.parts[::-1])]
    rows.append((compared_with(p, d), e.k_rest, e.n_rest, None))
    risk = e.risk_ratio
    return [
        "| Trials | With the issue | Rate | 95% CI |",
        "| --- | --- | --- | --- |",
        *(f"| {label} | {k} / {n} | {_pct(k, n)} | {_interval(ci)} |" for label, k, n, ci in rows),
        "",
        f"Risk ratio {'∞ (none elsewhere)' if risk is None else format_number(risk) + '×'}; one-sided Fisher "
        f"p = {format_p(e.p)}, Benjamini-Hochberg q = {format_p(e.q)}. "
        f"Affected trials: {_ids(p.trial_ids, e.k)}.",
        "",
    ]


def _interval(ci: list[float] | None) -> str:
    return f"{format_rate(ci[0])}–{format_rate(ci[1])}" if ci else ""


def _recommendations(d: Diagnosis) -> list[str]:
    if not d.recommendations:
        return ["Nothing to fix: keep the search space as it is."]
    return [
        f"{i}. {prose(r.text)} *Evidence: {prose(r.evidence)}.*"
        for i, r in enumerate(d.recommendations, start=1)
    ]


def _image(image: dict[str, str]) -> str:
    """A picture link: alt text that cannot close the link, a relative path of our own naming."""
    alt = re.sub(r"[\[\]()<>`\\!\s]+", " ", image["title"]).strip()
    path = image["path"]
    if not re.fullmatch(r"[A-Za-z0-9_.\-/]+", path) or path.startswith("/") or ".." in path:
        raise ValueError(f"image path must be relative and plain: {path!r}")
    return f"![{alt}]({path})"


def _no_change(d: Diagnosis, plan: NextSweep) -> str:
    """Why the plan changes nothing, from the facts: no standing pattern or none that leaves a region out; the best trial.

    "The best trial sits inside every searched range" only when one is named and no finding
    puts it at an edge: an edge the plan does not widen (the top trials do not crowd there
    beyond chance) is said, with its finding.
    """
    regions = ("no region of the search space is significantly associated with an issue" if not d.patterns else
               "no pattern calls for leaving a region out (each says why in its advice)")
    edges = [f for f in d.findings if f.kind == "edge_of_range" and f.extra.get("hyperparameter") in plan.hyperparameters]
    if d.best_trial is None:
        best = "no trial is named best, so no range is widened toward one"
    elif edges:
        where = listed([f"{code(f.extra['hyperparameter'])} ({f.id})" for f in edges])
        best = (f"the best trial sits at the edge of {where}, but a best trial alone at an edge does not widen the "
                "plan: the top trials would have to crowd there too, beyond chance")
    else:
        best = "the best trial sits inside every searched range"
    return f"No change: {regions}, and {best}."


def _next_experiment(plan: NextSweep, no_change: str) -> list[str]:
    hps = plan.hyperparameters
    if not hps:
        return ["The sweep has no hyperparameters, so there is no search space to change."]
    lines = [
        "The sweep to run next, derived from the facts above; `next_sweep` in the JSON summary holds it for a "
        "sweep tool (ranges per hyperparameter, exclusions, conditions).",
        "",
        "| Hyperparameter | Searched | Next sweep | Scale |",
        "| --- | --- | --- | --- |",
    ]
    for name, hp in hps.items():
        if hp.kind == "categorical":
            searched = _values(hp.searched.values, hp.searched.n_values)
            nxt = _values(hp.values) + (f"; not {_values(hp.exclude)}" if hp.exclude else "")
            scale = "categorical"
        else:
            searched = _span(hp.searched.low, hp.searched.high)
            nxt = _span(hp.low, hp.high)
            if hp.exclude:
                nxt += "; not " + ", ".join(_span(lo, hi, closed=True) for lo, hi in hp.exclude)
            scale = ("log" if hp.log else "linear") + (", integer" if hp.kind == "int" else "")
        changed = "**" if hp.changed else ""
        lines.append(f"| {code(name)} | {searched} | {changed}{nxt}{changed} | {scale} |")
    if plan.conditions:
        lines += ["", "Within a region of another hyperparameter:", ""]
        for c in plan.conditions:
            bounds = []
            if c.low is not None:  # "above" when the floor itself is left out (an excluded interval ends there)
                shut = any(isinstance(x, list) and x[1] == c.low for x in c.exclude)
                bounds.append(f"{'above' if shut else 'from'} {format_number(c.low)}")
            if c.high is not None:
                bounds.append(f"below {format_number(c.high)}")
            for x in c.exclude:
                if isinstance(x, list) and (x[0] == c.high or x[1] == c.low):
                    continue
                bounds.append("not " + (_span(x[0], x[1], closed=True) if isinstance(x, list) else code(x)))
            lines.append(f"- with {code(c.when.condition)}: {code(c.hyperparameter)} "
                         f"{', '.join(bounds)} *({prose(c.evidence)})*")
    epochs = plan.settings.epochs
    if epochs:
        where = f" for trials with {code(epochs.when)}" if epochs.when else ""
        column = f" ({code(epochs.column)})" if epochs.column else ""
        lines += ["", f"Budget: {format_number(epochs.to)} epochs{column} instead of "
                      f"{format_number(epochs.from_)}{where}."]
    if plan.start_from:
        lines += ["", f"Enqueue the best trial without a serious issue, {code(plan.start_from.trial_id)}, as the first trial of "
                      "the next sweep, so that the new ranges are judged against it."]
    if plan.changes:
        lines += ["", "Changes, each with the fact it follows from:", ""]
        for i, c in enumerate(plan.changes, start=1):
            where = f" (with {code(c.when)})" if c.when else ""
            lines.append(f"{i}. {code(c.hyperparameter)} {_ACTIONS.get(c.action, c.action)}{where}: "
                         f"{prose(c.reason)}. *Evidence: {prose(c.evidence)}.*")
    else:
        lines += ["", no_change]
    return lines


_ACTIONS = {
    "cap": "upper end lowered",
    "raise_low": "lower end raised",
    "exclude": "region left out",
    "cap_when": "upper end lowered within a region",
    "raise_low_when": "lower end raised within a region",
    "exclude_when": "left out within a region",
    "widen": "range widened",
    "regularise": "more regularisation",
    "add": "to add",
    "more_epochs": "budget raised",
}


def _span(lo: float | None, hi: float | None, closed: bool = False) -> str:
    if lo is None or hi is None:
        return "none"
    if lo == hi:
        return format_number(lo)
    return f"[{format_number(lo)}, {format_number(hi)}]" if closed else f"{format_number(lo)} – {format_number(hi)}"


def _values(values: list[Any], n_values: int | None = None) -> str:
    shown = ", ".join(code(v) for v in values) or "none"
    return shown + (f" (+{n_values - len(values)} more)" if n_values and n_values > len(values) else "")


def _method(t: dict[str, Any], c: dict[str, Any] | None) -> list[str]:
    """The rules as they ran, with the thresholds read from the summary (``t``; ``c`` for the curves, when analysed).

    Every threshold of :class:`core.detectors.Thresholds` (and of
    :class:`core.curves.CurveThresholds` when curves were analysed) is stated.

    tests/test_render.py changes each threshold in turn and fails if this text does not change.
    """
    lines = [
        "- Non-finite: a metric reported as NaN or ±inf, or an error text saying so; an empty cell "
        "counts as missing, not NaN. Hidden failure: the status says completed or early-stopped but a "
        "metric is non-finite or none was reported.",
        f"- Divergence: a finite loss ≥ {_g(t['diverge_trivial_factor'])}× the trivial predictor's loss where it is "
        "known (classification with the classes given or inferred: predicting the class prior, ln(classes) when "
        f"balanced; regression with an r2 column: r2 ≤ {_g(1 - t['diverge_trivial_factor'])}); otherwise ≥ "
        f"{_g(t['diverge_factor'])}× the sweep's median of that loss; and any loss ≥ {format_number(t['diverge_abs'])}."
        + (f" On curves: a loss at ≥ {_g(c['diverge_factor'])}× its running minimum after giving back at least "
           f"{_share(c['diverge_lost'])} of its progress from the first value to that minimum, for good (never back "
           f"below that point) or to ≥ {_g(c['diverge_factor'])}× its first value; a held-out loss rising alone while "
           "the training loss is fine is overfitting, not this." if c else ""),
        f"- No learning: held-out accuracy ≤ 1/classes + {_g(t['chance_margin'])}, or held-out loss within "
        f"{_share(t['stuck_loss_tolerance'])} (relative) of ln(classes); the number of classes is given, or inferred "
        "from trials sitting exactly at chance, and an inferred chance level must be a floor (at most "
        f"{_share(t['chance_floor_share'])} of the held-out accuracies more than the margin below it). Regression: "
        f"held-out r2 ≤ {_g(t['no_learning_r2'])} while the training r2, when known, is ≤ "
        f"{_g(t['no_learning_train_r2'])}."
        + (f" On the curves of a loss-only sweep (no accuracy or r2 logged, the trivial loss unknown): the loss never "
           f"got {_share(c['no_learning_tolerance'])} below where it started (the larger of its first held-out and "
           f"first train value), over at least {_g(c['still_min_points'])} values." if c else ""),
        f"- Overfitting: the held-out result got worse after its best point while training still improved: a final "
        f"held-out loss ≥ {_g(1 + t['overfit_rise'])}× its running best (`best_val_loss`) with the training loss below "
        f"it, or a final held-out accuracy ≥ {_g(t['overfit_acc_drop'])} below its best (`best_val_acc`); with "
        f"`best_epoch`, the best must lie in the first {_share(t['overfit_best_before'])} of the epochs."
        + (f" With curves the curve rule replaces this one: the held-out loss's mean over the last "
           f"{_share(c['tail_fraction'])} of the run ≥ {_g(1 + c['overfit_rise'])}× the minimum of its 3-point "
           f"smoothed curve, and above it by ≥ {_g(c['overfit_noise'])}× the noise of one evaluation (root mean "
           "square residual), or its median there as far above its median over as wide a window around the best "
           "(noise from the median absolute residual, so one bad evaluation hides no rise), while the "
           f"training loss's mean there is ≥ {_share(c['overfit_train_drop'])} below its median over half that "
           f"window from the held-out best on (at least {_g(c['overfit_min_steps'])} held-out evaluations)."
           if c else ""),
        f"- Generalisation gap (low): held-out loss / training loss ≥ {_g(t['overfit_ratio'])} (a training loss of 0 "
        f"counts), or training minus held-out accuracy ≥ {_g(t['accuracy_gap'])} (≥ {_g(t['accuracy_gap_high'])} "
        f"above {_g(t['accuracy_gap_switch'])} training accuracy). Overfitting and gap judge trials with at least "
        f"{_g(t['overfit_min_epochs'])} epochs (when epochs are known).",
        f"- Suspicious validation: held-out accuracy ≥ training accuracy + {_g(t['suspicious_margin'])}, or ≥ "
        f"{_share(t['suspicious_accuracy'])} while above it; not when a collapse, a regulariser acting only in "
        "training (dropout, augmentation, label smoothing, noise) or a training accuracy measured in train mode "
        f"(a gap below {_g(t['running_gap'])}) explains it.",
        f"- Short run: a run that completed (not failed, pruned, early-stopped or timed out) used under "
        f"{_g(t['short_run_fraction'])}× its own planned budget (`max_epochs`...), else the sweep's median epochs "
        f"(without epochs: under {_g(t['short_runtime_fraction'])}× the median runtime of the trials that set the same "
        f"hyperparameters, unless a quarter of them ran that short)."
        + (f" With curves, never a run whose smoothed loss made no new best over its last "
           f"{_g(c['plateau_min_steps'])} evaluations (it stopped as early stopping on patience stops, or had "
           "converged)." if c else ""),
    ]
    if c:
        lines += [
            f"- Plateau (curves): a stretch of {_share(c['plateau_fraction'])} of the run starting in its first "
            f"{_share(c['plateau_start'])}, with at least {_g(c['plateau_min_steps'])} values, over which the best "
            f"smoothed loss improved by less than {_share(c['plateau_min_improvement'])} and which ends at most "
            f"{_share(c['plateau_max_rise'])} above that best.",
            f"- Oscillation (curves): swings of at least {_share(c['oscillation_swing'])} of the loss's scale "
            f"change direction at least {_g(c['oscillation_min_count'])} times and on at least "
            f"{_share(c['oscillation_min_fraction'])} of the steps.",
            f"- Still improving (curves): over the last {_share(c['tail_fraction'])} of the run (at least "
            f"{_g(c['still_min_points'])} values) the held-out loss's trend drops by at least "
            f"{_share(c['still_min_drop'])} of its level with one-sided p ≤ {_g(c['still_p'])}, and its smoothed "
            f"best lies in the last {_share(c['still_best_fraction'])} of the run.",
        ]
    return lines + [
        "- Patterns: per hyperparameter bucket, value, best threshold and pair of regions of two "
        "hyperparameters, a one-sided Fisher exact test against the rest of the sweep (thresholds "
        "corrected for the cuts tried), then Benjamini-Hochberg across all tests; rates carry 95% "
        "Wilson intervals; cuts are ranked on log p. A pair is reported when neither condition without "
        "the other shows the issue; significant marginals stay patterns beside it, and say whether the "
        "pair explains them. Pruned, early-stopped and running trials are counted, never a pattern. "
        f"A region where at most {HANDFUL} runs failed, under {_share(RARE_RATE)} of its runs, is kept in the next "
        "sweep (those runs are to be rerun). Full tables are in the JSON summary.",
    ]


def _g(value: float) -> str:
    return f"{value:g}"


def _share(value: float) -> str:
    """A fraction as a percentage with up to three significant digits (0.999 -> 99.9%)."""
    return f"{value * 100:.3g}%"
