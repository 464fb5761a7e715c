"""MLflow: a file store, an mlflow.db and search_runs() CSV written by MLflow, and a UI CSV download."""

from __future__ import annotations

import re
import shutil

import pytest

from core.errors import InputError
from core.roles import infer_roles
from core.sources import read_sweep
from core.status import normalize_status
from core.summary import analyze_sweep
from tests.conftest import DATA

STORE = DATA / "mlflow" / "mlruns"
DB = DATA / "mlflow" / "mlflow.db"
SEARCH_CSV = DATA / "mlflow" / "search_runs.csv"
UI_CSV = DATA / "mlflow" / "ui_export.csv"
NAMES = [f"lr_{lr:g}" for lr in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)]
STATUSES = ["completed", "completed", "completed", "killed", "running", "completed", "completed", "failed"]

NOTE = "still marked running started long before the last finished run ended"


def issues_of(sweep):
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    return roles, {(i["trial_id"], i["type"]) for i in analyze_sweep(sweep.trials, roles)["issues"]}


def test_file_store():
    sweep = read_sweep(STORE)
    frame = sweep.trials.frame
    assert sweep.format == "mlflow-store"
    assert frame["run_name"].tolist() == NAMES  # in order of start time; the deleted run is left out
    assert normalize_status(frame["status"]).tolist() == STATUSES
    assert any("1 deleted run(s) left out" in n for n in sweep.notes)
    roles, issues = issues_of(sweep)
    assert roles.id == "run_name" and roles.runtime == "duration_s" and roles.error == "tags.error"
    assert roles.hyperparameters == ["batch_size", "lr", "optimizer", "tags.team"]
    assert {"train_loss", "val_loss", "val_accuracy"} == set(roles.metrics)
    by_name = frame.set_index("run_name")
    assert by_name.loc["lr_0.1", "val_loss"] == "nan" and by_name.loc["lr_0.03", "val_loss"] == "inf"
    assert by_name.loc["lr_0.01", "duration_s"] is None and by_name.loc["lr_0.0001", "duration_s"] == "305.0"
    assert {("lr_0.1", "nonfinite_metric"), ("lr_0.03", "nonfinite_metric"), ("lr_0.3", "failed"),
            ("lr_0.003", "killed"), ("lr_0.01", "running")} <= issues
    curves = sweep.curves.frame
    assert len(curves) == 31 and {"trial_id", "step", "val_loss", "train_loss"} <= set(curves.columns)
    assert curves[(curves["trial_id"] == "lr_0.3") & (curves["step"] == "3")]["val_loss"].item() == "nan"


@pytest.mark.parametrize("where", ["experiment", "parent"])
def test_file_store_from_an_experiment_dir_or_the_project_dir(tmp_path, where):
    experiment = next(p for p in STORE.iterdir() if p.is_dir() and p.name != "0")
    if where == "experiment":
        path = experiment
    else:
        shutil.copytree(STORE, tmp_path / "mlruns")
        path = tmp_path
    assert read_sweep(path).trials.frame["run_name"].tolist() == NAMES


def test_sqlite_store_gives_the_same_issues_as_the_file_store():
    """Round trip: the same runs written by MLflow to a file store and to mlflow.db."""
    sweep = read_sweep(DB)
    assert sweep.format == "mlflow-sqlite"
    assert any("1.7976931348623157e308" in n for n in sweep.notes)  # MLflow's database stores inf as max float
    assert sweep.trials.frame.set_index("run_name").loc["lr_0.03", "val_loss"] == "inf"
    assert issues_of(sweep)[1] == issues_of(read_sweep(STORE))[1]
    assert read_sweep(f"sqlite:///{DB}", format="mlflow").trials.frame.equals(sweep.trials.frame)


def test_search_runs_csv_and_its_nan_quirk():
    sweep = read_sweep(SEARCH_CSV)
    frame = sweep.trials.frame
    assert sweep.format == "mlflow-csv" and frame["run_name"].tolist() == NAMES
    assert normalize_status(frame["status"]).tolist() == STATUSES
    roles, issues = issues_of(sweep)
    assert roles.hyperparameters == ["optimizer", "lr", "batch_size", "tags.team"]
    assert frame.set_index("run_name").loc["lr_0.03", "val_loss"] == "inf"
    # pandas' to_csv writes NaN as an empty cell: the NaN losses of lr_0.1 and lr_0.3 are lost in this format
    assert frame.set_index("run_name").loc["lr_0.1", "val_loss"] == ""
    store_issues = issues_of(read_sweep(STORE))[1]
    assert ("lr_0.1", "nonfinite_metric") in store_issues - issues
    kept = {"failed", "killed", "running"}
    assert {i for i in issues if i[1] in kept} == {i for i in store_issues if i[1] in kept}


