"""Plain tables, Parquet, long curves, format detection, --map, and every way an input can be unreadable."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import InputError
from core.roles import infer_roles
from core.sources import FORMATS, read_sweep
from core.sources._common import merge_hints, text
from core.summary import analyze_sweep
from tests.conftest import DATA, SAMPLE

LONG = DATA / "long" / "deepobs_mnist_vae_curves.csv"
RUNS = DATA / "long" / "deepobs_mnist_vae_runs.csv"
NONFINITE = DATA / "deepobs_nonfinite_slice.csv"


def issues_of(sweep):
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    return {(i["trial_id"], i["type"]) for i in analyze_sweep(sweep.trials, roles)["issues"]}


def test_plain_csv_is_read_as_before():
    sweep = read_sweep(SAMPLE)
    assert sweep.format == "csv" and sweep.role_hints == {} and sweep.curves is None
    assert sweep.trials.format == "csv"


def test_text_cells_keep_nan_apart_from_missing():
    assert [text(v) for v in (float("nan"), float("inf"), float("-inf"), None, 0.1, 3, True, "x")] == [
        "nan", "inf", "-inf", None, "0.1", "3", "true", "x"]


def test_parquet_keeps_nan_apart_from_null_and_gives_the_csv_issues(tmp_path):
    """Round trip: a real DeepOBS slice as CSV and as Parquet (float columns, NaN/inf as floats, null as null)."""
    csv_sweep = read_sweep(NONFINITE)
    frame = csv_sweep.trials.frame
    columns = {}
    for col in frame.columns:
        cells = frame[col]
        try:
            columns[col] = pa.array([None if c == "" else float(c) for c in cells], pa.float64())
        except ValueError:
            columns[col] = pa.array([None if c == "" else c for c in cells], pa.string())
    path = tmp_path / "sweep.parquet"
    pq.write_table(pa.table(columns), path)
    sweep = read_sweep(path)
    assert sweep.format == "parquet"
    val = sweep.trials.frame["val_loss"]
    assert (val == "nan").sum() == (frame["val_loss"] == "nan").sum() > 100
    assert (val == "inf").sum() == 1
    assert sweep.trials.frame["val_acc"].isna().sum() == (frame["val_acc"] == "").sum() > 0  # null stays missing
    assert issues_of(sweep) == issues_of(csv_sweep)


def test_long_curves_alone_become_one_row_per_trial():
    sweep = read_sweep(LONG)
    assert sweep.format == "curves" and len(sweep.trials.frame) == 6
    assert sweep.curves is not None and len(sweep.curves.frame) == 6 * 51
    trials = sweep.trials.frame.set_index("trial_id")
    assert trials.loc["r00575", "test_loss"] == "nan"  # went NaN and stayed there
    assert trials["epochs"].tolist() == ["50"] * 6
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    assert roles.id == "trial_id" and roles.epochs == "epochs"
    assert {("r00575", "nonfinite_metric"), ("r00582", "nonfinite_metric")} <= issues_of(sweep)


def test_runs_with_curves_beside_them():
    sweep = read_sweep(RUNS, curves=LONG)
    assert sweep.format == "csv" and len(sweep.curves.frame) == 306
    runs_issues = issues_of(sweep)
    assert {(t, k) for t, k in runs_issues if k == "nonfinite_metric"} == {
        ("r00575", "nonfinite_metric"), ("r00582", "nonfinite_metric")}
    with pytest.raises(InputError, match="not long-format curves"):
        read_sweep(RUNS, curves=RUNS)


def test_map_overrides_the_readers_roles_and_is_recorded():
    sweep = read_sweep(DATA / "optuna_dlp_trials.csv", mapping={"datetime_start": "id", "params_lr": "ignore"})
    assert sweep.role_hints["datetime_start"] == "id" and "number" not in sweep.role_hints  # one id only
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    assert roles.id == "datetime_start" and roles.mapping["lr"] == "ignore" and "lr" not in roles.hyperparameters
    assert merge_hints({"a": "status"}, {"b": "status", "c": "metric:val_loss"}) == {
        "b": "status", "c": "metric:val_loss"}


def test_format_can_be_forced():
    sweep = read_sweep(DATA / "optuna_dlp_trials.csv", format="csv")
    assert sweep.format == "csv" and sweep.role_hints == {}
    assert read_sweep(DATA / "optuna_dlp_trials.csv", format="optuna").format == "optuna-csv"


def _file(name, content):
    def make(tmp_path):
        path = tmp_path / name
        path.write_text(content)
        return path if name else tmp_path
    return make


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p / "missing.csv", "file not found"),
        (_file("empty.csv", ""), "file is empty"),
        (lambda p: p, "an empty directory"),
        (lambda p: (p / "notes.txt").write_text("hello") and p, "a directory with 1 entry (notes.txt)"),
        (_file("x.json", "{}"), "a JSON file, not a sweep export"),
        (_file("header.csv", "trial_id,val_loss\n"), "no trial rows"),
    ],
)
def test_unreadable_inputs_are_one_line_naming_what_was_found(tmp_path, setup, message):
    path = setup(tmp_path)
    with pytest.raises(InputError) as err:
        sweep = read_sweep(path)
        infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    text_ = str(err.value)
    assert message in text_ and str(path) in text_ and "\n" not in text_
    if "directory" in message or "JSON" in message or "not found" in message:
        assert "formats: csv, parquet, curves, optuna-csv" in text_


def test_wrong_format_or_option_is_explained(tmp_path):
    with pytest.raises(InputError, match="unknown format 'excel'; formats: "):
        read_sweep(SAMPLE, format="excel")
    with pytest.raises(InputError, match="a file, but raytune is a Ray Tune experiment directory"):
        read_sweep(SAMPLE, format="raytune")
    with pytest.raises(InputError, match="looks like raytune .*not kerastuner"):
        read_sweep(DATA / "raytune" / "lr_sweep", format="kerastuner")
    with pytest.raises(InputError, match="--study applies to Optuna storages and MLflow stores"):
        read_sweep(SAMPLE, study="s")
    assert set(FORMATS) >= {"optuna-sqlite", "wandb-csv", "mlflow-store", "raytune", "kerastuner", "curves"}


def test_non_utf8_table_is_read_with_a_note():
    sweep = read_sweep(DATA / "sample_cp1252.csv")
    assert "Gewichtsdämpfung" in sweep.trials.frame.columns and "not valid UTF-8" in sweep.notes[0]


def test_duplicate_ids_in_a_tool_table_name_the_lines(tmp_path):
    path = tmp_path / "optuna.csv"
    path.write_text("number,value,params_lr,state\n0,0.5,0.1,COMPLETE\n1,nan,0.2,COMPLETE\n1,0.3,0.3,FAIL\n")
    sweep = read_sweep(path)
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    with pytest.raises(InputError, match=r"duplicate trial id '1' in column 'number' on lines 3, 4"):
        analyze_sweep(sweep.trials, roles)


@pytest.mark.parametrize("spelling", ["nan", "NaN", "NAN", "inf", "-inf", "Infinity", "-Infinity", "1e999"])
def test_nan_spellings_of_a_tool_table_are_non_finite(tmp_path, spelling):
    path = tmp_path / "optuna.csv"
    path.write_text(f"number,value,params_lr,state\n0,0.5,0.1,COMPLETE\n1,{spelling},0.2,COMPLETE\n2,,0.3,FAIL\n")
    issues = issues_of(read_sweep(path))
    assert ("1", "nonfinite_metric") in issues and ("2", "nonfinite_metric") not in issues  # empty is missing
