"""Trial-level detectors: each one function from a :class:`TrialTable` to issues.

Every detector returns a frame with the columns of :data:`ISSUE_COLUMNS` (one row per
flagged trial) and is listed in :data:`DETECTORS`; adding a detector is writing one
function and appending it there. Rules and thresholds are documented on each, and
every threshold is a field of :class:`Thresholds` (recorded in the summary).

The issue types themselves (severity, labels, advice, how the analysis treats them) are
the table of :mod:`core.issue_types`; each detector registers the types it emits with
:func:`core.issue_types.emits`, and its docstring is the rule.

Curve-based types (plateau, oscillation, still_improving, and curve evidence for
the types above) come from :mod:`core.curves.detectors` when per-epoch curves are given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.issue_types import ISSUE_TYPES, NEEDS_RESULT, NO_RESULT, emits, names_where
from core.roles import canonical, is_classification_accuracy, is_regression_loss, is_running_best, tokens
from core.table import TrialTable
from core.values import describe_value, format_number

ISSUE_COLUMNS = ["trial_id", "type", "severity", "detail"]

#: Error text that says a metric went non-finite ("Loss is NaN", "non-finite loss").
NONFINITE_TEXT = re.compile(r"non-?finite|\bnan\b|\binf(?:inity)?\b|overflow", re.IGNORECASE)


@dataclass(frozen=True)
class Thresholds:
    """Detector thresholds (the defaults are the documented rules).

    Attributes
    ----------
    overfit_ratio : held-out loss / training loss at or above which a trial overfits.
    overfit_min_epochs : trials with fewer epochs are not judged for overfitting.
    accuracy_gap : training minus held-out accuracy at or above which a trial overfits
        while its training accuracy is at most ``accuracy_gap_switch``...
    accuracy_gap_high : ...and the gap used above it (a 7-point gap at 95 % training
        accuracy is as telling as 10 points at 80 %).
    accuracy_gap_switch : training accuracy where the gap rule switches.
    suspicious_margin : held-out accuracy this far above training accuracy is suspicious
        (dropout and augmentation explain a few points, not more).
    suspicious_accuracy : held-out accuracy at or above this is implausibly perfect.
    chance_margin : accuracy within this of chance (1/classes) is "no learning".
    stuck_loss_tolerance : a loss within this relative distance of ln(classes) is stuck
        at the loss of a uniform prediction.
    n_classes : number of classes when known (``--classes``); else inferred from a
        cluster of trials sitting exactly at 1/C accuracy or ln(C) loss.
    diverge_factor : a loss this many times the sweep's median loss has diverged.
    diverge_abs : a loss at or above this value has diverged, whatever the median.
    short_run_fraction : a run with fewer epochs than this fraction of its own planned
        budget (``max_epochs``...), or without one of the sweep's median epochs, is short.
    short_runtime_fraction : without epochs, a run shorter than this fraction of the
        median runtime of the trials with the same searched hyperparameters is short,
        when under a quarter of them ran that short (runtime varies with the
        configuration, so this is stricter).
    overfit_rise : with a running-best column (``best_val_loss``), the final held-out
        loss at least this fraction above its best is a rise (overfitting).
    overfit_best_before : with ``best_epoch``, the best must lie before this fraction of
        the epochs trained (a best in the last epochs is no rise after it).
    overfit_acc_drop : with ``best_val_acc``, a final held-out accuracy at least this far
        below its best is a fall (overfitting).
    no_learning_r2 : regression: a held-out r2 at or below this (no better than the mean
        predictor) ...
    no_learning_train_r2 : ... with a train r2 at or below this (or unknown) learned nothing.
    running_gap : held-out accuracy above a train-mode running train accuracy (Keras
        ``accuracy``, names with running/batch/step) is explained up to this gap.
    chance_floor_share : an inferred chance level is a floor: at most this share of the
        finite held-out accuracies may lie below it (by more than ``chance_margin``).
    diverge_trivial_factor : a loss this many times the trivial predictor's (ln C or the
        prior's entropy when the classes are known; the mean predictor's in regression)
        has diverged.
    """

    overfit_ratio: float = 1.5
    overfit_min_epochs: float = 5
    accuracy_gap: float = 0.10
    accuracy_gap_high: float = 0.07
    accuracy_gap_switch: float = 0.9
    suspicious_margin: float = 0.05
    suspicious_accuracy: float = 0.999
    chance_margin: float = 0.02
    stuck_loss_tolerance: float = 0.01
    n_classes: int | None = None
    diverge_factor: float = 100.0
    diverge_abs: float = 1e5
    short_run_fraction: float = 0.5
    short_runtime_fraction: float = 0.1
    overfit_rise: float = 0.1
    overfit_best_before: float = 0.8
    overfit_acc_drop: float = 0.03
    no_learning_r2: float = 0.0
    no_learning_train_r2: float = 0.2
    running_gap: float = 0.15
    chance_floor_share: float = 0.05
    diverge_trivial_factor: float = 10.0

    def to_dict(self) -> dict[str, float | None]:
        """JSON-native form, as recorded in the summary."""
        return asdict(self)


Detector = Callable[[TrialTable, Thresholds], pd.DataFrame]
Describe = Callable[[np.ndarray], list[str]]
"""Detail text for the given rows (positions in the table) of a detector's hits."""


def _issues(table: TrialTable, kind: str, *fragments: tuple[np.ndarray, Describe]) -> pd.DataFrame:
    """Issue rows for the trials any fragment's mask flags.

    Each fragment is ``(mask, describe)``; ``describe`` is called once, only on the
    rows its mask flags (detail text is built for hits alone, so a detector costs
    little on a million healthy trials), and a trial's detail joins its fragments with
    ``"; "``.
    """
    masks = [np.asarray(m, dtype=bool) for m, _ in fragments]
    hits = np.logical_or.reduce(masks) if masks else np.zeros(len(table), dtype=bool)
    rows = np.flatnonzero(hits)
    pieces = []
    for mask, (_, describe) in zip(masks, fragments):
        text = np.full(len(rows), "", dtype=object)
        inside = np.flatnonzero(mask[rows])
        if len(inside):
            text[inside] = describe(rows[inside])
        pieces.append(text)
    if len(pieces) == 1:
        detail = list(pieces[0])
    else:
        detail = ["; ".join(t for t in parts if t) for parts in zip(*pieces)] if pieces else []
    return pd.DataFrame(
        {"trial_id": table.ids.to_numpy()[rows], "type": kind, "severity": ISSUE_TYPES[kind].severity, "detail": detail,
         "row": rows},
        columns=[*ISSUE_COLUMNS, "row"],
    )


def _none() -> pd.DataFrame:
    return pd.DataFrame(columns=[*ISSUE_COLUMNS, "row"])


def _numbers(values: pd.Series | np.ndarray, rows: np.ndarray) -> list[str]:
    return [format_number(v) for v in np.asarray(values, dtype=float)[rows]]


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _nonfinite_cells(table: TrialTable) -> np.ndarray:
    values = table.metrics.to_numpy(dtype=float)
    return ~np.isfinite(values) & ~table.missing.to_numpy(dtype=bool)


def _status_words(table: TrialTable, rows: np.ndarray) -> list[str]:
    words = table.status_raw.to_numpy()[rows]
    quoted = {w: "status " + _quote("" if w is None else w) for w in set(words)}
    return [quoted[w] for w in words]


