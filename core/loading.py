"""Reading a sweep results file into a frame of raw text cells.

Nothing here interprets values: every cell stays the text the file holds, so that
``NaN`` written by the trial and an empty cell stay distinguishable downstream
(see :mod:`core.values`). Every failure is an :class:`~core.errors.InputError`
whose message names the file and, where it can, the line or column.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import stat
import zlib
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from core.errors import InputError
from core.values import arrow_text

_FALLBACK_ENCODINGS = ("cp1252", "latin-1")
_HEAD_BYTES = 1 << 16  # decoded to find the separator and the header
_TEXT = pd.StringDtype("pyarrow", na_value=float("nan"))  # pandas' default "str" dtype, backed by Arrow
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds on what one input may hold; each can be raised with its environment variable.

    A file past a bound is refused with one line naming the bound and how to raise it,
    before it can exhaust memory: decompressed size is checked while the bytes stream
    in (a gzip bomb stops at the bound, ``/dev/zero`` is refused as a device at once).
    """

    max_bytes: int = 1 << 30
    """Most bytes of one input file, after decompression (env ``HPATH_MAX_INPUT_BYTES``, default 1 GiB)."""
    max_columns: int = 50_000
    """Most columns of a table (env ``HPATH_MAX_COLUMNS``)."""
    max_rows: int = 10_000_000
    """Most rows of a table (env ``HPATH_MAX_ROWS``)."""
    max_cell_chars: int = 1_000_000
    """Most characters in one cell (env ``HPATH_MAX_CELL_CHARS``)."""

    @classmethod
    def from_env(cls) -> Limits:
        """The default bounds, with any the environment sets over them."""
        given = {}
        for f in fields(cls):
            env = _LIMIT_ENV[f.name]
            value = os.environ.get(env, "").strip().replace("_", "")
            if value:
                try:
                    given[f.name] = int(float(value))
                except ValueError:
                    raise InputError(f"{env}={value!r}: expected a whole number") from None
        return cls(**given)


_LIMIT_ENV = {"max_bytes": "HPATH_MAX_INPUT_BYTES", "max_columns": "HPATH_MAX_COLUMNS", "max_rows": "HPATH_MAX_ROWS",
              "max_cell_chars": "HPATH_MAX_CELL_CHARS"}


def check_regular(path: Path, name: str) -> None:
    """Refuse at once what is not a regular file or directory: a FIFO, device or socket would block or never end."""
    try:
        mode = os.stat(path).st_mode
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise InputError(f"{name}: is {kind}, not a file; save the table to a file first")


def check_listable(path: Path, name: str) -> None:
    """Refuse at once a folder that cannot be listed or entered (no read or search permission)."""
    try:
        with os.scandir(path) as entries:
            next(entries, None)
        os.stat(os.path.join(path, os.curdir))  # entering it needs search permission too
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None


def read_input_bytes(path: Path, name: str | None = None, limits: Limits | None = None) -> bytes:
    """The bytes of an input file, gunzipped if gzip-compressed, within :class:`Limits`.

    Neither the file nor its decompressed stream is read past ``max_bytes``. A plain
    file is read in one call sized by its length (no chunks joined: a 150 MB file is
    copied once, not twice), then on to its end in chunks should it have grown. A corrupt
    or truncated gzip stream is an :class:`InputError`.
    """
    name = name or str(path)
    limits = limits or Limits.from_env()
    check_regular(path, name)
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
            if head == b"\x1f\x8b":
                return _gunzip(handle, head, name, limits.max_bytes)
            handle.seek(0)
            size = os.fstat(handle.fileno()).st_size
            return _read_capped(handle.read, name, limits.max_bytes, "file", first=min(size, limits.max_bytes) + 1)
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, expected a file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None


def _read_capped(read: object, name: str, budget: int, what: str, first: int = _CHUNK) -> bytes:
    """Bytes of ``read(n)`` calls until it gives nothing, ``first`` bytes asked for at first; past ``budget``, an error."""
    chunks, total, size = [], 0, max(first, 1)
    while True:
        chunk = read(size)  # type: ignore[operator]
        size = _CHUNK
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > budget:
            raise _too_big(name, what)
        chunks.append(chunk)


