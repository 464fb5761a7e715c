"""What the report's pictures show, computed from the run (numpy and pandas; no Matplotlib).

:mod:`graph.report.pictures` draws from these. A :class:`PicturePlan` holds every input of
the pictures in bounded, picklable form, so a process that imported Matplotlib while the
sweep was being read (:mod:`graph.report.worker`) can draw them: the isolation plots' data
(:func:`isolation_data`) is bounded whatever the number of trials.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from core.curves import CurveTable
from core.domains import log_scaled
from core.issue_types import HIGH_SEVERITY, ISSUE_TYPES, SEVERITY_RANK, SICK_SEVERITIES
from core.records import Diagnosis, IssueColumns
from core.table import TrialTable

SEVERITY_ORDER = {t: i for i, t in enumerate(sorted(ISSUE_TYPES, key=lambda t: SEVERITY_RANK[ISSUE_TYPES[t].severity]))}
"""Issue type -> its place when trials are ordered by their worst issue (most severe first)."""


def by_importance(diagnosis: Diagnosis, hps: Iterable[str]) -> list[str]:
    """Hyperparameters with patterns first (in pattern order), then leads, edge findings, the rest."""
    score: dict[str, int] = {}
    for rank, group in enumerate([diagnosis.patterns, diagnosis.leads]):
        for i, p in enumerate(group):
            for hp in p.hyperparameters or [p.hyperparameter]:
                score.setdefault(hp, rank * 1000 + i)
    for f in diagnosis.findings:
        hp = f.extra.get("hyperparameter")  # a finding about one hyperparameter (an edge of its range)
        if hp:
            score.setdefault(hp, 2000)
    return sorted(hps, key=lambda hp: score.get(hp, 3000))  # stable: the table's order among equals


MAX_POINTS = 3000
"""Above this many trials an isolation plot draws binned counts instead of one marker per trial."""


_GRID = (90, 60)  # bins along x and y of the aggregated isolation plot


CATEGORY_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


_MOSTLY = 0.5  # an aggregated isolation plot marks a cell with an issue type when this share of its trials has it


def trial_kinds(table: TrialTable, diagnosis: Diagnosis) -> np.ndarray:
    """Each trial's most severe sick issue type (None: no sick issue), in table order (object array).

    One dictionary look-up per trial: half the time of hashing a million ids into an index
    and looking the sick ones up in it, and a repeated id gets its issue at every row.
    """
    worst = worst_issue(diagnosis)
    return np.array([worst.get(i) for i in table.ids.to_numpy(dtype=object)], dtype=object)


def isolation_data(table: TrialTable, summary: Diagnosis | dict[str, Any], hp: str, *, max_buckets: int = 12,
                   kinds: np.ndarray | None = None) -> dict[str, Any]:
    """What an isolation plot of ``hp`` draws, bounded whatever the number of trials.

    Up to :data:`MAX_POINTS` trials: one point per trial (``points``: x, y, issue kind,
    category). Above: ``density``, the trials' counts on a 90 x 60 grid (in the plot's
    scales), and ``cells``, per issue type the grid cells holding such trials. The top
    band (``above``, ``nonfinite``: x, kind) is thinned the same way; ``best`` is the
    best trial per bucket, per category value. Needs the table's main metric (see
    :func:`main_metric`) and ``hp`` numeric; ``kinds`` is :func:`trial_kinds` when known.
    """
    diagnosis = Diagnosis.of(summary)
    metric, goal = main_metric(table, diagnosis)
    kinds = trial_kinds(table, diagnosis) if kinds is None else kinds
    code, names = pd.factorize(kinds)  # None is -1
    names = list(names)
    x = table.hyperparameters[hp].to_numpy(dtype=float)
    y = table.metrics[metric].to_numpy(dtype=float)
    reported = ~table.missing[metric].to_numpy(dtype=bool)
    category = _category(table, diagnosis, hp)
    # the category of each trial as a code into cat_names (a comparison of codes, not of a million strings)
    cat_code, cat_names = (pd.factorize(table.hyperparameters[category].astype(str)) if category
                           else (np.zeros(len(x), dtype=np.intp), [None]))
    cat_names = np.asarray(cat_names, dtype=object)
    has_x = np.isfinite(x)
    finite_y = np.isfinite(y) & has_x
    bad_y = reported & ~np.isfinite(y) & has_x
    xs = x[has_x]
    log_x = bool(xs.size) and log_scaled(float(xs.min()), float(xs.max()))  # the buckets' and the next sweep's rule
    ys = y[finite_y]
    log_y = bool(ys.size) and log_scaled(float(ys.min()), float(ys.max()))
    top = _focus_top(y, finite_y, finite_y & ~np.isin(code, [i for i, k in enumerate(names) if k in HIGH_SEVERITY]), log_y, goal)
    off = finite_y & (y > top) if top is not None else np.zeros_like(finite_y)
    shown = finite_y & ~off
    distinct = _few_distinct(xs, 12)
    jitter = distinct is not None and xs.size >= 3 * distinct.size
    xj = _jitter(x, np.sort(distinct), log_x) if jitter else x
    drawn = finite_y | bad_y
    data: dict[str, Any] = {
        "hp": hp, "metric": metric, "goal": goal, "log_x": log_x, "log_y": log_y, "top": top, "jitter": jitter,
        "n": int(drawn.sum()), "category": category,
        "categories": sorted(cat_names[_present(cat_code[drawn], len(cat_names))]) if category else [],
        "counts": _counts(code[drawn], names),
        "x_range": (float(np.min(xj[has_x])), float(np.max(xj[has_x]))) if has_x.any() else (0.0, 1.0),
        "best": {cat_names[i]: _best_per_bucket(x[finite_y & (cat_code == i)], y[finite_y & (cat_code == i)], goal,
                                                log_x, max_buckets)
                 for i in sorted(_present(cat_code[finite_y], len(cat_names)) if category else [0],
                                 key=lambda i: cat_names[i])},
        "n_above": int(off.sum()), "n_nonfinite": int(bad_y.sum()),
    }
    many = int(has_x.sum()) > MAX_POINTS
    data["above"] = _thin(xj[off], kinds[off], cat_names[cat_code[off]], code[off], log_x, many)
    data["nonfinite"] = _thin(xj[bad_y], kinds[bad_y], cat_names[cat_code[bad_y]], code[bad_y], log_x, many)
    if not many:
        data["points"] = (xj[shown], y[shown], kinds[shown], cat_names[cat_code[shown]])
        return data
    gx = _edges(xj[shown], log_x, _GRID[0])
    gy = _edges(y[shown], log_y, _GRID[1])
    cell = _bin(xj[shown], gx, log_x) * _GRID[1] + _bin(y[shown], gy, log_y)  # each trial's grid cell, found once
    total = np.bincount(cell, minlength=_GRID[0] * _GRID[1]).reshape(_GRID)
    data["density"] = (gx, gy, total.T)
    data["cells"] = {}
    shown_code = code[shown]
    for i, k in enumerate(names):
        sel = shown_code == i
        if sel.any():  # the cells where most trials have this issue
            counts = np.bincount(cell[sel], minlength=_GRID[0] * _GRID[1]).reshape(_GRID)
            ix, iy = np.nonzero(counts >= _MOSTLY * np.maximum(total, 1))
            data["cells"][k] = (_centres(gx, log_x)[ix], _centres(gy, log_y)[iy])
    return data


def _few_distinct(values: np.ndarray, limit: int, sample: int = 4096) -> np.ndarray | None:
    """The distinct values (unordered) when there are at most ``limit`` of them, else None.

    Hashed, not sorted; a million continuous values are rejected on their first ``sample``
    (more than ``limit`` distinct there means more in all) instead of hashed whole.
    """
    if values.size > sample and pd.unique(values[:sample]).size > limit:
        return None
    distinct = pd.unique(values)
    return distinct if distinct.size <= limit else None


def _present(codes: np.ndarray, n: int) -> np.ndarray:
    """The codes (0 ... ``n`` - 1) that occur, in increasing order: ``np.unique`` without sorting a million codes."""
    return np.flatnonzero(np.bincount(codes, minlength=n))


def _bin(values: np.ndarray, edges: np.ndarray, log: bool) -> np.ndarray:
    """The bin of each value as :func:`numpy.histogram2d` counts it (half-open bins, the last one closed).

    ``edges`` are :func:`_edges` (evenly spaced, or in ratio when ``log``) and hold every
    value. The bin is computed from the spacing, then moved by one where rounding put it
    next to the right one (a comparison with its edges): the bins a binary search finds,
    at a fraction of its cost on a million values.
    """
    n = len(edges) - 1
    lo, hi = float(edges[0]), float(edges[-1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        width = hi / lo if log and lo > 0 else hi - lo
        if not math.isfinite(width):  # a span past the largest float (1e-200 to 1e150 on a log axis): search
            return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n - 1)
        scaled = np.log(values / lo) / math.log(width) if log and lo > 0 else (values - lo) / width
    index = np.clip(np.nan_to_num(scaled * n), 0, n - 1).astype(np.intp)
    index -= values < edges[index]
    index += (values >= edges[index + 1]) & (index < n - 1)
    return index


def _category(table: TrialTable, diagnosis: Diagnosis, hp: str) -> str | None:
    """The categorical hyperparameter a pattern names (with ``hp`` first, else any), when it has at most 6 values."""
    frame = table.hyperparameters

    def fits(name: str | None) -> bool:
        return bool(name and name != hp and name in frame.columns and frame[name].dtype == object
                    and frame[name].nunique() <= len(CATEGORY_COLOURS))

    named = [p.hyperparameters or [p.hyperparameter] for p in diagnosis.patterns]
    for names in [n for n in named if hp in n] + named:
        found = next((n for n in names if fits(n)), None)
        if found:
            return found
    return None


def _edges(values: np.ndarray, log: bool, n: int) -> np.ndarray:
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.geomspace(lo, hi, n + 1) if log and lo > 0 else np.linspace(lo, hi, n + 1)


def _centres(edges: np.ndarray, log: bool) -> np.ndarray:
    return np.sqrt(edges[:-1] * edges[1:]) if log and edges[0] > 0 else (edges[:-1] + edges[1:]) / 2


def _counts(code: np.ndarray, names: list[str]) -> dict[str | None, int]:
    """Trials per worst issue type (None: no issue), healthy first, then by severity."""
    n = np.bincount(code + 1, minlength=len(names) + 1)
    counts = {None: int(n[0])} if n[0] else {}
    for i in sorted((i for i in range(len(names)) if n[i + 1]), key=lambda i: SEVERITY_ORDER.get(names[i], 0)):
        counts[names[i]] = int(n[i + 1])
    return counts


def _thin(x: np.ndarray, kinds: np.ndarray, cats: np.ndarray, code: np.ndarray, log_x: bool, many: bool
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trials of the top band (x, issue kind, category); with many trials, one per x-bin, kind and category."""
    if not many or x.size == 0:
        return x, kinds, cats
    edges = _edges(x, log_x, _GRID[0])
    bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, _GRID[0] - 1)
    cat = pd.factorize(cats)[0]
    # the first trial of each (bin, kind, category) in that order, the triple as one integer: a plain sort, where
    # np.unique(axis=1) sorted records (a quarter of an isolation plot's data at 1,000,000 trials)
    key = (bins * (int(code.max()) + 2) + code + 1) * (int(cat.max()) + 2) + cat + 1
    _, first = np.unique(key, return_index=True)
    return _centres(edges, log_x)[bins[first]], kinds[first], cats[first]


