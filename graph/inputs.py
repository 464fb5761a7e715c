"""The sweep a run's inputs name, read once per process: the graph's state holds no table cells.

The load node reads the sweep through the one reader seam (:func:`core.sources.read_sweep`,
or records) and keeps it here, in a small in-process cache keyed on the inputs (path,
format, study, curves, mapping); the detect node and the pictures take it from the cache
and build each typed table once. A file or directory read again is re-read only when it
changed (modification time and size); records, a storage URL or a server are read afresh
by every load node, since nothing says whether they changed. A process that did not run the load
node (a resumed Studio thread) reads the inputs again.

Once the typed trial table of a file's sweep is built, the sweep's text cells are let go
(:meth:`Loaded.trial_table`): at a million trials they and their parsed columns are 400 MB
that nothing of the run reads again. What the load node found (:meth:`Loaded.facts`) and
the typed tables stay; a caller asking for the cells again (the web page's trial rows,
other roles) has the file read again.
"""

from __future__ import annotations

import copy
import gc
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from core.curves import CurveTable, build_curve_table
from core.errors import InputError
from core.loading import RawTable
from core.roles import ColumnRoles
from core.sources import apply_mapping, mark_running_best, read_curves, read_sweep
from core.sources.records import read_frame, read_records, read_study
from core.sweep import Sweep
from core.table import TrialTable, build_trial_table

INPUT_KEYS = ("results_path", "records", "format", "study", "curves_path", "mapping")
"""The keys the graph takes as input (see :class:`graph.state.InputState`)."""

_KEEP = 2  # sweeps kept (a run and the one before it: Studio re-runs, the web app)


@dataclass
class Loaded:
    """A sweep as read, with the typed tables built from it (each built once).

    ``inputs``, when given, are the state's input keys the sweep was read from: a sweep
    read from a file (``version`` known) lets its text cells go once its trial table is
    built, and :meth:`raw` reads them again should anyone ask.
    """

    sweep: Sweep
    version: tuple[Any, ...] | None
    records: Any = None
    inputs: dict[str, Any] | None = None
    _tables: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: bool = False

    def trial_table(self, roles: ColumnRoles) -> TrialTable:
        """The typed trial table for these roles (:func:`core.table.build_trial_table`).

        The first one built from a file lets the sweep's text cells go (``sweep.trials``
        keeps its source, format and notes, with no rows).
        """
        key = "trials:" + json.dumps(roles.to_dict(), sort_keys=True, default=str)
        with self._lock:
            if key not in self._tables:
                self._tables[key] = build_trial_table(self._raw(), roles)
                if self.version is not None and self.inputs is not None and not self._released:
                    # no local name may hold the old frame: its cells must be gone before the collection below
                    self.sweep = replace(self.sweep, trials=_without_rows(self.sweep.trials))
                    self._released = True
                    gc.collect()  # pandas' frames are in reference cycles: a collection frees their columns now
                    pa.default_memory_pool().release_unused()  # else Arrow's allocator keeps the pages a while
            return self._tables[key]

    def raw(self) -> RawTable:
        """The trials as text cells (read again from the file if they were let go)."""
        with self._lock:
            return self._raw()

    def _raw(self) -> RawTable:
        if self._released:
            assert self.inputs is not None
            return _read(self.inputs).trials
        return self.sweep.trials

    def facts(self, compute: Callable[[Sweep], dict[str, Any]]) -> dict[str, Any]:
        """``compute(sweep)`` (the load node's facts of the sweep), computed once: a copy of it each time."""
        with self._lock:
            if "facts" not in self._tables:
                self._tables["facts"] = compute(replace(self.sweep, trials=self._raw()))
            return copy.deepcopy(self._tables["facts"])

    def curve_table(self) -> CurveTable | None:
        """The typed curve table (:func:`core.curves.build_curve_table`), or None without curves."""
        if self.sweep.curves is None:
            return None
        with self._lock:
            if "curves" not in self._tables:
                built = self.sweep.built_curves()  # a curves file alone: typed once, by its reader
                self._tables["curves"] = built if built is not None else build_curve_table(self.sweep.curves,
                                                                                             self.sweep.curve_hints)
            return self._tables["curves"]


def _without_rows(trials: RawTable) -> RawTable:
    """The table's source, format and notes, and its columns with no rows.

    The empty columns are new: a slice of no rows of an Arrow-backed column still holds its buffers.
    """
    frame = trials.frame
    empty = pd.DataFrame({i: pd.array([], dtype=dtype) for i, dtype in enumerate(frame.dtypes)})
    empty.columns = frame.columns
    return replace(trials, frame=empty)


_cache: OrderedDict[str, Loaded] = OrderedDict()
_cache_lock = threading.Lock()


