"""Parsing cells once, through Arrow: every NaN/inf spelling, empty vs NaN, text columns, caching."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core import values as values_module
from core.status import normalize_status
from core.values import all_distinct, column_fact, parse_cells, parse_numeric, unparsed_mask

NAN_SPELLINGS = ["nan", "NaN", "NAN", "nAn", "+nan", "-nan", " NaN ", "nan%", "#NUM!", "#num!", "#VALUE!"]
POS_INF_SPELLINGS = ["inf", "Inf", "INF", "+inf", "infinity", "Infinity", "+Infinity", "INFINITY", "1e999",
                     "1e+999", "∞", "+∞", "inf%", " inf "]
NEG_INF_SPELLINGS = ["-inf", "-Inf", "-infinity", "-Infinity", "-1e999", "-∞", "\t-inf"]
MISSING_SPELLINGS = ["", " ", "NA", "na", "N/A", "null", "NULL", "None", "nil", "-", "?", "<NA>", None]
NUMBERS = {"0.5": 0.5, " 2 ": 2.0, "+5": 5.0, ".5": 0.5, "5.": 5.0, "1e5": 1e5, "1E-3": 1e-3, "007": 7.0,
           "-0.25": -0.25, "1e-999": 0.0, "12345678901234567890": 1.2345678901234567e19}
TEXT = ["abc", "1,5", "0x10", "1_000", "True", "nan(1)", "1e", "--1", "١٢", "adam"]

# The same cells as pandas columns of every kind the pipeline meets: object (records, tests, the
# graph state), pandas' default str (Arrow-backed), and an explicit Arrow string dtype.
DTYPES = [object, "str", pd.ArrowDtype(pa.string()), pd.StringDtype("python")]


def _column(cells, dtype):
    return pd.Series(cells, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_spelling_in_one_column(dtype):
    cells = NAN_SPELLINGS + POS_INF_SPELLINGS + NEG_INF_SPELLINGS + MISSING_SPELLINGS + list(NUMBERS) + TEXT
    parsed = parse_cells(_column(cells, dtype))
    kinds = (
        [("nan", s) for s in NAN_SPELLINGS] + [("+inf", s) for s in POS_INF_SPELLINGS]
        + [("-inf", s) for s in NEG_INF_SPELLINGS] + [("missing", s) for s in MISSING_SPELLINGS]
        + [(v, s) for s, v in NUMBERS.items()] + [("text", s) for s in TEXT]
    )
    for i, (kind, spelling) in enumerate(kinds):
        value, missing, unparsed = parsed.values[i], parsed.missing[i], parsed.unparsed[i]
        got = ("missing" if missing else "text" if unparsed else "nan" if np.isnan(value)
               else "+inf" if value == np.inf else "-inf" if value == -np.inf else value)
        assert got == kind, f"{spelling!r}: {got} (expected {kind})"
        assert not (missing and unparsed)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spelling", NAN_SPELLINGS + POS_INF_SPELLINGS + NEG_INF_SPELLINGS)
def test_non_finite_spelling_in_a_numeric_column(dtype, spelling):
    # A column of plain numbers with empty cells takes the one-cast path; every spelling
    # must come out the same whichever path reads it.
    values, missing = parse_numeric(_column(["0.1", "", spelling, "2"], dtype))
    assert list(missing) == [False, True, False, False]
    assert values[0] == 0.1 and values[3] == 2.0 and not np.isfinite(values[2])
    assert not unparsed_mask(_column(["0.1", "", spelling, "2"], dtype)).any()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_empty_is_missing_and_nan_is_a_value(dtype):
    parsed = parse_cells(_column(["NaN", "", None, "nan", "0.25"], dtype))
    assert list(parsed.missing) == [False, True, True, False, False]
    assert np.isnan(parsed.values[:4]).all() and parsed.values[4] == 0.25
    assert parsed.numeric


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_text_column_falls_back_to_token_rules(dtype):
    parsed = parse_cells(_column(["adam", "sgd", "", "NA", "0.1", "inf"], dtype))
    assert list(parsed.unparsed) == [True, True, False, False, False, False]
    assert list(parsed.missing) == [False, False, True, True, False, False]
    assert parsed.values[4] == 0.1 and parsed.values[5] == np.inf
    assert not parsed.numeric


def test_numbers_are_read_exactly():
    cells = ["0.1", "5e57", "9e29", "2.2250738585072014e-308", "0.30000000000000004"]
    values, _ = parse_numeric(pd.Series(cells, dtype="str"))
    assert values.tolist() == [float(c) for c in cells]


def test_numeric_and_mixed_object_cells_are_read_as_their_text():
    assert parse_numeric(pd.Series([0.5, np.nan, np.inf]))[0].tolist()[::2] == [0.5, np.inf]
    assert parse_numeric(pd.Series([0.5, np.nan, np.inf]))[1].tolist() == [False, True, False]
    values, missing = parse_numeric(pd.Series([1, "2", None, float("nan")], dtype=object))
    assert values.tolist()[:2] == [1.0, 2.0] and missing.tolist() == [False, False, True, True]


def test_results_keep_the_index_and_can_be_modified():
    cells = pd.Series(["1", "2", ""], index=[10, 11, 12], dtype="str", name="lr")
    values, missing = parse_numeric(cells)
    assert list(values.index) == [10, 11, 12] and values.name == "lr" and missing.name == "lr"
    values.iloc[0] = 5.0  # callers get their own copy, never the cached arrays
    assert parse_numeric(cells)[0].iloc[0] == 1.0


def test_an_arrow_column_is_parsed_once_and_forgotten_with_its_data():
    frame = pd.DataFrame({"val_loss": pd.Series(["0.1", "", "nan"] * 1000, dtype="str")})
    first = parse_cells(frame["val_loss"])
    assert parse_cells(frame["val_loss"]) is first  # a new Series over the same data: cached
    assert parse_cells(frame.reset_index(drop=True)["val_loss"]) is first
    with pytest.raises(ValueError):
        first.values[0] = 1.0  # shared, so read-only
    other = pd.Series(["0.1", "", "nan"] * 1000, dtype="str")
    assert parse_cells(other) is not first  # equal content, other data: parsed on its own
    n_cached = len(values_module._CACHE)
    del frame, first, other
    gc.collect()
    assert len(values_module._CACHE) <= n_cached - 2


def test_a_large_column_takes_the_vectorised_paths():
    n = 200_000
    rng = np.random.default_rng(0)
    numbers = rng.uniform(0, 1, n).astype(str).astype(object)
    numbers[::1000] = ""
    numbers[5::1000] = "nan"
    numbers[7::1000] = "-Infinity"
    values, missing = parse_numeric(pd.Series(numbers, dtype="str"))
    assert int(missing.sum()) == n // 1000 and int(np.isnan(values).sum()) == 2 * n // 1000
    assert int(np.isneginf(values).sum()) == n // 1000
    mixed = numbers.copy()
    mixed[9::1000] = "NA"
    mixed[11] = "diverged"
    parsed = parse_cells(pd.Series(mixed, dtype="str"))
    assert parsed.missing.sum() == 2 * n // 1000 and np.flatnonzero(parsed.unparsed).tolist() == [11]


def test_a_column_of_distinct_text_reads_only_the_cells_that_may_be_numbers():
    # a million trial ids are text at a glance; the spellings among them still read as before,
    # whatever white space surrounds them and however they are cased (Arrow lower-cases "İ" to "i")
    n = 30_000
    cells = np.array([f"run_{i}" for i in range(n)], dtype=object)
    spelled = {3: "\u00a0NaN\u3000", 5: "İnf", 7: "\x85-Infinity\x1c", 9: " 0.5 ", 11: "N/A", 13: "", 15: None,
               17: "#NUM!", 19: "∞", 21: "1e999", 23: "nan(1)", 25: "x1"}
    for row, cell in spelled.items():
        cells[row] = cell
    parsed = parse_cells(pd.Series(cells, dtype="str"))
    assert np.isnan(parsed.values[3]) and parsed.values[5] == np.inf and parsed.values[7] == -np.inf
    assert parsed.values[9] == 0.5 and parsed.values[19] == parsed.values[21] == np.inf and np.isnan(parsed.values[17])
    assert np.flatnonzero(parsed.missing).tolist() == [11, 13, 15]
    assert np.flatnonzero(~parsed.unparsed).tolist() == [3, 5, 7, 9, 11, 13, 15, 17, 19, 21]  # nan(1), x1: text


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_status_words_are_normalised_per_distinct_word(dtype):
    raw = pd.Series(["TrialState.COMPLETE", "Finished", " success ", "FAIL", "timed out", "early-stopped",
                     "", None, "weird", "PREEMPTING"] * 3, dtype=dtype, name="state")
    status = normalize_status(raw)
    assert status.tolist()[:10] == ["completed", "completed", "completed", "failed", "timeout", "pruned",
                                    "unknown", "unknown", "unknown", "killed"]
    assert status.dtype == object and status.name == "state" and len(status) == 30


def test_sliced_and_chunked_arrow_columns_parse_like_plain_lists():
    rng = np.random.default_rng(3)
    spellings = np.array(["0.5", "", "nan", "-inf", "1e999", "7", "", "NaN", "2.5e-3"], dtype=object)
    cells = spellings[rng.integers(0, len(spellings), 5000)]
    expected = parse_cells(pd.Series(cells, dtype=object))
    for cut in (1, 3, 7, 8, 13):
        whole = pa.array(["x"] * cut + list(cells))
        pieces = [whole.slice(cut, 1000), whole.slice(cut + 1000, 1), whole.slice(cut + 1001, 3999)]
        column = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(pieces)), dtype="str")
        parsed = parse_cells(column)
        np.testing.assert_array_equal(parsed.values, expected.values)
        np.testing.assert_array_equal(parsed.missing, expected.missing)


def test_a_categorical_column_is_parsed_once_per_distinct_cell():
    n = 50_000
    cells = np.array(["adam", " SGD ", "", "NA", "0.1", "inf", None], dtype=object)[np.arange(n) % 7]
    by_value = parse_cells(pd.Series(cells, dtype="str"))
    each = values_module._parse_each(pa.chunked_array([pa.array(cells, type=pa.large_string())]))
    for name in ("values", "missing", "unparsed"):
        np.testing.assert_array_equal(getattr(by_value, name), getattr(each, name))
    assert by_value.unparsed[:2].all() and by_value.missing[2:4].all() and by_value.missing[6]


def test_column_facts_are_remembered_per_arrow_column():
    column = pd.Series(["a", "b", "c"], dtype="str")
    calls = []
    assert column_fact(column, "probe", lambda c: calls.append(1) or len(c)) == 3
    assert column_fact(column.reset_index(drop=True), "probe", lambda c: calls.append(1) or 0) == 3
    assert calls == [1]
    plain = pd.Series(["a", "b", "c"], dtype=object)  # no Arrow data: computed every time
    column_fact(plain, "probe", lambda c: calls.append(1))
    column_fact(plain, "probe", lambda c: calls.append(1))
    assert len(calls) == 3
    assert all_distinct(column) and not all_distinct(pd.Series(["a", "a"], dtype="str"))


def test_ids_that_only_differ_by_spaces_are_duplicates(write_csv):
    from core.errors import InputError
    from core.loading import read_results
    from core.roles import infer_roles
    from core.table import build_trial_table

    raw = read_results(write_csv("trial_id,val_loss\n1,0.5\n 1 ,0.4\n2,0.3\n"))
    assert all_distinct(raw.frame["trial_id"])  # as written; stripped, two are "1"
    with pytest.raises(InputError, match=r"duplicate trial id '1' in column 'trial_id' on lines 2, 3"):
        build_trial_table(raw, infer_roles(raw.frame, raw.source))



def test_columns_parsed_together_read_as_each_alone():
    """parse_columns batches a wide table's columns into one parse: every cell must read as parse_cells reads it alone."""
    spellings = NAN_SPELLINGS + POS_INF_SPELLINGS + NEG_INF_SPELLINGS + MISSING_SPELLINGS + list(NUMBERS) + TEXT
    rng = np.random.default_rng(1)
    columns = {f"c{i}": [spellings[j] for j in rng.integers(0, len(spellings), 7)] for i in range(300)}
    columns["numbers"] = ["0.5", "", "1e999", "2"] + [""] * 3  # the Arrow cast path beside token-rule columns
    columns["text"] = ["adam", "sgd", None, "", "adam", "x", "y"]
    frame = pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in columns.items()})
    values_module.parse_columns(cells for _, cells in frame.items())
    for name, cells in columns.items():
        batched = parse_cells(frame[name])  # the remembered slice of the batch
        alone = values_module._parse_column(pd.Series(cells, dtype=object))
        assert np.array_equal(batched.values, alone.values, equal_nan=True), name
        assert (batched.missing == alone.missing).all() and (batched.unparsed == alone.unparsed).all(), name
        with pytest.raises(ValueError):
            batched.values[0] = 1.0  # shared slices stay read-only