def test_ui_csv():
    sweep = read_sweep(UI_CSV)
    roles, issues = issues_of(sweep)
    assert sweep.format == "mlflow-ui-csv"
    assert (roles.id, roles.status, roles.runtime, roles.error) == ("Name", "Status", "Duration", "error")
    assert roles.hyperparameters == ["batch_size", "lr", "optimizer", "team"]  # unprefixed: a tag looks like a param
    assert {("lr_0.3", "failed"), ("lr_0.003", "killed"), ("lr_0.01", "running")} <= issues


def test_several_experiments_need_a_choice(tmp_path):
    shutil.copytree(STORE, tmp_path / "mlruns")
    experiment = next(p for p in (tmp_path / "mlruns").iterdir() if p.is_dir() and p.name != "0")
    other = tmp_path / "mlruns" / "99"
    shutil.copytree(experiment, other)
    meta = (other / "meta.yaml").read_text().replace("name: lr_sweep", "name: second").replace(
        f"experiment_id: '{experiment.name}'", "experiment_id: '99'")
    (other / "meta.yaml").write_text(meta)
    with pytest.raises(InputError, match=r"2 experiments have runs .*choose one with --study"):
        read_sweep(tmp_path / "mlruns")
    assert len(read_sweep(tmp_path / "mlruns", study="second").trials.frame) == 8
    with pytest.raises(InputError, match="no experiment named 'third'"):
        read_sweep(tmp_path / "mlruns", study="third")


def test_hand_written_store_with_nested_metric_keys(tmp_path):
    """The documented layout: <exp>/meta.yaml, <exp>/<run>/meta.yaml with an int status, metrics/<key> lines."""
    exp = tmp_path / "mlruns" / "1"
    (exp / "r1" / "metrics" / "val").mkdir(parents=True)
    (exp / "meta.yaml").write_text("experiment_id: '1'\nlifecycle_stage: active\nname: demo\n")
    (exp / "r1" / "meta.yaml").write_text("run_id: r1\nrun_name: ''\nstatus: 4\nstart_time: 1000\n"
                                          "end_time: 61000\nlifecycle_stage: active\n")
    (exp / "r1" / "metrics" / "val" / "loss").write_text("1000 0.5 0\n2000 NaN 1\n")
    (exp / "r1" / "params").mkdir()
    (exp / "r1" / "params" / "lr").write_text("0.1")
    sweep = read_sweep(tmp_path / "mlruns")
    row = sweep.trials.frame.iloc[0]
    assert (row["run_id"], row["status"], row["val/loss"], row["lr"], row["duration_s"]) == (
        "r1", "FAILED", "NaN", "0.1", "60.0")
    assert sweep.curves.frame["val/loss"].tolist() == ["0.5", "NaN"]


def test_store_without_runs_is_one_line(tmp_path):
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "meta.yaml").write_text("experiment_id: '0'\nname: Default\n")
    with pytest.raises(InputError) as err:
        read_sweep(tmp_path)
    assert "no Ray Tune experiment, Keras Tuner project or MLflow" in str(err.value) and "formats:" in str(err.value)


def test_runs_sharing_a_name_keep_their_own_curves(tmp_path):
    store = tmp_path / "mlruns"
    shutil.copytree(STORE, store)
    metas = sorted(store.glob("*/*/meta.yaml"))[:2]
    for meta in metas:
        text = meta.read_text()
        meta.write_text(re.sub(r"(?m)^run_name: .*$", "run_name: same", text))
    sweep = read_sweep(store)
    curves = sweep.curves.frame
    original = read_sweep(STORE).curves.frame
    for meta in metas:
        run_id = meta.parent.name
        mine = curves[curves["trial_id"] == run_id]
        name = re.search(r"(?m)^run_name: (.*)$", (STORE / meta.relative_to(store)).read_text()).group(1)
        assert len(mine) == int((original["trial_id"] == name).sum()) > 0
        assert mine["step"].is_unique


NESTED_DB = DATA / "mlflow" / "nested.db"
NESTED_CSV = DATA / "mlflow" / "nested_search_runs.csv"


def analyzed(sweep):
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    return roles, analyze_sweep(sweep.trials, roles, curves=sweep.curves, curve_hints=sweep.curve_hints)