def _focus_top(y: np.ndarray, finite: np.ndarray, calm: np.ndarray, log_y: bool, goal: str) -> float | None:
    """Upper y limit that keeps the trials without a high-severity issue readable, or None to show all.

    Blown-up losses (diverged trials at 1e30) would flatten everything else; when the
    largest value is over a thousand times (log scale) the largest of the other trials,
    the axis stops at ten times that, and the values above are drawn in the top band.
    ``calm``: the finite trials without a high-severity issue.
    """
    if goal != "min" or not log_y or not calm.any():
        return None
    top = float(y[calm].max()) * 10
    return top if float(y[finite].max()) > 100 * top else None


def _jitter(x: np.ndarray, distinct: np.ndarray, log_x: bool) -> np.ndarray:
    """Spread the points of a few distinct values sideways (deterministically) so that their number shows."""
    rng = np.random.default_rng(0)
    if log_x:
        gaps = np.diff(np.log10(distinct))
        width = 0.15 * float(gaps.min()) if gaps.size else 0.05
        return x * 10 ** rng.uniform(-width, width, size=x.shape)
    gaps = np.diff(distinct)
    width = 0.15 * float(gaps.min()) if gaps.size else 0.05 * max(abs(float(distinct[0])), 1.0)
    return x + rng.uniform(-width, width, size=x.shape)