def test_text_matches_reads_each_distinct_cell_once_as_contains_would():
    import re

    from core.values import text_matches

    cells = pd.Series(["pruned (early stop)", None, "", "PRUNED", float("nan"), "Stopped", "pruned (early stop)"],
                      dtype=object)
    pattern = re.compile(r"early|stop", re.IGNORECASE)
    expected = cells.fillna("").astype(str).str.contains(pattern).to_numpy(dtype=bool)
    assert text_matches(cells, pattern).tolist() == expected.tolist() == [True, False, False, False, False, True, True]
    assert text_matches(pd.Series([], dtype=object), pattern).tolist() == []


def test_a_p_value_next_to_the_threshold_shows_which_side_it_is_on():
    """GNN study: q = 0.04993 (a pattern) and 0.05019 (a lead) both read 'q = 0.05' beside '≥ 0.05'."""
    from core.values import format_p

    assert format_p(0.04993) == "0.0499" and format_p(0.05019) == "0.0502" and format_p(0.0495) == "0.0495"
    assert format_p(0.05) == "0.05" and format_p(0.38) == "0.38" and format_p(0.049) == "0.049"
    assert format_p(3.6e-5) == "3.6e-05" and format_p(0.011) == "0.011"
    assert format_p(0.0099, threshold=0.01) == "0.0099" and format_p(0.01004, threshold=0.01) == "0.01004"
