"""The issue types: one table of everything the project says about each kind of issue.

An issue is one trial showing one pathology (``type`` in the summary's ``issues``).
Every fact about a type lives in its :class:`IssueType` entry of :data:`ISSUE_TYPES`,
and nowhere else: its severity, the words the report and the pictures use for it, the
advice given when no hyperparameter pattern explains it, how the analysis treats it
(blame it? avoid its region? search it for pairs?), the words a model sentence names
it with (checked by :mod:`core.grounding`) and its colour and marker in the pictures.

The *rule* that flags a type is not here: it is the docstring of the detector that
emits it (:mod:`core.detectors` for the one-row-per-trial table, :mod:`core.curves.detectors`
for per-epoch curves). A detector declares what it emits with :func:`emits`, which
refuses a name this table does not hold.

Adding a type is one entry here and one detector; nothing else lists the types.
The table's order is the vocabulary's order: summaries list types in it, and issues
of one trial are sorted by it.

Severities, worst first: ``high`` (the run gave no usable result), ``medium`` (a
result, but a damaged one), ``low`` (worth a look) and ``info`` (counted, never
blamed: :data:`SICK_SEVERITIES` are the ones that make a trial "sick").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

SEVERITIES = ("high", "medium", "low", "info")
"""Severities, worst first."""
SICK_SEVERITIES = ("high", "medium", "low")
"""Severities that make a trial "sick"; ``info`` issues (pruned) are counted, not blamed."""
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
"""Severity -> 0 for the worst (high) up to 3 (info)."""


@dataclass(frozen=True)
class IssueType:
    r"""Everything said about one issue type.

    Attributes
    ----------
    name : the type as written in the summary (``diverged``).
    severity : ``high``, ``medium``, ``low`` or ``info`` (see :data:`SEVERITIES`).
    label : noun phrase for the report ("diverged losses"): "12 trials show {label}"; plural
        unless ``mass_noun`` ("overfitting"), which a verb after it must agree with
        (:func:`concentrate`).
    short_label : a few words for a picture's panel title ("NaN/inf").
    advice : what to do when no hyperparameter pattern explains the type; ``{ids}``
        is replaced by the trials ("trials `3`, `7` and 2 more"); ``{they}``, ``{their}``, ``{them}``,
        ``{were}``, ``{are}`` and ``{s}`` (a verb's ending) agree with their number (:func:`number_words`);
        ``{curves}`` is what their held-out curves show, or what to log (:func:`core.patterns.gap_advice`).
    words : regular expression of the words that name the type in prose ("diverg\w*|blew up");
        grounding checks that a sentence naming it of a trial names a trial that has it.
    colour, marker : how the pictures draw its trials (colour-blind safe: Okabe-Ito,
        then Tol; told apart by marker too).
    no_result : the trial gave no usable result (it failed, went non-finite, blew up or
        learned nothing): the infeasible share counts it, a seed that shows it disagrees
        with a healthy seed, and it explains away a short run, a suspicious validation
        score and a held-out loss that rose.
    needs_result : only a run that gave a result can show it (a held-out loss that rose, a
        gap, a short run, a suspicious validation score): a trial with a ``no_result`` type
        never has it (:func:`core.detectors.reconcile_issues` drops it there), so patterns
        compare it only among the trials with a result, never against the runs that failed,
        blew up or learned nothing (:func:`core.associations.associate_issues`).
    error_outcome : what the trials of an error group (one kind of exception or error
        message, :func:`core.findings.find_error_kinds`) are flagged as: the run raised,
        its loss came back NaN/inf, or its status said finished beside a NaN; a pattern of
        such a type can explain the group (:func:`core.patterns.explaining_pattern`).
    avoidable : the next sweep should leave out a region where it concentrates (the runs
        there were wasted); never a by-design outcome.
    risky_advice : for an avoidable type, what to do where it concentrates but some of the
        sweep's best trials ran too (a *risky region*: never excluded), after "Do not
        exclude REGION: it holds top-ranked trials ...".
    by_design : never a cause: a pruner or early stopping stopped it on purpose, a time
        budget cut it, or it had not finished when the sweep was exported. Counted and
        explained, never turned into a pattern, a lead or advice.
    pairable : associations search pairs of conditions for it (not for tuner behaviour).
    no_outcome : the trial has no outcome yet (still running or waiting when the sweep was
        exported, or left running by a worker that died): it counts on neither side of any
        comparison of outcomes (:func:`core.associations.associate_issues`).
    stopped_early : the run ended before its planned budget for a reason other than
        how it learned, so its length says nothing about the budget.
    needs_own_end : only a run that ended of its own accord can show it (still improving
        when it ended): a run a time limit or the scheduler cut while it trained
        (:data:`CUT_WHILE_TRAINING`) may have been still improving by construction, so
        patterns compare it only among the runs that trained and were not cut. An
        early-stopped or pruned run stays: its own criterion ended it, and left out it
        would make "early stopping on" look like a cause of runs still improving.
    from_status : the tool's normalised status of the same name flags it (:mod:`core.status`).
    from_curves : a per-epoch curve rule can flag it too (:mod:`core.curves.detectors`).
    flag_words : words of a boolean column the sweep wrote itself (``epoch_diverged``,
        ``is_nan``) that state this type (:func:`core.roles.outcome_kind`).
    returned_advice : the ``advice`` when every non-finite value of the sweep is an objective's
        worst infinity (``{metric}``, ``{value}``: a trial the objective gave up on, see
        :func:`core.patterns.recommend_all`); empty: ``advice`` stands.
    """

    name: str
    severity: str
    label: str
    short_label: str
    advice: str
    words: str
    colour: str
    marker: str
    mass_noun: bool = False
    no_result: bool = False
    needs_result: bool = False
    error_outcome: bool = False
    avoidable: bool = False
    by_design: bool = False
    pairable: bool = True
    no_outcome: bool = False
    stopped_early: bool = False
    needs_own_end: bool = False
    from_status: bool = False
    from_curves: bool = False
    flag_words: tuple[str, ...] = ()
    risky_advice: str = ""
    returned_advice: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"issue type {self.name!r}: severity {self.severity!r} is not one of {SEVERITIES}")
        if self.no_result and self.needs_result:
            raise ValueError(f"issue type {self.name!r}: a type cannot both be a run without a result and need one")
        if self.avoidable and self.by_design:
            raise ValueError(f"issue type {self.name!r}: a by-design outcome cannot be avoided in advice")
        if self.avoidable != bool(self.risky_advice):
            raise ValueError(f"issue type {self.name!r}: risky_advice is what to do instead of avoiding a region, "
                             "so exactly the avoidable types have it")


def number_words(n: int) -> dict[str, str]:
    """The words of an advice template that agree with how many trials it names: one trial is "it", "its", "was"."""
    one = n == 1
    return {"they": "it" if one else "they", "their": "its" if one else "their", "them": "it" if one else "them",
            "were": "was" if one else "were", "are": "is" if one else "are", "s": "s" if one else ""}


GAP_ON_CURVES = ("Where per-epoch held-out curves were read, the overfitting rule did not count them: any rise after "
                 "the best was below its threshold, within noise, too short, or came once training had stopped improving (see "
                 "Method), so a mild rise may remain: look at those curves before regularising.")
"""What the curves said of a generalisation gap that is not overfitting: no false "they did not rise"."""
LOG_CURVES = ("log per-epoch held-out loss (or a best_val_loss) to see whether it rises after a best epoch (overfitting) "
              "before regularising them.")
"""What to log to tell a generalisation gap from overfitting: the gap advice's one wording, wherever it is given."""
GAP_UNMEASURED = f"{GAP_ON_CURVES} Without them, {LOG_CURVES}"
"""The end of the gap advice where no listed trial's held-out curve was read (see :func:`core.patterns.gap_advice`)."""

_TABLE = (
    IssueType(
        # detectors.detect_nonfinite, curves.detectors.detect_curve_nonfinite
        "nonfinite_metric", "high", "NaN/inf metrics", "NaN/inf",
        advice="Inspect {ids}: {they} reported NaN or infinite metrics. The usual causes are a learning rate too high "
        "for the model, no gradient clipping, or a log/division of zero.",
        words=r"nan\b|non-?finite|infinit\w*|[+-]?inf\b", colour="#D55E00", marker="X",
        no_result=True, error_outcome=True, avoidable=True, from_curves=True, flag_words=("nan", "nonfinite", "isnan"),
        risky_advice="Stabilise the runs there (gradient clipping, a learning-rate warm-up, a guard against a "
        "log or division of zero) and rerun a few seeds before trusting or dropping it.",
        returned_advice="Read the logs of {ids}: {their} objective `{metric}` is {value}, the worst value there is in "
        "the study's direction and nothing else is non-finite, which is what an objective returns for a trial it "
        "gave up on (an exception caught, such as out of memory, or an infeasible configuration), not a loss that "
        "blew up.",
    ),
    IssueType(
        # detectors.detect_status_mismatch: the status says it ended well, the metrics say otherwise
        "status_mismatch", "high", "hidden failures (status says finished)", "hidden failure",
        advice="Do not trust the status of {ids}: it says {they} ended normally (completed or stopped early), but "
        "{their} metrics are non-finite or missing. Make the training loop fail loudly on a non-finite loss.",
        words=r"status mismatch|marked (?:as )?(?:completed?|finished)|hidden failures?|status says finished",
        colour="#8C510A", marker="P", no_result=True, error_outcome=True, avoidable=True,
        risky_advice="Make the training loop fail loudly on a non-finite loss and rerun a few configurations there: "
        "top trials ran in the same region, so the region alone does not explain these runs.",
        returned_advice="The status of {ids} says {they} ended normally because the objective returned {value} instead "
        "of raising: let the error propagate (the trial is then recorded as failed, with its message) or record the "
        "error with the trial, so that the cause can be read.",
    ),
    IssueType(
        # detectors.detect_status: the status says the run failed, errored or crashed
        "failed", "high", "failed runs", "failed",
        advice="Read the logs of {ids}; a failure with no hyperparameter pattern is often a bug or an "
        "infrastructure error rather than a bad configuration.",
        words=r"fail\w*|crash\w*|errored|exception", colour="#000000", marker="D",
        no_result=True, error_outcome=True, avoidable=True, from_status=True,
        flag_words=("failed", "failure", "crashed", "oom", "errored"),
        risky_advice="Read the logs of the failed runs there: top trials ran in the same region, so a bug, a "
        "resource limit or an infrastructure error is a likelier cause than the configuration.",
    ),
    IssueType(
        # detectors.detect_diverged (final values), curves.detectors.detect_curve_diverged
        "diverged", "high", "diverged losses", "diverged",
        advice="Lower the learning rate or add gradient clipping for configurations like {ids}, whose losses blew up.",
        words=r"diverg\w*|blew up|blown up|explod\w*", colour="#E69F00", marker="^",
        no_result=True, avoidable=True, from_curves=True, flag_words=("diverged", "divergence", "diverge", "exploded"),
        risky_advice="Stabilise the runs there (gradient clipping, a learning-rate warm-up) or narrow the range "
        "around the top trials, and compare seeds before trusting or dropping it.",
    ),
    IssueType(
        # detectors.detect_no_learning: accuracy at chance, or loss stuck at ln(classes);
        # curves.detectors.detect_curve_no_learning: a loss-only run that never improved on its start
        "no_learning", "high", "no learning (chance level)", "no learning",
        advice="Check {ids}: {they} ended at chance level (or {their} loss never improved on where it started). A dead "
        "network (learning rate too high) and one that barely moved (too low) both look like this; compare {their} "
        "learning rates.",
        words=r"no[_ ]learning|did not learn|never learn\w*|at chance|chance level", colour="#CC79A7", marker="s",
        mass_noun=True, no_result=True, avoidable=True, from_curves=True,
        risky_advice="Compare the runs that learned nothing there with the top trials in the same region (seed, "
        "initialisation, schedule, the other hyperparameters) before trusting or dropping it.",
    ),
    IssueType(
        # detectors.detect_no_learning (running-best columns); curves.detectors.chance_on_curves, which reads
        # curves beside the table's chance level (no rule of detect_curve_issues, which sees curves alone)
        "collapsed", "high", "collapsed runs (learned, then fell back to or toward chance)", "collapsed",
        advice="{ids} learned, then fell back to chance level (or most of the way, while the train loss rose too) and "
        "stayed there: their best evaluation was above chance, so their best checkpoint beat the final model. The "
        "usual causes are a learning rate too high for the later phase of training (no decay), no warm-up, or no "
        "gradient clipping; keep the best "
        "checkpoint (early stopping on the held-out metric) either way.",
        words=r"collapsed(?: back)? to chance|fell back to chance|collapsed runs?", colour="#AA4499", marker="H",
        no_result=True, avoidable=True,
        risky_advice="Stabilise the runs there (a lower or decaying learning rate, a warm-up, gradient clipping) and "
        "keep the best checkpoint, and compare seeds before trusting or dropping it.",
    ),
    IssueType(
        # detectors.detect_status: killed, interrupted or preempted
        "killed", "medium", "killed runs", "killed",
        advice="Check the scheduler for {ids}: {they} {were} killed or preempted, so {their} results are missing rather "
        "than bad.",
        words=r"killed|preempt\w*|interrupted|cancel+ed", colour="#555555", marker="v",
        stopped_early=True, from_status=True,
    ),
    IssueType(
        # detectors.detect_status: the run hit a time limit
        "timeout", "medium", "timeouts", "timeout",
        advice="{ids} {were} cut by the time limit: a budget cut, not a failure, so {they} {are} judged by the metrics "
        "{they} reached. Raise the limit only if runs like {them} were still improving when cut.",
        words=r"timed? ?outs?\b|time limit", colour="#777777", marker="<",
        by_design=True, stopped_early=True, from_status=True, flag_words=("timed", "timedout"),
    ),
    IssueType(
        # detectors.detect_overfitting (best_* columns), curves.detectors.detect_curve_overfitting
        "overfitting", "medium", "overfitting", "overfitting",
        advice="Stop earlier (at the best epoch) or add regularisation (weight decay, dropout) for configurations "
        "like {ids}, whose held-out loss rose after its best point while training still improved.",
        words=r"overfit\w*|over-fit\w*", colour="#0072B2", marker="o", mass_noun=True, from_curves=True,
        needs_result=True,
    ),
    IssueType(
        # detectors.detect_generalization_gap: held-out far worse than training, no rise seen
        "generalization_gap", "low", "generalisation gaps", "gap",
        advice="{ids} end{s} with held-out results well below training: a gap, not proof of overfitting (a harder "
        "held-out set, or regularisation and running means measured in train mode, make one too). {curves}",
        words=r"generali[sz]ation gap|held-out gap", colour="#88CCEE", marker="8", needs_result=True,
    ),
    IssueType(
        # detectors.detect_suspicious_validation: validation above training, unexplained
        "suspicious_validation", "low", "suspicious validation scores", "suspicious val.",
        advice="Check the validation split for {ids}: validation scores above training scores (or perfect) often "
        "mean leakage or a mislabeled split.",
        words=r"suspicious", colour="#882255", marker="h", needs_result=True,
    ),
    IssueType(
        # detectors.detect_short_runs: stopped clearly before its own budget, nothing by design
        "short_run", "low", "runs cut short", "cut short",
        advice="Check why {ids} stopped far short of the sweep's budget although {they} did not fail; {their} metrics "
        "come from fewer epochs than a full run's.",
        words=r"short\b|cut short|stopped early", colour="#999933", marker=">", stopped_early=True, needs_result=True,
    ),
    IssueType(
        # detectors.detect_status: still running or pending at export, or abandoned (findings.find_abandoned)
        "running", "low", "unfinished runs", "running",
        advice="Re-run this report later for {ids}: still running or waiting at export, so no outcome yet (compared "
        "nowhere).",
        words=r"still running|pending|queued|unfinished|never finished", colour="#AAAAAA", marker=".",
        by_design=True, pairable=False, no_outcome=True, stopped_early=True, from_status=True,
    ),
    IssueType(
        # curves.detectors.detect_curve_plateau: the loss stalled early and stayed
        "plateau", "low", "early plateaus", "plateau",
        advice="Look at the first epochs of {ids}: {their} loss stalled early (learning rate too low, bad "
        "initialisation or a frozen layer).",
        words=r"plateau\w*|stall\w*", colour="#44AA99", marker="d", avoidable=True, from_curves=True,
        needs_result=True,  # a run that went NaN, blew up or failed shows no plateau: compared among runs that trained
        risky_advice="Compare the stalled runs there with the top trials in the same region (initialisation, "
        "warm-up, the other hyperparameters) before trusting or dropping it.",
    ),
    IssueType(
        # curves.detectors.detect_curve_oscillation: the loss swung up and down, repeatedly
        "oscillation", "low", "oscillating losses", "oscillating",
        advice="Lower the learning rate or raise the batch size for configurations like {ids}, whose loss "
        "oscillates.",
        words=r"oscillat\w*", colour="#56B4E9", marker="*", avoidable=True, from_curves=True,
        risky_advice="Stabilise the runs there (a learning-rate decay or warm-up, a larger batch) or narrow the "
        "range around the top trials, and compare seeds before trusting or dropping it.",
    ),
    IssueType(
        # curves.detectors.detect_curve_still_improving: held-out loss still falling at the end
        "still_improving", "low", "under-trained runs (still improving)", "still improving",
        advice="Give more epochs to {ids}: {their} validation loss was still falling when {they} ended.",
        words=r"still improving|still falling|under-?trained", colour="#009E73", marker="p", from_curves=True,
        needs_result=True, needs_own_end=True,
    ),
    IssueType(
        # detectors.detect_status (status pruned / early-stopped), detect_outcome_flags (early_stopped=true)
        "pruned", "info", "pruned or early-stopped runs", "pruned",
        advice="{ids} were pruned or early-stopped, by design: a pruner stops weak runs, and early stopping fires "
        "sooner where training converges fast (good learning rates, small patience). They are counted, not blamed, "
        "and no advice is built on them.",
        words=r"prun\w*|early[- ]?stop\w*|stopped early", colour="#BBBBBB", marker="1",
        by_design=True, pairable=False, stopped_early=True, from_status=True,
        flag_words=("pruned", "stopped", "earlystopped"),
    ),
)

ISSUE_TYPES: dict[str, IssueType] = {t.name: t for t in _TABLE}
"""Issue type name -> :class:`IssueType`, in the vocabulary's order."""


def issue_type(name: str) -> IssueType:
    """The entry of one type; a name the table does not hold is a programming error (KeyError naming it)."""
    try:
        return ISSUE_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown issue type {name!r}; core/issue_types.py lists: {', '.join(ISSUE_TYPES)}") from None


def severity_of(name: str) -> str:
    """The severity of one issue type."""
    return issue_type(name).severity


def label_of(name: str) -> str:
    """The report's label of an issue type; a name outside the table (an old summary's) is shown as it is."""
    entry = ISSUE_TYPES.get(name)
    return entry.label if entry else name


def agree(name: str, singular: str, plural: str) -> str:
    """The verb form that agrees with a type's label: ``singular`` after a mass noun ("overfitting"), else ``plural``."""
    entry = ISSUE_TYPES.get(name)
    return singular if entry and entry.mass_noun else plural


def concentrate(name: str) -> str:
    """"failed runs concentrate", "overfitting concentrates": the type's label with the verb agreeing."""
    return f"{label_of(name)} {agree(name, 'concentrates', 'concentrate')}"


def names_where(test: Callable[[IssueType], bool]) -> tuple[str, ...]:
    """The names of the types ``test`` holds for, in the vocabulary's order (``names_where(lambda t: t.no_result)``)."""
    return tuple(name for name, entry in ISSUE_TYPES.items() if test(entry))


NO_RESULT = names_where(lambda t: t.no_result)
"""Types after which a trial gave no usable result (failed, non-finite, blew up, learned nothing)."""
NEEDS_RESULT = names_where(lambda t: t.needs_result)
"""Types only a run with a result can show; compared only among such runs."""
NEEDS_OWN_END = names_where(lambda t: t.needs_own_end)
"""Types only a run that ended of its own accord can show; compared only among runs that trained and were not cut."""
CUT_WHILE_TRAINING = ("timeout", "killed")
"""A time limit or the scheduler ended the run while it trained: no evidence of how long it needed."""
NO_OUTCOME = names_where(lambda t: t.no_outcome)
"""Types of a trial with no outcome yet (still running, waiting, abandoned): on no side of a comparison."""
ERROR_OUTCOME = names_where(lambda t: t.error_outcome)
"""What the trials of an error group are flagged as (a pattern of one can explain the group)."""
RETURNED = names_where(lambda t: bool(t.returned_advice))
"""Types an objective's returned worst value shows as (its metric +inf, its status finished): they have returned_advice."""
AVOIDABLE = names_where(lambda t: t.avoidable)
"""Types whose region the next sweep should leave out."""
UNTRAINED = NO_RESULT + NO_OUTCOME
"""A trial with one of these did not train: types only a run with a result can show are compared without it."""
BY_DESIGN = names_where(lambda t: t.by_design)
"""Types that are never a cause (pruned, early-stopped, timed out, unfinished)."""
HIGH_SEVERITY = names_where(lambda t: t.severity == "high")
"""Types after which a run gave no usable result or was cut short of one."""


F = TypeVar("F", bound=Callable[..., Any])


def emits(*names: str) -> Callable[[F], F]:
    """Register a detector against the table: the issue types it can flag, each one that the table holds.

    The names are kept on the function as ``emits`` (a tuple); an unknown name fails at
    import, naming the detector.
    """
    def register(detector: F) -> F:
        unknown = [n for n in names if n not in ISSUE_TYPES]
        if unknown:
            raise ValueError(f"{detector.__name__} emits {', '.join(map(repr, unknown))}, which core/issue_types.py "
                             "does not list")
        detector.emits = tuple(names)  # type: ignore[attr-defined]
        return detector
    return register