def _best_per_bucket(x: np.ndarray, y: np.ndarray, goal: str, log_x: bool, max_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """The best trial of each bucket of ``x`` (each value, when there are few), sorted by ``x``."""
    if x.size == 0:
        return x, y
    values = _few_distinct(x, 2 * max_buckets)
    if values is not None:
        codes = np.searchsorted(np.sort(values), x)
    else:
        edges = (np.geomspace(x.min(), x.max(), max_buckets + 1) if log_x
                 else np.unique(np.quantile(x, np.linspace(0, 1, max_buckets + 1))))
        codes = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    first = pd.Series(y if goal == "min" else -y).groupby(codes, sort=False).idxmin().to_numpy()
    first = first[np.argsort(x[first], kind="stable")]
    return x[first], y[first]


def main_metric(table: TrialTable, diagnosis: Diagnosis) -> tuple[str | None, str]:
    """The metric the pictures plot: the held-out loss, where blow-ups and NaN show, else the ranking's metric."""
    roles = table.roles
    best = diagnosis.best_trial
    pair = roles.loss_pair()
    column = (pair[1] if pair else None) or roles.metric("loss", held_out=True) or (best.metric if best else None)
    if column is None:
        column = roles.metric("accuracy", held_out=True)
    if column is None:
        column = next((c for c, m in roles.metrics.items() if m.goal), None)
    if column is None or column not in table.metrics:
        return None, "min"
    return column, roles.metrics[column].goal or ("max" if roles.metrics[column].kind == "accuracy" else "min")


def worst_issue(diagnosis: Diagnosis) -> dict[str, str]:
    """Trial id -> its most severe issue type (sick severities only; of equals, the first listed).

    One pass over the issue columns picks the sick rows, a stable sort on the severity rank
    orders them, and the first type seen per trial wins (a million-trial sweep has some
    240,000 issue rows; plain lists: pandas' string columns are slow to build and to iterate).
    """
    ids, ranks, types = [], [], []
    issues = diagnosis.issues
    for trial, kind, severity in zip(issues.trial_id, issues.type, issues.severity):
        if severity in SICK_SEVERITIES:
            ids.append(trial)
            types.append(kind)
            ranks.append(SEVERITY_ORDER.get(kind, len(SEVERITY_ORDER)))  # a type outside the table: last
    worst: dict[str, str] = {}
    for i in np.argsort(np.array(ranks, dtype=np.int64), kind="stable"):
        worst.setdefault(ids[i], types[i])
    return worst


@dataclass
class PicturePlan:
    """Everything the report's pictures are drawn from, for one run (see :func:`picture_plan`)."""

    diagnosis: Diagnosis
    table: TrialTable | None
    """The trials' values the isolation plots read (after :meth:`for_sending`, only those columns)."""
    hyperparameters: list[str]
    """The hyperparameters of the isolation plots, in the order they are drawn."""
    kinds: np.ndarray | None
    """Each trial's worst sick issue type (:func:`trial_kinds`), in table order; None without isolation plots."""
    curves: CurveTable | None
    trial_ids: list[str] | None
    """The results table's ids, when there are curves (the healthy reference is one of these trials)."""
    max_buckets: int = 12

    def for_sending(self) -> PicturePlan:
        """The plan with only what the pictures read, to pickle for another process.

        Without curves the issue rows are dropped (the isolation plots read each trial's
        worst issue from :attr:`kinds`); the associations kept are the heatmap's (bucket
        and value regions) and the patterns'; the table keeps the plotted hyperparameters,
        those the patterns name (a pattern's categorical colours the points) and the main
        metric. The pictures drawn from it are the same.
        """
        d = self.diagnosis
        named = {p.association_id for p in d.patterns}
        slim = replace(d, associations=[a for a in d.associations if a.rule in ("bucket", "value") or a.id in named])
        if self.curves is None:
            slim = replace(slim, issues=IssueColumns.of_rows([]))
        table = self.table
        if table is not None and self.hyperparameters:
            metric, _ = main_metric(table, d)
            keep = [c for c in table.hyperparameters.columns
                    if c in self.hyperparameters or any(c in (p.hyperparameters or [p.hyperparameter]) for p in d.patterns)]
            table = replace(table, ids=table.ids.iloc[:0], status=table.status.iloc[:0], status_raw=None,
                            metrics=table.metrics[[metric]], missing=table.missing[[metric]], epochs=None,
                            runtime=None, hyperparameters=table.hyperparameters[keep], errors=None, seeds=None,
                            budget=None, best_epoch=None, outcomes=None)
        elif table is not None:
            table = None
        return replace(self, diagnosis=slim, table=table)


def picture_plan(summary: Diagnosis | dict[str, Any], *, table: TrialTable | None = None,
                 curves: CurveTable | None = None, max_plots: int = 4, max_buckets: int = 12) -> PicturePlan:
    """What the report's pictures are drawn from: the diagnosis, the isolation plots' hyperparameters and trials.

    The isolation plots are those of the important numeric hyperparameters (patterns first:
    :func:`by_importance`) with 3 or more distinct values, at most ``max_plots``, when the
    table has a main metric (:func:`main_metric`).
    """
    diagnosis = Diagnosis.of(summary)
    hyperparameters: list[str] = []
    kinds = None
    if table is not None and len(table) and main_metric(table, diagnosis)[0] is not None:
        numeric = [hp for hp, span in table.extents().items() if span.n_values >= 3]
        hyperparameters = by_importance(diagnosis, numeric)[:max_plots]
        kinds = trial_kinds(table, diagnosis)
    trial_ids = table.ids.tolist() if table is not None and curves is not None else None
    return PicturePlan(diagnosis, table, hyperparameters, kinds, curves, trial_ids, max_buckets)
