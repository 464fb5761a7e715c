"""Reading files: every spelling of NaN/inf, and every way a file can be bad."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.loading import read_input_bytes, read_results, records_to_raw
from core.values import parse_numeric, unparsed_mask
from tests.conftest import DATA


def test_nan_and_inf_spellings_are_non_finite_and_empty_cells_are_missing():
    cells = pd.Series(["nan", "NaN", "NAN", "inf", "-inf", "Infinity", "-Infinity", "+inf", "1e999",
                       "", None, "NA", "null", "0.5", " 2 "])
    values, missing = parse_numeric(cells)
    assert np.isnan(values[:3]).all() and not missing[:3].any()
    assert list(values[3:9]) == [np.inf, -np.inf, np.inf, -np.inf, np.inf, np.inf]
    assert missing[9:13].all()
    assert list(values[13:]) == [0.5, 2.0]
    assert not unparsed_mask(cells).any()
    assert list(unparsed_mask(pd.Series(["abc", "1.0", ""]))) == [True, False, False]


def test_reads_text_cells_verbatim(write_csv):
    raw = read_results(write_csv("trial_id,val_loss\n1,NaN\n2,\n3,0.25\n"))
    assert raw.frame["val_loss"].tolist() == ["NaN", "", "0.25"]
    assert raw.notes == []


def test_tsv_and_semicolon_files(write_csv):
    assert read_results(write_csv("trial_id\tval_loss\n1\t0.5\n", "r.tsv")).frame.shape == (1, 2)
    assert read_results(write_csv("trial_id;val_loss\n1;0.5\n", "r.csv")).frame.shape == (1, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ("   \n\n", "file is empty"),
        ("trial_id,val_loss\n", "has a header but no trial rows"),
        ("trial_id,val_loss\n1,0.5\n2,0.5,9\n", "line 3 has 3 fields but the header has 2"),
        ("trial_id,lr,lr\n1,0.1,0.2\n", "duplicate column name 'lr'"),
        ("trial_id,,val_loss\n1,2,3\n", "column 2 of the header has no name"),
        ("just_one_column\n1\n", "found 1 column(s)"),
    ],
)
def test_bad_files_give_one_line_errors_naming_the_file(write_csv, text, message):
    path = write_csv(text)
    with pytest.raises(InputError) as err:
        read_results(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_directory_and_binary_inputs(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_results(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        read_results(tmp_path)
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"trial_id,val_loss\n1,\x00\x01\n")
    with pytest.raises(InputError, match="not a text file"):
        read_results(binary)


def test_non_utf8_file_is_read_as_cp1252_with_a_note():
    raw = read_results(DATA / "sample_cp1252.csv")
    assert "Gewichtsdämpfung" in raw.frame.columns
    assert len(raw.frame) == 6
    assert raw.notes and "not valid UTF-8" in raw.notes[0] and "cp1252" in raw.notes[0]


def test_utf8_bom_is_ignored(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("trial_id,val_loss\n1,0.5\n".encode("utf-8-sig"))
    assert list(read_results(path).frame.columns) == ["trial_id", "val_loss"]


def test_records_keep_none_missing_and_nan_non_finite():
    raw = records_to_raw([{"trial_id": 1, "val_loss": float("nan")}, {"trial_id": 2, "val_loss": None}])
    assert raw.frame["val_loss"].tolist() == ["nan", None]
    assert raw.frame["trial_id"].tolist() == ["1", "2"]
    with pytest.raises(InputError, match="no trial records"):
        records_to_raw([])


# --- The Arrow reading path: cells stay text, whatever the file looks like ---------------------------


def test_every_non_finite_spelling_survives_the_file_as_text_and_parses(write_csv):
    from tests.test_values import NAN_SPELLINGS, NEG_INF_SPELLINGS, POS_INF_SPELLINGS

    spellings = [s for s in NAN_SPELLINGS + POS_INF_SPELLINGS + NEG_INF_SPELLINGS if "\t" not in s]
    rows = "".join(f"{i},{s},0.5\n" for i, s in enumerate(spellings))
    raw = read_results(write_csv("trial_id,val_loss,train_loss\n" + rows + f"{len(spellings)},,0.5\n"))
    assert raw.frame["val_loss"].tolist() == spellings + [""]
    values, missing = parse_numeric(raw.frame["val_loss"])
    assert not np.isfinite(values[: len(spellings)]).any() and not missing[: len(spellings)].any()
    assert missing.iloc[-1] and np.isnan(values.iloc[-1])
    assert not unparsed_mask(raw.frame["val_loss"]).any()


def test_numbers_keep_their_text_and_columns_are_arrow_backed(write_csv):
    raw = read_results(write_csv("trial_id,lr,val_loss\n007,1e-05,0.10\n8,0.000010,NaN\n"))
    assert raw.frame["trial_id"].tolist() == ["007", "8"]
    assert raw.frame["lr"].tolist() == ["1e-05", "0.000010"]
    assert all(isinstance(dtype, pd.StringDtype) for dtype in raw.frame.dtypes)


def test_text_in_a_numeric_looking_column_stays_text(write_csv):
    raw = read_results(write_csv("trial_id,val_loss,act\n1,0.5,relu\n2,diverged,none\n3,NA,\n"))
    assert raw.frame["val_loss"].tolist() == ["0.5", "diverged", "NA"]
    assert list(unparsed_mask(raw.frame["val_loss"])) == [False, True, False]
    assert raw.frame["act"].tolist() == ["relu", "none", ""]


def test_quoted_fields_with_separators_quotes_and_newlines(write_csv):
    text = ('trial_id,val_loss,notes\n'
            '1,0.5,"lr=0.1, bs=32"\n'
            '2,NaN,"two\nlines"\n'
            '3,"0.25","said ""hi"""\n')
    raw = read_results(write_csv(text))
    assert raw.frame["notes"].tolist() == ["lr=0.1, bs=32", "two\nlines", 'said "hi"']
    assert raw.frame["val_loss"].tolist() == ["0.5", "NaN", "0.25"]


