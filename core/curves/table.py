"""The typed long table of per-epoch (or per-step) curves: :class:`CurveTable`.

A curves file is in long format, one row per (trial, step): a trial id column, a step
column (``epoch``, ``step``, ``training_iteration``, ``iter``, W&B's ``_step``, ...) and
one column per metric. As in :mod:`core.values`, an empty cell means *not logged at that
step* (W&B logs each metric at its own steps) and ``nan``/``inf`` are values the run
reported. :func:`core.curves.build.build_curve_table` builds it from a raw long table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.curves.segments import View, make_view, seg_reduce
from core.roles import MetricInfo


@dataclass
class CurveTable:
    """Curves in long format, typed and sorted by (trial, step).

    Rows of one trial are contiguous (trials in order of first appearance in the file),
    steps strictly increase within a trial, and rows that logged different metrics at
    the same step have been merged into one. Treat it as immutable: per-metric views
    that the detectors share are memoised on it.

    Attributes
    ----------
    trial_ids : pd.Index of str
        The distinct trial ids, in order of first appearance; ``codes`` index into it.
    codes : np.ndarray of int64, shape (n_rows,)
        Trial of each row (non-decreasing).
    step : np.ndarray of float64, shape (n_rows,)
        Step of each row (finite; strictly increasing within a trial).
    metrics : pd.DataFrame of float64, shape (n_rows, n_metrics)
        Metric values as reported (NaN and +/-inf included); NaN also where missing.
    missing : pd.DataFrame of bool
        Same shape as ``metrics``: True where nothing was logged at that step.
    info : dict of str to MetricInfo
        What each metric column measures (see :func:`core.roles.classify_metric`).
    id_column, step_column : str
        Names of the trial id and step columns in the file.
    trial_columns : pd.DataFrame
        One row per trial (aligned with ``trial_ids``), text cells (``str`` or None):
        columns constant within every trial (hyperparameters, seeds, ...), and the last
        logged value of status, runtime and error-message columns.
    ignored : dict of str to str
        Every other column -> why it was left out (e.g. it varies within a trial but
        is not a metric, like a learning-rate schedule or a timestamp).
    source : str
        File name used in messages.
    notes : list of str
        Things the user should know about how the curves were read.
    """

    trial_ids: pd.Index
    codes: np.ndarray
    step: np.ndarray
    metrics: pd.DataFrame
    missing: pd.DataFrame
    info: dict[str, MetricInfo]
    id_column: str
    step_column: str
    trial_columns: pd.DataFrame
    ignored: dict[str, str] = field(default_factory=dict)
    source: str = "<curves>"
    notes: list[str] = field(default_factory=list)
    _memo: dict[object, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def n_trials(self) -> int:
        """Number of distinct trials."""
        return len(self.trial_ids)

    @property
    def ids(self) -> np.ndarray:
        """Trial id (str) of every row."""
        return self.trial_ids.to_numpy(dtype=object)[self.codes]

    @property
    def offsets(self) -> np.ndarray:
        """Row offsets of the trials: trial ``k`` is rows ``offsets[k]:offsets[k+1]``."""
        if "offsets" not in self._memo:
            self._memo["offsets"] = np.concatenate([[0], np.cumsum(np.bincount(self.codes, minlength=self.n_trials))])
        return self._memo["offsets"]  # type: ignore[return-value]

    def first_step(self) -> np.ndarray:
        """First step of every trial, shape (n_trials,)."""
        return self.step[self.offsets[:-1]]

    def last_step(self) -> np.ndarray:
        """Last step of every trial, shape (n_trials,)."""
        return self.step[self.offsets[1:] - 1]

    def last_logged_row(self, col: str) -> np.ndarray:
        """Per trial, the row of the last value of ``col`` it logged (-1 if none), shape (n_trials,)."""
        present = ~self.missing[col].to_numpy()
        return seg_reduce(np.maximum, np.where(present, np.arange(len(self)), -1), self.codes, self.n_trials, -1,
                          self.offsets[:-1])

    def view(self, col: str, positive: bool = False) -> View:
        """The finite (and, if ``positive``, positive) logged values of one metric, as segments (memoised)."""
        key = ("view", col, positive)
        if key not in self._memo:
            y = self.metrics[col].to_numpy()
            keep = ~self.missing[col].to_numpy() & np.isfinite(y)
            if positive:
                keep &= y > 0
            if keep.all():
                self._memo[key] = View(y=y, codes=self.codes, step=self.step, starts=self.offsets[:-1])
            else:
                rows = np.flatnonzero(keep)
                self._memo[key] = make_view(y[rows], self.codes[rows], self.step[rows])
        return self._memo[key]  # type: ignore[return-value]

    def first_view(self, cols: list[str | None], positive: bool = False) -> tuple[View, np.ndarray]:
        """Per trial, the finite values of the first of ``cols`` it logged any finite value of.

        Returns the view and, per trial, the name of the column used (None if none).
        """
        names = [c for c in dict.fromkeys(cols) if c]
        key = ("first", tuple(names), positive)
        if key in self._memo:
            return self._memo[key]  # type: ignore[return-value]
        n = self.n_trials
        views = [self.view(c) for c in names]
        chosen = np.full(n, -1)
        for k, v in enumerate(views):
            has = np.zeros(n, dtype=bool)
            has[v.codes[v.starts]] = True
            chosen[(chosen < 0) & has] = k
        used = np.array([*names, None], dtype=object)[chosen]
        if not views:
            empty = np.zeros(0)
            result = (make_view(empty, empty.astype(np.int64), empty), used)
        elif not (chosen > 0).any():
            result = (self.view(names[0], positive), used)  # every trial uses the first column
        else:
            parts = []
            for k, c in enumerate(names):
                v = self.view(c, positive)
                keep = chosen[v.codes] == k
                parts.append((v.y[keep], v.codes[keep], v.step[keep]))
            y, codes, step = (np.concatenate([p[i] for p in parts]) for i in range(3))
            order = np.argsort(codes, kind="stable")  # each trial comes from one column: step order is kept
            result = (make_view(y[order], codes[order], step[order]), used)
        self._memo[key] = result
        return result

    def blocks(self, rows: int) -> list[CurveTable]:
        """The table cut into consecutive blocks of whole trials of about ``rows`` rows each."""
        if len(self) <= rows:
            return [self]
        offsets = self.offsets
        cuts = np.unique(np.searchsorted(offsets, np.arange(0, len(self), rows), side="left"))
        bounds = [*cuts[cuts < self.n_trials].tolist(), self.n_trials]
        blocks = []
        for k0, k1 in zip(bounds[:-1], bounds[1:]):
            a, b = int(offsets[k0]), int(offsets[k1])
            blocks.append(CurveTable(
                trial_ids=self.trial_ids[k0:k1],
                codes=self.codes[a:b] - k0,
                step=self.step[a:b],
                metrics=self.metrics.iloc[a:b].reset_index(drop=True),
                missing=self.missing.iloc[a:b].reset_index(drop=True),
                info=self.info,
                id_column=self.id_column,
                step_column=self.step_column,
                trial_columns=self.trial_columns.iloc[k0:k1].reset_index(drop=True),
                ignored=self.ignored,
                source=self.source,
            ))
        return blocks
