"""Parsing of metric cells, where "missing" and "non-finite" must never be confused.

Real exports spell NaN and infinity many ways (``nan``, ``NaN``, ``inf``, ``-Infinity``,
``1e999`` ...), and leave cells empty when a run logged nothing. An empty cell is a
*missing* value (the trial never reported it); ``NaN`` is a value the trial reported.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Spellings read as "no value was reported" (compared case-insensitively, stripped).
MISSING_TOKENS = frozenset({"", "na", "n/a", "null", "none", "nil", "-", "?", "<na>"})

_NAN_TOKENS = {"nan", "+nan", "-nan", "nan%", "#num!", "#value!"}
_POS_INF_TOKENS = {"inf", "+inf", "infinity", "+infinity", "∞", "+∞", "inf%"}
_NEG_INF_TOKENS = {"-inf", "-infinity", "-∞"}
#: What Arrow's (and pandas') float parser reads besides plain numbers (lower-cased).
_FLOAT_WORDS = ["nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"]
#: A plain decimal number, as pandas and Arrow both read it (after stripping).
_NUMBER_PATTERN = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


@dataclass(frozen=True)
class ParsedCells:
    """One column of raw cells, parsed once (see :func:`parse_cells`).

    Attributes
    ----------
    values : np.ndarray of float64
        The numbers; NaN and +/-inf as reported, NaN also where ``missing`` or ``unparsed``.
    missing : np.ndarray of bool
        The cell is empty or spells "no value" (``NA``, ``null``, ``None``; see
        :data:`MISSING_TOKENS`).
    unparsed : np.ndarray of bool
        The cell is present but neither a number nor a NaN/inf spelling (it is text).

    The arrays are read-only: results are shared between callers (copy to modify).
    """

    values: np.ndarray
    missing: np.ndarray
    unparsed: np.ndarray

    @property
    def numeric(self) -> bool:
        """Every present cell is a number or a NaN/inf spelling."""
        return not self.unparsed.any()


def parse_cells(cells: pd.Series) -> ParsedCells:
    """Parse a column of raw cells into floats, a missing mask and an unparsed mask.

    Parameters
    ----------
    cells : pd.Series
        Raw cells: ``str`` (numpy- or Arrow-backed), ``None``/NA, or numbers.

    Returns
    -------
    ParsedCells
        Same length as ``cells``, in its order. Cells are stripped and compared
        case-insensitively: ``" NaN "`` is a reported NaN, ``"1e999"`` and ``"-Infinity"``
        are +/-inf, ``""``, ``"NA"`` and ``"null"`` are missing, ``"abc"`` is unparsed.

    Notes
    -----
    The work is done by Arrow compute kernels: a column of plain numbers (with empty
    cells) is one cast; only a column that fails it goes through the token rules. The
    result for an Arrow-backed column (what :func:`core.loading.read_results` gives) is
    cached for as long as that column's Arrow data lives, so inferring roles and
    building the typed table parse each column once.
    """
    return column_fact(cells, "parsed", _parse_column)


def all_distinct(cells: pd.Series) -> bool:
    """No two cells are equal (missing cells count as equal); remembered like :func:`parse_cells`."""
    return column_fact(cells, "all_distinct", lambda c: bool(c.is_unique))


def column_fact(cells: pd.Series, name: str, compute: Callable[[pd.Series], T]) -> T:
    """``compute(cells)``, remembered for an Arrow-backed column for as long as its data lives.

    Role inference and the typed table ask the same questions of a column (its parse,
    whether its cells are distinct); for a column read from a file each is answered
    once. ``name`` names the question, and the answer may depend only on the cells'
    content and order (not on the index). Columns without Arrow data are computed
    every time.
    """
    key = arrow_text(cells)
    if key is None:
        return compute(cells)
    facts = _facts_of(key)
    if name not in facts:
        facts[name] = compute(cells)
    return facts[name]  # type: ignore[no-any-return]


def parse_columns(columns: Iterable[pd.Series]) -> None:
    """Parse every Arrow-backed text column ahead, as :func:`parse_cells` would, and remember each.

    Small columns are parsed together, a batch of about ``_BATCH_CELLS`` cells at a
    time, so a wide table (10,000 columns of 50 rows) costs a few Arrow calls rather
    than a few per column; a column as long as a batch is parsed alone, exactly as
    :func:`parse_cells` does. Columns already parsed, and columns without Arrow data,
    are left to :func:`parse_cells`.
    """
    batches: dict[pa.DataType, list[pa.ChunkedArray]] = {}
    sizes: dict[pa.DataType, int] = {}
    for cells in columns:
        data = arrow_text(cells)
        if data is None or "parsed" in _facts_of(data):
            continue
        batches.setdefault(data.type, []).append(data)
        sizes[data.type] = sizes.get(data.type, 0) + len(data)
        if sizes[data.type] >= _BATCH_CELLS:
            _parse_batch(batches.pop(data.type))
            del sizes[data.type]
    for batch in batches.values():
        _parse_batch(batch)


#: Cells parsed in one go by :func:`parse_frame` (columns shorter than this are batched).
_BATCH_CELLS = 100_000


def _parse_batch(columns: list[pa.ChunkedArray]) -> None:
    if len(columns) == 1:
        _facts_of(columns[0])["parsed"] = _parse_arrow(columns[0])
        return
    whole = _parse_arrow(pa.chunked_array([pa.concat_arrays([c for col in columns for c in col.chunks])]))
    start = 0
    for data in columns:
        end = start + len(data)  # slices of read-only arrays are read-only views
        _facts_of(data)["parsed"] = ParsedCells(whole.values[start:end], whole.missing[start:end],
                                                whole.unparsed[start:end])
        start = end


def _facts_of(key: pa.ChunkedArray) -> dict[str, Any]:
    """What is known of one column's Arrow data, for as long as that data lives."""
    ident = id(key)
    entry = _CACHE.get(ident)
    if entry is None or entry[0]() is not key:
        entry = (weakref.ref(key, lambda _ref: _CACHE.pop(ident, None)), {})
        _CACHE[ident] = entry
    return entry[1]


