"""Giving each column of a results table a role: id, status, metric, budget, hyperparameter.

Roles are inferred from column names and contents. A metric-looking or free-text
column is never a hyperparameter; a column that fits nothing is a hyperparameter
unless it is constant, empty, a seed, a timestamp or bookkeeping, and every such
decision is recorded with its reason so the report can show it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from core.errors import InputError
from core.issue_types import ISSUE_TYPES
from core.values import all_distinct, parse_cells, parse_columns

MetricKind = Literal["loss", "accuracy", "score", "objective"]
Split = Literal["train", "val", "test"]

_ID_NAMES = ("trial_id", "trial", "id", "trial_number", "number", "run_id", "run_name", "name", "config_id",
             "configuration_id", "cfg_id")
_STATUS_NAMES = ("status", "state", "trial_state", "run_state", "trial_status")
_EPOCH_NAMES = (  # what a trial used: names that can only mean that first
    "epochs_run", "epochs_trained", "epochs_completed", "epochs_done", "iterations_run", "n_iter", "n_iters",
    "training_iteration", "epochs", "n_epochs", "epoch", "num_epochs", "iterations", "steps", "step",
    "budget_epochs", "budget",
)
#: Names of a per-trial *planned* budget (what the trial was configured to train for):
#: a hyperparameter, and the trial's own budget for the short-run rule.
_PLANNED_NAMES = (
    "max_epochs", "max_epoch", "max_iter", "max_iters", "max_iterations", "max_steps", "max_t", "num_train_epochs",
    "planned_epochs", "target_epochs", "total_epochs", "epoch_budget", "train_epochs", "training_epochs",
    "tuner_epochs", "budget_epochs", "budget",
)
#: Epoch-count names that are a planned budget when the table also has a column of epochs used
#: (or a reader gave them as a hyperparameter, as Optuna's ``params_n_epochs``).
_PLANNED_IF_USED_ELSEWHERE = ("n_epochs", "num_epochs", "epochs", "n_iter", "iterations", "steps")
_RUNTIME_NAMES = (
    "runtime_sec", "runtime_s", "runtime_seconds", "runtime", "duration", "duration_s",
    "elapsed_time_s", "elapsed_time", "elapsed", "elapsed_s", "time_total_s", "wall_time",
    "train_time", "training_time", "time_s",
)
_ERROR_NAMES = (
    "error", "error_message", "error_msg", "exception", "traceback", "failure_reason",
    "fail_reason", "status_message", "message", "error_text", "user_attrs_error", "tags_error",
)
_MESSAGE_WORDS = {"error", "message", "exception", "traceback", "notes", "note", "reason", "msg"}
_LOSS_WORDS = {"loss", "nll", "mse", "rmse", "mae", "perplexity", "ppl", "err", "error", "mape", "smape", "msle",
               "rmsle", "huber", "crossentropy", "xent", "logloss", "bpc", "wer", "cer"}
#: Losses of a regression (never a class count's ln(C)).
_REGRESSION_LOSS_WORDS = {"mse", "rmse", "mae", "mape", "smape", "msle", "rmsle", "huber"}
#: Higher-is-better scores that are not a classification accuracy (regression, ranking, overlap).
_SCORE_WORDS = {"r2", "rsquared", "pearson", "pearsonr", "spearman", "spearmanr", "kendall", "corr", "correlation",
                "ndcg", "mrr", "bleu", "rouge", "iou", "miou", "dice"}
_SCORE_PHRASES = ("explained_variance", "r_squared", "r_2", "coefficient_of_determination")
#: Words of a running best/min/max of a metric (``best_val_loss``, W&B ``val/loss.min``).
_BEST_WORDS = {"best", "min", "max", "lowest", "highest", "minimum", "maximum"}
_STEP_WORDS = {"epoch", "epochs", "step", "steps", "iteration", "iter", "iterations"}
_ACC_WORDS = {"acc", "accuracy", "top1", "top5", "auc", "auroc", "f1", "precision", "recall"}
_OBJECTIVE_NAMES = {"value", "objective", "score", "target", "metric"}
_SPLIT_WORDS: dict[str, Split] = {
    "train": "train", "training": "train", "tr": "train",
    "val": "val", "valid": "val", "validation": "val", "eval": "val", "dev": "val",
    "holdout": "val", "test": "test",
}
_TIME_WORDS = {"start", "end", "created", "updated", "timestamp", "datetime", "date",
               "heartbeat", "complete", "completed", "finished", "started"}
_BOOKKEEPING_WORDS = {"epoch", "epochs", "step", "steps", "iteration", "iterations",
                      "records", "path", "uri", "url", "dir", "user", "pid"}
#: Hardware and infrastructure: where and on what a trial ran, never a cause to tune.
_INFRA_WORDS = {"gpu", "gpus", "host", "hostname", "cuda", "cpu", "cpus", "slurm", "accelerator", "accelerators",
                "machine", "cluster", "worker", "workers", "world", "devices"}
_INFRA_NAMES = {"device", "device_name", "device_type", "device_count", "n_devices", "num_devices", "rank",
                "local_rank", "global_rank", "world_size", "num_workers", "n_workers", "num_nodes", "n_gpu",
                "n_gpus", "num_gpus", "gpu_name", "gpu_type"}
_INFRA_EXCEPT = {"lr", "learning", "batch", "dim", "hidden", "layers", "size", "embedding", "features"}
#: Quantities derived from the searched hyperparameters (model size, compute, planned data).
_DERIVED_WORDS = {"flops", "gflops", "tflops", "pflops", "macs"}
_PARAM_COUNT_WORDS = {"params", "parameters", "param"}  # a count of them, unless a tool prefix (params_lr)
_DERIVED_PAIRS = ({"samples", "planned"}, {"tokens", "planned"}, {"samples", "total"}, {"tokens", "total"},
                  {"samples", "seen"}, {"tokens", "seen"}, {"compute", "planned"}, {"compute", "total"})
#: Identifier-like names: a run's label or key, not a setting.
_LABEL_FIRST = {"run", "exp", "experiment", "job", "wandb", "mlflow", "trial", "config", "sweep", "project", "group",
                "display"}
_LABEL_LAST = {"name", "key", "label", "tag", "tags", "hash", "sha", "commit", "uid", "slug"}
#: A repeat of the whole search (``run``, ``repeat``, ``replicate_idx``): which copy of the study a trial is in.
_REPEAT_WORDS = {"run", "repeat", "repetition", "replicate", "replica", "rep", "study"}
_INDEX_WORDS = {"id", "idx", "index", "no", "nr", "num", "number"}
#: Boolean outcome flags the tool or the user wrote: column word -> the issue type it states.
_OUTCOME_WORDS = {word: t.name for t in ISSUE_TYPES.values() for word in t.flag_words}
_TRUE_WORDS = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE_WORDS = {"0", "0.0", "false", "f", "no", "n"}


Goal = Literal["min", "max"]
ROLE_NAMES = ("id", "status", "metric", "epochs", "runtime", "error", "seed", "hyperparameter", "ignore", "budget",
              "best_epoch", "outcome", "context")
"""Roles a column can be given explicitly (``--map col=role``, or by an importer)."""


@dataclass
class MetricInfo:
    """What a metric column measures.

    ``kind`` is loss/accuracy/objective, ``split`` train/val/test or None, and ``goal``
    whether lower (``"min"``) or higher (``"max"``) is better: losses are ``min``,
    accuracies ``max``, an objective is None unless its source says (Optuna's study
    direction, or ``--map value=metric:objective:max``).
    """

    kind: MetricKind
    split: Split | None
    goal: Goal | None = None

    def __post_init__(self) -> None:
        if self.goal is None and self.kind != "objective":
            self.goal = "min" if self.kind == "loss" else "max"


@dataclass
class ColumnRoles:
    """The role of every column of a results table.

    Attributes
    ----------
    id, status : column names (``status`` may be None).
    metrics : metric column -> :class:`MetricInfo`.
    epochs, runtime : budget columns, or None.
    hyperparameters : columns the analysis groups trials by.
    ignored : every other column -> why it is not a hyperparameter.
    error : the error/exception message column of crashed runs, or None.
    seed : the random seed column, or None (used for seed instability, never grouped by).
    mapping : roles given explicitly (column -> role spec), as the report states them.
    budget : the per-trial *planned* budget (``max_epochs``, ``max_iter``, ``max_t``, a
        reader's ``n_epochs`` parameter), or None: the trial's own budget for the
        short-run rule, and a hyperparameter too when it is not also ``epochs``.
    best_epoch : the epoch of the held-out best (``best_epoch``), or None.
    outcomes : boolean outcome flags the tool or user wrote (``diverged``, ``is_nan``,
        ``oom``, ``early_stopped``) -> the issue type each states; read as outcomes,
        never grouped by.
    context : columns shown but never analysed as causes -> why: hardware and
        infrastructure (gpu, host, world_size, num_workers), quantities derived from the
        hyperparameters (parameter counts, planned compute) and run labels (config_key,
        exp_name).
    """

    id: str
    status: str | None
    metrics: dict[str, MetricInfo]
    epochs: str | None
    runtime: str | None
    hyperparameters: list[str]
    ignored: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    seed: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    budget: str | None = None
    best_epoch: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-native form (used in the graph state and the summary)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ColumnRoles:
        """Inverse of :meth:`to_dict`."""
        fields = dict(data)
        fields["metrics"] = {
            col: MetricInfo(**info)  # type: ignore[arg-type]
            for col, info in dict(data["metrics"]).items()  # type: ignore[call-overload]
        }
        return cls(**fields)  # type: ignore[arg-type]

    def loss_pair(self) -> tuple[str, str] | None:
        """The (train loss, held-out loss) columns compared for overfitting, if both exist.

        The held-out loss is the validation loss, or the test loss when there is none.
        """
        train = self._metric("loss", "train")
        held_out = self._metric("loss", "val") or self._metric("loss", "test")
        return (train, held_out) if train and held_out else None

    def accuracy_pair(self) -> tuple[str, str] | None:
        """The (train accuracy, held-out accuracy) columns, if both exist."""
        train = self._metric("accuracy", "train")
        held_out = self.metric("accuracy", held_out=True)
        return (train, held_out) if train and held_out else None

    def metric(self, kind: MetricKind, *, held_out: bool = False) -> str | None:
        """The first metric column of a kind: held-out (val, else test) or any split.

        A running best (``best_val_loss``, ``val/loss.min``) is never the metric itself,
        only its best value (see :meth:`best_of`).
        """
        if held_out:
            return self._metric(kind, "val") or self._metric(kind, "test")
        return next((c for c, m in self.metrics.items() if m.kind == kind and not is_running_best(c)), None)

    def best_of(self, column: str) -> str | None:
        """The running-best column of the same kind and split as ``column`` (``best_val_loss`` for ``val_loss``)."""
        info = self.metrics[column]
        return next((c for c, m in self.metrics.items()
                     if c != column and (m.kind, m.split) == (info.kind, info.split) and is_running_best(c)), None)

    def main_held_out(self) -> str | None:
        """The metric the sweep is judged on.

        The objective with a direction, else the held-out loss, else the held-out
        accuracy, else the held-out score (r2...).
        """
        objective = next((c for c, m in self.metrics.items() if m.kind == "objective" and m.goal), None)
        return (objective or self.metric("loss", held_out=True) or self.metric("accuracy", held_out=True)
                or self.metric("score", held_out=True))

    def _metric(self, kind: MetricKind, split: Split) -> str | None:
        return next(
            (c for c, m in self.metrics.items() if m.kind == kind and m.split == split and not is_running_best(c)),
            None,
        )


def tokens(name: str) -> list[str]:
    """Split a column name into lower-case words: ``"val/Loss"`` -> ``["val", "loss"]``."""
    return list(_tokens(name))


@functools.lru_cache(maxsize=1 << 16)
def _tokens(name: str) -> tuple[str, ...]:  # every rule asks again of every column: remembered
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return tuple(t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t)


def canonical(name: str) -> str:
    """Column name as ``_``-joined lower-case words, for matching known names."""
    return "_".join(tokens(name))


def classify_metric(name: str) -> MetricInfo | None:
    """Recognise a metric column by name, or return None.

    ``loss``/``accuracy`` alone are training metrics (the Keras convention); a split
    word (train/val/valid/validation/eval/dev/test) anywhere in the name sets the split.
    Optuna's ``value``/``values_0`` and names like ``objective`` are ``objective``.
    """
    words = tokens(name)
    split = next((_SPLIT_WORDS[w] for w in words if w in _SPLIT_WORDS), None)
    if words and set(words) <= {"error", "err", "message", "msg"}:
        return None  # "error" alone is the message column of a crashed run, not a metric
    if is_best_epoch(name):
        return None  # the epoch of a best value, not a value
    if any(w in _LOSS_WORDS for w in words):
        kind: MetricKind = "loss"
    elif any(w in _ACC_WORDS for w in words):
        kind = "accuracy"
    elif set(words) & _SCORE_WORDS or any(p in canonical(name) for p in _SCORE_PHRASES):
        kind = "score"
    elif words and (words[0] in _OBJECTIVE_NAMES or words[0] == "values") and len(words) <= 2:
        return MetricInfo("objective", None)
    else:
        return None
    if split is None and canonical(name) in {"loss", "accuracy", "acc", "final_loss",
                                             "final_accuracy"}:
        split = "train"
    return MetricInfo(kind, split)


def is_running_best(name: str) -> bool:
    """Whether a metric column is a running best/min/max (``best_val_loss``, ``val/loss.min``), not the metric."""
    return bool(set(tokens(name)) & _BEST_WORDS)


def is_best_epoch(name: str) -> bool:
    """Whether a column is the epoch (step, iteration) of a best value: ``best_epoch``, ``best_iteration``."""
    words = set(tokens(name))
    return "best" in words and bool(words & _STEP_WORDS)


def is_step_count(name: str) -> bool:
    """Whether a column names a training step count: ``iter``, ``epoch``, ``global_step`` (not ``best_epoch``)."""
    return bool(set(tokens(name)) & _STEP_WORDS) and not is_best_epoch(name)


def is_regression_loss(name: str) -> bool:
    """Whether a loss column is a regression error (mse, mae, rmse, mape, huber...), never ln(classes)."""
    return bool(set(tokens(name)) & _REGRESSION_LOSS_WORDS)


def is_classification_accuracy(name: str) -> bool:
    """Whether an accuracy column is a classification accuracy (acc, accuracy, top1), whose chance is 1/classes.

    AUC, F1, precision and recall are accuracy-like (higher is better) but have no 1/C chance level.
    """
    return bool(set(tokens(name)) & {"acc", "accuracy", "top1"})


def parse_role_spec(spec: str, column: str = "") -> tuple[str, MetricInfo | None]:
    """Parse a role spec such as ``"status"``, ``"metric:val_loss"`` or ``"metric:objective:max"``.

    ``metric`` alone takes the kind and split from the column's own name;
    ``metric:<name>`` classifies as if the column were called ``<name>``; a trailing
    ``:min``/``:max`` sets the goal. Raises ``ValueError`` with the valid roles.
    """
    role, _, rest = spec.strip().partition(":")
    role = role.strip().lower()
    if role == "hp":
        role = "hyperparameter"
    if role not in ROLE_NAMES:
        raise ValueError(f"unknown role {spec!r} (roles: {', '.join(ROLE_NAMES)}; metrics as metric:val_loss)")
    if role != "metric":
        if rest:
            raise ValueError(f"role {role!r} takes no ':' suffix (got {spec!r})")
        return role, None
    like, _, goal = rest.partition(":")
    goal = goal.strip().lower()
    if goal not in ("", "min", "max"):
        raise ValueError(f"metric goal must be min or max (got {spec!r})")
    info = classify_metric(like.strip() or column)
    if info is None:
        if like.strip() and like.strip().lower() not in _OBJECTIVE_NAMES:
            raise ValueError(f"cannot tell what {like!r} measures; use e.g. metric:val_loss, "
                             "metric:train_accuracy or metric:objective:max")
        info = MetricInfo("objective", None)
    if goal:
        info.goal = goal  # type: ignore[assignment]
    return role, info


def infer_roles(frame: pd.DataFrame, source: str, hints: dict[str, str] | None = None) -> ColumnRoles:
    """Infer the role of each column of a raw results table.

    Parameters
    ----------
    frame : pd.DataFrame
        Raw text cells, one row per trial (see :func:`core.loading.read_results`).
    source : str
        File name used in error messages.
    hints : dict, optional
        Column -> role spec (see :func:`parse_role_spec`) given by the user or an
        importer; these win over inference and are recorded in ``mapping``.

    Raises
    ------
    InputError
        When no id column or no metric column can be found, or a hint names a column
        the table lacks or a role that does not exist.
    """
    hints = dict(hints or {})
    cells = dict(frame.items())  # one Series per column (each costs ~50 us: 10,000 columns are read often)
    parse_columns(cells.values())  # every column at once: a wide table's columns are not parsed one by one
    given: dict[str, tuple[str, MetricInfo | None]] = {}
    for col, spec in hints.items():
        if col not in frame.columns:
            raise InputError(f"{source}: --map names column {col!r}, which is not in the table; "
                             f"columns are: {list_columns(frame.columns)}")
        try:
            given[col] = parse_role_spec(spec, col)
        except ValueError as exc:
            raise InputError(f"{source}: --map {col}={spec}: {exc}") from None
    for single in ("id", "status", "epochs", "runtime", "error", "seed", "budget", "best_epoch"):
        cols = [c for c, (r, _) in given.items() if r == single]
        if len(cols) > 1:
            raise InputError(f"{source}: --map gives the role {single!r} to several columns: {', '.join(cols)}")

    def hinted(role: str) -> str | None:
        return next((c for c, (r, _) in given.items() if r == role), None)

    by_canonical = {canonical(c): c for c in reversed(frame.columns) if c not in given}
    id_col = hinted("id")
    if id_col is None:
        candidates = id_columns(frame.columns, exclude=given)
        if not candidates:
            raise no_id_column(source, frame.columns)
        # The first candidate whose values are unique; else the first (duplicates are reported later).
        id_col = next((c for c in candidates if all_distinct(frame[c])), candidates[0])
    taken: set[str | None] = {id_col, *given}
    status_col = hinted("status") or _first(by_canonical, _STATUS_NAMES, taken)
    taken.add(status_col)

    metrics: dict[str, MetricInfo] = {c: info for c, (r, info) in given.items() if r == "metric" and info}
    ignored: dict[str, str] = {c: "ignored (role given by the reader or --map)" for c, (r, _) in given.items() if r == "ignore"}
    for col in frame.columns:
        if col in taken:
            continue
        info = classify_metric(col)
        if info is not None and not _mostly_text(frame[col]):
            metrics[col] = info  # a metric-like name with text values ("target_scaling") is judged below
    if not metrics:
        texts = [c for c in frame.columns if c not in taken and classify_metric(c) and _mostly_text(cells[c])]
        if texts:
            raise InputError(f"{source}: no metric column: {texts[0]!r} is {_text_metric(cells[texts[0]])}")
        raise InputError(
            f"{source}: no metric column (a loss or accuracy such as val_loss, train_loss, "
            f"val_accuracy, or an objective value); columns are: {list_columns(frame.columns)}"
        )
    taken |= set(metrics) | set(ignored)
    hinted_hps = {c for c, (r, _) in given.items() if r == "hyperparameter"}
    budget_col = hinted("budget") or _first(by_canonical, _PLANNED_NAMES, taken, numeric_in=frame) or next(
        (c for c in hinted_hps if (canonical(c) in _PLANNED_IF_USED_ELSEWHERE or canonical(c).endswith("_epochs"))
         and not _mostly_text(frame[c])), None)
    epochs_col = hinted("epochs") or _first(by_canonical, _EPOCH_NAMES, taken - {budget_col}, numeric_in=frame)
    if budget_col is None and epochs_col is not None:
        # "n_epochs" beside "epochs_run": the one the trial did not use is its plan
        budget_col = _first(by_canonical, _PLANNED_IF_USED_ELSEWHERE, taken | {epochs_col}, numeric_in=frame)
    if budget_col is not None and budget_col != epochs_col and budget_col not in hinted_hps:
        given[budget_col] = ("hyperparameter", None)  # a plan that varies is searched
    taken.add(epochs_col)
    best_epoch_col = hinted("best_epoch") or next(
        (c for c in frame.columns if c not in taken and is_best_epoch(str(c)) and not _mostly_text(frame[c])), None)
    taken.add(best_epoch_col)
    runtime_col = hinted("runtime") or _first(by_canonical, _RUNTIME_NAMES, taken, numeric_in=frame)
    taken.add(runtime_col)
    error_col = hinted("error") or next(
        (c for c in (by_canonical.get(n) for n in _ERROR_NAMES) if c and c not in taken and _has_values(frame[c])), None
    )
    taken.add(error_col)
    seed_col = hinted("seed") or next(
        (c for c in frame.columns if c not in taken and "seed" in tokens(c) and not _mostly_text(frame[c])), None
    )
    taken.add(seed_col)

    outcomes: dict[str, str] = {c: outcome_kind(c) or "diverged" for c, (r, _) in given.items() if r == "outcome"}
    context: dict[str, str] = {c: "context (role given by the reader or --map)"
                               for c, (r, _) in given.items() if r == "context"}
    hyperparameters: list[str] = []
    for col, (role, _) in given.items():
        if role != "hyperparameter":
            continue
        why = context_reason(col) if col != budget_col else None  # infrastructure a reader calls a parameter
        if why:
            context[col] = why
        else:
            hyperparameters.append(col)
    placed = set(hyperparameters)  # a set: 10,000 columns against a growing list took seconds
    for col in frame.columns:
        if col in taken or col in placed or col in context or col in outcomes:
            continue
        kind = outcome_kind(col)
        if kind and is_boolean(frame[col]):
            outcomes[col] = kind
            continue
        why = context_reason(col) or repeat_of_search(col, cells[col], cells[id_col])
        if why and not parse_cells(frame[col]).missing.all():
            context[col] = why
            continue
        reason = _not_a_hyperparameter(col, cells[col])
        if reason:
            ignored[col] = reason
        else:
            hyperparameters.append(col)
    for col in context:
        if not context[col].startswith("context (role given") and col in frame.columns:
            context[col] += _stands_in_for(frame, col, hyperparameters)
    position = {col: i for i, col in enumerate(frame.columns)}
    hyperparameters.sort(key=position.__getitem__)
    return ColumnRoles(
        id=id_col,
        status=status_col,
        metrics=metrics,
        epochs=epochs_col,
        runtime=runtime_col,
        hyperparameters=hyperparameters,
        ignored=ignored,
        error=error_col,
        seed=seed_col,
        mapping=hints,
        budget=budget_col,
        best_epoch=best_epoch_col,
        outcomes=outcomes,
        context=context,
    )


def id_columns(columns: Iterable[object], exclude: Collection[object] = ()) -> list[str]:
    """The columns whose name says "trial id" (``trial_id``, ``trial``, ``id``, ``run_id``...), best first.

    Names are compared as :func:`canonical` names; of several columns with one
    canonical name, the first counts. Columns in ``exclude`` (given other roles) are
    left out.
    """
    by_canonical = {canonical(str(c)): c for c in reversed(list(columns)) if c not in exclude}
    return [by_canonical[n] for n in _ID_NAMES if n in by_canonical]


def no_id_column(source: str, columns: Iterable[object], where: str = "") -> InputError:
    """The error for a table without a trial id column (``where``: " in the curves")."""
    return InputError(f"{source}: no trial id column{where} (looked for {', '.join(_ID_NAMES[:4])}, ...; "
                      f"or name one with --map COLUMN=id); columns are: {list_columns(columns)}")


def is_status_runtime_or_error(name: str) -> bool:
    """Whether a column's name is one of a status, a runtime or an error message (``state``, ``duration``...)."""
    return canonical(name) in _STATUS_NAMES or canonical(name) in _RUNTIME_NAMES or canonical(name) in _ERROR_NAMES


def _first(
    by_canonical: dict[str, str],
    names: tuple[str, ...],
    taken: set[str | None],
    numeric_in: pd.DataFrame | None = None,
) -> str | None:
    for name in names:
        col = by_canonical.get(name)
        if col is None or col in taken:
            continue
        if numeric_in is not None and _mostly_text(numeric_in[col]) and not _is_duration(
            numeric_in[col]
        ):
            continue
        return col
    return None


def outcome_kind(name: str) -> str | None:
    """The issue type a flag column states by its name, or None.

    ``diverged``, ``epoch_diverged``, ``is_nan``, ``oom``, ``early_stopped`` (pruned: by
    design); only columns of boolean values are read as flags.
    """
    words = tokens(name)
    joined = "".join(words)
    if joined in {"earlystopped", "stoppedearly", "earlystop"}:
        return "pruned"
    if "early" in words and "stopped" in words:
        return "pruned"
    if "stopped" in words and "early" not in words:
        return None  # "stopped" alone is ambiguous (a stop reason, a timestamp)
    if "timed" in words and "out" in words:
        return "timeout"
    return next((_OUTCOME_WORDS[w] for w in [joined, *words] if w in _OUTCOME_WORDS), None)


def context_reason(name: str) -> str | None:
    """Why a column is context (shown, never a cause): infrastructure, a derived quantity or a run label; else None."""
    words = tokens(name)
    ws = set(words)
    if canonical(name) in _INFRA_NAMES or (ws & _INFRA_WORDS and not ws & _INFRA_EXCEPT):
        return "context: hardware/infrastructure"
    param_count = bool(ws & _PARAM_COUNT_WORDS) and words[0] not in _PARAM_COUNT_WORDS | {"hparams", "config"}
    if ws & _DERIVED_WORDS or param_count or any(pair <= ws for pair in _DERIVED_PAIRS):
        return "context: derived from the hyperparameters (size, compute or planned data)"
    if len(words) >= 2 and (words[-1] in _LABEL_LAST and (words[0] in _LABEL_FIRST or words[-1] != "name")):
        return "context: a run label or key"
    if ws & {"wandb", "mlflow", "uuid", "hash"}:
        return "context: a run label or key"
    return None


def repeat_of_search(name: str, cells: pd.Series, ids: pd.Series) -> str | None:
    """Why a column labels a repeat of the whole search (context, never tuned); else None.

    A repeat label is shared by many trials (a column with a different value in every
    trial is an identifier, ``run_id``). Either its name says so (``run``, ``repeat``,
    ``replicate``, ``study``, alone or with an index word: ``rep_idx``; a count such as
    ``n_repeats`` or ``repeats`` stays a setting, and so does ``restart``, warm restarts
    on or off), or its values are numbered copies of one label, a separator before
    consecutive indices (``run_1``, ``run_2``, ``run_3``), that begin every trial id
    (``run_1_c0``): the ids are namespaced by it. A trial id built from a setting
    (``adam-0.01``) is not, since its values share no stem, and neither are model or
    data set names (``resnet18``/``resnet50``, ``cifar10``/``cifar100``).
    """
    words = tokens(name)
    named = bool(words) and words[0] in _REPEAT_WORDS and all(w in _INDEX_WORDS for w in words[1:])
    if not named and parse_cells(cells).numeric:  # a number has no stem to be numbered copies of
        return None
    text = cells.astype("string").str.strip()
    present = text.notna() & (text != "") & ids.notna()
    labels = text[present].unique()
    if len(labels) == int(present.sum()):  # one value per trial: an identifier, not a repeat
        return None
    if named:
        return "context: a repeat of the whole search, named as one"
    if len(labels) < 2:
        return None
    parts = [re.fullmatch(r"(.*?[^\W_])[\W_]+(\d+)", str(v)) for v in labels]
    if not all(parts) or len({m.group(1) for m in parts}) != 1:
        return None
    numbers = sorted(int(m.group(2)) for m in parts)
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))) or numbers[0] > 1:
        return None
    idv, lab = ids[present].astype(str).to_numpy(), text[present].astype(str).to_numpy()
    rest = [i[len(v):] for i, v in zip(idv, lab) if i.startswith(v)]
    if len(rest) == len(idv) and all(r and not r[0].isalnum() for r in rest):
        return "context: a repeat of the whole search: its values begin every trial id"
    return None