def test_quoted_header_names_and_padding_spaces(write_csv):
    raw = read_results(write_csv('"trial_id","val loss", lr \n1, 0.5 ,0.1\n'))
    assert list(raw.frame.columns) == ["trial_id", "val loss", "lr"]
    assert raw.frame["val loss"].tolist() == [" 0.5 "]  # stripped when parsed, not when read


@pytest.mark.parametrize(("sep", "name"), [(";", "r.csv"), ("\t", "r.csv"), ("\t", "r.tsv"), (",", "r.csv")])
def test_separators_are_sniffed_or_taken_from_the_extension(write_csv, sep, name):
    lines = ["trial_id", "val_loss", "optimizer"], ["1", "nan", "adam"], ["2", "", "sgd"], ["3", "0.5", "a,b"]
    text = "\n".join(sep.join(line) for line in lines) + "\n"
    if sep == ",":
        text = text.replace("a,b", '"a,b"')
    raw = read_results(write_csv(text, name))
    assert list(raw.frame.columns) == ["trial_id", "val_loss", "optimizer"]
    assert raw.frame["val_loss"].tolist() == ["nan", "", "0.5"]
    assert raw.frame["optimizer"].tolist() == ["adam", "sgd", "a,b"]


def test_bom_crlf_and_blank_lines(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf\r\ntrial_id,val_loss\r\n1,0.5\r\n\r\n2,inf\r\n")
    raw = read_results(path)
    assert list(raw.frame.columns) == ["trial_id", "val_loss"]
    assert raw.frame["val_loss"].tolist() == ["0.5", "inf"]


def test_non_utf8_text_is_re_encoded_with_a_note(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("trial_id;val_loss;Dämpfung\n1;0,5;groß\n2;NaN;\n".encode("cp1252"))
    raw = read_results(path)
    assert list(raw.frame.columns) == ["trial_id", "val_loss", "Dämpfung"]
    assert raw.frame["Dämpfung"].tolist() == ["groß", ""]
    assert "line 1" in raw.notes[0] and "cp1252" in raw.notes[0]


def test_utf8_text_beyond_ascii_is_read_as_is(write_csv):
    raw = read_results(write_csv("trial_id,val_loss,optimizer\nα,∞,Adam–W\nβ,-∞,ñ\n"))
    assert raw.notes == [] and raw.frame["trial_id"].tolist() == ["α", "β"]
    assert parse_numeric(raw.frame["val_loss"])[0].tolist() == [np.inf, -np.inf]


@pytest.mark.parametrize(("text", "message"), [
    ("trial_id,val_loss,lr\n1,0.5,0.1\n2,0.4\n", "line 3 has 2 fields but the header has 3"),  # never padded
    ("trial_id,lr,val_loss\n1,0.1,0.5\n2;0.2,0.6\n", "line 3 has 2 fields but the header has 3 (it looks separated by ';')"),
    ("trial_id,lr,val_loss\n1,0.1,0.5\n2;0.2;0.6\n", "line 3 has 1 field but the header has 3 (it looks separated by ';')"),
    ("trial_id,lr,val_loss\n1,0.1,0.5\n2\t0.2\t0.6\n", "line 3 has 1 field but the header has 3 (it looks separated by '\\t')"),
    ("trial_id;lr;val_loss\n1;0.1;0.5\n2,0.2,0.6\n", "line 3 has 1 field but the header has 3 (it looks separated by ',')"),
    ("trial_id,val_loss,lr\n1,0.5,0.1\n2,0.4,0.2\n3,0.1,0.1,9\n", "line 4 has 4 fields but the header has 3"),
    ("trial_id,val_loss,lr\n1,0.5,0.1\n2,0.4,0.2,,7\n", "line 3 has 5 fields but the header has 3"),
    ("trial_id,val_loss,lr\r\n1,0.5,0.1\r\n2,0.4\r\n", "line 3 has 2 fields but the header has 3"),
    ("trial_id,val_loss,lr\n1,0.5,0.1\n\"2,0.4\",0.2\n", "line 3 has 2 fields but the header has 3"),
    ("trial_id,val_loss,lr\n\"1\nfirst\",0.5,0.1\n2,0.4\n", "line 4 has 2 fields but the header has 3"),
    ("trial_id,val_loss,lr\n1,0.5,0.1\n2,,\n3\n", "line 4 has 1 field but the header has 3"),
    ("trial_id,val_loss,lr\n1,0.5,0.1\n,\n", "line 3 has 2 fields but the header has 3"),
])
def test_a_ragged_row_is_an_error_naming_its_line(write_csv, text, message):
    path = write_csv(text)
    with pytest.raises(InputError) as err:
        read_results(path)
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize("text", [
    "trial_id,val_loss,lr\n1,0.5,0.1,\n2,0.4,0.2\n",  # a trailing separator on one row
    "trial_id,val_loss,lr\n1,0.5,0.1,\n2,0.4,0.2,, \n",  # on every row, some with blanks after it
    "trial_id,val_loss,lr\n1,0.5,0.1\n   \n\n2,0.4,0.2\n\n",  # blank and whitespace-only lines
    "trial_id,val_loss,lr\r\n1,0.5,0.1,\r\n2,0.4,0.2\r\n",
])
def test_what_a_ragged_looking_file_may_hold_without_losing_a_cell(write_csv, text):
    frame = read_results(write_csv(text)).frame
    assert list(frame.columns) == ["trial_id", "val_loss", "lr"]
    assert frame.to_numpy().tolist() == [["1", "0.5", "0.1"], ["2", "0.4", "0.2"]]


def test_quoted_cells_survive_the_row_by_row_reader(write_csv):
    frame = read_results(write_csv('trial_id,note,lr\n1,"a, b",0.1,\n2,"two\nlines ""q""",0.2\n')).frame
    assert frame["note"].tolist() == ["a, b", 'two\nlines "q"'] and frame["lr"].tolist() == ["0.1", "0.2"]


def test_a_wide_file(write_csv):
    n_cols = 3000
    header = ["trial_id", "val_loss"] + [f"hp_{i:04d}_{'x' * 20}" for i in range(n_cols)]
    rows = [",".join([str(r), "nan" if r % 2 else ""] + [str(r * i) for i in range(n_cols)]) for r in range(5)]
    raw = read_results(write_csv(",".join(header) + "\n" + "\n".join(rows) + "\n"))
    assert raw.frame.shape == (5, n_cols + 2) and list(raw.frame.columns) == header
    assert raw.frame["val_loss"].tolist() == ["", "nan", "", "nan", ""]
    assert raw.frame[header[-1]].tolist() == [str(r * (n_cols - 1)) for r in range(5)]


def test_a_tall_file_spans_many_arrow_blocks(write_csv):
    n = 120_000
    lines = [f"t{i},{'' if i % 1000 == 0 else 'NaN' if i % 1000 == 1 else i / n},{'adam' if i % 2 else 'sgd'}"
             for i in range(n)]
    raw = read_results(write_csv("trial_id,val_loss,optimizer\n" + "\n".join(lines) + "\n"))
    assert len(raw.frame) == n and raw.frame["trial_id"].iloc[-1] == f"t{n - 1}"
    parsed_values, missing = parse_numeric(raw.frame["val_loss"])
    assert int(missing.sum()) == n // 1000 and int(parsed_values.isna().sum()) == 2 * n // 1000
    assert parsed_values.iloc[2] == 2 / n


def test_to_columns_gives_json_native_text_cells(write_csv):
    raw = read_results(write_csv("trial_id,val_loss\n1,NaN\n2,\n3,0.25\n"))
    assert raw.to_columns() == {"trial_id": ["1", "2", "3"], "val_loss": ["NaN", "", "0.25"]}
    records = records_to_raw([{"trial_id": 1, "val_loss": float("nan")}, {"trial_id": 2}])
    assert records.to_columns() == {"trial_id": ["1", "2"], "val_loss": ["nan", None]}
    again = pd.DataFrame(raw.to_columns(), dtype=object)
    assert parse_numeric(again["val_loss"])[1].tolist() == [False, True, False]


def test_from_columns_rebuilds_arrow_text_columns(write_csv):
    from core.loading import RawTable

    raw = read_results(write_csv("trial_id,val_loss\n1,NaN\n2,\n3,0.25\n"))
    back = RawTable.from_columns(raw.to_columns(), source=raw.source, notes=["n"], format="csv")
    pd.testing.assert_frame_equal(back.frame, raw.frame)
    assert back.to_columns() == raw.to_columns() and back.notes == ["n"]
    odd = RawTable.from_columns({"trial_id": ["1", None], "n": [1, 2.5]}, source="<records>")
    assert odd.to_columns() == {"trial_id": ["1", None], "n": [1, 2.5]}  # non-text kept as objects


def _tables_equal(a, b):
    for name in ("ids", "status", "status_raw", "epochs", "runtime", "errors", "seeds"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            pd.testing.assert_series_equal(left, right, check_names=False, obj=name)
    for name in ("metrics", "missing", "hyperparameters"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)


@pytest.mark.parametrize("name", ["deepobs_fmnist_2c2d.csv", "deepobs_nonfinite_slice.csv", "optuna_dlp_trials.csv",
                                  "deepcave_mnist_run1_final.csv", "sample_cp1252.csv"])
def test_the_typed_table_is_the_same_from_arrow_columns_and_from_graph_state_columns(name):
    from core.roles import infer_roles
    from core.table import build_trial_table

    raw = read_results(DATA / name)
    roles = infer_roles(raw.frame, raw.source)
    table = build_trial_table(raw, roles)
    for from_state in (type(raw)(frame=pd.DataFrame(raw.to_columns(), dtype=object), source=raw.source),
                       type(raw).from_columns(raw.to_columns(), source=raw.source)):
        assert infer_roles(from_state.frame, raw.source) == roles
        _tables_equal(table, build_trial_table(from_state, roles))


def test_numeric_extents_of_every_column_at_once_match_each_column_alone():
    from core.table import numeric_extents

    rng = np.random.default_rng(2)
    columns = {
        "lr": [0.1, np.nan, np.inf, 0.001, 0.1, -np.inf],
        "layers": [1.0, 2.0, 3.0, 2.0, -0.0, 0.0],
        "none_finite": [np.nan, np.inf, -np.inf, np.nan, np.nan, np.nan],
        "one_value": [5.0] * 6,
        "huge": [1e308, -1e308, 1e-308, 0.5, 2.0, 1e308],
        **{f"r{i}": rng.choice([0.5, 1.0, np.nan, 2.0], 6) for i in range(50)},
    }
    frame = pd.DataFrame(columns)
    frame.insert(2, "optimizer", pd.Series(["adam", None, "sgd", "adam", "x", "y"], dtype=object))
    spans = numeric_extents(frame)
    assert list(spans) == [c for c in frame.columns if c != "optimizer"]  # text columns are left out, order kept
    for name, span in spans.items():
        finite = frame[name][np.isfinite(frame[name])]
        assert span.n_finite == len(finite) and span.n_values == finite.nunique(), name
        assert span.integral == bool(np.all(np.mod(finite, 1) == 0)), name
        if len(finite):
            assert (span.min, span.max) == (finite.min(), finite.max()), name
        else:
            assert np.isnan(span.min) and np.isnan(span.max), name
    assert spans["layers"].n_values == 4  # -0.0 and 0.0 are one value, as np.unique and nunique say
    empty = numeric_extents(frame.iloc[:0])
    assert list(empty) == list(spans) and all(s.n_finite == 0 and s.n_values == 0 for s in empty.values())


def test_a_trial_tables_extents_are_computed_once(write_csv):
    from core.roles import infer_roles
    from core.table import build_trial_table, numeric_extents

    raw = read_results(write_csv("trial_id,lr,layers,opt,val_loss\n1,0.1,2,adam,0.5\n2,0.01,3,sgd,0.4\n"
                                 "3,0.001,2,adam,nan\n"))
    table = build_trial_table(raw, infer_roles(raw.frame, raw.source))
    spans = table.extents()
    assert spans == numeric_extents(table.hyperparameters) and set(spans) == {"lr", "layers"}
    assert table.extents() is spans and spans["layers"].integral and not spans["lr"].integral


def test_ids_durations_and_categories_through_the_arrow_path(write_csv):
    from core.roles import infer_roles
    from core.table import build_trial_table

    text = ("trial_id,state,duration,activation,val_loss,lr\n"
            " a1 ,COMPLETE,0 days 00:01:40,relu,0.5,0.1\n"
            "a2,FAIL,0 days 00:00:12.5,none,,0.01\n"
            "a3,,0 days 00:00:10,,NaN,0.1\n")
    raw = read_results(write_csv(text))
    table = build_trial_table(raw, infer_roles(raw.frame, raw.source))
    assert table.ids.tolist() == ["a1", "a2", "a3"]
    assert table.status.tolist() == ["completed", "failed", "unknown"]
    assert table.status_raw.tolist() == ["COMPLETE", "FAIL", ""]
    assert table.runtime.tolist() == [100.0, 12.5, 10.0]
    assert table.hyperparameters["activation"].tolist() == ["relu", "none", None]
    assert table.missing["val_loss"].tolist() == [False, True, False]
    with pytest.raises(InputError, match=r"column 'duration', line 3: 'soon' is not a number"):
        bad = read_results(write_csv(text.replace("0 days 00:00:12.5", "soon")))
        build_trial_table(bad, infer_roles(bad.frame, bad.source, {"duration": "runtime"}))
    with pytest.raises(InputError, match=r"duplicate trial id 'a1' .* on lines 2, 4"):
        dup = read_results(write_csv(text.replace("a3", "a1")))
        build_trial_table(dup, infer_roles(dup.frame, dup.source))


def test_cr_only_line_endings_are_read(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"trial_id,lr,val_loss\r1,0.1,0.5\r2,0.2,nan\r")
    frame = read_results(path).frame
    assert frame["trial_id"].tolist() == ["1", "2"] and frame["val_loss"].tolist() == ["0.5", "nan"]


def test_a_row_with_another_separator_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("trial_id,lr,val_loss\n1,0.1,0.5\n2;0.2;0.6\n3,0.3,nan\n")
    with pytest.raises(InputError, match=r"mixed.csv: line 3 has 1 field but the header has 3 \(it looks separated by ';'\)"):
        read_results(path)


def test_fifos_and_devices_are_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is a named pipe"):
        read_results(fifo)
    with pytest.raises(InputError, match="/dev/zero: is a device"):
        read_input_bytes(Path("/dev/zero"))


def test_gzip_corrupt_truncated_and_bombs_are_input_errors(tmp_path, monkeypatch):
    data = gzip.compress(b"trial_id,lr,val_loss\n" + b"1,0.1,0.5\n" * 2000)
    corrupt = tmp_path / "corrupt.csv.gz"
    corrupt.write_bytes(data[:20] + bytes(b ^ 0x55 for b in data[20:60]) + data[60:])
    with pytest.raises(InputError, match="corrupt gzip file"):
        read_input_bytes(corrupt)
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated gzip file"):
        read_input_bytes(truncated)
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"0" * (20 << 20)))
    monkeypatch.setenv("HPATH_MAX_INPUT_BYTES", str(1 << 20))
    with pytest.raises(InputError, match="larger than 1,048,576 bytes; raise HPATH_MAX_INPUT_BYTES"):
        read_input_bytes(bomb)
    two = tmp_path / "two.gz"
    two.write_bytes(gzip.compress(b"a\n") + gzip.compress(b"b\n") + b"\0\0")
    assert read_input_bytes(two) == b"a\nb\n"


@pytest.mark.parametrize(("env", "value", "text", "message"), [
    ("HPATH_MAX_COLUMNS", "3", "a,b,c,d\n1,2,3,4\n", "4 columns, more than 3; raise HPATH_MAX_COLUMNS"),
    ("HPATH_MAX_ROWS", "2", "a,b\n1,2\n3,4\n5,6\n", "3 rows, more than 2; raise HPATH_MAX_ROWS"),
    ("HPATH_MAX_CELL_CHARS", "10", "a,b\n1," + "x" * 11 + "\n", "holds 11 characters, more than 10"),
    ("HPATH_MAX_ROWS", "lots", "a,b\n1,2\n", "HPATH_MAX_ROWS='lots': expected a whole number"),
])
def test_table_bounds_are_documented_and_overridable(tmp_path, monkeypatch, env, value, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    monkeypatch.setenv(env, value)
    with pytest.raises(InputError, match=re.escape(message)):
        read_results(path)
    monkeypatch.delenv(env)
    assert not read_results(path).frame.empty
