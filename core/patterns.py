"""The deterministic analyst: associations that survive testing become patterns.

A pattern says where in the search space an issue concentrates, with the evidence
(``k/n`` inside vs outside, p and q) and a concrete recommendation. Everything in it
is taken from the associations of :mod:`core.associations`; nothing is estimated
here. Associations that are strong but not significant are returned as *leads*,
which the report shows with the reason they are not patterns (too few trials, or a
q-value that could be chance).
"""

from __future__ import annotations

from typing import Any

from core.findings import STOP_REASONS, STOP_WHY, abandoned_advice, is_abandoned_detail, listed, stop_reasons
from core.issue_types import (
    AVOIDABLE,
    BY_DESIGN,
    ERROR_OUTCOME,
    GAP_UNMEASURED,
    ISSUE_TYPES,
    LOG_CURVES,
    NEEDS_OWN_END,
    NEEDS_RESULT,
    NO_OUTCOME,
    NO_RESULT,
    RETURNED,
    SEVERITY_RANK,
    UNTRAINED,
    agree,
    concentrate,
    label_of,
    number_words,
)
from core.records import Association, Diagnosis, Evidence, IssueColumns, Part, Pattern, Region, issue_columns_of
from core.regions import holds, past, short_of
from core.stats import fisher_greater, wilson_interval
from core.values import format_number, format_p, format_rate

_TYPE_RANK = {t: i for i, t in enumerate(dict.fromkeys(("failed", *ISSUE_TYPES)))}
"""Which issue type names a pattern when several cover the same trials: a crash explains its missing metrics."""
_LR_WORDS = ("lr", "learning_rate", "learning-rate", "eta", "step_size")
_MAX_PATTERNS, _COVERAGE = 8, 0.8