def _stands_in_for(frame: pd.DataFrame, col: str, hyperparameters: list[str]) -> str:
    """``"; follows width (Spearman 0.98)"``: the hyperparameter a context column tracks most closely, if any."""
    values = parse_cells(frame[col])
    if not values.numeric or len(frame) < 5:
        return ""
    x = pd.Series(np.where(values.missing, np.nan, values.values))
    best, best_rho = None, 0.0
    for hp in hyperparameters:
        h = parse_cells(frame[hp])
        if not h.numeric:
            continue
        y = pd.Series(np.where(h.missing, np.nan, h.values))
        ok = x.notna() & y.notna() & np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 5 or x[ok].nunique() < 2 or y[ok].nunique() < 2:
            continue
        rho = abs(float(x[ok].rank().corr(y[ok].rank())))
        if rho > best_rho:
            best, best_rho = hp, rho
    return f"; follows {best} (Spearman {best_rho:.2f})" if best and best_rho >= 0.7 else ""


def is_boolean(cells: pd.Series) -> bool:
    """Every present cell is a boolean word or 0/1 (and at least one is present)."""
    present = cells.dropna().astype(str).str.strip().str.lower()
    present = present[present != ""]
    return bool(len(present)) and bool(present.isin(_TRUE_WORDS | _FALSE_WORDS).all())


