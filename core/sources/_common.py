"""Helpers every reader shares: text cells, flat records, readable column names, table files.

Readers turn what a tool wrote (JSON, SQLite rows, CSV) into text cells, so that a
NaN the trial reported stays the text ``"nan"`` and a value never reported stays
``None`` (see :mod:`core.values`).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InputError
from core.loading import RawTable, parse_results_bytes, read_input_bytes
from core.values import format_number, parse_numeric

SINGLE_ROLES = ("id", "status", "epochs", "runtime", "error", "seed")
"""Roles at most one column can have."""


def text(value: Any) -> str | None:
    """One value as a text cell: ``None`` stays missing, non-finite floats become ``nan``/``inf``/``-inf``.

    Floats are written in their shortest round-trip form (``0.1``, ``1e-05``), booleans
    as ``true``/``false``, lists and dicts as JSON.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, allow_nan=True, default=str)
    try:
        return text(float(value))  # numpy scalars
    except (TypeError, ValueError):
        return str(value)


def frame_of(rows: list[dict[str, str | None]], columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows of text cells as a frame of objects, ``None`` where a row lacks a column."""
    order = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))
    frame = pd.DataFrame([{c: row.get(c) for c in order} for row in rows], columns=order, dtype=object)
    return frame.astype(object).where(frame.notna(), None)


def readable_names(columns: list[str], prefixes: list[str]) -> dict[str, str]:
    """Column -> name without a tool's prefix (``params_lr`` -> ``lr``), where that is collision-free.

    Prefixes are tried in the order given, so ``params_x`` wins ``x`` over
    ``user_attrs_x``; a name that another column already has is never taken.
    """
    taken = set(columns)
    renames: dict[str, str] = {}
    for prefix in prefixes:
        for col in columns:
            if col in renames or not col.startswith(prefix) or len(col) == len(prefix):
                continue
            new = col[len(prefix):]
            if new not in taken:
                renames[col] = new
                taken.add(new)
    return renames


def rename_note(source: str, renames: dict[str, str], what: str) -> list[str]:
    """One note saying which prefixes were dropped, with an example."""
    if not renames:
        return []
    first, new = next(iter(renames.items()))
    more = f" and {len(renames) - 1} more" if len(renames) > 1 else ""
    return [f"{source}: {what} columns are shown without their prefix ({first} -> {new}{more})"]


def merge_hints(
    hints: dict[str, str], mapping: Mapping[str, str] | None, renames: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The reader's hints with the user's ``--map`` entries over them.

    A ``--map`` entry may name a column by its name in the file (``params_lr``) or as
    shown (``lr``). When the user gives a single-valued role (id, status, ...) to a
    column, a reader hint giving that role to another column is dropped.
    """
    merged = dict(hints)
    renames = dict(renames or {})
    for col, spec in (mapping or {}).items():
        col = renames.get(col, col)
        role = spec.strip().partition(":")[0].strip().lower()
        if role in SINGLE_ROLES:
            merged = {c: s for c, s in merged.items() if c == col or s.partition(":")[0] != role}
        merged[col] = spec
    return merged


def read_table(path: Path, name: str | None = None) -> RawTable:
    """A CSV, TSV (optionally gzipped) or Parquet file as text cells."""
    name = name or str(path)
    data = read_input_bytes(path, name)  # gunzipped, within the size bound, never from a FIFO or device
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes = suffixes[:-1]
    if data[:4] == b"PAR1":
        return read_parquet_bytes(data, name)
    return parse_results_bytes(data, name, tab=bool(suffixes) and suffixes[-1] in {".tsv", ".tab"})


def read_parquet_bytes(data: bytes, name: str) -> RawTable:
    """A Parquet table as text cells (NaN -> ``"nan"``, null -> ``None``)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise InputError(f"{name}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{name}: cannot read as Parquet ({str(exc).splitlines()[0]})") from None
    if table.num_rows == 0:
        raise InputError(f"{name}: Parquet file has no rows")
    columns = {str(col): [text(_plain(v)) for v in table.column(i).to_pylist()]
               for i, col in enumerate(table.column_names)}
    if len(set(columns)) != len(table.column_names):
        raise InputError(f"{name}: duplicate column names in the Parquet schema")
    frame = pd.DataFrame(columns, dtype=object)
    return RawTable(frame=frame.astype(object).where(frame.notna(), None), source=name)


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return value


def read_json(path: Path, what: str) -> Any:
    """A JSON file (NaN/Infinity tokens allowed, as Python writes them), or an InputError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: {what} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def last_line(path: Path) -> str | None:
    """The last non-empty line of a text file (an exception's message in a traceback), ANSI colours removed."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    clean = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in lines]
    return next((line for line in reversed(clean) if line), None)


def describe_dir(path: Path, limit: int = 4) -> str:
    """``"a directory with 3 entries (a.txt, b/, c.json)"`` for error messages."""
    try:
        entries = sorted(os.listdir(path))
    except OSError as exc:
        return f"a directory that cannot be listed ({exc.strerror or exc})"
    if not entries:
        return "an empty directory"
    shown = [e + ("/" if (path / e).is_dir() else "") for e in entries[:limit]]
    more = ", ..." if len(entries) > limit else ""
    return f"a directory with {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} ({', '.join(shown)}{more})"


def space_entry(kind: str, source: str, low: Any = None, high: Any = None, log: bool = False, step: Any = None,
                choices: list[Any] | None = None) -> dict[str, Any]:
    """One parameter of a declared search space, in the shape of :attr:`core.sweep.Sweep.space`.

    ``kind`` is ``float``, ``int`` or ``categorical``; numbers are made plain Python
    numbers (``int`` for an int range) and choices JSON-native (bool, int, float, str
    or None; anything else as its text).
    """
    def number(value: Any) -> float | int | None:
        if value is None:
            return None
        return int(value) if kind == "int" and float(value).is_integer() else float(value)

    return {
        "kind": kind,
        "low": number(low),
        "high": number(high),
        "log": bool(log),
        "step": number(step) if step not in (None, 0) else None,
        "choices": None if choices is None else [_plain_choice(c) for c in choices],
        "source": source,
    }


def _plain_choice(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else text(value)
    try:
        number = float(value)  # numpy scalars
    except (TypeError, ValueError):
        return str(value)
    return int(number) if number.is_integer() and "int" in type(value).__name__ else number


ABANDONED_FACTOR = 10
"""A run still marked running is abandoned once it started more than this many median durations (and more than
the longest finished run took) before the last finished run ended."""


RAN_ITS_COURSE = ("completed", "timeout")
"""Statuses of a run whose duration bounds a live run's: it ran until it was done, or until the time limit."""


def mark_abandoned(frame: pd.DataFrame, status: str, start: str, source: str, *, end: str | None = None,
                   runtime: str | None = None, results: Iterable[str] = ()) -> list[str]:
    """Rewrite the status of runs left running by a worker that stopped to ``ABANDONED``; one note saying so.

    A run still marked running (or waiting) at export either is still running or was left so when its
    worker died (a crash of the machine or job, preemption, a closed notebook: Optuna, MLflow and Ray
    Tune never mark it failed). Told apart by the sweep's own times: a run that started before the last
    finished run ended by more than ``max(ABANDONED_FACTOR x the median duration of the runs that went
    the whole way (completed, or cut by the time limit), the longest of them)`` could not still be
    running in a healthy sweep, so it is abandoned. Either way it has no outcome (``ABANDONED`` reads as
    ``running``, see :mod:`core.status`): no comparison counts it, since its hyperparameters say what the
    sampler proposed when the worker stopped, not why it did.

    ``start`` and ``end`` hold times as text (ISO or ``YYYY-MM-DD HH:MM:SS``; naive times are read as
    UTC, unparseable ones as missing); without an ``end`` column, or where it is empty, a finished run
    ends ``runtime`` seconds (a number or a duration such as ``0 days 00:01:40``) after its start.
    Nothing is marked without a completed (or timed-out) run whose duration is known, or for a run with
    no start time. ``results`` (the objective's columns) limit the runs that went the whole way to those
    whose every result is finite: a run whose objective returned +inf gave up, often in a fraction of a
    second, and says nothing of how long a run takes (the note says which runs were counted).
    ``frame`` is changed in place.
    """
    from core.status import ENDED, normalize_status

    if status not in frame.columns or start not in frame.columns:
        return []
    ours = normalize_status(frame[status])
    running = (ours == "running").to_numpy()
    if not running.any():
        return []
    starts = _epoch_seconds(frame[start])
    ends = _epoch_seconds(frame[end]) if end is not None and end in frame.columns else np.full(len(frame), np.nan)
    if runtime is not None and runtime in frame.columns:
        ends = np.where(np.isnan(ends), starts + _seconds(frame[runtime]), ends)
    took = ends - starts
    timed = ours.isin(ENDED).to_numpy() & (took >= 0)  # a missing time (NaN), an end before the start: left out
    # only a run that went the whole way says how long a live one may take: a pruned, failed or killed run ended
    # early (in a study that prunes hard, a good trial runs for minutes beside runs pruned in seconds)
    whole = timed & ours.isin(RAN_ITS_COURSE).to_numpy()
    results = [c for c in results if c in frame.columns]
    for column in results:
        whole &= np.isfinite(parse_numeric(frame[column])[0].to_numpy(dtype=float))
    if not whole.any():
        return []
    durations = took[whole]
    median, longest = float(np.median(durations)), float(durations.max())
    limit = max(ABANDONED_FACTOR * median, longest)
    before = ends[timed].max() - starts  # the sweep was alive when any run last ended
    abandoned = running & (before > limit)  # NaN (no start time) compares False
    if not abandoned.any():
        return []
    frame.iloc[np.flatnonzero(abandoned), frame.columns.get_loc(status)] = "ABANDONED"  # by position: any index
    least, most = _span(before[abandoned].min()), _span(before[abandoned].max())
    spans = most if least == most else f"{least} to {most}"
    went = "the runs that went the whole way" + (" to a finite result" if results else "")
    return [f"{source}: {int(abandoned.sum())} run(s) still marked running started long before the last finished "
            f"run ended ({spans} before it; {went} took {_span(median)} (median), {_span(longest)} at "
            "most): left running by a worker that stopped, read as abandoned (no outcome, compared nowhere)"]


def _epoch_seconds(cells: pd.Series) -> np.ndarray:
    """Text times as seconds since 1970 UTC (naive times read as UTC); NaN where missing or unparseable."""
    times = pd.to_datetime(cells.astype(object), errors="coerce", utc=True, format="mixed").dt.tz_convert(None)
    micro = times.to_numpy().astype("datetime64[us]")  # any year a time column holds (nanoseconds end in 2262)
    return np.where(np.isnat(micro), np.nan, micro.astype("int64") / 1e6)


def _seconds(cells: pd.Series) -> np.ndarray:
    """Durations in seconds: numbers as they are, ``0 days 00:01:40`` parsed; NaN if missing, unparseable, infinite."""
    numbers = pd.to_numeric(cells.astype(object), errors="coerce").to_numpy(dtype=float, copy=True)
    rest = np.isnan(numbers) & cells.notna().to_numpy()
    if rest.any():
        parsed = pd.to_timedelta(cells[rest].astype(object), errors="coerce")
        numbers[rest] = parsed.dt.total_seconds().to_numpy(dtype=float)
    return np.where(np.isfinite(numbers), numbers, np.nan)


def _span(seconds: float) -> str:
    """A duration for a note: ``45 s``, ``12 min``, ``3.5 h``, ``11 days``."""
    for unit, size, least in (("days", 86400.0, 2 * 86400.0), ("h", 3600.0, 3600.0), ("min", 60.0, 60.0)):
        if seconds >= least:
            return f"{format_number(seconds / size)} {unit}"
    return f"{format_number(seconds)} s"
