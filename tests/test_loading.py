"""Reading files: every spelling of NaN/inf, and every way a file can be bad."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.loading import read_results, records_to_raw
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