def flag_values(cells: pd.Series) -> np.ndarray:
    """A boolean flag column as a bool array (True where the cell says true/1/yes)."""
    return cells.astype("string").str.strip().str.lower().isin(_TRUE_WORDS).fillna(False).to_numpy(dtype=bool)


def _not_a_hyperparameter(col: str, cells: pd.Series) -> str | None:
    words = set(tokens(col))
    missing = parse_cells(cells).missing
    if missing.all():
        return "empty"
    info = classify_metric(col)
    if info is not None and info.kind != "objective":
        return _text_metric(cells) if _mostly_text(cells) else "metric-like name (never a hyperparameter)"
    if "seed" in words:
        return "random seed"
    if words & _MESSAGE_WORDS:
        return "message text"
    if words & _TIME_WORDS:
        return "timestamp"
    if "id" in words or "uuid" in words:
        return "identifier"
    if words & _BOOKKEEPING_WORDS and not {"drop", "path"} <= words:  # drop_path is stochastic depth
        return "bookkeeping"
    if _mostly_text(cells):
        present = cells[~missing] if missing.any() else cells
        n_unique = present.nunique()
        if n_unique > 20 and n_unique > 0.5 * len(present):
            return "free text (a different value in almost every row)"
        if present.astype(str).str.len().mean() > 40:
            return "free text (long values)"
    return None