def _gunzip(handle: io.BufferedReader, head: bytes, name: str, max_bytes: int) -> bytes:
    """Decompress a gzip stream (members one after another), stopping at ``max_bytes`` of output."""
    out, total = [], 0
    decompressor, fed = zlib.decompressobj(wbits=31), False
    data = head
    try:
        while True:
            if not data:
                data = handle.read(_CHUNK)
                if not data:
                    break
            if not fed and not data.strip(b"\x00"):  # zero padding after the last member
                data = b""
                continue
            fed = True
            piece = decompressor.decompress(data, _CHUNK)  # at most one chunk of output per step
            total += len(piece)
            if total > max_bytes:
                raise _too_big(name, "decompressed file")
            out.append(piece)
            data = decompressor.unconsumed_tail
            if decompressor.eof:  # another member may follow
                data = decompressor.unused_data + data
                decompressor, fed = zlib.decompressobj(wbits=31), False
    except zlib.error as exc:
        raise InputError(f"{name}: corrupt gzip file ({exc})") from None
    if fed:
        raise InputError(f"{name}: truncated gzip file (the compressed stream ends early)")
    return b"".join(out)


def _too_big(name: str, what: str) -> InputError:
    limits = Limits.from_env()
    return InputError(f"{name}: {what} larger than {limits.max_bytes:,} bytes; raise HPATH_MAX_INPUT_BYTES to read it")


def check_table_limits(frame: pd.DataFrame, name: str, limits: Limits | None = None, text_size: int | None = None) -> None:
    """Refuse a table with more rows or columns, or a longer cell, than :class:`Limits` allow.

    ``text_size``, the length of the text the table was read from, bounds every cell:
    when it is within ``max_cell_chars`` the cells are not measured.
    """
    limits = limits or Limits.from_env()
    if frame.shape[1] > limits.max_columns:
        raise InputError(f"{name}: {frame.shape[1]:,} columns, more than {limits.max_columns:,}; "
                         "raise HPATH_MAX_COLUMNS to read it")
    if frame.shape[0] > limits.max_rows:
        raise InputError(f"{name}: {frame.shape[0]:,} rows, more than {limits.max_rows:,}; raise HPATH_MAX_ROWS to read it")
    if text_size is not None and text_size <= limits.max_cell_chars:
        return
    for column, cells in frame.items():
        longest = _longest_cell(cells, limits.max_cell_chars)
        if pd.notna(longest) and longest > limits.max_cell_chars:
            raise InputError(f"{name}: a cell of column {str(column)[:80]!r} holds {int(longest):,} characters, more than "
                             f"{limits.max_cell_chars:,}; raise HPATH_MAX_CELL_CHARS to read it")


def _longest_cell(cells: pd.Series, bound: int) -> float:
    """Characters in the longest cell (NaN when none is text), exact at least when over ``bound`` (Arrow: byte lengths first)."""
    data = arrow_text(cells)
    if data is not None:
        longest = pc.max(pc.binary_length(data)).as_py()  # bytes, read off the offsets: at least the characters
        if longest is not None and longest > bound:
            longest = pc.max(pc.utf8_length(data)).as_py()
        return float("nan") if longest is None else float(longest)
    try:
        return float(cells.str.len().max())
    except (AttributeError, TypeError):  # not text
        return float("nan")


FIRST_DATA_LINE = 2
"""The file line of a table's row 0 (line 1 is the header): error messages name lines as the user sees them."""


