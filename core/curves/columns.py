"""Which column of a curves file is what: trial id, step, metrics, and the losses the detectors read.

The trial id and metric columns are found through :mod:`core.roles` (as for a results
table); only the step column is the curves' own (:data:`STEP_NAMES`). ``--map`` hints
(:func:`parse_hints`) win over inference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from core.curves.cells import parse_column
from core.errors import InputError
from core.roles import MetricInfo, canonical, classify_metric, id_columns, list_columns, no_id_column, parse_role_spec, tokens

if TYPE_CHECKING:
    from core.curves.table import CurveTable

#: Step column names, best first (compared as :func:`core.roles.canonical` names).
#: Columns whose name starts with ``_`` (W&B's ``_step``, which counts ``log`` calls,
#: not training progress) are only used when nothing else fits.
STEP_NAMES = (
    "epoch", "step", "global_step", "trainer_global_step", "training_iteration", "iteration",
    "iter", "iterations", "it", "budget_epochs", "epochs", "budget",
)

_NOISY_TRAIN_WORDS = {"step", "batch", "minibatch", "iter", "running"}

#: Column -> (role, metric info) as given by ``--map`` (see :func:`parse_hints`).
Given = dict[str, tuple[str, MetricInfo | None]]


def looks_like_curves(frame: pd.DataFrame, hints: dict[str, str] | None = None) -> bool:
    """Whether a raw table is a long curves file rather than one row per trial.

    True when it has a trial id column whose values repeat and a step column (see
    :data:`STEP_NAMES`), and (trial id, step) pairs are mostly distinct. ``hints``
    (``--map``: ``cfg=id``, ``it=step``) name them when their names are not known ones;
    hints naming other columns are ignored here.
    """
    given = {c: (s.strip().lower(), None) for c, s in (hints or {}).items()
             if c in frame.columns and s.strip().lower() in {"id", "step", "epoch"}}
    given = {c: ("step" if r == "epoch" else r, i) for c, (r, i) in given.items()}
    try:
        id_col = find_id_column(frame, given, "")
        step_col = find_step_column(frame, given, "", {id_col})
    except InputError:
        return False
    sample = frame[[id_col, step_col]].head(200_000)
    if not sample[id_col].duplicated().any():
        return False
    return sample.drop_duplicates().shape[0] >= 0.5 * len(sample)


def held_out_loss(curves: CurveTable) -> str | None:
    """The held-out loss column: validation loss, else test loss, else an objective to minimise."""
    for split in ("val", "test"):
        col = next((c for c, m in curves.info.items() if m.kind == "loss" and m.split == split), None)
        if col:
            return col
    return next((c for c, m in curves.info.items() if m.kind == "objective" and m.goal == "min"), None)


def train_loss(curves: CurveTable) -> str | None:
    """The training loss column; an epoch/eval-level loss is preferred to a per-batch one."""
    cols = [c for c, m in curves.info.items() if m.kind == "loss" and m.split == "train"]
    smooth = [c for c in cols if not set(tokens(c)) & _NOISY_TRAIN_WORDS]
    return (smooth or cols or [None])[0]


def parse_hints(frame: pd.DataFrame, hints: dict[str, str], source: str) -> Given:
    """``--map`` hints as column -> (role, metric info); ``step``/``epoch`` are the curves' own role."""
    given: Given = {}
    for col, spec in hints.items():
        if col not in frame.columns:
            raise InputError(f"{source}: --map names column {col!r}, which is not in the curves; "
                             f"columns are: {list_columns(frame.columns)}")
        if spec.strip().lower() in {"step", "epoch"}:
            given[col] = ("step", None)
            continue
        try:
            given[col] = parse_role_spec(spec, col)
        except ValueError as exc:
            raise InputError(f"{source}: --map {col}={spec}: {exc} (curves also take 'step')") from None
    for single in ("id", "step"):
        cols = [c for c, (r, _) in given.items() if r == single]
        if len(cols) > 1:
            raise InputError(f"{source}: --map gives the role {single!r} to several columns: {', '.join(cols)}")
    return given


def find_id_column(frame: pd.DataFrame, given: Given, source: str) -> str:
    """The trial id column: the hinted one, else the first :func:`core.roles.id_columns` finds."""
    hinted = next((c for c, (r, _) in given.items() if r == "id"), None)
    if hinted:
        return hinted
    candidates = id_columns(frame.columns, exclude=given)
    if not candidates:
        raise no_id_column(source, frame.columns, " in the curves")
    return candidates[0]


def find_step_column(
    frame: pd.DataFrame, given: Given, source: str, taken: set[str]
) -> str:
    """The step column: the hinted one, else the first of :data:`STEP_NAMES` (``_``-names last) holding numbers."""
    hinted = next((c for c, (r, _) in given.items() if r == "step"), None)
    if hinted:
        return hinted
    free = [c for c in frame.columns if c not in taken and c not in given]
    for internal in (False, True):
        by_canonical = {canonical(str(c)): c for c in reversed(free) if str(c).startswith("_") == internal}
        for name in STEP_NAMES:
            col = by_canonical.get(name)
            if col is not None and not _mostly_text(frame[col]):
                return col
    raise InputError(f"{source}: no step column in the curves (looked for {', '.join(STEP_NAMES[:6])}, ...; "
                     f"or name one with --map COLUMN=step); columns are: {list_columns(frame.columns)}")


def metric_candidates(frame: pd.DataFrame, given: Given, taken: set[str]) -> dict[str, MetricInfo]:
    """The metric columns: hinted ones, then every other free column whose name :func:`core.roles.classify_metric` knows."""
    candidates = {c: info for c, (r, info) in given.items() if r == "metric" and info}
    for col in frame.columns:
        if col not in taken and col not in given:
            info = classify_metric(str(col))
            if info is not None:
                candidates[col] = info
    return candidates


def _mostly_text(cells: pd.Series) -> bool:
    head = cells.head(1000)
    _, missing, bad = parse_column(head)
    present = int((~missing).sum())
    return present > 0 and bad.sum() > 0.5 * present