def parse_numeric(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse a column of raw cells into floats and a mask of missing cells.

    Parameters
    ----------
    cells : pd.Series
        Raw cells: ``str``, ``None``, or already numeric values.

    Returns
    -------
    values : pd.Series of float64
        NaN for reported NaN *and* for missing or unparseable cells; use ``missing``
        and ``unparsed`` to tell them apart.
    missing : pd.Series of bool
        True where the cell is empty or spells "no value" (``NA``, ``null``, ``None``).

    Notes
    -----
    Cells that are neither numbers, NaN/inf spellings nor missing tokens come out as
    NaN and not missing; callers that need to tell them apart use
    :func:`unparsed_mask` (or :func:`parse_cells`, which gives all three at once).
    """
    parsed = parse_cells(cells)
    return (
        pd.Series(parsed.values, index=cells.index, name=cells.name, copy=True),
        pd.Series(parsed.missing, index=cells.index, name=cells.name, copy=True),
    )


def unparsed_mask(cells: pd.Series) -> pd.Series:
    """True for cells that are present but are neither a number nor a NaN/inf spelling."""
    return pd.Series(parse_cells(cells).unparsed, index=cells.index, name=cells.name, copy=True)


T = TypeVar("T")
_CACHE: dict[int, tuple[weakref.ref[pa.ChunkedArray], dict[str, Any]]] = {}


def _parse_column(cells: pd.Series) -> ParsedCells:
    data = arrow_text(cells)
    return _parse_arrow(data if data is not None else _to_arrow(cells))


def arrow_text(cells: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow string data behind an Arrow-backed column (immutable, so a cache key)."""
    array = cells.array
    if not isinstance(cells.dtype, pd.StringDtype | pd.ArrowDtype) or not hasattr(array, "__arrow_array__"):
        return None
    data = array.__arrow_array__()
    if not isinstance(data, pa.ChunkedArray) or not (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        return None
    return data


def _to_arrow(cells: pd.Series) -> pa.ChunkedArray:
    if cells.dtype == object:
        try:  # str and None cells, the common case: no conversion of each cell through pandas
            return pa.chunked_array([pa.array(cells.to_numpy(), type=pa.large_string(), from_pandas=True)])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    text = cells.astype(pd.StringDtype("pyarrow"))  # numbers become their text, NaN and None become NA
    return pa.chunked_array(text.array.__arrow_array__())


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _parse_arrow(text: pa.ChunkedArray) -> ParsedCells:
    n = len(text)
    present, missing = _present_cells(text)
    try:  # plain numbers (the usual metric column): one cast, empty cells as null
        numbers = pc.cast(present, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _parse_tokens(text)
    values = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)  # null -> NaN
    nan_rows = np.isnan(values) & ~missing
    if nan_rows.any():  # Arrow reads only nan/+nan/-nan as NaN, but check rather than trust
        spelled = pc.utf8_lower(pc.filter(text, pa.array(nan_rows)))
        if not pc.all(pc.is_in(spelled, value_set=pa.array(_FLOAT_WORDS[:3]))).as_py():
            return _parse_tokens(text)
    return ParsedCells(_readonly(values), _readonly(missing), _readonly(np.zeros(n, dtype=bool)))


def _present_cells(text: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """``text`` with its empty cells made null (sharing its string buffers), and where they are."""
    missing = np.asarray(pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False), dtype=bool)
    if not missing.any():
        return text, missing
    chunks, start = [], 0
    for chunk in text.chunks:
        gone = missing[start : start + len(chunk)]
        start += len(chunk)
        if not gone.any():
            chunks.append(chunk)
            continue
        valid = pa.array(np.concatenate([np.zeros(chunk.offset, dtype=bool), ~gone]))  # bits line up with the chunk's offset
        _, offsets, data = chunk.buffers()
        chunks.append(pa.Array.from_buffers(chunk.type, len(chunk), [valid.buffers()[1], offsets, data], offset=chunk.offset))
    return pa.chunked_array(chunks, type=text.type), missing


#: Columns longer than this whose first rows hold few distinct cells are parsed per distinct cell.
_BY_VALUE_MIN_ROWS = 10_000


def _parse_tokens(text: pa.ChunkedArray) -> ParsedCells:
    """The general rules (:func:`_parse_each`), once per distinct cell for a categorical column."""
    if len(text) < _BY_VALUE_MIN_ROWS or pc.count_distinct(text.slice(0, _BY_VALUE_MIN_ROWS)).as_py() > _BY_VALUE_MIN_ROWS // 10:
        return _parse_each(text)
    encoded = pc.dictionary_encode(text.combine_chunks())
    distinct = _parse_each(pa.chunked_array([encoded.dictionary]))
    rows = np.asarray(pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(zero_copy_only=False), dtype=np.intp)
    return ParsedCells(  # the extra last entry is the null cell: missing
        _readonly(np.append(distinct.values, np.nan)[rows]),
        _readonly(np.append(distinct.missing, True)[rows]),
        _readonly(np.append(distinct.unparsed, False)[rows]),
    )


#: How a stripped, lower-cased cell that may be a number, a NaN/inf spelling or a missing token starts (or it is
#: empty): every spelling above and every number does; a trial id such as ``run_17`` does not.
_MAYBE_NUMBER_PATTERN = r"^(?:[0-9+\-.ni∞#?<]|$)"


def _parse_each(text: pa.ChunkedArray) -> ParsedCells:
    """Strip, compare tokens case-insensitively, cast what looks like a number.

    Only the cells that may be one of those (:data:`_MAYBE_NUMBER_PATTERN`, and empty
    cells) go through the rules; the others are text (unparsed), so a column of a million
    distinct trial ids costs one pattern match per cell.
    """
    trimmed = pc.utf8_trim_whitespace(text)
    lowered = pc.utf8_lower(trimmed)
    maybe = np.asarray(pc.fill_null(pc.match_substring_regex(lowered, _MAYBE_NUMBER_PATTERN), True)
                       .to_numpy(zero_copy_only=False), dtype=bool)
    if maybe.all():
        return _parse_stripped(text, trimmed, lowered)
    values, missing, unparsed = np.full(len(text), np.nan), np.zeros(len(text), dtype=bool), ~maybe
    if maybe.any():
        keep = pa.array(maybe)
        some = _parse_stripped(pc.filter(text, keep), pc.filter(trimmed, keep), pc.filter(lowered, keep))
        values[maybe], missing[maybe], unparsed[maybe] = some.values, some.missing, some.unparsed
    return ParsedCells(_readonly(values), _readonly(missing), _readonly(unparsed))


def _parse_stripped(text: pa.ChunkedArray, trimmed: pa.ChunkedArray, lowered: pa.ChunkedArray) -> ParsedCells:
    """:func:`_parse_each` of cells, the same cells stripped, and lower-cased."""
    def among(tokens: object) -> np.ndarray:
        found = pc.is_in(lowered, value_set=pa.array(sorted(tokens), type=lowered.type))  # type: ignore[call-overload]
        return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)

    missing = among(MISSING_TOKENS) | np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=bool)
    number = np.asarray(
        pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER_PATTERN), False).to_numpy(zero_copy_only=False), dtype=bool
    )
    number = (number | among(_FLOAT_WORDS)) & ~missing
    values = np.full(len(text), np.nan)
    if number.any():
        picked = pc.filter(trimmed, pa.array(number))
        try:
            values[number] = pc.cast(picked, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # pragma: no cover - the pattern is stricter than Arrow
            values[number] = pd.to_numeric(pd.Series(picked.to_pylist(), dtype=object), errors="coerce").to_numpy(float)
    pos_inf, neg_inf = among(_POS_INF_TOKENS), among(_NEG_INF_TOKENS)
    values[pos_inf] = np.inf
    values[neg_inf] = -np.inf
    unparsed = ~(missing | number | pos_inf | neg_inf | among(_NAN_TOKENS))
    return ParsedCells(_readonly(values), _readonly(missing), _readonly(unparsed))


def describe_value(value: float) -> str:
    """Name a non-finite float the way a user reads it: ``NaN``, ``+inf`` or ``-inf``."""
    if np.isnan(value):
        return "NaN"
    if np.isposinf(value):
        return "+inf"
    if np.isneginf(value):
        return "-inf"
    return format_number(value)


def format_number(value: float) -> str:
    """Format a finite number compactly and reproducibly (4 significant digits)."""
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4g}"


def format_p(p: float, threshold: float = 0.05) -> str:
    """Format a p- or q-value: two significant digits, scientific below 1e-4.

    More digits where two would hide which side of ``threshold`` (the significance level)
    the value lies on: 0.0499 and 0.0502 both read "0.05" at two digits.
    """
    if p < 1e-4:
        return f"{p:.1e}"
    for digits in range(2, 10):
        text = f"{p:.{digits}g}"
        shown = float(text)
        if p == threshold or (shown != threshold and (shown < threshold) == (p < threshold)):
            return text
    return text


def format_rate(rate: float) -> str:
    """A rate in [0, 1] as a whole percentage: ``0.667`` -> ``"67%"``."""
    return f"{100 * rate:.0f}%"


def text_matches(cells: pd.Series, pattern: re.Pattern[str]) -> np.ndarray:
    """``cells.fillna("").astype(str).str.contains(pattern)`` as a bool array, searched once per distinct cell.

    A million status words are a handful of distinct values: each is made text and
    searched once, and the answers spread back by code (an empty cell is ``""``).
    """
    codes, uniques = pd.factorize(cells)
    found = [bool(pattern.search(str(u))) for u in uniques] + [bool(pattern.search(""))]
    return np.asarray(found, dtype=bool)[codes]
