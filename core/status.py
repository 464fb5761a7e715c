"""Normalising the status words of sweep tools to one vocabulary.

Every tool's words are known: Optuna COMPLETE/FAIL/PRUNED/RUNNING/WAITING, W&B
finished/crashed/failed/killed/preempted/preempting/running/pending, MLflow
FINISHED/FAILED/KILLED/RUNNING/SCHEDULED, Ray Tune TERMINATED/ERROR/RUNNING/PENDING/
PAUSED, Keras Tuner COMPLETED/FAILED/INVALID/RUNNING/IDLE/STOPPED.

Ours: ``completed``, ``failed``, ``killed``, ``timeout``, ``pruned``, ``running`` and
``unknown`` (no status column, an empty cell, or a word we do not know; the raw word
is kept by the caller).

``running`` is every run with no outcome yet: still running, waiting or queued at export,
and ``abandoned`` (the word the readers write for a run left running by a worker that
stopped, :func:`core.sources._common.mark_abandoned`): its process is gone, but nothing
recorded how or why, so it too sits out of every comparison. ``killed`` keeps a cause
the tracker recorded (W&B's killed/preempted, MLflow's KILLED: the run was stopped).

``pruned`` covers both stops before the budget that are by design: a tuner's pruner and
early stopping on patience. The comparisons treat them alike; the counts shown to the
user (:func:`status_counts`) tell them apart by the raw word, as the data does.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from core.values import text_matches

STATUSES = ("completed", "failed", "killed", "timeout", "pruned", "running", "unknown")
ENDED = ("completed", "failed", "killed", "timeout", "pruned")
"""The statuses of a run that ended (with whatever outcome): not running, not unknown."""
EARLY_STOPPED = "early_stopped"
"""The counted status of a ``pruned`` run whose own status word says early stopping (see :func:`status_counts`)."""
EARLY_STOP = re.compile(r"early|stop", re.IGNORECASE)
"""A raw status word saying the run was stopped early (``early_stopped``, ``EarlyStopped``, ``stopped_early``)."""

_VOCABULARY: dict[str, str] = {}
for _ours, _words in {
    "completed": "completed complete finished finish success succeeded successful done ok "
    "terminated",
    "failed": "failed fail failure error errored crashed crash exception invalid memoryout oom",
    "killed": "killed kill interrupted cancelled canceled preempted preempting aborted abort stopped",
    "timeout": "timeout timed_out timedout time_out time_limit deadline_exceeded",
    "pruned": "pruned early_stopped early_stop earlystopped stopped_early earlystop",
    "running": "running pending waiting scheduled queued paused started created idle abandoned",
}.items():
    _VOCABULARY.update(dict.fromkeys(_words.split(), _ours))


def normalize_status(raw: pd.Series) -> pd.Series:
    """Map raw status cells to our vocabulary (see module docstring).

    Case, surrounding spaces, ``-``/space separators and enum prefixes such as
    ``TrialState.`` are ignored: ``"TrialState.COMPLETE"``, ``"Finished"`` and
    ``"success"`` all become ``"completed"``. Each distinct word is looked up once,
    so a million trials cost one factorisation.
    """
    codes, words = pd.factorize(raw, use_na_sentinel=True)
    ours = np.array([_normalize_word(str(w)) for w in words] + ["unknown"], dtype=object)
    return pd.Series(ours[codes], index=raw.index, name=raw.name, dtype=object)  # code -1 (missing) is "unknown"


def said_early_stop(status: pd.Series, status_raw: pd.Series) -> np.ndarray:
    """Where a ``pruned`` trial's raw status word says early stopping (not a tuner's pruner)."""
    return (status.to_numpy() == "pruned") & text_matches(status_raw, EARLY_STOP)


def status_counts(status: pd.Series, status_raw: pd.Series) -> dict[str, int]:
    """How many trials ended each way, in our words, in order of frequency; early stopping apart from pruning.

    ``status`` holds our words (:func:`normalize_status`), ``status_raw`` the cells they
    came from, on the same index. A ``pruned`` trial whose raw word says early stopping
    is counted as :data:`EARLY_STOPPED`: no tuner was involved, and saying "pruned" of it
    would be a fact the data does not hold.
    """
    shown = status.where(~said_early_stop(status, status_raw), EARLY_STOPPED)
    return {str(k): int(v) for k, v in shown.value_counts().items()}


def _normalize_word(word: str) -> str:
    """Our status for one raw status word (``"unknown"`` if we do not know it)."""
    key = _SEPARATORS.sub("_", _ENUM_PREFIX.sub("", word.strip().lower()))
    return _VOCABULARY.get(key, "unknown")


_ENUM_PREFIX = re.compile(r"^.*\.")
_SEPARATORS = re.compile(r"[\s\-]+")