@emits("nonfinite_metric")
def detect_nonfinite(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """A metric reported as NaN, +inf or -inf, or an error text saying so.

    An empty cell is missing, not NaN. ``detail`` names each non-finite metric and its
    value (``val_loss=+inf``); a trial whose error text matches :data:`NONFINITE_TEXT`
    ("Loss is NaN", "non-finite loss") is flagged with that text quoted. A run that
    failed before its first epoch (status failed, 0 epochs) reported nothing: its
    ``nan`` cells are placeholders, and it is ``failed`` only.
    """
    values = table.metrics.to_numpy(dtype=float)
    flagged = _nonfinite_cells(table)
    if table.epochs is not None:
        flagged = flagged & ~((table.status == "failed").to_numpy() & (table.epochs.to_numpy(dtype=float) == 0))[:, None]
    columns = list(table.metrics.columns)

    def metrics_text(rows: np.ndarray) -> list[str]:
        # Each row's pattern (per metric: fine, NaN, +inf or -inf) as one integer; each
        # distinct pattern is spelled once.
        v = values[rows]
        kind = np.where(~flagged[rows], 0, np.where(np.isnan(v), 1, np.where(v > 0, 2, 3)))
        code = kind @ (4 ** np.arange(len(columns)))
        spelled = {c: ", ".join(f"{columns[j]}={describe_value(v[i, j])}" for j in np.flatnonzero(kind[i]))
                   for c, i in zip(*np.unique(code, return_index=True))}
        return [spelled[c] for c in code]

    fragments: list[tuple[np.ndarray, Describe]] = [(flagged.any(axis=1), metrics_text)]
    if table.errors is not None:
        errors = table.errors.fillna("")
        said = errors.str.contains(NONFINITE_TEXT).to_numpy(dtype=bool)
        fragments.append((said, lambda rows: ["error text " + _quote(t) for t in errors.to_numpy()[rows]]))
    return _issues(table, "nonfinite_metric", *fragments)


@emits("status_mismatch")
def detect_status_mismatch(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """A hidden failure: the status says it ended well, the metrics say otherwise.

    Flags trials whose status is ``completed`` (or unknown, when the table has a
    status column) and that reported a non-finite metric or no finite metric at all,
    and trials stopped early (``pruned``, including "early_stopped") whose metrics are
    non-finite: in real sweeps a NaN validation loss "never improves", so the run is
    early-stopped and marked as finished. Without a status column, a row with no metric
    at all (every metric cell empty) is flagged too: a run that gave no result, whatever
    it was.
    """
    if table.metrics.shape[1] == 0:
        return _none()
    if table.roles.status is None:
        empty = table.missing.to_numpy(dtype=bool).all(axis=1)
        return _issues(table, "status_mismatch", (empty, lambda rows: [
            "no status column and no metric reported: the run gave no result"] * len(rows)))
    values = table.metrics.to_numpy(dtype=float)
    nonfinite = _nonfinite_cells(table).any(axis=1)
    no_finite = ~np.isfinite(values).any(axis=1)
    ended_well = table.status.isin(["completed", "unknown"]).to_numpy()
    pruned = (table.status == "pruned").to_numpy()
    mask = (ended_well & (nonfinite | no_finite)) | (pruned & nonfinite)

    def describe(rows: np.ndarray) -> list[str]:
        return [w + (" but a metric is non-finite" if nonfinite[i] else " but no metric was reported")
                for w, i in zip(_status_words(table, rows), rows)]

    return _issues(table, "status_mismatch", (mask, describe))


@emits(*names_where(lambda t: t.from_status))
def detect_status(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Runs whose normalised status is failed, killed, timeout, running or pruned.

    The status word is quoted in ``detail``, followed by the last line of the error
    message when the table has an error column.
    """
    def describe(rows: np.ndarray) -> list[str]:
        words = _status_words(table, rows)
        if table.errors is None:
            return words
        errors = table.errors.to_numpy()[rows]
        return [w + (f"; {_quote(e.strip().splitlines()[-1])}" if e and e.strip() else "") for w, e in zip(words, errors)]

    status = table.status.to_numpy()
    return pd.concat([_issues(table, kind, (status == kind, describe)) for kind in detect_status.emits],
                     ignore_index=True)


def is_r2(name: str) -> bool:
    """Whether a score column is an r2 / explained variance (``val_r2``, ``test_explained_variance``)."""
    return bool({"r2", "rsquared"} & set(tokens(name)) or any(p in canonical(name) for p in (
        "explained_variance", "r_squared", "r_2", "coefficient_of_determination")))


def r2_column(table: TrialTable, split: str) -> str | None:
    """The r2 / explained-variance column of a split (``val_r2``, ``test_explained_variance``), or None."""
    return next((c for c, m in table.roles.metrics.items()
                 if m.kind == "score" and m.split == split and not is_running_best(c) and is_r2(c)), None)


def _held_out_r2(table: TrialTable) -> str | None:
    return r2_column(table, "val") or r2_column(table, "test")


@emits("diverged")
def detect_diverged(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """A finite loss far above any sensible value: the optimisation blew up.

    Judged against the trivial predictor's loss wherever it is known: with the classes
    known or inferred (:func:`chance_level`), a classification loss >=
    ``diverge_trivial_factor`` (10) x the loss of predicting the class prior (ln C when
    balanced). Regression, rather than a sweep-wide median (targets of different scales
    make that meaningless): where a split has an r2 (or explained-variance) column, its
    losses are not judged by the median, and an r2 <= 1 - ``diverge_trivial_factor`` (a
    squared error >= 10x the mean predictor's) has diverged. Otherwise a loss >=
    ``diverge_factor`` (100) x the sweep's median of that loss; and any loss >=
    ``diverge_abs`` (1e5).
    Non-finite losses are ``nonfinite_metric``, not this.
    """
    classes, _, trivial, _ = chance_level(table, thresholds)
    fragments = []
    r2_splits = {split: col for split in ("train", "val", "test") if (col := r2_column(table, split))}
    for col, info in table.roles.metrics.items():
        if info.kind != "loss" or info.split in r2_splits:
            continue
        loss = table.metrics[col].to_numpy(dtype=float)
        finite = loss[np.isfinite(loss) & (loss > 0)]
        median = float(np.median(finite)) if len(finite) else 0.0
        if classes and not is_regression_loss(col):
            # the trivial predictor's loss is known: judge against it, not against the sweep
            reference, factor, what = trivial, thresholds.diverge_trivial_factor, "the trivial predictor's loss"
        else:
            reference, factor, what = median, thresholds.diverge_factor, f"the sweep median {format_number(median)}"
        limit = min(thresholds.diverge_abs, factor * reference) if reference > 0 else thresholds.diverge_abs

        def describe(rows: np.ndarray, col: str = col, loss: np.ndarray = loss, reference: float = reference,
                     what: str = what) -> list[str]:
            with np.errstate(over="ignore"):  # 1e308 over a tiny reference is inf times, as meant
                ratio = [f" ({format_number(v / reference)}x {what})" if reference > 0 else "" for v in loss[rows]]
            return [f"{col}={v}{r}" for v, r in zip(_numbers(loss, rows), ratio)]

        fragments.append((np.isfinite(loss) & (loss >= limit), describe))
    for r2_col in r2_splits.values():
        r2 = table.metrics[r2_col].to_numpy(dtype=float)

        def r2_text(rows: np.ndarray, r2_col: str = r2_col, r2: np.ndarray = r2) -> list[str]:
            return [f"{r2_col}={v}: squared error {format_number(1 - float(v))}x the mean predictor's"
                    for v in _numbers(r2, rows)]

        fragments.append((np.isfinite(r2) & (r2 <= 1 - thresholds.diverge_trivial_factor), r2_text))
    return _issues(table, "diverged", *fragments)


def accuracy_fraction(table: TrialTable, column: str) -> pd.Series:
    """An accuracy column as a fraction in [0, 1] (a column with values above 1 is in %)."""
    return as_fraction(table.metrics[column])


def as_fraction(values: pd.Series | np.ndarray) -> pd.Series | np.ndarray:
    """Accuracies as fractions in [0, 1]: divided by 100 when their largest finite value is above 1 (in %)."""
    finite = values[np.isfinite(values)]
    top = finite.max() if len(finite) else np.nan
    return values / 100.0 if 1.0 < top <= 100.0 else values


def learned_beyond_chance(top_acc: np.ndarray, low_loss: np.ndarray, chance: float, stuck: float,
                          thresholds: Thresholds) -> np.ndarray:
    """Per trial: whether its best held-out result shows it learned something.

    Its best held-out accuracy (a fraction) above chance + ``chance_margin``, or its
    best held-out loss more than ``stuck_loss_tolerance`` below the trivial loss
    ``stuck``; NaN is no evidence. Read from running-best columns
    (:func:`_learned_at_best`) or from the best of a smoothed curve
    (:func:`core.curves.detectors.chance_on_curves`).
    """
    with np.errstate(invalid="ignore"):
        return (top_acc > chance + thresholds.chance_margin) | (low_loss < (1 - thresholds.stuck_loss_tolerance) * stuck)


_NOT_CLASSIFICATION_LOSS = {"contrastive", "clip", "infonce", "nce", "ntxent", "triplet", "simclr", "moco",
                            "margin", "hinge", "kl", "kld", "recon", "reconstruction", "vae", "elbo", "lm", "mlm"}


def can_be_cross_entropy(name: str) -> bool:
    """Whether a loss column can be a classification cross-entropy, by its name.

    Not a regression, contrastive, reconstruction or language-model loss.
    """
    return not (is_regression_loss(name) or set(tokens(name)) & _NOT_CLASSIFICATION_LOSS)


def class_pair(table: TrialTable) -> tuple[str | None, str | None]:
    """The held-out classification (accuracy, loss) pair the chance-level rules use.

    The accuracy is a classification accuracy (acc/accuracy/top1: not AUC or F1), of
    the held-out loss's split when there is one; the loss is a held-out loss that can be
    a cross-entropy. When the held-out loss is not one (a regression error, a
    contrastive, reconstruction or language-model loss, or the sweep has an r2), the
    sweep is not a classification and nothing is judged against 1/C: accuracy-named
    columns there are downstream scores.
    """
    roles = table.roles
    loss = roles.metric("loss", held_out=True)
    if loss and (not can_be_cross_entropy(loss) or _held_out_r2(table)):
        return None, None  # the objective is not a classification: accuracy-named scores are downstream
    split = roles.metrics[loss].split if loss else None
    accs = [c for c, m in roles.metrics.items() if m.kind == "accuracy" and m.split in ("val", "test")
            and not is_running_best(c) and is_classification_accuracy(c)]
    acc = next((c for c in accs if roles.metrics[c].split == split), None) if split else None
    return acc or next(iter(sorted(accs, key=lambda c: roles.metrics[c].split != "val")), None), loss


def infer_classes(table: TrialTable, thresholds: Thresholds) -> tuple[int | None, str]:
    """The number of classes: given, or read off trials that sit exactly at chance (see :func:`chance_level`)."""
    classes, _, _, how = chance_level(table, thresholds)
    return classes, how


def chance_level(table: TrialTable, thresholds: Thresholds) -> tuple[int | None, float, float, str]:
    """``(C or None, chance accuracy, loss of predicting the prior, how)``, or ``(None, nan, nan, "")``.

    Given ``n_classes``: 1/C and ln(C). Else inferred from the held-out classification
    pair (:func:`class_pair`), where dead networks land exactly: at least 3 trials (and
    2 % of the sweep) with an accuracy within 0.005 of 1/C for one integer C in 2..1000;
    or, failing that, with a loss within 0.005 of ln(C) and an accuracy within 0.005 of
    1/C for most of them (a loss alone proves nothing: a contrastive loss over 128 pairs
    sits at ln 128 with no 128 classes); or, for two classes, a cluster of trials at one
    exact accuracy v > 0.5 (predicting the majority class) whose loss is within 10 % of
    the binary entropy of v; or, failing all of these, many runs of different
    configurations ending at one identical lowest accuracy, a constant predictor's
    score (:func:`_majority_share`: C is None then, the trivial loss NaN and chance
    that accuracy). Chance is a floor: when more than
    ``chance_floor_share`` (5 %) of the finite accuracies lie below it by more than
    ``chance_margin``, the cluster is an ordinary value, not chance.
    """
    if thresholds.n_classes:
        c = int(thresholds.n_classes)
        return c, 1.0 / c, float(np.log(c)), "given"
    none = (None, float("nan"), float("nan"), "")
    need = max(3, int(np.ceil(0.02 * len(table))))
    acc_col, loss_col = class_pair(table)
    if acc_col is None:
        return none
    acc_all = accuracy_fraction(table, acc_col).to_numpy(dtype=float)
    finite_acc = acc_all[np.isfinite(acc_all)]

    def floor_holds(chance: float) -> bool:
        return bool(len(finite_acc)) and float(np.mean(finite_acc < chance - thresholds.chance_margin)) <= \
            thresholds.chance_floor_share

    acc = acc_all[np.isfinite(acc_all) & (acc_all > 0) & (acc_all <= 0.5)]
    c = np.round(1.0 / acc)
    close = (np.abs(acc - 1.0 / c) <= 0.005) & (c >= 2) & (c <= 1000)
    found = _most_common(c[close], need)
    if found and floor_holds(1.0 / found[0]):
        return found[0], 1.0 / found[0], float(np.log(found[0])), f"{found[1]} trials at {acc_col} ≈ 1/{found[0]}"
    loss = table.metrics[loss_col].to_numpy(dtype=float) if loss_col else np.full(len(table), np.nan)
    if loss_col:
        ok = np.isfinite(loss) & (loss >= np.log(2) - 0.01) & (loss <= np.log(1000) + 0.01)
        c_all = np.where(ok, np.round(np.exp(np.where(ok, loss, 0.0))), 0.0)
        at_ln = ok & (np.abs(loss - np.log(np.maximum(c_all, 1))) <= 0.005)
        found = _most_common(c_all[at_ln], need)
        if found:
            members = at_ln & (c_all == found[0])
            with np.errstate(invalid="ignore"):
                supported = np.abs(acc_all[members] - 1.0 / found[0]) <= 0.005
            if supported.sum() >= max(need, 0.5 * members.sum()) and floor_holds(1.0 / found[0]):
                return (found[0], 1.0 / found[0], float(np.log(found[0])),
                        f"{found[1]} trials at {loss_col} ≈ ln({found[0]}) with {acc_col} ≈ 1/{found[0]}")
        # two classes, unbalanced: dead networks predict the majority class
        high = np.isfinite(acc_all) & (acc_all > 0.5) & (acc_all < 1.0)
        if high.sum() >= need:
            values, counts = np.unique(np.round(acc_all[high], 6), return_counts=True)
            v = float(values[np.argmax(counts)])
            members = high & (np.round(acc_all, 6) == v)
            entropy = -(v * np.log(v) + (1 - v) * np.log(1 - v))
            with np.errstate(invalid="ignore"):
                supported = np.abs(loss[members] - entropy) <= 0.1 * entropy
            if counts.max() >= need and supported.sum() >= max(need, 0.5 * members.sum()) and floor_holds(v):
                return (2, v, float(entropy), f"{int(members.sum())} trials at {acc_col} = {format_number(v)} "
                        f"(the majority class) with {loss_col} ≈ its entropy {format_number(entropy)}")
    majority = _majority_share(table, acc_col, acc_all, loss, need, thresholds)
    return (None, majority[0], float("nan"), majority[1]) if majority else none


def _majority_share(table: TrialTable, acc_col: str, acc: np.ndarray, loss: np.ndarray, need: int,
                    thresholds: Thresholds) -> tuple[float, str] | None:
    """``(v, how)`` when many different runs end at one identical lowest held-out accuracy v: a constant predictor.

    A network that predicts one class whatever its input scores exactly that class's
    share of the held-out set, the same value to the last digit for every run that ends
    so, whatever its configuration; a network that learned anything lands anywhere. So:
    at least ``max(need, 5)`` trials (and 5 % of the finite accuracies) at one accuracy
    v (identical to 1e-6), from at least 3 different hyperparameter configurations, v
    the lowest such value; v is a floor for the runs that fit the held-out data at
    least as well as those trials do (at most ``chance_floor_share`` of the finite
    accuracies below v - ``chance_margin``, not counting runs whose held-out loss is
    above every one of those trials' losses: a network that fits worse than a constant
    one, e.g. one that blew up or constantly predicts a rarer class, scores anything); and where a train accuracy
    is logged, at least 80 % of those trials share one train accuracy too (within
    0.001: the same class's share of the training data) and the other trials' median
    train accuracy is above it by more than ``chance_margin`` (a run that learned fits
    its training data better than a constant predictor), else v <= 0.5 (a cluster of
    good results on a small held-out set also repeats one value). The number of classes
    and the trivial loss stay unknown (the class prior is not known): the returned
    chance level is v.
    """
    finite = np.isfinite(acc) & (acc > 0) & (acc < 1)
    if not finite.any():
        return None
    rounded = np.round(acc, 6)
    values, counts = np.unique(rounded[finite], return_counts=True)
    big = values[counts >= max(need, 5, int(np.ceil(0.05 * finite.sum())))]
    if not len(big):
        return None
    v = float(big[0])
    members = finite & (rounded == v)
    fit = loss[members & np.isfinite(loss)]
    with np.errstate(invalid="ignore"):
        worse = loss > fit.max() if len(fit) else np.zeros(len(acc), dtype=bool)
    if np.sum(finite & (acc < v - thresholds.chance_margin) & ~worse) > thresholds.chance_floor_share * finite.sum():
        return None
    configs = table.hyperparameters[members].astype(str).drop_duplicates() if table.hyperparameters.shape[1] else None
    if configs is None or len(configs) < 3:
        return None
    pair = table.roles.accuracy_pair()
    train_all = accuracy_fraction(table, pair[0]).to_numpy(dtype=float) if pair else np.full(len(acc), np.nan)
    train, others = train_all[members], train_all[~members]
    train, others = train[np.isfinite(train)], others[np.isfinite(others)]
    if len(train):
        share = float(np.median(train))
        if np.mean(np.abs(train - share) <= 1e-3) < 0.8 or not (
                len(others) and np.median(others) > share + thresholds.chance_margin):
            return None
    elif v > 0.5:
        return None
    return float(np.mean(acc[members])), (
        f"{int(members.sum())} trials of different configurations end at {acc_col} = {format_number(v)} exactly, "
        "the lowest value any group of trials shares: the majority class share, a constant predictor")


def _most_common(values: np.ndarray, need: int) -> tuple[int, int] | None:
    if len(values) < need:
        return None
    uniques, counts = np.unique(values, return_counts=True)
    best = int(np.argmax(counts))
    return (int(uniques[best]), int(counts[best])) if counts[best] >= need else None


@emits("no_learning", "collapsed")
def detect_no_learning(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """The network learned nothing, judged on the main held-out metric, not on every score.

    Classification, with C classes (given or inferred, see :func:`infer_classes`), on the
    held-out classification pair (:func:`class_pair`): accuracy <= 1/C +
    ``chance_margin`` (0.02), or loss within ``stuck_loss_tolerance`` (1 %, relative) of
    ln(C). Other accuracy-like columns (downstream or zero-shot scores, AUC, F1) are
    never judged against chance. A trial whose running-best held-out accuracy or loss
    was past those bounds learned and then fell back to chance: it is ``collapsed``, not
    this (:func:`_learned_at_best`; with curves, :func:`core.curves.detectors.chance_on_curves`
    decides from the curve).

    Regression, with a held-out r2 (or explained variance): r2 <= ``no_learning_r2`` (0:
    no better than predicting the mean) while the train r2, when there is one, is <=
    ``no_learning_train_r2`` (0.2; a high train r2 is a generalisation problem, not a
    failure to learn). A regression run that diverged (see :func:`detect_diverged`) is
    that instead.

    Dead or saturated networks (learning rate too high) and networks that barely moved
    (too low) both land here; the association statistics tell them apart. Trials with
    a non-finite metric are left to ``nonfinite_metric``.
    """
    judged = ~_nonfinite_cells(table).any(axis=1)
    fragments = []
    r2_col = _held_out_r2(table)
    if r2_col:
        r2 = table.metrics[r2_col].to_numpy(dtype=float)
        train_col = r2_column(table, "train")
        train = table.metrics[train_col].to_numpy(dtype=float) if train_col else np.full(len(table), np.nan)
        with np.errstate(invalid="ignore"):
            flat = (judged & np.isfinite(r2) & (r2 <= thresholds.no_learning_r2) & (r2 > 1 - thresholds.diverge_factor)
                    & ~(train > thresholds.no_learning_train_r2))

        def r2_text(rows: np.ndarray) -> list[str]:
            tail = [f", {train_col}={t}" if train_col else "" for t in _numbers(train, rows)]
            return [f"{r2_col}={v}{t}: no better than predicting the mean" for v, t in zip(_numbers(r2, rows), tail)]

        fragments.append((flat, r2_text))
    level = chance_level(table, thresholds)
    at_chance = _at_chance(table, thresholds, level)
    if not at_chance:
        return _issues(table, "no_learning", *fragments) if fragments else _none()
    acc_col, loss_col = class_pair(table)
    learned = _learned_at_best(table, acc_col, loss_col, level[1], level[2], thresholds)
    fragments += [(m & judged & ~learned, d) for m, d in at_chance]
    flat = _issues(table, "no_learning", *fragments)
    collapsed = _issues(table, "collapsed", *[(m & judged & learned, d) for m, d in at_chance])
    if collapsed.empty:
        return flat
    collapsed["detail"] += _best_text(table, acc_col, loss_col)(collapsed["row"].to_numpy())
    return pd.concat([flat, collapsed], ignore_index=True)


def _at_chance(table: TrialTable, thresholds: Thresholds,
               level: tuple[int | None, float, float, str]) -> list[tuple[np.ndarray, Describe]]:
    """``(mask, describe)`` of the trials whose final held-out classification result is at chance.

    Accuracy <= chance + ``chance_margin``, loss within ``stuck_loss_tolerance`` of the
    trivial loss (see :func:`detect_no_learning`); ``level`` is :func:`chance_level`'s;
    empty when chance is unknown; no loss bound when the trivial loss is unknown (a
    chance level read off a constant predictor's accuracy, :func:`_majority_share`).
    """
    classes, chance, stuck, _ = level
    if not np.isfinite(chance):
        return []
    acc_col, loss_col = class_pair(table)
    balanced = bool(classes) and abs(chance - 1.0 / classes) < 1e-9
    found: list[tuple[np.ndarray, Describe]] = []
    if acc_col:
        acc = accuracy_fraction(table, acc_col).to_numpy(dtype=float)
        raw = table.metrics[acc_col]
        said = f"1/{classes}" if balanced else f"the majority class share {format_number(chance)}"
        found.append((acc <= chance + thresholds.chance_margin,
                      lambda rows: [f"{acc_col}={v} at chance ({said})" for v in _numbers(raw, rows)]))
    if loss_col and np.isfinite(stuck):
        loss = table.metrics[loss_col].to_numpy(dtype=float)
        named = f"ln({classes})" if balanced else "the entropy of the class prior"
        found.append((np.abs(loss - stuck) <= thresholds.stuck_loss_tolerance * stuck,
                      lambda rows: [f"{loss_col}={v} ≈ {named} = {format_number(stuck)}" for v in _numbers(loss, rows)]))
    return found


def _best_text(table: TrialTable, acc_col: str | None, loss_col: str | None) -> Describe:
    """"; it had learned: best_val_acc=0.91": the running-best values that show it (:func:`_learned_at_best`)."""
    bests = [b for b in (table.roles.best_of(c) if c else None for c in (acc_col, loss_col)) if b]

    def text(rows: np.ndarray) -> list[str]:
        parts = zip(*([f"{b}={v}" for v in _numbers(table.metrics[b], rows)] for b in bests))
        return ["; it had learned: " + ", ".join(p) for p in parts]

    return text


def _learned_at_best(table: TrialTable, acc_col: str | None, loss_col: str | None, chance: float, stuck: float,
                     thresholds: Thresholds) -> np.ndarray:
    """Trials whose running-best held-out result was above chance: they learned, then lost it.

    Read from the running-best columns of the held-out classification pair
    (``acc_col``, ``loss_col``: :func:`class_pair`), when the table has them
    (``best_val_acc`` above ``chance + chance_margin``, ``best_val_loss`` more than
    ``stuck_loss_tolerance`` below the trivial loss). A run that learned and
    then collapsed to chance did not fail to learn: it is ``collapsed``
    (:func:`detect_no_learning`).
    """
    best_acc = table.roles.best_of(acc_col) if acc_col else None
    best_loss = table.roles.best_of(loss_col) if loss_col else None
    none = np.full(len(table), np.nan)
    top = accuracy_fraction(table, best_acc).to_numpy(dtype=float) if best_acc else none
    low = table.metrics[best_loss].to_numpy(dtype=float) if best_loss else none
    return learned_beyond_chance(top, low, chance, stuck, thresholds)


def _judged_for_fit(table: TrialTable, thresholds: Thresholds) -> np.ndarray:
    judged = ~_nonfinite_cells(table).any(axis=1)
    if table.epochs is not None:
        judged &= ~(table.epochs.to_numpy(dtype=float) < thresholds.overfit_min_epochs)
    return judged


@emits("overfitting")
def detect_overfitting(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """The held-out result got worse after its best point while training went on improving.

    Needs the best value next to the final one: a running-best column of the held-out
    loss (``best_val_loss``, ``val/loss.min``; see :func:`core.roles.is_running_best`).
    Loss rule: final held-out loss >= (1 + ``overfit_rise``, 10 %) x its best, and the
    final training loss (when there is one) below the final held-out loss. Accuracy
    rule: final held-out accuracy at least ``overfit_acc_drop`` (0.03) below its best
    (``best_val_acc``) and training accuracy above it. With ``best_epoch``, the best must
    lie before ``overfit_best_before`` (80 %) of the epochs trained. Trials with fewer
    than ``overfit_min_epochs`` epochs, or a non-finite metric, are not judged. A run
    that early-stopped and restored its best weights shows no rise, and is not flagged.

    A mere final gap between training and held-out results is not overfitting
    (:func:`detect_generalization_gap`); with curves, the curve rule
    (:func:`core.curves.detectors.detect_curve_overfitting`) replaces this one for the trials it
    can judge.
    """
    judged = _judged_for_fit(table, thresholds)
    if table.best_epoch is not None and table.epochs is not None:
        best_at, trained = table.best_epoch.to_numpy(dtype=float), table.epochs.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            judged &= ~(best_at > thresholds.overfit_best_before * trained)
    roles = table.roles
    fragments = []
    held = roles.metric("loss", held_out=True)
    best = roles.best_of(held) if held else None
    if held and best:
        final, low = (table.metrics[c].to_numpy(dtype=float) for c in (held, best))
        train_col = roles._metric("loss", "train")
        train = table.metrics[train_col].to_numpy(dtype=float) if train_col else np.full(len(table), -np.inf)
        with np.errstate(invalid="ignore"):
            rose = judged & (low > 0) & (final >= (1 + thresholds.overfit_rise) * low) & (train < final)

        def loss_text(rows: np.ndarray) -> list[str]:
            return [f"{held}={f} rose {100 * (float(f) / float(b) - 1):.0f}% above its best {best}={b}"
                    for f, b in zip(_numbers(final, rows), _numbers(low, rows))]

        fragments.append((rose, loss_text))
    held_acc = roles.metric("accuracy", held_out=True)
    best_acc = roles.best_of(held_acc) if held_acc else None
    if held_acc and best_acc:
        final_acc, top = (accuracy_fraction(table, c).to_numpy(dtype=float) for c in (held_acc, best_acc))
        train_acc_col = roles._metric("accuracy", "train")
        train_acc = (accuracy_fraction(table, train_acc_col).to_numpy(dtype=float) if train_acc_col
                     else np.full(len(table), np.inf))
        with np.errstate(invalid="ignore"):
            fell = judged & (final_acc <= top - thresholds.overfit_acc_drop) & (train_acc > final_acc)
        fragments.append((fell, lambda rows: [f"{held_acc}={f} fell below its best {best_acc}={b}" for f, b in zip(
            _numbers(table.metrics[held_acc], rows), _numbers(table.metrics[best_acc], rows))]))
    if best_epoch_text := _best_epoch_text(table):
        fragments = [(m, lambda rows, d=d: [f"{t} ({e})" for t, e in zip(d(rows), best_epoch_text(rows))])
                     for m, d in fragments]
    return _issues(table, "overfitting", *fragments)


def _best_epoch_text(table: TrialTable) -> Describe | None:
    if table.best_epoch is None:
        return None
    col, values = table.roles.best_epoch, table.best_epoch

    def text(rows: np.ndarray) -> list[str]:
        return [f"{col}={v}: stop there" for v in _numbers(values, rows)]

    return text


@emits("generalization_gap")
def detect_generalization_gap(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Held-out results far worse than training at the end: a gap, not proof of overfitting.

    Loss rule: held-out loss / training loss >= ``overfit_ratio`` (1.5), both finite; a
    training loss of exactly 0 with a positive held-out loss counts as an infinite
    ratio (a memorised training set must not hide a trial). Accuracy rule, only for the
    trials the loss rule cannot judge (no train/held-out loss pair, either loss not
    finite, or a ratio that means nothing: a negative training loss, both losses 0):
    training minus held-out accuracy >= ``accuracy_gap`` (0.10) while training
    accuracy <= ``accuracy_gap_switch`` (0.9), else >= ``accuracy_gap_high`` (0.07). The
    loss is the quantity trained; an accuracy gap beside a small loss gap comes from
    where the decision threshold cuts (a few confident training points, a harder
    test set), and a train-mode running accuracy under dropout widens it by design
    (DeepOBS CIFAR-100: 10-13 points with a test/train loss ratio well below 1.5). Trials with fewer
    than ``overfit_min_epochs`` epochs, or a non-finite metric, are not judged. Low
    severity: a gap also comes from a harder held-out set, or regularisation measured
    in train mode; only a rise after the best point (:func:`detect_overfitting`) is
    overfitting, and a trial that overfits is not also given a gap.
    """
    judged = _judged_for_fit(table, thresholds)
    fragments = []
    pair = table.roles.loss_pair()
    if pair:
        train, held_out = (table.metrics[c].to_numpy(dtype=float) for c in pair)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # 1e308 / 1e-38 is inf, as meant
            ratio = np.where(train > 0, held_out / train, np.where((train == 0) & (held_out > 0), np.inf, np.nan))

        def loss_text(rows: np.ndarray) -> list[str]:
            return [f"{pair[1]}/{pair[0]} = {_ratio(r)} ({h} vs {t})"
                    for r, h, t in zip(ratio[rows], _numbers(held_out, rows), _numbers(train, rows))]

        fragments.append(((ratio >= thresholds.overfit_ratio) & judged, loss_text))
        judged = judged & np.isnan(ratio)  # the loss decided the rest (a negative train loss decides nothing)
    acc_pair = table.roles.accuracy_pair()
    if acc_pair:
        train_acc, held_acc = (accuracy_fraction(table, c).to_numpy(dtype=float) for c in acc_pair)
        gap = train_acc - held_acc
        needed = np.where(train_acc > thresholds.accuracy_gap_switch, thresholds.accuracy_gap_high, thresholds.accuracy_gap)

        def acc_text(rows: np.ndarray) -> list[str]:
            return [f"{acc_pair[0]} - {acc_pair[1]} = {g:.3f} ({t} vs {h})"
                    for g, t, h in zip(gap[rows], _numbers(table.metrics[acc_pair[0]], rows),
                                       _numbers(table.metrics[acc_pair[1]], rows))]

        fragments.append(((gap >= needed - 1e-12) & judged, acc_text))
    return _issues(table, "generalization_gap", *fragments)


def _ratio(r: float) -> str:
    if not np.isfinite(r):
        return "inf (train loss 0)"
    return f"{r:.2f}" if r < 1e4 else f"{r:.3g}"


#: Hyperparameter words of regularisers that make train-mode metrics worse than held-out ones.
_REGULARISER_WORDS = {"dropout", "droppath", "augment", "augmentation", "aug", "augmix", "mixup", "cutmix",
                      "cutout", "randaugment", "autoaugment", "smoothing", "noise", "stochastic"}


def regularisers(table: TrialTable) -> tuple[np.ndarray, list[str]]:
    """Per trial, whether a regulariser that acts only in training is on; and the columns read.

    Dropout, drop-path, data augmentation (augment, mixup, cutmix, cutout), label
    smoothing, input/weight noise: a number > 0, or a word other than
    false/no/off/none/0.
    """
    on = np.zeros(len(table), dtype=bool)
    used = []
    for col in table.hyperparameters.columns:
        words = set(tokens(col))
        if (words & _REGULARISER_WORDS or {"drop", "path"} <= words) and "lr" not in words:
            on |= _truthy(table.hyperparameters[col])
            used.append(col)
    return on, used


def _running_train_metric(name: str) -> bool:
    """A train metric measured in train mode as a running mean over the epoch (Keras' bare ``accuracy``)."""
    return canonical(name) in {"acc", "accuracy", "train_acc_epoch", "train_accuracy_epoch"} or bool(
        set(tokens(name)) & {"running", "batch", "minibatch", "step", "avg", "mean"})


@emits("suspicious_validation")
def detect_suspicious_validation(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Held-out accuracy above training accuracy that nothing ordinary explains.

    Held-out accuracy above training accuracy is usually by design, so these are
    explained first and never flagged: a run that collapsed (a non-finite metric,
    training accuracy at chance (:func:`chance_level`: the majority class's share when
    dead networks show one), or a diverged/chance-level result, see
    :func:`reconcile_issues`); a regulariser that acts only in training (dropout,
    augmentation, label smoothing, noise: :func:`regularisers`) on in that trial; and a
    training accuracy measured in train mode as a running mean (Keras' ``accuracy``),
    for gaps below ``running_gap`` (0.15). The remainder is flagged: held-out accuracy
    >= training accuracy + ``suspicious_margin`` (0.05), or >= ``suspicious_accuracy``
    (99.9 %) while above the training accuracy (a perfect score on both is an easy
    task, not a leak). ``detail`` names what was ruled out and what is left (leakage,
    duplicates across the split).
    """
    roles = table.roles
    held_col = roles.metric("accuracy", held_out=True)
    if held_col is None:
        return _none()
    held = accuracy_fraction(table, held_col).to_numpy(dtype=float)
    shown = table.metrics[held_col]
    regularised, reg_cols = regularisers(table)
    fine = ~_nonfinite_cells(table).any(axis=1) & ~regularised
    acc_pair = roles.accuracy_pair()
    train = (accuracy_fraction(table, acc_pair[0]).to_numpy(dtype=float) if acc_pair
             else np.full(len(table), np.nan))
    chance = chance_level(table, thresholds)[1]
    if np.isfinite(chance):  # chance is the majority class's share on an unbalanced two-class task, not 1/2
        with np.errstate(invalid="ignore"):
            fine &= ~(train <= chance + thresholds.chance_margin)
    none_on = ("no regulariser (dropout, augmentation, label smoothing) on" if not reg_cols
               else f"{', '.join(reg_cols)} off")
    with np.errstate(invalid="ignore"):
        perfect = fine & (held >= thresholds.suspicious_accuracy) & ~(train >= held)
    fragments: list[tuple[np.ndarray, Describe]] = [
        (perfect, lambda rows: [f"{held_col}={v} (implausibly perfect{t}), {none_on}: check the split for leakage "
                                "or duplicates" for v, t in zip(_numbers(shown, rows), (
                                    [f", above {acc_pair[0]}={x}" for x in _numbers(table.metrics[acc_pair[0]], rows)]
                                    if acc_pair else [""] * len(rows)))])
    ]
    if acc_pair:
        running = _running_train_metric(acc_pair[0])
        needed = max(thresholds.suspicious_margin, thresholds.running_gap if running else 0.0)
        with np.errstate(invalid="ignore"):
            gap = held - train
            above = fine & ~perfect & (gap >= needed - 1e-12)
        why = (f"{acc_pair[0]} looks like a train-mode running mean, which explains gaps up to "
               f"{format_number(thresholds.running_gap)}, not this: check the split for leakage or duplicates"
               if running else
               f"nothing marks {acc_pair[0]} as a train-mode running mean: if it is one (Keras and many loops log "
               "the epoch's running mean), that explains it; else check the split for leakage or duplicates")
        fragments.append((above, lambda rows: [
            f"{held_col}={h} above {acc_pair[0]}={t} by {g:.3f} with {none_on}; {why}"
            for h, t, g in zip(_numbers(shown, rows), _numbers(table.metrics[acc_pair[0]], rows), gap[rows])]))
    return _issues(table, "suspicious_validation", *fragments)


def early_stopping_on(table: TrialTable) -> np.ndarray:
    """Per trial: whether early stopping may have ended it by design.

    True where an ``early_stopping``/``early_stop`` hyperparameter is on, a
    ``patience``/``n_iter_no_change`` hyperparameter is set, or an outcome flag says
    the trial stopped early.
    """
    on = np.zeros(len(table), dtype=bool)
    for col in table.hyperparameters.columns:
        words = set(tokens(col))
        if words & {"patience", "n_iter_no_change"} or {"iter", "no", "change"} <= words:
            on |= table.hyperparameters[col].notna().to_numpy(dtype=bool)
        elif ("early" in words and words & {"stopping", "stop", "stopped"}) or "earlystopping" in words:
            on |= _truthy(table.hyperparameters[col])
    if table.outcomes is not None:
        for col, kind in table.roles.outcomes.items():
            if kind == "pruned":
                on |= table.outcomes[col].to_numpy(dtype=bool)
    return on


def _truthy(values: pd.Series) -> np.ndarray:
    """Cells that switch something on: a number > 0, or a word other than false/no/off/none/0."""
    if values.dtype != object:
        return (values.to_numpy(dtype=float) > 0)
    words = values.fillna("").astype(str).str.strip().str.lower()
    return (~words.isin({"", "false", "no", "off", "none", "0", "0.0", "f", "n", "null"})).to_numpy(dtype=bool)


@emits("short_run")
def detect_short_runs(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Runs that stopped clearly before their budget although nothing stopped them by design.

    With a planned budget per trial (``roles.budget``: ``max_epochs``, ``max_iter``,
    Ray Tune's ``max_t``, an Optuna ``n_epochs`` parameter) and the epochs used, a trial
    is short when it used fewer than ``short_run_fraction`` (0.5) x *its own* budget:
    a trial that ran its full, smaller budget is never short, so a healthy sweep with
    mixed budgets gets no flag. Without a planned budget, the reference is the sweep's
    median epochs over completed runs and runs of unknown status (``short_run_fraction``)
    or, without epochs, the median runtime of the trials of its search space
    (``short_runtime_fraction``, 0.1; :func:`_short_by_runtime`).

    ``table.logged`` is ``(step column, last logged step of each table row)`` when per-step
    curves come with the table (NaN for a trial without a curve;
    :func:`core.curves.last_logged_steps`); without an epochs column, the steps a trial logged are then
    its budget used, far better evidence than its wall time (which varies 10x with
    model width, batch size and the machine's load), and runtime is not looked at.
    Without a planned budget they are read as epochs are (against the median last step
    of the judged trials with a curve); with one, each as a share of its own budget
    (:func:`_short_by_budget_share`).

    Only trials that completed (or have no status) are judged: failed, killed,
    timed-out, pruned, early-stopped and running trials never are, nor trials with
    early stopping configured (an ``early_stopping`` hyperparameter on, a ``patience``)
    or an outcome flag set. A trial that stopped early with a non-finite, diverged or
    chance-level result is instability, not a short run (:func:`reconcile_issues`).
    """
    judged = table.status.isin(["completed", "unknown"]).to_numpy() & ~early_stopping_on(table)
    if table.outcomes is not None and table.outcomes.shape[1]:
        judged &= ~table.outcomes.to_numpy(dtype=bool).any(axis=1)
    logged = table.logged
    on_curves = logged is not None and table.epochs is None
    if on_curves and table.budget is not None:
        return _short_by_budget_share(table, thresholds, judged, *logged)
    if table.budget is not None and table.epochs is not None and table.roles.budget != table.roles.epochs:
        used, own = table.epochs.to_numpy(dtype=float), table.budget.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            short = judged & np.isfinite(own) & (own > 0) & (used < thresholds.short_run_fraction * own)
        column, plan = table.roles.epochs, table.roles.budget
        return _issues(table, "short_run", (short, lambda rows: [
            f"{column}={u} < {format_number(thresholds.short_run_fraction * b)} "
            f"({thresholds.short_run_fraction:g} x its own {plan}={format_number(b)})"
            for u, b in zip(_numbers(used, rows), own[rows])]))
    if on_curves:  # the steps each trial logged, against its peers'
        step, last = logged
        column, used, fraction = f"last logged {step}", np.asarray(last, dtype=float), thresholds.short_run_fraction
        peers = f"last {step} of its peers, "
    elif table.budget is not None and table.epochs is None:
        return _none()  # a plan but no record of what was used: nothing to compare
    elif table.epochs is not None:
        column, used, fraction = table.roles.epochs, table.epochs.to_numpy(dtype=float), thresholds.short_run_fraction
        peers = ""
    elif table.runtime is not None:
        return _short_by_runtime(table, thresholds, judged)
    else:
        return _none()
    judged &= ~np.isnan(used)
    if judged.sum() < 3:
        return _none()
    median = float(np.median(used[judged]))
    limit = fraction * median
    tail = f" < {format_number(limit)} ({fraction:g} x the median {peers}{format_number(median)})"
    short = judged & (used < limit)
    return _issues(table, "short_run", (short, lambda rows: [f"{column}={v}{tail}" for v in _numbers(used, rows)]))


def _short_by_runtime(table: TrialTable, thresholds: Thresholds, judged: np.ndarray) -> pd.DataFrame:
    """Short runs by runtime alone (no epochs, steps or planned budget), among comparable peers.

    Runtime is weak evidence of a cut: it varies with the configuration, the search
    space and the machine. So a trial is compared only with the judged trials that set
    the same hyperparameters (one search space: a study whose space changed between
    phases, or a conditional branch, is judged phase by phase), and it is short below
    ``short_runtime_fraction`` (0.1) x their median runtime only when such runtimes are
    outliers: when a quarter or more of its peers ran that short (the lower quartile is
    below the limit), the short runtime is how those configurations run (an early stop
    inside the objective, a cache, a cheaper path), not a cut, and no trial of that
    space is flagged. Fewer than 3 judged peers: no verdict.
    """
    fraction = thresholds.short_runtime_fraction
    used = table.runtime.to_numpy(dtype=float)
    judged = judged & ~np.isnan(used)
    space = table.hyperparameters.notna()
    groups = space.groupby(list(space.columns), sort=False).ngroup().to_numpy() if space.shape[1] \
        else np.zeros(len(table), dtype=int)
    limits = np.full(len(table), np.nan)
    for group in np.unique(groups[judged]):
        peers = judged & (groups == group)
        if peers.sum() < 3:
            continue
        median = float(np.median(used[peers]))
        if np.quantile(used[peers], 0.25) >= fraction * median:
            limits[groups == group] = fraction * median
    with np.errstate(invalid="ignore"):
        short = judged & (used < limits)
    column = table.roles.runtime
    return _issues(table, "short_run", (short, lambda rows: [
        f"{column}={v} < {format_number(limit)} ({fraction:g} x the median of the trials of its search space, "
        f"{format_number(limit / fraction)})" for v, limit in zip(_numbers(used, rows), limits[rows])]))


def _short_by_budget_share(table: TrialTable, thresholds: Thresholds, judged: np.ndarray, step: str,
                           last: np.ndarray) -> pd.DataFrame:
    """Short runs by the last step each judged trial logged, as a share of its own planned budget.

    Each trial's last logged step is taken as a share of *its own* budget
    (``roles.budget``) and compared with the sweep's median share: a trial that ran its
    full, smaller budget is never short, and a step counted in other units than the
    budget (iterations against planned epochs) is compared like with like. A trial is
    short below ``short_run_fraction`` (0.5) x that median. Fewer than 3 judged trials
    with a curve: no verdict.
    """
    fraction = thresholds.short_run_fraction
    used = np.asarray(last, dtype=float)
    own = table.budget.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(np.isfinite(own) & (own > 0), used / own, np.nan)
    judged = judged & np.isfinite(share)
    if judged.sum() < 3:
        return _none()
    median = float(np.median(share[judged]))
    short = judged & (share < fraction * median)
    plan = table.roles.budget
    return _issues(table, "short_run", (short, lambda rows: [
        f"last logged {step}={u} with {plan}={format_number(b)}: {format_number(r)} of its own budget, "
        f"< {fraction:g} x the sweep's median {format_number(median)}"
        for u, b, r in zip(_numbers(used, rows), own[rows], share[rows])]))


@emits(*names_where(lambda t: bool(t.flag_words)))
def detect_outcome_flags(table: TrialTable, thresholds: Thresholds) -> pd.DataFrame:
    """Outcome flags the sweep wrote itself: each set flag is an issue of the type it states.

    Flags are boolean columns such as ``diverged``, ``epoch_diverged``, ``is_nan``,
    ``oom``, ``failed`` or ``early_stopped`` (see :func:`core.roles.outcome_kind`).

    A flag is the authors' own judgement, so it is taken as truth; ``detail`` names the
    column (``diverged=true (the sweep's own flag)``). An early-stopped flag is
    ``pruned`` (info): stopped by design.
    """
    if table.outcomes is None or not table.outcomes.shape[1]:
        return _none()
    found = []
    for col, kind in table.roles.outcomes.items():
        mask = table.outcomes[col].to_numpy(dtype=bool)
        found.append(_issues(table, kind, (mask, lambda rows, col=col: [f"{col}=true (the sweep's own flag)"] * len(rows))))
    return pd.concat(found, ignore_index=True)


DETECTORS: tuple[Detector, ...] = (
    detect_nonfinite,
    detect_status_mismatch,
    detect_status,
    detect_diverged,
    detect_no_learning,
    detect_overfitting,
    detect_generalization_gap,
    detect_suspicious_validation,
    detect_short_runs,
    detect_outcome_flags,
)


def detect_issues(table: TrialTable, thresholds: Thresholds | None = None, *, reconcile: bool = True) -> pd.DataFrame:
    """Run every detector; one row per (trial, issue type), in table order.

    ``reconcile=False`` leaves :func:`reconcile_issues` to the caller (who adds curve
    issues first, which may replace this table's overfitting).

    Returns
    -------
    pd.DataFrame
        Columns ``trial_id`` (str), ``type`` (see module docstring), ``severity``
        (high/medium/low/info), ``detail`` (a short human-readable reason) and ``row``
        (the trial's position in the table, for fast lookups downstream).
    """
    thresholds = thresholds or Thresholds()
    found = [detector(table, thresholds) for detector in DETECTORS]
    issues = pd.concat([f for f in found if not f.empty] or [_none()], ignore_index=True)
    return order_issues(reconcile_issues(issues) if reconcile else issues, table)


def reconcile_issues(issues: pd.DataFrame) -> pd.DataFrame:
    """One row per (trial, type), and no issue a worse one already explains.

    Rows of the same trial and type (an outcome flag and a detector agreeing, or a
    table rule and a curve rule) become one, details joined with ``"; "``. A trial that
    overfits gets no ``generalization_gap`` (the gap is part of it); a trial with a
    non-finite, diverged, chance-level or failed result gets no ``short_run`` (stopping
    early with a flat or non-finite loss is instability, not a short run), no
    ``suspicious_validation`` (a collapsed run explains held-out above training) and no
    ``overfitting`` or ``generalization_gap`` (a held-out loss that rose because the run
    blew up is not overfitting). A run that diverged or went non-finite did not fail to
    learn and did not merely fall back to chance: it gets no ``no_learning`` and no
    ``collapsed`` (its cause is the blow-up), and its diverged (else non-finite) row's
    detail adds that it ended no better than a trivial predictor. A run
    a pruner or early stopping stopped on purpose gets no ``still_improving``: "give it
    more epochs" would overrule the pruner that judged it weak (its loss was still
    falling when it was cut, by design).
    """
    if issues.empty:
        return issues
    if issues.duplicated(["trial_id", "type"]).any():
        how = {c: "first" for c in issues.columns if c not in ("trial_id", "type")}
        how["detail"] = lambda d: "; ".join(dict.fromkeys(str(x) for x in d if isinstance(x, str) and x))
        issues = issues.groupby(["trial_id", "type"], sort=False, as_index=False).agg(how)
    kinds = issues["type"]
    overfit = issues["trial_id"].isin(issues.loc[kinds == "overfitting", "trial_id"])
    unstable = issues["trial_id"].isin(issues.loc[kinds.isin(NO_RESULT), "trial_id"])
    blew_up = ["diverged", "nonfinite_metric"]
    stalled = kinds.isin(["no_learning", "collapsed"]) & issues["trial_id"].isin(
        issues.loc[kinds.isin(blew_up), "trial_id"])
    if stalled.any():
        issues = _say_where_it_ended(issues, issues[stalled], blew_up)
    stopped = issues["trial_id"].isin(issues.loc[kinds == "pruned", "trial_id"])  # pruned or early-stopped on purpose
    drop = ((kinds == "generalization_gap") & overfit) | (kinds.isin(NEEDS_RESULT) & unstable) | stalled
    drop |= (kinds == "still_improving") & stopped
    return issues[~drop].reset_index(drop=True) if drop.any() else issues


def _say_where_it_ended(issues: pd.DataFrame, stalled: pd.DataFrame, blew_up: list[str]) -> pd.DataFrame:
    """The stalled trials' first row of a ``blew_up`` type, with "ended no better than a trivial predictor" added.

    The no_learning detail itself is not copied: its words ("at chance") name an issue
    the trial no longer has, which grounding would hold against a sentence repeating them.
    """
    rows = issues[issues["type"].isin(blew_up) & issues["trial_id"].isin(stalled["trial_id"])]
    first = rows.sort_values("type", key=lambda k: k.map(blew_up.index), kind="stable").drop_duplicates("trial_id")
    issues = issues.copy()
    issues.loc[first.index, "detail"] = first["detail"] + "; it ended no better than a trivial predictor"
    return issues


def order_issues(issues: pd.DataFrame, table: TrialTable) -> pd.DataFrame:
    """Issues sorted by the trial's row in the table, then by issue type (adds ``row`` if missing)."""
    if "row" not in issues.columns:
        issues = issues.assign(row=pd.Index(table.ids.to_numpy()).get_indexer(issues["trial_id"]))
    type_order = {t: i for i, t in enumerate(ISSUE_TYPES)}
    keys = np.lexsort((issues["type"].map(type_order).to_numpy(), issues["row"].to_numpy(dtype=np.int64)))
    out = issues.iloc[keys].reset_index(drop=True)
    return out.astype({"row": np.int64})