def check_inputs(state: Mapping[str, Any]) -> None:
    """A clear error when the input names no sweep (the graph never falls back to ``./results.csv``)."""
    if state.get("records") or state.get("results_path"):
        return
    raise InputError("no sweep given: the graph takes 'results_path' (a file, directory or storage URL) or "
                     "'records' (a list of dicts, one per trial), with optional 'format', 'study', 'curves_path' "
                     "and 'mapping' (LangGraph drops other keys before the graph sees them)")


def load_sweep(state: Mapping[str, Any]) -> Loaded:
    """Read the inputs' sweep for the load node: from the cache if a file is unchanged, else afresh."""
    check_inputs(state)
    key, version = _key(state), _version(state)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and version is not None and hit.version == version and _same_records(hit, state):
        return hit
    loaded = Loaded(_read(state), version, state.get("records"), {k: state[k] for k in INPUT_KEYS if k in state})
    with _cache_lock:
        _cache[key] = loaded
        _cache.move_to_end(key)
        while len(_cache) > _KEEP:
            _cache.popitem(last=False)
    return loaded


def sweep_of(state: Mapping[str, Any]) -> Loaded:
    """The sweep the load node of this run read (or, in another process, the inputs read again)."""
    check_inputs(state)
    with _cache_lock:
        hit = _cache.get(_key(state))
    if hit is not None and _same_records(hit, state):
        return hit
    return load_sweep(state)


def trial_columns(state: Mapping[str, Any]) -> dict[str, list[str | None]] | None:
    """The trials as text cells column by column, or None when the state names no sweep (a watch's summary)."""
    if not (state.get("records") or state.get("results_path")):
        return None
    return sweep_of(state).raw().to_columns()


def _read(state: Mapping[str, Any]) -> Sweep:
    mapping = dict(state.get("mapping") or {})
    if state.get("records"):
        return read_given(state["records"], curves=state.get("curves_path"), mapping=mapping)
    return read_given(state["results_path"], format=state.get("format"), study=state.get("study"),
                      curves=state.get("curves_path"), mapping=mapping)


def read_given(sweep: Any, *, format: str | None = None, study: str | None = None,
               curves: str | os.PathLike[str] | None = None, mapping: dict[str, str] | None = None) -> Sweep:
    """The sweep from whatever a caller gave, with ``curves`` and ``mapping`` applied.

    ``sweep`` is a path or storage URL (read by :func:`core.sources.read_sweep`), a pandas
    DataFrame, a live ``optuna.Study`` or a list of dicts, one per trial.
    """
    mapping = dict(mapping or {})
    if isinstance(sweep, (str, os.PathLike)):
        return read_sweep(sweep, format=format, study=study, curves=curves, mapping=mapping)
    if format is not None or study is not None:
        raise InputError("format= and study= apply to a path or URL, not to a sweep given in memory")
    if isinstance(sweep, pd.DataFrame):
        read = read_frame(sweep)
    elif hasattr(sweep, "get_trials") and hasattr(sweep, "study_name"):
        read = read_study(sweep)
    elif isinstance(sweep, Sequence) and not isinstance(sweep, (str, bytes)):
        read = read_records(sweep)
    else:
        raise InputError(f"cannot diagnose a {type(sweep).__name__}: give a path, a pandas DataFrame, an optuna.Study "
                         "or a list of dicts (one per trial)")
    if curves is not None:
        read.curves = read_curves(curves, read, mapping)
    apply_mapping(read, mapping)
    mark_running_best(read, mapping)
    return read


def _same_records(hit: Loaded, state: Mapping[str, Any]) -> bool:
    return hit.records is state.get("records")


def _key(state: Mapping[str, Any]) -> str:
    records = state.get("records")
    given = {k: state.get(k) for k in INPUT_KEYS if k != "records"}
    given["records"] = id(records) if records else None
    return json.dumps(given, sort_keys=True, default=str)


def _version(state: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Modification time and size of the input's files; None when they cannot say (records, a URL, a server).

    Records are always read again by the load node: a caller may have changed the list
    it passes again.
    """
    if state.get("records"):
        return None
    parts = [_stamp(str(state["results_path"]))]
    if state.get("curves_path"):
        parts.append(_stamp(str(state["curves_path"])))
    return None if None in parts else tuple(parts)


def _stamp(name: str) -> tuple[int, int] | None:
    """Newest modification time and total size of a file, or of the files under a directory."""
    path = Path(name)
    try:
        if path.is_file():
            st = path.stat()
            return st.st_mtime_ns, st.st_size
        if not path.is_dir():
            return None
        newest, total = path.stat().st_mtime_ns, 0
        for root, _, files in os.walk(path):
            for f in files:
                st = os.stat(os.path.join(root, f))
                newest, total = max(newest, st.st_mtime_ns), total + st.st_size
        return newest, total
    except OSError:
        return None