@pytest.mark.parametrize("source", [NESTED_DB, NESTED_CSV])
def test_a_parent_of_nested_runs_is_the_sweep_not_a_trial(source):
    sweep = read_sweep(source)
    frame = sweep.trials.frame
    assert len(frame) == 12 and "sweep" not in set(frame["run_name"])
    assert not {"n_trials", "sampler"} & set(frame.columns)  # the driver's own params went with it
    assert any("1 parent run(s) of 12 nested runs ('sweep') are the sweep, not trials" in n for n in sweep.notes)
    roles, summary = analyzed(sweep)
    assert "tags.mlflow.parentRunId" not in roles.hyperparameters
    assert "status_mismatch" not in summary["issue_counts"]  # the metric-less parent was a "hidden failure"
    if sweep.curves is not None:
        assert set(sweep.curves.frame["trial_id"]) == set(frame["run_name"])


@pytest.mark.parametrize("source", [NESTED_DB, NESTED_CSV])
def test_a_run_left_running_long_ago_is_abandoned(source):
    sweep = read_sweep(source)
    frame = sweep.trials.frame.set_index("run_name")
    assert frame.loc["c02", "status"] == "ABANDONED" and frame.loc["c11", "status"] == "RUNNING"
    # abandoned has no outcome (it was read as killed, a cause for patterns, before): it counts as running
    assert normalize_status(frame["status"]).value_counts().to_dict() == {"completed": 10, "running": 2}
    assert any(f"1 run(s) {NOTE} ("
               "1.446 h before it; the runs that went the whole way took 6.75 min (median), 6.75 min at most)"
               in n for n in sweep.notes)
    _, summary = analyzed(sweep)
    running = [(i["trial_id"], i["detail"]) for i in summary["issues"] if i["type"] == "running"]
    assert running == [("c02", "status 'ABANDONED'"), ("c11", "status 'RUNNING'")]
    assert [(f["kind"], f["trial_ids"]) for f in summary["findings"] if f["kind"] == "abandoned"] == [
        ("abandoned", ["c02"])]


def test_a_running_minimum_is_a_best_value_not_the_held_out_curve():
    sweep = read_sweep(NESTED_DB)
    assert sweep.curve_hints == {"best_val_loss": "ignore"}
    assert sweep.role_hints["best_val_loss"] == "metric:objective:min"
    assert any("best_val_loss never got worse within any run: a running min" in n for n in sweep.notes)
    roles, summary = analyzed(sweep)
    assert roles.loss_pair() == ("train_loss", "val_loss")  # was ("train_loss", "best_val_loss")
    assert "best_val_loss" not in summary["curves"]["metrics"]
    overfit = {i["trial_id"] for i in summary["issues"] if i["type"] == "overfitting"}
    assert overfit == {"c08", "c09"}  # weight_decay 0 and lr >= 0.01 (make_mlflow_nested.py) ...
    # ... c04/c05 too, but their curves rise only 4.5 % over the best in the last 20 % (the curve rule wants 5 %),
    # and the curve rule replaces the final-value ratio (issue 10 item 3): their 3.9x final gap is a gap
    gap = {i["trial_id"] for i in summary["issues"] if i["type"] == "generalization_gap"}
    assert {"c04", "c05"} <= gap
    assert all(i["detail"].startswith("val_loss best") for i in summary["issues"] if i["type"] == "overfitting")


def test_map_wins_over_the_running_best_reading():
    sweep = read_sweep(NESTED_DB, mapping={"best_val_loss": "metric:val_loss"})
    assert sweep.curve_hints == {"best_val_loss": "metric:val_loss"}
    assert sweep.role_hints["best_val_loss"] == "metric:val_loss"
    assert not any("never got worse" in n for n in sweep.notes)


def test_running_best_needs_the_name_and_the_shape():
    import pandas as pd

    from core.sources.running import running_best_columns

    frame = pd.DataFrame({"trial_id": ["a", "a", "a", "b", "b"], "step": ["1", "2", "3", "1", "2"],
                          "val_loss": ["3", "2", "1", "2", "1"],           # falls, but its name says nothing
                          "best_val_loss": ["3", "2", "2", "2", "1"],
                          "val_acc_max": ["0.1", "0.2", "0.2", "0.3", "0.3"],
                          "min_train_loss": ["1", "2", "1", "1", "1"]},  # rises once: no running minimum
                         dtype=object)
    assert running_best_columns(frame, "trial_id", "step") == {"best_val_loss": "min", "val_acc_max": "max"}


def test_infinity_note_counts_real_cells_only():
    assert any("1 metric value(s) of +/-1.7976931348623157e308" in n and "(0 of them latest values)" in n
               for n in read_sweep(NESTED_DB).notes)  # was 4: the parent's missing metrics were counted
    assert not any("1.7976931348623157e308" in n for n in read_sweep(NESTED_CSV).notes)
    assert any("1 metric value(s)" in n and "(1 of them latest values)" in n for n in read_sweep(DB).notes)