@dataclass
class RawTable:
    """A results table as text cells, with where it came from.

    Attributes
    ----------
    frame : pd.DataFrame
        One row per trial, one column per header field, every cell a ``str``
        (empty string for an empty cell) or missing (``None``/NA). Files are read into
        Arrow-backed string columns (pandas' ``str`` dtype); :mod:`core.values` parses
        those without converting cell by cell.
    source : str
        File name (or ``"<records>"``) used in messages.
    notes : list of str
        Things the user should know about how the file was read (e.g. its encoding).
    format : str
        The input format it was read as (``"csv"``, ``"optuna-sqlite"``, ... see
        :data:`core.sources.FORMATS`), stated in the summary and the report.
    """

    frame: pd.DataFrame
    source: str
    notes: list[str] = field(default_factory=list)
    format: str = "csv"

    def to_columns(self) -> dict[str, list[str | None]]:
        """The cells column by column as JSON-native lists: ``str``, or ``None`` where missing.

        This is the form the graph state stores; :meth:`from_columns` turns it back into
        a table (``pd.DataFrame(columns, dtype=object)`` also works, but every column is
        then parsed from Python objects, about three times slower for a large sweep).
        """
        return {str(col): _cells_as_list(self.frame[col]) for col in self.frame.columns}

    @classmethod
    def from_columns(
        cls, columns: dict[str, list[str | None]], source: str, notes: list[str] | None = None, format: str = "csv"
    ) -> RawTable:
        """Inverse of :meth:`to_columns`: Arrow-backed text columns, as :func:`read_results` gives."""
        texts, others = {}, {}
        for col, cells in columns.items():
            try:
                texts[col] = pa.array(cells, type=pa.large_string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text: keep the objects as they are
                others[col] = pd.Series(cells, dtype=object)
        # One Arrow table made a frame at once: a Series per column costs ~0.3 ms, 3 s for 10,000 columns
        frame = pa.Table.from_arrays(list(texts.values()), names=list(texts)).to_pandas(
            types_mapper={pa.large_string(): _TEXT}.get)
        if others:
            frame = pd.concat([frame, pd.DataFrame(others, index=frame.index if texts else None)], axis=1)[list(columns)]
        return cls(frame=frame, source=source, notes=list(notes or []), format=format)


def read_results(path: str | os.PathLike[str]) -> RawTable:
    """Read a CSV or TSV results file (one row per trial) as raw text cells.

    The delimiter is taken from the extension (``.tsv`` is tab) or sniffed from the
    header line (comma, semicolon or tab). UTF-8 (with or without BOM) is expected;
    other bytes are decoded as Windows-1252 and a note says so.

    Raises
    ------
    InputError
        Missing, unreadable, binary, empty or ragged files, and duplicate column names.
    """
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise InputError(f"{name}: file not found")
    if p.is_dir():
        raise InputError(f"{name}: is a directory, expected a CSV or TSV file")
    data = read_input_bytes(p, name)
    return parse_results_bytes(data, name, tab=p.suffix.lower() in {".tsv", ".tab"})


def parse_results_bytes(data: bytes, name: str, *, tab: bool = False) -> RawTable:
    """Parse the bytes of a CSV or TSV table (see :func:`read_results`); ``name`` is used in messages.

    ``tab=True`` forces a tab separator; otherwise it is sniffed from the header line.
    """
    data, notes = _as_utf8(data, name)
    if b"\r" in data and b"\r" in data.replace(b"\r\n", b""):  # old Mac line ends (CR only), maybe mixed
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    head = _head(data)
    if not head.strip() and not data.decode("utf-8").strip():
        raise InputError(f"{name}: file is empty")
    if b"\x00" in data:
        raise InputError(f"{name}: not a text file (contains NUL bytes); expected CSV or TSV")
    sep = "\t" if tab else _sniff_separator(head)
    try:
        header = next(csv.reader(io.StringIO(head.lstrip("\r\n")), delimiter=sep))
    except csv.Error as exc:
        raise InputError(f"{name}: cannot read the header line ({exc})") from None
    _check_header(header, name)
    limits = Limits.from_env()
    if len(header) > limits.max_columns:
        raise InputError(f"{name}: {len(header):,} columns, more than {limits.max_columns:,}; "
                         "raise HPATH_MAX_COLUMNS to read it")
    frame = _read_arrow(data, sep, header)
    if frame is None:  # Arrow refused the file (ragged lines, ...): name the line, or read it row by row
        frame = _read_rows(data, sep, len(header), name)
    if frame.empty:
        raise InputError(f"{name}: has a header but no trial rows")
    check_table_limits(frame, name, limits, text_size=len(data))
    frame.columns = [str(c).strip() for c in frame.columns]
    if sep == ";":
        notes += _decimal_commas(frame, name)
    return RawTable(frame=frame, source=name, notes=notes)


_COMMA_NUMBER = r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?"
_PLAIN_CELL = r"[+-]?\d+(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)|na|null|none|n/a|"


def _decimal_commas(frame: pd.DataFrame, name: str) -> list[str]:
    """Columns of a ';'-separated table written with decimal commas (``0,5``, as Excel does in Europe), made numbers.

    A column qualifies when some cell is such a number and every other cell is an
    integer, a NaN/inf/missing spelling or empty (never a ``.``, so ``1.234,5`` is left
    alone). Its commas become points in place; one note names the columns.
    """
    changed = []
    for col in frame.columns:
        cells = frame[col].dropna().astype(str).str.strip()
        if cells.empty:
            continue
        comma = cells.str.fullmatch(_COMMA_NUMBER)
        if comma.any() and (comma | cells.str.lower().str.fullmatch(_PLAIN_CELL)).all():
            frame[col] = frame[col].where(frame[col].isna(), frame[col].astype(str).str.replace(",", ".", regex=False))
            changed.append(str(col))
    if not changed:
        return []
    shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
    return [f"{name}: a European-locale table (';' separator, decimal commas): {shown} read as numbers"]


def _as_utf8(data: bytes, name: str) -> tuple[bytes, list[str]]:
    """The file's bytes as UTF-8 without BOM, and a note if they had to be re-encoded."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text" export
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: starts with a UTF-16 byte order mark but is not valid UTF-16 ({exc.reason})") from None
        return text.encode("utf-8"), [f"{name}: UTF-16 text with a byte order mark (Excel's \"Unicode text\"), read as such"]
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if data.isascii():
        return data, []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        text, notes = _decode(data, name)
        return text.encode("utf-8"), notes
    return data, []


def _head(data: bytes) -> str:
    """The start of the file as text: at least the first line, for the separator and header."""
    start = 0
    while start < len(data) and data[start] in b"\r\n":  # blank lines before the header
        start += 1
    end = data.find(b"\n", start)
    size = max(_HEAD_BYTES, end + 1 if end >= 0 else len(data))
    return data[:size].decode("utf-8", errors="ignore")  # valid UTF-8, maybe cut mid-character at the end


def _read_arrow(data: bytes, sep: str, header: list[str]) -> pd.DataFrame | None:
    """Read every column as Arrow strings (no type inference: cells stay the file's text).

    Column names are generated and the header comes back as the first row, so that the
    string type can be given to every column whatever the header says. Returns None
    when Arrow cannot read the file as a table of ``len(header)`` columns.
    """
    n_columns = len(header)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(
                delimiter=sep, newlines_in_values=b'"' in data, ignore_empty_lines=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.large_string() for i in range(n_columns)},
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,  # checked (or re-encoded) by _as_utf8
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_columns != n_columns or [table.column(i)[0].as_py() for i in range(n_columns)] != header:
        return None
    table = table.slice(1).rename_columns([h.strip() for h in header])
    return table.to_pandas(types_mapper={pa.large_string(): _TEXT}.get)


def _read_rows(data: bytes, sep: str, n_columns: int, name: str) -> pd.DataFrame:
    """Read, row by row, a file Arrow refused; every row must have the header's fields.

    A ragged file is an error naming the file and the first bad line: a row with fewer
    fields than the header (a row written with another separator, ``2;0.2,0.6`` in a
    comma file, or cells left out, would be shifted or padded and read wrongly) or with
    more. Tolerated, because nothing is lost: blank and whitespace-only lines, and
    trailing separators after the last column (``1,0.5,0.1,`` or ``1,0.5,0.1,,``), whose
    empty fields are dropped.
    """
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace")), delimiter=sep)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if len(row) > n_columns and not any(cell.strip() for cell in row[n_columns:]):
                row = row[:n_columns]  # trailing separators: only empty fields after the last column
            if len(row) != n_columns:
                raise InputError(f"{name}: line {reader.line_num} {_ragged(row, n_columns, sep)}")
            rows.append(row)
    except csv.Error as exc:
        raise InputError(f"{name}: line {reader.line_num}: {exc}") from None
    header, body = rows[0], rows[1:]
    table = pa.Table.from_arrays([pa.array(column, type=pa.large_string()) for column in zip(*body)] if body
                                 else [pa.array([], type=pa.large_string())] * n_columns, names=header)
    return table.to_pandas(types_mapper={pa.large_string(): _TEXT}.get)


def _ragged(row: list[str], n_columns: int, sep: str) -> str:
    """``has 2 fields but the header has 3 (it looks separated by ';')``."""
    other = next((s for s in (";", "\t", ",", "|")  # split on it too, the row would have the header's fields
                  if s != sep and len(row) + sum(cell.count(s) for cell in row) == n_columns), None)
    hint = f" (it looks separated by {other!r})" if other else ""
    return f"has {len(row)} field{'s' * (len(row) != 1)} but the header has {n_columns}{hint}"


def records_to_raw(records: list[dict[str, object]], source: str = "<records>") -> RawTable:
    """Turn in-memory records (one dict per trial) into a :class:`RawTable`.

    ``None`` (or a key a record lacks) is a missing value; any other value becomes its
    text, so ``float("nan")`` becomes ``"nan"``: a value the trial reported.
    """
    if not records:
        raise InputError(f"{source}: no trial records")
    columns = list(dict.fromkeys(str(key).strip() for record in records for key in record))
    _check_header(columns, source)
    keyed = [{str(k).strip(): _as_text(v) for k, v in record.items()} for record in records]
    frame = pd.DataFrame(keyed, columns=columns, dtype=object)
    frame = frame.astype(object).where(frame.notna(), None)
    return RawTable(frame=frame, source=source)


def _cells_as_list(cells: pd.Series) -> list[str | None]:
    data = cells.array.__arrow_array__() if isinstance(cells.dtype, pd.StringDtype | pd.ArrowDtype) else None
    if isinstance(data, pa.ChunkedArray) and (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        return data.to_pylist()  # nulls become None
    return cells.astype(object).where(cells.notna(), None).tolist()


def _as_text(value: object) -> str | None:
    if value is None or value is pd.NA:
        return None
    return value if isinstance(value, str) else str(value)


def _decode(data: bytes, name: str) -> tuple[str, list[str]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        for encoding in _FALLBACK_ENCODINGS:
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            note = (
                f"{name} is not valid UTF-8 (first bad byte on line {line}); "
                f"it was read as {encoding}"
            )
            return text, [note]
    raise InputError(f"{name}: cannot decode the file as text")  # pragma: no cover


def _sniff_separator(text: str) -> str:
    first = text.lstrip("\r\n").splitlines()[0]
    counts = {sep: first.count(sep) for sep in (",", "\t", ";")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] > 0 else ","


def _check_header(header: list[str], name: str) -> None:
    cleaned = [h.strip() for h in header]
    if len(cleaned) < 2:
        raise InputError(
            f"{name}: found {len(cleaned)} column(s); expected a table with a trial id "
            "column and at least one metric column"
        )
    if any(not h for h in cleaned):
        position = cleaned.index("") + 1
        raise InputError(f"{name}: column {position} of the header has no name")
    dupes = [h for h, n in Counter(cleaned).items() if n > 1]
    if dupes:
        raise InputError(f"{name}: duplicate column name {dupes[0]!r} in the header")
