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


def mark_abandoned(frame: pd.DataFrame, status: str, start: str, source: str) -> list[str]:
    """Rewrite the status of runs left RUNNING long ago to ``ABANDONED`` (read as killed); one note saying so.

    A run still running whose start is older than most finished runs' starts (more
    than half of them started after it, at least 3 finished) will not finish: its
    worker died. The run that started last and is still running stays ``running``.
    ``frame`` is changed in place; ``start`` holds times as text (ISO or
    ``YYYY-MM-DD HH:MM:SS``).
    """
    from core.status import normalize_status

    if status not in frame.columns or start not in frame.columns:
        return []
    ours = normalize_status(frame[status])
    running = (ours == "running").to_numpy().copy()
    if not running.any():
        return []
    starts = pd.to_datetime(frame[start], errors="coerce", utc=True, format="mixed")
    finished = np.sort(starts[ours.isin(["completed", "failed", "killed", "timeout", "pruned"]).to_numpy()].dropna()
                       .to_numpy(dtype="datetime64[ns]"))
    running &= starts.notna().to_numpy()
    if len(finished) < 3 or not running.any():
        return []
    rows = np.flatnonzero(running)
    later = len(finished) - np.searchsorted(finished, starts.iloc[rows].to_numpy(dtype="datetime64[ns]"), side="right")
    keep = later > len(finished) / 2
    if not keep.any():
        return []
    frame.loc[frame.index[rows[keep]], status] = "ABANDONED"
    detail = ", ".join(f"{int(n)} of {len(finished)}" for n in later[keep][:5])
    return [f"{source}: {int(keep.sum())} run(s) still marked running started before most finished runs "
            f"({detail} finished runs started later): abandoned (a worker that died), read as killed"]