def find_patterns(
    associations: list[Association],
    *,
    alpha: float = 0.05,
    min_support: int = 3,
    max_patterns: int = _MAX_PATTERNS,
    coverage: float = _COVERAGE,
    top: list[dict[str, Any]] | None = None,
    curves: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Choose the associations worth reporting.

    Parameters
    ----------
    associations : list of Association
        Output of :func:`core.associations.associate_issues` (or a summary's, through
        :meth:`core.records.Association.from_dict`).
    alpha : float
        Largest Benjamini-Hochberg q a pattern may have.
    min_support : int
        Fewest trials with the issue inside the region (so 1/1 is never a pattern).
    max_patterns : int
        Most patterns returned, most severe and most significant first.
    coverage : float
        A pair pattern (see :func:`needs_both`) replaces the marginal pattern of one of
        its hyperparameters when it holds at least this share of that pattern's
        affected trials; otherwise both are reported.
    top : list of dict, optional
        The sweep's best trials (the summary's ``top_trials``: ``rank``, ``trial_id``,
        ``hyperparameters``). Advice never throws one of them away: an avoidable issue
        type's region that holds one is no pattern of its own (see
        :func:`protect_top_trials`).
    curves : dict, optional
        The summary's ``curves`` block: a generalisation gap's pattern says what its
        trials' held-out curves show after their best (:func:`gap_advice`).

    Returns
    -------
    patterns : list of dict
        Significant associations, at most one per (issue type, hyperparameter),
        thresholds preferred over buckets when both are significant, plus pairs of
        conditions that beat their marginals (``rule="pair"``); each with ``id``
        (``P1``...), ``association_id``, ``issue_type``, ``hyperparameter``,
        ``condition``, ``title``, ``explanation``, ``recommendation``, ``evidence`` and
        ``trial_ids``; a pair that stands for a wider region holding top trials says
        so (``folds``: that region's association ids). A wider region of an avoidable
        type that holds top trials is never dropped silently: the narrower cut's pattern
        (or its risky lead) says why it is not left out as a whole, and its parts within
        the settings of one other hyperparameter where no top trial lies stand as pairs
        (:func:`_parts_without_top_trials`).
    leads : list of dict
        For issue types with no pattern, the strongest over-represented association
        with at least two affected trials (same keys, ``id`` ``L1``...); and each
        *risky region* (``top_trials`` set): where an avoidable issue concentrates
        significantly but top-ranked trials live too, with nothing in the sweep that
        separates them, reported with advice to stabilise or narrow, never to exclude.

    Residual associations (``outside`` set, :mod:`core.residuals`) are a second look,
    chosen on their own after the patterns of the rest (:func:`_residual_patterns`):
    they add patterns after those, and risky regions after the leads (no other lead).
    """
    patterns, leads = _select([a for a in associations if a.outside is None], alpha=alpha, min_support=min_support,
                              max_patterns=max_patterns, coverage=coverage, top=top, curves=curves)
    second, risky = _residual_patterns(associations, patterns, leads, alpha=alpha, min_support=min_support,
                                       max_patterns=max_patterns, coverage=coverage, top=top, curves=curves)
    for i, lead in enumerate(risky, start=len(leads) + 1):
        lead.id = f"L{i}"
    return [p.to_dict() for p in [*patterns, *second]], [lead.to_dict() for lead in [*leads, *risky]]


def _select(associations: list[Association], *, alpha: float, min_support: int, max_patterns: int, coverage: float,
            top: list[dict[str, Any]] | None, first: int = 1, outside: dict[tuple[str, ...], str] | None = None,
            curves: dict[str, Any] | None = None) -> tuple[list[Pattern], list[Pattern]]:
    """The patterns and leads of one family of associations (see :func:`find_patterns`), ids from ``P{first}``.

    ``outside`` names, by a residual association's sorted ``outside`` ids, the regions its
    trials lie outside (see :func:`_describe`).
    """
    over = [a for a in associations if a.k >= 2 and a.rate > a.rate_rest and a.issue_type not in BY_DESIGN]
    significant = [a for a in over if a.q < alpha and a.k >= min_support]
    holding = top_trials_inside(significant, top or [])
    best: dict[tuple[str, str], Association] = {}
    widest: dict[tuple[str, str], Association] = {}  # the choice without regard to the top trials
    for a in sorted(significant, key=lambda a: (a.rule != "threshold", a.q, a.log_p_or_p, -a.k)):
        if a.rule != "pair":
            widest.setdefault((a.issue_type, a.hyperparameter), a)
    for a in sorted(significant, key=lambda a: (a.id in holding, a.rule != "threshold", a.q, a.log_p_or_p, -a.k)):
        if a.rule != "pair":
            best.setdefault((a.issue_type, a.hyperparameter), a)
    # A wider region that holds top trials, beside the narrower one chosen for its key: a pair may still stand for it.
    shadowed = [a for key, a in widest.items() if best[key] is not a]
    best_marginal_p: dict[tuple[str, str], float] = {}  # log p: p itself underflows to 0 on large sweeps
    for a in associations:
        if a.rule != "pair" and a.id not in holding:
            key = (a.issue_type, a.hyperparameter)
            best_marginal_p[key] = min(best_marginal_p.get(key, 0.0), a.log_p_or_p)
    chosen_pairs: list[Association] = []
    paired: set[tuple[str, str]] = set()
    for a in sorted((a for a in significant if a.rule == "pair" and needs_both(a)), key=_strength):
        keys = {(a.issue_type, hp) for hp in a.hyperparameters}
        if keys & paired or not all(a.log_p_or_p < best_marginal_p.get(key, 0.0) for key in keys):
            continue
        chosen_pairs.append(a)
        paired |= keys
    stand, folds, risky = protect_top_trials([*best.values(), *chosen_pairs], significant, holding)
    risky = [w for w in risky if not any(_holds_every_affected(z, w) for z in stand if z.id not in holding)]
    narrower = {w.id: best[(w.issue_type, w.hyperparameter)] for w in shadowed}  # no risky region: a narrower one stands
    parts = {w.id: _parts_without_top_trials(w, narrower.get(w.id), significant, holding, min_support, stand)
             for w in [*shadowed, *risky]}
    for w in [*shadowed, *risky]:
        for pair in parts[w.id]:
            folds.setdefault(pair.id, []).append(w)
            if pair not in stand:
                stand.append(pair)
    # A significant marginal stays a pattern beside a pair: the simple cause must not hide behind a pair.
    chosen = []
    also: dict[tuple[tuple[Any, ...], int, tuple[str, ...]], list[str]] = {}
    for a in sorted(stand, key=_rank):
        same_trials = _same_trials(a)
        if same_trials in also:  # e.g. status_mismatch on exactly the non-finite trials: one pattern, both named
            also[same_trials].append(a.issue_type)
            continue
        also[same_trials] = []
        chosen.append(a)
    everyone = max((a.n + a.n_rest for a in associations), default=0)
    patterns = [_describe(a, f"P{i}", also[_same_trials(a)], everyone=everyone,
                          outside=(outside or {}).get(tuple(sorted(a.outside or ())), ""), curves=curves)
                for i, a in enumerate(chosen[:max_patterns], start=first)]
    _stratify(patterns, chosen, alpha)
    _stratify_marginals(patterns, chosen, significant, alpha)
    _defer_nested(patterns, chosen)
    _defer_same_trials(patterns, chosen)
    for p, a in zip(patterns, chosen):
        if a.id in folds:
            _fold(p, folds[a.id], holding)
    shown = {a.id: p for p, a in zip(patterns, chosen)}
    for w in shadowed:
        if narrower[w.id].id in shown:
            _not_as_a_whole(shown[narrower[w.id].id], w, holding[w.id], [shown[b.id] for b in parts[w.id] if b.id in shown])

    explained = {a.issue_type for a in chosen} | {kind for kinds in also.values() for kind in kinds}
    lead_by_type: dict[str, Association] = {}
    for a in sorted(over, key=_strength):
        if a.issue_type not in explained and a.rule != "pair" and a.id not in holding:
            lead_by_type.setdefault(a.issue_type, a)
    for a in risky:
        lead_by_type.pop(a.issue_type, None)  # the risky region is what there is to say of that type
    leads = [_describe(a, f"L{i}", why=lead_reason(a, alpha, min_support), everyone=everyone)
             for i, a in enumerate(lead_by_type.values(), start=1)]
    leads += [_risky(a, f"L{i}", holding[a.id], [shown[b.id] for b in parts[a.id] if b.id in shown], everyone,
                     (outside or {}).get(tuple(sorted(a.outside or ())), ""))
              for i, a in enumerate(risky, start=len(leads) + 1)]
    return patterns, leads


def named(patterns: list[Pattern], leads: list[Pattern]) -> dict[str, list[Pattern]]:
    """Per issue type, the regions a first look names as its causes: standing patterns, then risky regions.

    A pattern stands when it defers to no other; it stands for its issue type and the
    types of the same trials it also names. A risky region (a lead with ``risky``: the
    issue concentrates where top trials live too) is a cause the sweep knows of, only not
    one to leave out.
    """
    out: dict[str, list[Pattern]] = {}
    for p in [*patterns, *(lead for lead in leads if lead.extra.get("risky"))]:
        if not p.explained_by and p.association_id:
            for kind in (p.issue_type, *p.also_issue_types):
                out.setdefault(kind, []).append(p)
    return out


def standing_associations(associations: list[Association], *, alpha: float = 0.05, min_support: int = 3,
                          top: list[dict[str, Any]] | None = None) -> dict[str, list[Association]]:
    """Per issue type, the associations of its standing patterns (:func:`standing`) among ``associations``.

    The regions a residual pass leaves out (:func:`core.residuals.residual_associations`);
    residual associations given here are not read.
    """
    primary = [a for a in associations if a.outside is None]
    patterns, leads = _select(primary, alpha=alpha, min_support=min_support, max_patterns=_MAX_PATTERNS,
                              coverage=_COVERAGE, top=top)
    by_id = {a.id: a for a in primary}
    return {kind: [by_id[str(p.association_id)] for p in firsts] for kind, firsts in named(patterns, leads).items()}


def _residual_patterns(associations: list[Association], patterns: list[Pattern], leads: list[Pattern], *, alpha: float,
                       min_support: int, max_patterns: int, coverage: float, top: list[dict[str, Any]] | None,
                       curves: dict[str, Any] | None = None) -> tuple[list[Pattern], list[Pattern]]:
    """Patterns and risky regions of the residual associations: a second cause of an issue type, hidden by its first.

    Per issue type, the residual family is the associations tested among the trials
    outside the regions the first look names (:func:`named`: its standing patterns and
    risky regions); ``outside`` must hold exactly their association ids (a family
    computed for other patterns, e.g. at another ``alpha``, is not read). The families
    are chosen together with the rules of any family (:func:`_select`: significance at
    ``alpha`` on their own q-values, ``min_support``, top trials kept, pairs and
    marginals, stratification, one pattern for two issue types of the same trials), their
    patterns numbered after the others and worded as conditional on the first regions
    being left out (``outside``: the first patterns' ids). A second region that holds
    top trials is a risky region (a lead, never advised out): the strongest one per issue
    type, once per set of trials (NaN and a hidden failure of the same runs are one
    lead); the family's other leads are not shown.
    """
    firsts_of: dict[tuple[str, ...], list[Pattern]] = {}
    family = []
    for kind, firsts in named(patterns, leads).items():
        ids = tuple(sorted(str(p.association_id) for p in firsts))
        firsts_of[ids] = firsts
        family += [a for a in associations if a.outside and a.issue_type == kind and tuple(sorted(a.outside)) == ids]
    if not family:
        return [], []
    names = {ids: " and ".join(f"{p.id} ({p.condition})" for p in firsts) for ids, firsts in firsts_of.items()}
    found, leads = _select(family, alpha=alpha, min_support=min_support, max_patterns=max_patterns, coverage=coverage,
                       top=top, first=len(patterns) + 1,
                       outside={ids: f"the region{'s' if len(firsts_of[ids]) > 1 else ''} of {text}"
                                for ids, text in names.items()}, curves=curves)
    by_id = {a.id: a for a in family}
    risky, said = [], set()
    for lead in sorted((lead for lead in leads if lead.extra.get("risky")), key=lambda x: _strength(by_id[x.association_id])):
        trials = (lead.evidence.k, tuple(lead.trial_ids))
        if lead.issue_type not in said and trials not in said:  # the strongest per type, once per set of trials
            risky.append(lead)
        said |= {lead.issue_type, trials}
    for p in [*found, *risky]:
        ids = tuple(sorted(by_id[str(p.association_id)].outside or ()))
        firsts = firsts_of[ids]
        p.title += f" (outside {', '.join(q.id for q in firsts)})"
        p.extra["outside"] = [q.id for q in firsts]
        if not p.explained_by and p in found:
            them = "it" if len(firsts) == 1 else "them"
            p.recommendation += (f" This second cause was found among the trials outside {names[ids]}: it adds to "
                                 f"{them}, it does not replace {them}.")
    return found, risky


def top_trials_inside(associations: list[Association], top: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """For each association of an avoidable issue type, the top-ranked trials its region holds (only those with any).

    ``top`` holds the summary's ``top_trials`` (``hyperparameters`` of each); a pair
    holds a trial when both its regions do.
    """
    out = {}
    for a in associations:
        if a.issue_type not in AVOIDABLE:
            continue
        inside = top_trials_in(a.regions, top)
        if inside:
            out[a.id] = inside
    return out


def top_trials_in(regions: tuple[Region, ...], top: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The top-ranked trials (``top_trials`` entries) whose configuration lies in every one of ``regions``."""
    return [t for t in top if holds(regions, t["hyperparameters"])]


def protect_top_trials(
    candidates: list[Association], significant: list[Association], holding: dict[str, list[dict[str, Any]]]
) -> tuple[list[Association], dict[str, list[Association]], list[Association]]:
    """Keep the best trials out of every avoid-pattern.

    A candidate pattern of an avoidable issue type whose region holds top-ranked
    trials (``holding``) does not stand as a pattern. When a significant pair inside
    it (same issue type, one region the candidate's own, the other region leaving the
    top trials out) holds at least half of its affected trials, that pair stands
    instead and the candidate is folded into it: the pair says ``X overall`` and
    ``X without Y`` and names the top trials ``X`` holds. Otherwise nothing in the
    sweep separates the top trials from the issue, and the candidate is a *risky
    region*: reported, never excluded.

    Returns the associations that stand (in the candidates' order, a pair added at
    most once), the folds (pair id -> the candidates it stands for) and the risky
    regions.
    """
    stand: list[Association] = []
    folds: dict[str, list[Association]] = {}
    risky: list[Association] = []
    for a in candidates:
        if a.id not in holding:
            if a not in stand:
                stand.append(a)
            continue
        pair = _refining_pair(a, significant, holding) if a.rule != "pair" else None
        if pair is None:
            risky.append(a)
            continue
        folds.setdefault(pair.id, []).append(a)
        if pair not in stand:
            stand.append(pair)
    return stand, folds, risky


def _holds_every_affected(z: Association, w: Association) -> bool:
    """True when every trial with ``w``'s issue in ``w``'s region lies in standing pattern ``z``'s region.

    Then ``z`` explains ``w``: leaving ``z``'s region out removes every affected trial of
    ``w``, and whatever else ``w``'s region holds is no risk of its own. Known exactly
    when ``z`` holds every affected trial of the trials both compare (``k_rest`` = 0), or
    when both list all their affected trials (``trial_ids``, up to 20) and ``w``'s are
    among ``z``'s. Breast cancer: failed runs at adam and weight decay 0 (8 of 14, holding
    the 7th best trial) were every one at batch size 512, where all 20 failures were.
    """
    if z.issue_type != w.issue_type or z is w:
        return False
    if z.k_rest == 0 and z.n + z.n_rest >= w.n + w.n_rest:
        return True
    complete = len(z.trial_ids) >= z.k and len(w.trial_ids) >= w.k
    return complete and set(w.trial_ids) <= set(z.trial_ids)


def _refining_pair(a: Association, significant: list[Association],
                   holding: dict[str, list[dict[str, Any]]]) -> Association | None:
    """The strongest significant pair ``X and Y`` of ``a``'s issue type with ``X`` = ``a``'s region, holding no top trial.

    It must hold at least half of ``a``'s affected trials (it explains most of
    them, not a corner of the region that happens to miss the top trials).
    """
    key = a.regions[0].key
    pairs = [b for b in significant if b.rule == "pair" and b.issue_type == a.issue_type and b.id not in holding
             and any(part.region.key == key for part in b.parts or []) and 2 * b.k >= a.k]
    return min(pairs, key=_strength, default=None)


def _parts_without_top_trials(w: Association, narrower: Association | None, significant: list[Association],
                              holding: dict[str, list[dict[str, Any]]], min_support: int = 3,
                              standing: list[Association] = ()) -> list[Association]:
    """The parts of a wider region holding top trials that a next sweep can still leave out.

    ``narrower`` is None for a risky region (no narrower cut stands for it).

    ``w`` (``lr ≥ 0.0398``) holds top-ranked trials, so the ``narrower`` cut of its
    issue type and hyperparameter (``lr ≥ 0.2512``) stands instead. Within one value of
    another hyperparameter the wider cut may hold none of them: every significant pair
    ``V and T`` of ``w``'s issue type holding no top trial, ``T`` a threshold on ``w``'s
    hyperparameter in its direction that reaches past the narrower cut, is such a part
    (``optimizer = adam and lr ≥ 0.0398``: a cap on the learning rate for adam alone):
    the most significant one, and the most significant one of each other value of its
    ``V``'s hyperparameter (the setting that spares the top trials is one, the others
    get the wider cut). A part is a pair only when its setting adds to the cut
    (:func:`_setting_adds`): DeepCAVE's "tanh and dropout ≥ 0.6514" (39%) beside
    dropout ≥ 0.6514 without tanh (38%) was no pair, only the cut. A part within another
    hyperparameter's setting is added only
    when it holds at least ``min_support`` affected trials that no part so far and no
    ``standing`` pattern of its issue type holds (:func:`_new_affected`): a second
    mechanism, not the same trials cut another way, so strata of every other
    hyperparameter do not flood the patterns. Only for
    failures of high severity: a plateau is not worth a range of its own per setting.
    DeepOBS fmnist 2c2d: no learning at lr ≥ 0.0398 (34 of 63) held gradient descent's
    top trials at lr 0.158, and adam's runs that learned nothing between 0.016 and 0.25
    were left in the next sweep. Diabetes: no learning at lr ≤ 0.000502 (20 of 41) held
    seven top trials; plain SGD below 5.4e-05 (8 of 8) was left out, and scaled targets
    below 0.000118 (11 of 15, 4 of them not SGD's) were kept.
    """
    out: list[Association] = []
    if ISSUE_TYPES[w.issue_type].severity != "high":
        return out  # a plateau or an oscillation is not worth a range of its own per setting
    used: set[tuple[Any, ...]] = set()
    for b in sorted(significant, key=_strength):
        if b.rule != "pair" or b.issue_type != w.issue_type or b.id in holding or len(b.regions) != 2:
            continue
        first, second = b.regions
        if (second.hyperparameter != w.hyperparameter or second.direction != w.direction or first.key in used
                or (narrower is not None and _region_within(second, narrower.regions[0]))
                or not _setting_adds(b, w.hyperparameter)
                or (out and first.hyperparameter != out[0].regions[0].hyperparameter
                    and _new_affected(b, [*out, *(a for a in standing if a.issue_type == w.issue_type)])
                    < min_support)):
            continue
        used.add(first.key)
        out.append(b)
    return out


_ADDS = 0.8
"""A condition adds to a pair when the other condition's rate without it is at most this share of the pair's."""


def _setting_adds(b: Association, hp: str, ratio: float = _ADDS) -> bool:
    """True when a pair's issue rate clearly beats its cut on ``hp`` without the other condition.

    The cut's rate without the setting must be at most ``ratio`` x the pair's (the setting
    raises it by a quarter or more): a setting that adds nothing makes no pair (issue 10: a
    pair only when each condition adds to the other; otherwise the marginal is the
    pattern). An effect, not a test: the cells are small (diabetes: scaled targets at
    lr ≤ 0.000118, 11 of 15, against 4 of 10 without them, a second mechanism).
    """
    cut = next((part for part in b.parts or [] if part.hyperparameter == hp), None)
    return cut is None or cut.n_trained == 0 or cut.k / cut.n_trained <= ratio * b.rate


def _new_affected(b: Association, earlier: list[Association]) -> int:
    """How many of ``b``'s affected trials lie in none of the ``earlier`` associations, at least.

    Exact when every one lists all its affected trials (``trial_ids`` hold up to 20),
    else the lower bound ``b.k`` minus the earlier ones' counts.
    """
    if all(len(a.trial_ids) >= a.k for a in [b, *earlier]):
        return len(set(b.trial_ids).difference(*(a.trial_ids for a in earlier)))
    return b.k - sum(a.k for a in earlier)


def _not_as_a_whole(p: Pattern, w: Association, trials: list[dict[str, Any]], parts: list[Pattern]) -> None:
    """Say, in the narrower cut's pattern, why the wider region of its issue type is not advised (issue 10)."""
    left = (f"; {', '.join(q.id for q in parts)} leave{'s' if len(parts) == 1 else ''} out "
            f"{'its part' if len(parts) == 1 else 'its parts'} where none lies" if parts else "")
    p.explanation += (f" The wider region {w.condition} ({w.k} of {w.n}, q = {format_p(w.q)}) is not left out as a "
                      f"whole: it holds {_top_text(trials)}{left}.")


def _fold(p: Pattern, folded: list[Association], holding: dict[str, list[dict[str, Any]]]) -> None:
    """Say, in a pair's pattern, which wider region it stands for and which top trials that region holds."""
    # The pair's own sentence already gives "X without Y: k/n; X overall: k/n" for both of its regions.
    words = [f"This pattern stands for the marginal pattern of {a.condition} ({a.k} of {a.n}, "
             f"q = {format_p(a.q)}), which is not to be avoided as a whole: it also holds {_top_text(holding[a.id])}."
             if 2 * p.evidence.k >= a.k else
             f"This pattern is the part of {a.condition} ({a.k} of {a.n}, q = {format_p(a.q)}) that holds no "
             f"top trial; {a.condition} as a whole is not to be avoided: it also holds {_top_text(holding[a.id])}."
             for a in folded]
    p.explanation += " " + " ".join(words)
    p.extra["folds"] = [a.id for a in folded]


def _id_text(ids: list[str], n: int, max_ids: int) -> str:
    """``trials `a`, `b` and 3 more``: the first ``max_ids`` of ``ids``, of ``n`` in all."""
    shown = ids[:max_ids]
    more = f" and {n - len(shown)} more" if n > len(shown) else ""
    return ("trial " if n == 1 else "trials ") + ", ".join(f"`{i}`" for i in shown) + more


def _top_text(trials: list[dict[str, Any]], max_ids: int = 5) -> str:
    """``top-ranked trials t3 (rank 3), t9 (rank 9)``."""
    shown = ", ".join(f"{t['trial_id']} (rank {t['rank']})" for t in trials[:max_ids])
    more = f" and {len(trials) - max_ids} more" if len(trials) > max_ids else ""
    return f"top-ranked trial{'s' if len(trials) > 1 else ''} {shown}{more}"


def _risky(a: Association, lead_id: str, trials: list[dict[str, Any]], parts: list[Pattern] = (),
           everyone: int = 0, outside: str = "") -> Pattern:
    """A risky region: an issue concentrates where top-ranked trials live too; at most parts of it (``parts``) can go."""
    label = label_of(a.issue_type)
    why = (f"a risky region, not one to leave out: no condition in this sweep separates the {label} there "
           f"from the top-ranked trials it also holds. Those are {_top_text(trials)[len('top-ranked '):]}")
    if parts:
        why += (f"; {', '.join(q.id for q in parts)} leave{'s' if len(parts) == 1 else ''} out "
                f"{'its part' if len(parts) == 1 else 'its parts'} where none lies")
    lead = _describe(a, lead_id, why=why, everyone=everyone, outside=outside)
    lead.title = f"Risky region: {label} at {a.condition}, where top trials live too"
    lead.recommendation = f"Do not exclude {a.condition}: it holds {_top_text(trials)}. {ISSUE_TYPES[a.issue_type].risky_advice}"
    lead.extra["risky"] = True
    lead.extra["top_trials"] = [{"trial_id": t["trial_id"], "rank": t["rank"]} for t in trials]
    return lead


def _same_trials(a: Association) -> tuple[tuple[Any, ...], int, tuple[str, ...]]:
    """The region(s) and affected trials of an association: two issue types alike here make one pattern."""
    return (tuple(r.key for r in a.regions), a.k, tuple(a.trial_ids))


def _stratify(patterns: list[Pattern], chosen: list[Association], alpha: float = 0.05) -> None:
    """Say which pattern explains which when a marginal's trials are mostly a pair's.

    A pair ``X and Y`` carries the counts of ``X without Y``: stratified by ``Y``, the
    marginal pattern ``X`` is explained by the pair when ``X without Y`` holds none
    of its affected trials or shows no concentration of its own (:func:`_stratified`), and
    the marginal pattern then says so and defers to the pair (``explained_by``); the next
    sweep follows the pair alone. ``X`` stands on its own only when ``X without Y`` still
    shows the issue clearly (see :func:`_stratified`); in between, it says the cell is
    too small to tell.
    """
    by_id = {p.association_id: a for p, a in zip(patterns, chosen)}
    for pair in (p for p in patterns if p.rule == "pair"):
        a = by_id[pair.association_id]
        for part, other in _parts_and_others(a):
            for p in patterns:
                if (p.rule == "pair" or p.issue_type != pair.issue_type
                        or not _same_trials_as_part(by_id[p.association_id], part, a)):
                    continue
                marginal = by_id[p.association_id]
                verdict = _stratified(a, part, marginal, alpha)
                if verdict == "explained":
                    against = (f" (against {marginal.k_rest} of {marginal.n_rest} without {part.condition})"
                               if part.k else "")
                    _defer(p, pair, f"{part.condition} without {other}", _cell(part, short=True),
                           f" Stratified by {other}: {part.condition} without {other} has {_cell(part)}"
                           f"{against}, so {pair.id} ({pair.condition}) explains this pattern, not {part.condition} "
                           "itself.")
                elif verdict == "own":
                    p.explanation += (f" Stratified by {other}: {part.condition} without {other} still has "
                                      f"{_cell(part)} ({format_rate(part.k / part.n_trained)}), so "
                                      f"this pattern stands on its own beside {pair.id}.")
                else:
                    p.explanation += (f" Stratified by {other}: {part.condition} without {other} has "
                                      f"{_cell(part)} ({format_rate(part.k / part.n_trained)}): too few "
                                      f"trials to tell whether {pair.id} explains this pattern.")


def _same_trials_as_part(marginal: Association, part: Part, pair: Association) -> bool:
    """True when a marginal's region holds exactly the trials of a pair's region ``part`` (overall).

    The same region, or one region written two ways: "dropout ≤ 0" on a grid whose lowest
    value is 0 holds what "dropout = 0" holds (one region within the other, and as many
    trials: ``part.n`` without the other condition plus the pair's ``n``).
    """
    region = marginal.regions[0]
    return region.key == part.region.key or (marginal.n == part.n + pair.n
                                             and region.hyperparameter == part.region.hyperparameter
                                             and _region_within(part.region, region))


def _stratify_marginals(patterns: list[Pattern], chosen: list[Association], tested: list[Association],
                        alpha: float = 0.05) -> None:
    """Two marginal patterns of one issue type whose trials overlap: say which explains which.

    With the pair association of their two regions (``X and Z``, among the
    ``tested`` ones), each is stratified by the other: ``X`` is explained by ``Z``
    when ``X without Z`` is explained while ``Z without X`` still shows the issue
    clearly (each part judged by :func:`_stratified`, at ``alpha``). ``X`` then says so and defers to
    ``Z`` (``explained_by``), and the next sweep follows ``Z``.
    """
    by_id = {p.association_id: a for p, a in zip(patterns, chosen)}
    pairs = {frozenset(r.key for r in b.regions): b for b in tested if b.rule == "pair"}
    marginals = [p for p in patterns if p.rule != "pair" and not p.explained_by]
    for x, z in ((x, z) for x in marginals for z in marginals
                 if x is not z and x.issue_type == z.issue_type and x.hyperparameter != z.hyperparameter):
        ax, az = by_id[x.association_id], by_id[z.association_id]
        pair = pairs.get(frozenset((ax.regions[0].key, az.regions[0].key)))
        if pair is None or pair.issue_type != x.issue_type or x.explained_by or z.explained_by:
            continue
        part_x, part_z = (next(q for q in pair.parts or [] if q.region.key == a.regions[0].key) for a in (ax, az))
        if _stratified(pair, part_x, ax, alpha) == "explained" and _stratified(pair, part_z, az, alpha) == "own":
            _defer(x, z, f"{x.condition} without {z.condition}", _cell(part_x, short=True),
                   f" Stratified by {z.condition}: {x.condition} without {z.condition} has {_cell(part_x)}, "
                   f"while {z.condition} without {x.condition} still has {_cell(part_z)}, so {z.id} "
                   f"({z.condition}) explains this pattern, not {x.condition} itself.")
            z.explanation += f" It also explains {x.id} ({x.condition}): most of those trials are in this region."


def _defer_nested(patterns: list[Pattern], chosen: list[Association]) -> None:
    """An avoid-pattern whose whole region lies inside a stronger avoid-pattern's: the stronger one explains it.

    Stronger: as severe or more, then more significant (:func:`_rank`); a plateau never
    explains runs that learned nothing.

    Both issue types are avoidable, so the stronger pattern's advice (leave its region
    out) already removes every trial of the nested one: stratified by it, nothing of
    the nested region is left. DeepOBS fmnist VAE: "no learning at GD and lr in
    [0.1585, 3.981)" (3 of 7) lay inside "non-finite at lr ≥ 0.003981" (54 of 69):
    plain gradient descent's runs that did not go NaN there learned nothing, one
    instability seen two ways. The nested pattern stays (issue 10, item 6) but says
    so and defers (``explained_by``); the next sweep follows the stronger one.
    """
    by_id = {p.association_id: a for p, a in zip(patterns, chosen)}
    standing = [p for p in patterns if p.issue_type in AVOIDABLE and not p.explained_by]
    explains: dict[str, list[Pattern]] = {}
    for x in standing:
        ax = by_id[x.association_id]
        outer = [z for z in standing if z is not x and not z.explained_by
                 and _rank(by_id[z.association_id]) < _rank(ax)
                 and _inside(ax.regions, by_id[z.association_id].regions)]
        if not outer:
            continue
        z = min(outer, key=lambda z: _rank(by_id[z.association_id]))
        e = z.evidence
        same = _inside(by_id[z.association_id].regions, ax.regions)
        x.explained_by = z.id
        x.explanation += (f" {'Its region is' if same else 'Its region lies inside'} {z.id}'s ({z.condition}: {e.k} of "
                          f"{e.n} with {label_of(z.issue_type)}), which the next sweep leaves out: {z.id} explains it.")
        x.recommendation = (f"Follow {z.id}: " + (f"the next sweep leaves out {z.condition}." if same else
                                                    f"leaving out {z.condition} also leaves out {x.condition}."))
        explains.setdefault(z.id, []).append(x)
    for z in patterns:
        if z.id in explains:
            z.explanation += (" It also explains " + ", ".join(f"{x.id} ({x.condition})" for x in explains[z.id])
                              + ": the same region or one inside it.")


def _defer_same_trials(patterns: list[Pattern], chosen: list[Association]) -> None:
    """Two standing patterns of one issue type over exactly the same affected trials: the stronger names them.

    A few runs sit together in more than one region (on the DeepCAVE sweep, the same 3
    diverged runs of 3,000 were "tanh and batch_size in [16, 64)" and "lr in [0.01,
    0.1] and cnn"): two patterns and two pieces of advice for one set of runs would
    read as two causes. The weaker one (:func:`_rank`) stays, says which pattern holds
    the same runs and defers to it (``explained_by``). Only where both list every
    affected trial (``k`` within ``max_ids``), so the sets are known to be equal.
    """
    by_id = {p.association_id: a for p, a in zip(patterns, chosen)}
    first: dict[tuple[str, frozenset[str]], Pattern] = {}
    for x in sorted((p for p in patterns if not p.explained_by), key=lambda p: _rank(by_id[p.association_id])):
        a = by_id[x.association_id]
        if len(a.trial_ids) < a.k:
            continue
        z = first.setdefault((a.issue_type, frozenset(a.trial_ids)), x)
        if z is x:
            continue
        x.explained_by = z.id
        x.explanation += (f" Its {a.k} affected trials are exactly {z.id}'s ({z.condition}): one set of runs that both "
                          f"regions hold, which {z.id} names.")
        x.recommendation = f"Follow {z.id}: the same {a.k} runs."


def _inside(inner: tuple[Region, ...], outer: tuple[Region, ...]) -> bool:
    """True when every trial in all of ``inner``'s regions is in all of ``outer``'s (each outer one holds an inner one)."""
    return all(any(_region_within(r, o) for r in inner if r.hyperparameter == o.hyperparameter) for o in outer)


def _region_within(r: Region, o: Region) -> bool:
    """True when region ``r`` of one hyperparameter lies within region ``o`` of the same one."""
    if o.value is not None or r.value is not None:
        return r.value == o.value
    if o.low is not None and (r.low is None or short_of(r.low, o.low)):
        return False
    if o.high is None:
        return True
    if r.high is None or past(r.high, o.high):
        return False
    return o.closed or not r.closed or short_of(r.high, o.high)


def _defer(p: Pattern, to: Pattern, without: str, count: str, why: str) -> None:
    """``p`` is explained by ``to`` (``without`` is p's region outside to's, ``count`` its affected trials): say so."""
    p.explained_by = to.id
    p.explanation += why
    p.recommendation = f"Follow {to.id}: {without} is not where {concentrate(p.issue_type)} ({count})."


def _parts_and_others(a: Association) -> list[tuple[Part, str]]:
    """Each region of a pair with the other region's display text."""
    parts = a.parts or []
    return [(part, parts[1 - i].condition) for i, part in enumerate(parts)] if len(parts) == 2 else []


def _stratified(a: Association, part: Part, marginal: Association, alpha: float) -> str:
    """``explained``, ``own`` or ``unclear``: what the pair ``a`` says of the marginal pattern ``part`` names.

    ``part`` is the pair's cell ``X without Y``; ``marginal`` is the association of ``X``
    (``k_rest``/``n_rest`` count the trials outside ``X``). Explained: the cell is known
    to be fine, or none of the marginal's affected trials lie in it (all are in the pair),
    or the cell shows no significant excess over the trials outside ``X`` (one-sided
    Fisher p ≥ ``alpha``) while its 95 % Wilson upper bound lies below half the pair's
    rate: the cell is large enough to show it lacks the pair's concentration. Own: the
    cell's excess over the trials outside ``X`` is significant (Fisher p < ``alpha``)
    and its 95 % Wilson lower bound is above their rate (a lower bound just above a rate
    of 1 in 90 is no evidence: diverged at adam without the learning-rate band had 2 of
    38 against 1 of 90 outside adam, p = 0.2). Unclear otherwise: the cell is too small
    to tell.
    """
    if part.k == 0 or _part_is_fine(a, part):
        return "explained"
    outside = marginal.k_rest / marginal.n_rest if marginal.n_rest else 0.0
    excess = fisher_greater(part.k, part.n_trained, part.k + marginal.k_rest, part.n_trained + marginal.n_rest) < alpha
    low, high = wilson_interval(part.k, part.n_trained)
    if excess and low > outside:
        return "own"
    return "explained" if not excess and high < 0.5 * a.rate else "unclear"


def lead_reason(a: Association, alpha: float, min_support: int) -> str:
    """Why an association is a lead and not a pattern: too few trials, or a q-value that could be chance."""
    reasons = []
    if a.k < min_support:
        reasons.append(f"too few trials: {a.k} with the issue there, a pattern needs {min_support}")
    if a.q >= alpha:
        reasons.append(f"q = {format_p(a.q, alpha)} ≥ {alpha:g} after correcting for every test of the sweep: "
                       "it could be chance")
    return "; ".join(reasons) or "a stronger pattern already explains this issue"


def alone_is_fine(a: Association, confidence: float = 0.95) -> bool:
    """True when each condition of a pair, without the other, is known to be fine.

    That is: the 95 % Wilson upper bound of each part's rate lies below the rate in the
    rest of the sweep (every trial outside that part). Five clean trials are not
    enough to say so (0/5 has an upper bound of 43 %).
    """
    parts = a.parts or []
    return bool(parts) and all(_part_is_fine(a, part, confidence) for part in parts)


def _part_is_fine(a: Association, part: Part, confidence: float = 0.95) -> bool:
    k_total, n_total = a.k + a.k_rest, a.n + a.n_rest
    n_rest = n_total - part.n
    rest_rate = (k_total - part.k) / n_rest if n_rest else 0.0
    return part.n_trained > 0 and wilson_interval(part.k, part.n_trained, confidence)[1] < rest_rate


def needs_both(a: Association, ratio: float = 0.5) -> bool:
    """True when a pair's issue rate needs both conditions.

    Each condition alone (without the other) must have at most ``ratio`` x the pair's
    rate. :func:`find_patterns` reports such a pair instead of the marginal patterns of
    its two hyperparameters when its p-value is also smaller than theirs.
    """
    return all(part.n_trained == 0 or part.k / part.n_trained <= ratio * a.rate for part in a.parts or [])


def _strength(a: Association) -> tuple[float, float, float]:
    return (a.q, a.log_p_or_p, -a.k)


def _rank(a: Association) -> tuple[int, float, float, int]:
    """Most severe first, then most significant, then the issue vocabulary's order."""
    return (SEVERITY_RANK[ISSUE_TYPES[a.issue_type].severity], a.q, a.log_p_or_p, _TYPE_RANK.get(a.issue_type, len(_TYPE_RANK)))


def _describe(a: Association, pattern_id: str, also: list[str] | None = None, why: str | None = None,
              everyone: int = 0, outside: str = "", curves: dict[str, Any] | None = None) -> Pattern:
    """The pattern (or, with ``why``, the lead) of one association; ``curves`` as :func:`recommend` reads it.

    ``everyone`` is the sweep's size: a region of a hyperparameter some trials leave unset is
    compared with the other trials that set it (see :func:`core.associations.associate_issues`),
    and the text says so. ``outside`` names the patterns whose regions a residual
    association's trials lie outside: the text says the counts are among those trials only.
    """
    label = label_of(a.issue_type)
    evidence = Evidence(k=a.k, n=a.n, rate=a.rate, ci=a.ci, k_rest=a.k_rest, n_rest=a.n_rest, rate_rest=a.rate_rest,
                        risk_ratio=a.risk_ratio, p=a.p, q=a.q)
    if outside:
        explanation = (
            f"Outside {outside}, {a.k + a.k_rest} of the {a.n + a.n_rest} trials compared show {label}; "
            f"{a.k} of {a.n} trials with {a.condition} ({format_rate(a.rate)}) do, against {a.k_rest} of {a.n_rest} "
            f"({format_rate(a.rate_rest)}) of the others there (one-sided Fisher p = {format_p(a.p)}, "
            f"Benjamini-Hochberg q = {format_p(a.q)} over the tests of this second look alone)."
        )
    else:
        rest = rest_label(a.hyperparameter, a.n + a.n_rest, everyone, "in the ", a.issue_type)
        explanation = (
            f"{a.k} of {a.n} trials with {a.condition} ({format_rate(a.rate)}) show {label}, "
            f"against {a.k_rest} of {a.n_rest} ({format_rate(a.rate_rest)}) {rest} "
            f"(one-sided Fisher p = {format_p(a.p)}, Benjamini-Hochberg q = {format_p(a.q)})."
        )
    if also:
        explanation += f" The same {a.k} trials also show {', '.join(label_of(k) for k in also)}."
    if a.rule == "pair":
        explanation += " " + _pair_parts(a)
    return Pattern(id=pattern_id, association_id=a.id, issue_type=a.issue_type, hyperparameter=a.hyperparameter,
                   hyperparameters=list(a.hyperparameters), rule=a.rule, parts=list(a.parts or []),
                   condition=a.condition, title=f"{label[0].upper()}{label[1:]} at {a.condition}",
                   explanation=explanation, recommendation=recommend(a, curves), also_issue_types=list(also or []),
                   evidence=evidence, trial_ids=list(a.trial_ids), why=why)


def with_outcome(n_trials: int, issue_counts: dict[str, int]) -> int:
    """The trials of a sweep that had an outcome (not still running): the most any comparison counts."""
    return n_trials - sum(issue_counts.get(t, 0) for t in NO_OUTCOME)


def rest_label(hyperparameter: str, n_compared: int, n_trials: int, prefix: str = "", issue_type: str = "") -> str:
    """What a region is compared with: the rest of the sweep, the other trials that trained, or that set it.

    ``n_trials`` counts the trials with an outcome (:func:`with_outcome`: a trial still
    running is compared nowhere). When fewer were compared: for a type only a run with a
    result can show (:attr:`~core.issue_types.IssueType.needs_result`), the trials that
    failed, blew up or learned nothing were left out (and for a type only a run that ended
    of its own accord can show, :attr:`~core.issue_types.IssueType.needs_own_end`, the runs
    a time limit or the scheduler cut); else the hyperparameter was unset in some.
    """
    if n_trials and n_compared < n_trials:
        if issue_type in NEEDS_OWN_END:
            return f"{prefix}other trials that trained and ended on their own"
        if issue_type in NEEDS_RESULT:
            return f"{prefix}other trials that trained"
        return f"{prefix}other trials with {hyperparameter} set"
    return f"{prefix}rest of the sweep"


def compared_with(p: Pattern, d: Diagnosis) -> str:
    """What a pattern's region is compared with, as its evidence table names it (the report's and the web page's)."""
    e = p.evidence
    return rest_label(p.hyperparameter, e.n + e.n_rest, with_outcome(d.sweep.n_trials, d.issue_counts),
                      issue_type=p.issue_type)


def _cell(part: Part, short: bool = False) -> str:
    """A pair's "X without Y" count: ``k of n``, among the runs that could show the issue.

    For a no-result type, the runs another no-result issue ended are no evidence either
    way (a run that crashed never got to learn nothing): ``1 of 2 that could show it (22
    more ended without a result for another reason)``, not ``1 of 24``; ``short`` leaves
    the parenthesis out.
    """
    if not part.n_no_result:
        return f"{part.k} of {part.n}"
    if not part.n_trained:
        return f"no run that could show it: all {part.n} ended without a result for another reason"
    more = "" if short else f" ({part.n_no_result} more ended without a result for another reason)"
    return f"{part.k} of {part.n_trained} that could show it{more}"


def _pair_parts(a: Association) -> str:
    """Each condition without the other, and overall: "X without Y: k/n; X overall: k/n"."""
    words = []
    for part, other in _parts_and_others(a):
        words.append(f"{part.condition} without {other}: {_cell(part)}; {part.condition} overall: "
                     f"{part.k + a.k} of {part.n + a.n}")
    part, other = max(_parts_and_others(a), key=lambda po: po[0].k / po[0].n_trained if po[0].n_trained else 0.0)
    if alone_is_fine(a):
        verdict = "Neither condition explains it without the other"
    elif part.n_trained and part.k / part.n_trained > _ADDS * a.rate:  # a part kept apart for top trials, say
        verdict = (f"Without {other}, {part.condition} shows it about as often "
                   f"({format_rate(part.k / part.n_trained)}, against {format_rate(a.rate)} with it)")
    else:
        verdict = "The pair concentrates it most"
    return f"{verdict} ({'; '.join(words)})."


HANDFUL = 5
RARE_RATE = 0.1
_GAVE_UP = ("the value it returns for a trial it gave up on (an exception it caught, such as out of memory, or an "
            "infeasible configuration), not a loss that blew up, so gradient clipping is not the remedy")


def rare_even_there(a: Association) -> bool:
    """True when an avoidable issue struck only a handful of runs in its region, and a small share of them.

    That is: at most :data:`HANDFUL` (5) affected trials there, and a rate below
    :data:`RARE_RATE` (one run in ten). The concentration passed its test and the
    pattern stands, but so few runs say little about the region: several regions can
    hold the same three runs (on the DeepCAVE sweep, two unrelated pairs each held the
    same 3 diverged runs of 3,000), and leaving one out changes the next sweep for a
    handful of runs. Rerunning them says more. The same low rate over many runs (132 of
    1,936) is a mechanism that many runs show: that region is left out as any other (a
    region holding top trials never is). The rule reads a count and a rate, not a
    confidence bound: a larger sweep of the same rate holds more affected runs, so it
    may turn "keep" into "leave out" (more evidence), never the other way.
    """
    return ISSUE_TYPES[a.issue_type].avoidable and 0 < a.k <= HANDFUL and a.rate < RARE_RATE


def keeps_the_setting(a: Association) -> bool:
    """True for a categorical setting where a low-severity type (a plateau...) concentrates, yet some runs are healthy.

    A whole setting (an optimizer) is never avoided for a low-severity issue while some of
    its runs are healthy: a plateau at the lowest and at the highest learning rates of
    one optimizer says its learning rate, not the optimizer, is off (DeepOBS tolstoi:
    MomentumOptimizer's 6 plateaus sat at lr 1e-5..2.5e-5 and 1.0..2.5, its runs at
    0.016..0.16 were healthy). The next sweep keeps such a setting too.
    """
    return (a.issue_type in AVOIDABLE and ISSUE_TYPES[a.issue_type].severity != "high" and a.rule == "value"
            and a.lo is None and a.k < a.n)


def recommend(a: Association, curves: dict[str, Any] | None = None, gave_up: tuple[str, str] | None = None) -> str:
    """A concrete next step for one association, phrased from its rule and issue type.

    ``curves`` is the summary's block: a generalisation gap's advice says what its listed
    trials' held-out curves show after their best (:func:`gap_advice`). ``gave_up``
    (``("value", "+inf")``, see :func:`_worst_value_returned`): every non-finite metric of
    the sweep is the objective's worst value, so a region of NaN/inf metrics or hidden
    failures is where the objective gave up on its trials, not where a loss blew up: its
    cause is in their logs, and gradient clipping is not the remedy.
    """
    hp, kind, cond = a.hyperparameter, a.issue_type, a.condition
    label = label_of(kind)
    if rare_even_there(a):
        those = "that configuration" if a.k == 1 else f"those {a.k} configurations"
        return (f"Keep {cond} in the next sweep: {label} {agree(kind, 'is', 'are')} rare there "
                f"({a.k} of its {a.n} runs, {format_rate(a.rate)}), too few runs to tell which region is the cause (a "
                f"handful fits several regions at once). Rerun {those} with another seed: a failure that does not "
                "repeat was noise; one that does is a narrow cause to read in their logs.")
    if a.direction == "above":
        avoid = f"keep {hp} below {format_number(a.lo)}"
    elif a.direction == "below":
        avoid = f"keep {hp} above {format_number(a.hi)}"
    elif a.rule == "bucket":
        avoid = f"leave out {cond}"
    else:
        avoid = f"avoid {cond}"
    if gave_up and kind in RETURNED:
        return (f"Read the logs of the trials with {cond} and the objective's error handling: the objective returned "
                f"{gave_up[1]} for them, {_GAVE_UP}; until the cause is fixed, {avoid}.")
    if keeps_the_setting(a):
        return (f"Check why {a.k} of the {a.n} trials with {cond} show {label}: the other {a.n - a.k} there do not, "
                f"so {cond} stays in the next sweep. Compare the affected runs' other hyperparameters before "
                "judging it (a learning rate too low to move and one too high to learn both stall a run).")
    if a.rule == "pair" and kind in AVOIDABLE:
        fine = alone_is_fine(a)
        if a.direction:
            within, threshold = (r.condition for r in a.regions)
            side = f"below {format_number(a.lo)}" if a.direction == "above" else f"above {format_number(a.hi)}"
            return (f"With {within}, keep {a.hyperparameters[1]} {side} in the next sweep "
                    f"({threshold} is where {concentrate(kind)})" + ("; elsewhere the range is fine." if fine else "."))
        return (f"Avoid the combination {cond} in the next sweep (or give it its own, narrower range)"
                + ("; each condition without the other is fine." if fine else "."))
    lr_like = any(w in hp.lower() for w in _LR_WORDS)
    if kind == "no_learning":
        if a.direction == "above":
            why = "above it networks die or saturate (chance-level results)"
        elif a.direction == "below":
            why = "below it networks barely learn (chance-level results)"
        else:
            why = "there the networks ended at chance level"
        return f"In the next sweep, {avoid}: {why}." + (" Check the learning-rate schedule too." if lr_like else "")
    if kind == "still_improving":
        return f"Give trials with {cond} more epochs: their validation loss was still falling at the end."
    if kind == "suspicious_validation":
        return f"Check the validation split used by trials with {cond} for leakage before trusting their scores."
    if kind in ("nonfinite_metric", "diverged", "no_learning") and a.rule == "value":
        return (f"Treat {cond} as its own region in the next sweep: give it a narrower, lower "
                f"learning-rate range than the rest, or add gradient clipping, rather than "
                f"judging {hp} by these runs.")
    if kind in ("nonfinite_metric", "diverged", "status_mismatch", "oscillation"):
        extra = "a learning-rate warm-up" if lr_like and a.direction != "below" else "a check of the loss scale"
        return f"In the next sweep, {avoid}. If that region matters, add gradient clipping and {extra}."
    if kind == "generalization_gap":
        return (f"Trials with {cond} end with held-out results well below training: a gap, not proof of overfitting. "
                + gap_advice(list(a.trial_ids), a.k, curves))
    if kind == "overfitting":
        # Not "otherwise avoid the region": overfitting often marks where training works at all.
        return f"Regularise the trials with {cond} (weight decay, dropout) or stop them earlier."
    if kind == "killed":
        return f"Raise the time limit for trials with {cond}, or {avoid}."
    if kind == "failed":
        return f"Read the logs of the failed trials with {cond}; until the cause is fixed, {avoid}."
    return f"Check why trials with {cond} show {label}; meanwhile {avoid}."



def recommend_all(
    summary: dict[str, Any], patterns: list[dict[str, Any]], *, max_ids: int = 5,
    leads: list[dict[str, Any]] | None = None, issues: IssueColumns | None = None,
) -> list[dict[str, Any]]:
    """Recommendations: per pattern, per risky region, per unexplained issue type, per actionable finding.

    One per pattern, one per risky region among the ``leads`` (stabilise or narrow, never
    exclude: top-ranked trials live there), one per issue type neither explains, then one
    per actionable sweep-level finding (edge of range, seed instability, a shared error).

    Each is ``{id, text, evidence, pattern_id, trial_ids}`` (plus ``finding_id`` for
    findings); ``evidence`` says in words which facts of the summary it follows from.
    ``issues`` are the summary's (:func:`~core.records.issue_columns_of`), when the caller has them.
    """
    risky = [lead for lead in leads or [] if lead.get("risky")]
    recs = [_pattern_advice(p, max_ids) for p in [*patterns, *risky]]
    explained = {kind for p in [*patterns, *risky] for kind in (p["issue_type"], *p.get("also_issue_types", []))}
    issues = issue_columns_of(summary) if issues is None else issues
    by_type: dict[str, list[str]] = {}
    for kind, trial in zip(issues.type, issues.trial_id):
        by_type.setdefault(kind, []).append(trial)
    returned = _worst_value_returned(summary, issues)
    metric, value = returned or ("", "")
    trained = trained_count(summary, issues)
    abandoned = {trial for trial, kind, detail in zip(issues.trial_id, issues.type, issues.detail)
                 if kind == "running" and is_abandoned_detail({"detail": detail})}
    for kind, ids in by_type.items():
        if kind == "running":  # a trial whose worker stopped will never finish: its finding's advice says what to do
            ids = [i for i in ids if i not in abandoned]
        if kind in explained or not ids:
            continue
        if kind == "pruned":  # early stopping and a pruner told apart, and runs that stopped because they failed
            recs.append(_stopped_early_advice(issues, max_ids))
            continue
        shown = ids[:max_ids]
        id_text = _id_text(ids, len(ids), max_ids)
        advice = (ISSUE_TYPES[kind].returned_advice if returned else "") or ISSUE_TYPES[kind].advice
        # "{ids} were pruned ...": a sentence starts with a capital
        text = _capitalised(advice.format(ids=id_text, metric=metric, value=value, **number_words(len(ids)),
                                          curves=gap_advice(ids[:20], len(ids), summary.get("curves"))))
        evidence = f"{_trials(len(ids))} with {ISSUE_TYPES[kind].label}, no hyperparameter pattern"
        if kind in NEEDS_RESULT and trained is not None:
            text = f"{sweep_wide(kind, len(ids), trained)}. {text}"
            evidence = f"{len(ids)} of {trained} runs that trained show {ISSUE_TYPES[kind].label}; no hyperparameter " \
                       "pattern among them"
        recs.append({
            "text": text,
            "evidence": evidence,
            "pattern_id": None,
            "trial_ids": shown,
        })
    regions = _pattern_regions(summary, patterns)
    top = summary.get("top_trials") or []
    fmt = str((summary.get("sweep") or {}).get("format") or "")
    recs += [rec for f in summary.get("findings", [])
             if (rec := _finding_advice(f, max_ids, patterns, regions, top, fmt))]
    for i, rec in enumerate(recs, start=1):
        rec["id"] = f"R{i}"
    return recs


def _stopped_early_advice(issues: IssueColumns, max_ids: int) -> dict[str, Any]:
    """The recommendation of the ``pruned`` trials: what stopped each by design, and those that stopped failing.

    The wording says what the data says (:func:`core.findings.stop_reasons`): early
    stopping (the status word or the sweep's flag says so) or a tuner's pruner. A trial
    also flagged diverged, NaN, failed or dead stopped because it failed: it is named
    apart, never under "by design" (its failure's own advice stands).
    """
    reasons = stop_reasons(issues.trial_id, issues.type, issues.detail)
    early, tuner, failed = (reasons[r] for r in STOP_REASONS)
    ids = early + tuner
    how = " or ".join(f"{r} ({len(reasons[r])})" if early and tuner else r for r in STOP_REASONS[:2] if reasons[r])
    because = listed([STOP_WHY[r] for r in STOP_REASONS[:2] if reasons[r]])
    texts, evidence = [], []
    if ids:
        texts.append(f"{_id_text(ids, len(ids), max_ids)} {'was' if len(ids) == 1 else 'were'} {how}, by design: "
                     f"{because}. They are counted, not blamed, and no advice is built on them.")
        evidence.append(f"{_trials(len(ids))} {how}, by design, no hyperparameter pattern")
    if failed:
        stopped_failing = set(failed)
        kinds = {kind for trial, kind in zip(issues.trial_id, issues.type) if trial in stopped_failing and kind in NO_RESULT}
        labels = " or ".join(label_of(k) for k in ISSUE_TYPES if k in kinds)
        texts.append(f"{_id_text(failed, len(failed), max_ids)} stopped early too, but with {labels}: "
                     f"{'it' if len(failed) == 1 else 'they'} stopped because {'it' if len(failed) == 1 else 'they'} "
                     "failed, not by design, and count with those failures.")
        evidence.append(f"{_trials(len(failed))} stopped early with {labels}")
    text = " ".join(map(_capitalised, texts))
    return {"text": text, "evidence": "; ".join(evidence), "pattern_id": None,
            "trial_ids": (ids or failed)[:max_ids]}


def trained_count(summary: dict[str, Any], issues: IssueColumns | None = None) -> int | None:
    """How many trials trained (no failure, NaN, blow-up or dead run, and not still running); None when all did.

    A type only a run with a result can show (overfitting, a generalisation gap...) is
    compared among these trials (:func:`core.associations.associate_issues`). None too
    when the summary does not give the sweep's size. ``issues`` are the summary's
    (:func:`~core.records.issue_columns_of`), when the caller has them.
    """
    issues = issue_columns_of(summary) if issues is None else issues
    untrained = {trial for trial, kind in zip(issues.trial_id, issues.type) if kind in UNTRAINED}
    n_trials = (summary.get("sweep") or {}).get("n_trials")
    return int(n_trials) - len(untrained) if untrained and n_trials is not None else None


def sweep_wide(kind: str, k: int, trained: int) -> str:
    """The sentence for a type no region concentrates among the runs that trained: "58 of 88 runs that trained ..."."""
    return (f"{k} of {trained} runs that trained {'shows' if k == 1 else 'show'} {label_of(kind)}, spread across the "
            "searched ranges (no region concentrates it among the runs that trained)")


def _worst_value_returned(summary: dict[str, Any], issues: IssueColumns | None = None) -> tuple[str, str] | None:
    """``("value", "+inf")`` when every non-finite metric of the sweep is an objective's worst infinity, else None.

    A minimised objective of +inf (a maximised one of -inf) and no other non-finite
    metric is a value the objective chose to return for a trial it gave up on: the
    cause is in that trial's log, not in the numerics of training.
    """
    issues = issue_columns_of(summary) if issues is None else issues
    nonfinite = {detail or "" for kind, detail in zip(issues.type, issues.detail) if kind == "nonfinite_metric"}
    metrics = (summary.get("sweep", {}).get("roles") or {}).get("metrics") or {}
    worst = {f"{name}={'+inf' if role.get('goal') == 'min' else '-inf'}" for name, role in metrics.items()
             if role.get("kind") == "objective" and role.get("goal") in ("min", "max")}
    if len(nonfinite) == 1 and nonfinite <= worst:
        metric, _, value = next(iter(nonfinite)).rpartition("=")
        return metric, value
    return None


def _pattern_advice(p: dict[str, Any], max_ids: int) -> dict[str, Any]:
    """The recommendation of a pattern, or of a risky region (whose trials shown are the top-ranked ones there)."""
    e = p["evidence"]
    risky = bool(p.get("risky"))
    return {
        "text": p["recommendation"],
        "evidence": f"{p['id']}: {e['k']}/{e['n']} trials with {p['condition']} vs {e['k_rest']}/{e['n_rest']} "
                    f"elsewhere" + (f" outside {', '.join(p['outside'])}" if p.get("outside") else "")
                    + ("; top-ranked trials there" if risky else ""),
        "pattern_id": None if risky else p["id"],
        "trial_ids": ([t["trial_id"] for t in p["top_trials"]] if risky else p["trial_ids"])[:max_ids],
    }


def _pattern_regions(summary: dict[str, Any], patterns: list[dict[str, Any]]) -> dict[str, tuple[Region, ...]]:
    """The regions of each pattern (by pattern id), read from its association in the summary."""
    by_id = {a["id"]: a for a in summary.get("associations") or []}
    return {p["id"]: Association.regions_of(by_id[p["association_id"]])
            for p in patterns if p.get("association_id") in by_id}


def explaining_pattern(f: dict[str, Any], patterns: list[dict[str, Any]],
                       regions: dict[str, tuple[Region, ...]]) -> dict[str, Any] | None:
    """The pattern of failures whose region holds an error group's trials, or None.

    The pattern's region (``regions``: by pattern id) is the one the group's error
    concentrates in (the finding's ``explained_by``), or the group's listed trials
    must all be among the pattern's trials, and the pattern must hold at least as many
    affected trials as the group has (ids are listed up to 20 on both sides, so a group
    of up to 20 is matched exactly).
    """
    ids = set(f["trial_ids"])
    where = f.get("explained_by") or {}
    where_key = (Region.of(where).key,) if where else None
    for p in patterns:
        kinds = {p["issue_type"], *p.get("also_issue_types", [])}
        if not kinds.intersection(ERROR_OUTCOME) or p.get("explained_by"):
            continue
        if where_key and tuple(r.key for r in regions.get(p["id"], ())) == where_key:
            return p
        if ids <= set(p["trial_ids"]) and p["evidence"]["k"] >= f["n_trials"]:
            return p
    return None


def _fix_or_leave_out(where: Region, patterns: list[dict[str, Any]], regions: dict[str, tuple[Region, ...]],
                      top: list[dict[str, Any]]) -> str:
    """What to do about an error group's region: leave it out until fixed, unless top-ranked trials live there.

    Advice never throws away a best trial: diabetes' NaN losses at lr ≥ 0.00152 (23 of 51)
    shared that region with the 9th best trial (lr = 0.0100). The patterns of failures
    inside the region (which spare the top trials by construction) are named instead.
    """
    inside = top_trials_in((where,), top)
    if not inside:
        return f"fix it or leave {where.condition} out of the next sweep until it is fixed."
    parts = [p["id"] for p in patterns if not p.get("explained_by") and regions.get(p["id"])
             and {p["issue_type"], *p.get("also_issue_types", [])}.intersection(ERROR_OUTCOME)
             and _inside(regions[p["id"]], (where,))]
    left = (f"; {', '.join(parts)} leave{'s' if len(parts) == 1 else ''} out "
            f"{'its part' if len(parts) == 1 else 'its parts'} where none lies" if parts else "")
    return (f"fix it, but do not leave {where.condition} out of the next sweep as a whole: it holds "
            f"{_top_text(inside)}{left}.")


def _finding_advice(f: dict[str, Any], max_ids: int, patterns: list[dict[str, Any]],
                    regions: dict[str, tuple[Region, ...]], top: list[dict[str, Any]] | None = None,
                    fmt: str = "") -> dict[str, Any] | None:
    """A recommendation that follows from a sweep-level finding, or None.

    ``top``: the summary's ``top_trials``; ``fmt``: the input's format, for a tool's own fix.
    """
    explained = (explaining_pattern(f, patterns, regions) if f["kind"] == "error_kind" and not f.get("budget_cut")
                 else None)
    if f["kind"] == "edge_of_range":
        low = f["side"] == "low"
        text = (f"Try {f['hyperparameter']} {'below' if low else 'above'} {format_number(f['value'])}: the best trial "
                f"sits at the {'lowest' if low else 'highest'} value searched, and a few runs beyond it would tell "
                "whether it only owes its lead to chance. The next sweep widens the range itself only when the top "
                "trials crowd at that edge too: see Next experiment.")
    elif f["kind"] == "abandoned":
        text = abandoned_advice(fmt, _id_text(f["trial_ids"], f["n_trials"], max_ids))
    elif f["kind"] == "seed_instability":
        text = ("Run more seeds of unstable configurations like this one before trusting any single run, "
                "and prefer settings whose seeds agree (a lower learning rate or gradient clipping "
                "often stabilises them).")
    elif f["kind"] == "error_kind" and f["n_trials"] >= 2 and f.get("budget_cut"):
        text = (f"{f['n_trials']} trials stopped at their time limit ({f['signature']}): budget cuts, not "
                "failures; judge them by the metrics they reached, and raise the limit only if they were still "
                "improving.")
    elif explained is not None:
        e = explained["evidence"]
        text = (f"The error shared by {f['n_trials']} trials ({f['signature']}) is explained by {explained['id']}: "
                f"it happens at {explained['condition']} ({e['k']} of {e['n']} there, {e['k_rest']} of "
                f"{e['n_rest']} elsewhere). {explained['recommendation']}")
    elif f["kind"] == "error_kind" and f.get("explained_by"):
        w = f["explained_by"]
        text = (f"The error shared by {f['n_trials']} trials ({f['signature']}) happens at {w['condition']} "
                f"({w['k']} of {w['n']} there, {w['k_rest']} of {w['n_rest']} elsewhere, q = {format_p(w['q'])}): "
                + _fix_or_leave_out(Region.of(w), patterns, regions, top or []))
    elif f["kind"] == "error_kind" and f["n_trials"] >= 2:
        text = (f"Fix the error shared by {f['n_trials']} trials ({f['signature']}) before the next sweep; "
                "these runs say nothing about their hyperparameters.")
    else:
        return None
    return {"text": text, "evidence": f"{f['id']}: {f['title']}" + (f"; {explained['id']}" if explained else ""),
            "pattern_id": explained["id"] if explained else None, "finding_id": f["id"],
            "trial_ids": f["trial_ids"][:max_ids]}


def _capitalised(text: str) -> str:
    """``text`` with its first letter upper case (the rest as it is: ids and names keep their case)."""
    return text[:1].upper() + text[1:]


def _trials(n: int) -> str:
    return f"{n} trial" if n == 1 else f"{n} trials"


def gap_advice(trial_ids: list[str], k: int, curves: dict[str, Any] | None) -> str:
    """The end of a gap's advice: what its trials' held-out curves show (:func:`gap_on_curves`), else what to log.

    Without any curves in the sweep, only what to log: "where per-epoch held-out curves were
    read..." would speak of curves nobody gave.
    """
    return gap_on_curves(trial_ids, k, curves) or (GAP_UNMEASURED if curves else _capitalised(LOG_CURVES))


def gap_on_curves(trial_ids: list[str], k: int, curves: dict[str, Any] | None) -> str:
    """What the held-out curves of a gap's ``k`` trials (``trial_ids``: those listed) show after their best, measured.

    "" when none was read. ``curves`` is the summary's block: its ``trials`` hold each listed trial's held-out
    loss ``best_value`` (at ``best_step``) and ``last_value``. The largest rise from the
    best to the end is stated with the trial it is from, and that the overfitting rule
    did not count it (a rise below its threshold, within noise, too short, or after
    training had stopped improving): never "they did not rise" when they did (nanoGPT
    B2_post_ln:4, val/loss 1.482 at iter 2,000, 1.581 at the end).
    """
    if not curves:
        return ""
    ids = set(trial_ids)
    read = [t for t in curves.get("trials") or [] if t.get("trial_id") in ids and t.get("best_value") is not None
            and t.get("last_value") is not None and t["best_value"] > 0]
    if not read:
        return ""
    top = max(read, key=lambda t: t["last_value"] / t["best_value"])
    rise = top["last_value"] / top["best_value"] - 1
    step = curves.get("step_column") or "step"
    # trial_ids are the listed ones (at most 20 of the k): how many were read is told of them
    of = ("1 of 1" if k == 1 else f"all {k}") if len(read) == k else f"{len(read)} of them"
    rest = "" if len(read) == len(ids) else f" For the others, {LOG_CURVES}"
    if rise <= 0:
        return f"Their per-epoch held-out curves ({of} read) ended at their best: no rise after it, no overfitting.{rest}"
    return (f"Their per-epoch held-out curves ({of} read) ended at most {format_rate(rise) if rise >= 0.01 else '<1%'} "
            f"above their best ({top['trial_id']}: {top['held_out']} {format_number(top['best_value'])} at {step} "
            f"{format_number(top['best_step'])}, {format_number(top['last_value'])} at the end). The overfitting rule "
            "did not count that as overfitting (a rise below its threshold, within noise, too short, or after training "
            f"had stopped improving: see Method), so look at those curves before regularising.{rest}")


def _rare_inside_a_cause(patterns: list[dict[str, Any]], associations: list[Association]) -> None:
    """A handful of runs (:func:`rare_even_there`) that all lie in a region another pattern leaves out: that is their cause.

    "Rerun those 3 configurations with another seed" is no advice when all three sit where a
    standing threshold pattern of an avoidable type (not itself rare, not following another:
    the next sweep cuts its range there) already takes away: an association of the same issue type holding all of them
    inside that pattern's region says so (DeepCAVE: 3 diverged tanh CNNs at lr 0.064-0.088,
    all in lr ≥ 0.06401, inside P1's lr ≥ 0.01538).
    """
    by_id = {a.id: a for a in associations}
    causes = [(p, by_id[p["association_id"]]) for p in patterns
              if p.get("association_id") in by_id and not p.get("explained_by") and p["issue_type"] in AVOIDABLE
              and by_id[p["association_id"]].rule == "threshold" and not rare_even_there(by_id[p["association_id"]])]
    for p in patterns:
        a = by_id.get(p.get("association_id") or "")
        if a is None or not rare_even_there(a) or not p["recommendation"].startswith(recommend(a)):
            continue
        for cause, c in causes:
            inner = next((b for b in associations if b.issue_type == a.issue_type and b.k == a.k and b.outside is None
                          and _inside(b.regions, c.regions)), None)
            if inner is not None:
                label = label_of(a.issue_type)
                p["recommendation"] = (
                    f"{_capitalised(label)} {agree(a.issue_type, 'is', 'are')} rare at {a.condition} ({a.k} of its "
                    f"{a.n} runs, {format_rate(a.rate)}), and all {a.k} lie in {inner.condition}, within {cause['id']}'s "
                    f"region ({cause['condition']}), which the next sweep leaves out: that region is their likely "
                    "cause too, so there is nothing to rerun.")
                break


def _say_the_objective_gave_up(patterns: list[dict[str, Any]], leads: list[dict[str, Any]],
                               associations: list[Association], gave_up: tuple[str, str] | None) -> None:
    """Where the sweep's only non-finite values are its objective's worst value, its patterns and risky regions say so.

    A pattern's own advice (:func:`recommend`) and a risky region's stabilising advice both
    treat NaN/inf as numerics (clipping, warm-up); an objective that returned +inf gave up
    on those trials. Advice already rewritten (a pattern that follows another) is kept.
    """
    if gave_up is None:
        return
    by_id = {a.id: a for a in associations}
    for p in [*patterns, *leads]:
        a = by_id.get(p.get("association_id") or "")
        if a is None or a.issue_type not in RETURNED:
            continue
        own, risky = recommend(a), ISSUE_TYPES[a.issue_type].risky_advice
        if p.get("risky") and p["recommendation"].endswith(risky):
            p["recommendation"] = (p["recommendation"][:-len(risky)] + f"The objective returned {gave_up[1]} for the "
                                   f"affected trials there, {_GAVE_UP}: read their logs and the objective's error "
                                   "handling.")
        elif not p.get("risky") and p["recommendation"].startswith(own):
            p["recommendation"] = recommend(a, gave_up=gave_up) + p["recommendation"][len(own):]


def analyze_patterns(
    summary: dict[str, Any], *, alpha: float = 0.05, min_support: int = 3
) -> dict[str, Any]:
    """The deterministic analyst's whole output, ready to merge into the summary.

    Returns ``patterns``, ``leads``, ``recommendations`` and ``analysis`` (the
    settings used: ``alpha``, ``min_support``).
    """
    associations = [Association.from_dict(a) for a in summary["associations"]]
    patterns, leads = find_patterns(associations, alpha=alpha, min_support=min_support,
                                    top=summary.get("top_trials"), curves=summary.get("curves"))
    issues = issue_columns_of(summary)  # the state's columns, or the rows of a summary file, read once
    _say_the_objective_gave_up(patterns, leads, associations, _worst_value_returned(summary, issues))
    _rare_inside_a_cause(patterns, associations)
    return {
        "patterns": patterns,
        "leads": leads,
        "recommendations": recommend_all(summary, patterns, leads=leads, issues=issues),
        "analysis": {"alpha": alpha, "min_support": min_support},
    }