_TEXT_METRIC = "named like a metric, but "


def _text_metric(cells: pd.Series) -> str:
    """Why a metric-named column of mostly text is left out: ``named like a metric, but 3 of 4 cells are text ('oops', ...)``."""
    parsed = parse_cells(cells)
    text = cells[parsed.unparsed].astype(str).str.strip()
    shown = ", ".join(repr(t[:40]) for t in text.drop_duplicates().head(2))
    present = len(cells) - int(parsed.missing.sum())
    return (f"{_TEXT_METRIC}{len(text)} of {present} cells are text ({shown}{', ...' if text.nunique() > 2 else ''}): "
            "neither a metric nor a hyperparameter; fix the cells, or give its role with --map")


def role_notes(roles: ColumnRoles) -> list[str]:
    """What the reader must be told about the roles: a column named like a metric left out because its cells are text."""
    return [f"column {col!r} was not analysed: {why}" for col, why in roles.ignored.items() if why.startswith(_TEXT_METRIC)]


def _has_values(cells: pd.Series) -> bool:
    return not parse_cells(cells).missing.all()


def _mostly_text(cells: pd.Series) -> bool:
    """Fewer than half the present cells are numbers (NaN/inf spellings count as numbers)."""
    parsed = parse_cells(cells)
    present = len(cells) - int(parsed.missing.sum())
    return present > 0 and int(parsed.unparsed.sum()) > 0.5 * present


def _is_duration(cells: pd.Series) -> bool:
    sample = cells.dropna().astype(str).head(20)
    parsed = pd.to_timedelta(sample, errors="coerce")
    return bool(len(sample)) and parsed.notna().mean() > 0.8


def list_columns(columns: object) -> str:
    """Column names for an error message: the first 15, then how many in all."""
    names = [str(c) for c in columns]  # type: ignore[attr-defined]
    return ", ".join(names[:15]) + (f", ... ({len(names)} in all)" if len(names) > 15 else "")
