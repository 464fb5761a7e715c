"""Any tool's export through the command line and the load node: format, mapping and curves reach the summary."""

from __future__ import annotations

import json

import pytest
from langgraph.runtime import Runtime

from graph.context import Context
from graph.inputs import sweep_of
from graph.nodes import load
from tests.conftest import DATA
from tests.test_cli import run_cli

RAY = DATA / "raytune" / "lr_sweep"


def test_optuna_storage_through_the_cli_with_a_mapping(tmp_path):
    result = run_cli(str(DATA / "optuna" / "dlp_models.db"), "--out", str(tmp_path), "--offline",
                     "--map", "params_max_edges=ignore", "--map", "value=metric:objective:min")
    assert result.returncode == 0, result.stderr
    assert "dlp_models.db (optuna-sqlite): 73 trials" in result.stderr
    summary = json.loads((tmp_path / "hparam_summary.json").read_text())
    assert summary["sweep"]["format"] == "optuna-sqlite"
    assert summary["sweep"]["roles"]["mapping"]["max_edges"] == "ignore"
    assert summary["sweep"]["status_counts"] == {"completed": 60, "failed": 8, "running": 5}
    assert "max_edges" not in summary["sweep"]["roles"]["hyperparameters"]
    report = (tmp_path / "hparam_report.md").read_text()
    assert "`optuna-sqlite`" in report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["EMPTY"], "an empty directory, with no Ray Tune experiment"),
        ([str(DATA / "wandb_nanogpt_export.csv"), "--map", "nonsense"], "expected COLUMN=ROLE"),
        ([str(DATA / "wandb_nanogpt_export.csv"), "--map", "lr=colour"], "unknown role 'colour'"),
        ([str(DATA / "wandb_nanogpt_export.csv"), "--format", "optuna-sqlite"], "a file, but optuna-sqlite is"),
        (["postgresql://alice:s3cr3t@127.0.0.1:1/optuna"], "postgresql://127.0.0.1:1/optuna: "),
        ([str(DATA / "deepobs_fmnist_2c2d.csv"), "--format", "wandb"], "deepobs_fmnist_2c2d.csv: cannot be read as wandb-csv"
                                                                         " (no 'Name' column"),
        ([str(DATA / "deepobs_fmnist_2c2d.csv"), "--format", "mlflow-ui-csv"], "cannot be read as mlflow-ui-csv"),
        ([str(DATA / "raytune")],
         "holds 3 sweeps (asha/ (raytune), deepcave_run_2/ (raytune), lr_sweep/ (raytune)); point at one"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [str(empty) if a == "EMPTY" else a for a in args]
    result = run_cli(*args, "--out", str(tmp_path / "out"), "--offline")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("[")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.stderr and "s3cr3t" not in result.stderr


def test_storage_url_credentials_are_never_shown():
    from core.sources import without_credentials

    assert without_credentials("postgresql://alice:s3cr3t@db.example:5432/optuna") == "postgresql://db.example:5432/optuna"
    assert without_credentials("sqlite:///x.db") == "sqlite:///x.db"
    assert without_credentials("runs.csv") == "runs.csv"


def test_a_wandb_export_takes_a_long_format_curves_file(tmp_path):
    result = run_cli(str(DATA / "wandb_nanogpt_export.csv"), "--curves", str(DATA / "curves" / "deepcave_mnist_long.csv"),
                     "--out", str(tmp_path), "--offline", "--no-plots")
    assert result.returncode == 0, result.stderr


def test_load_node_keeps_the_sweep_out_of_the_json_native_state():
    state = {"results_path": str(RAY), "mapping": {"optimizer": "ignore"}}
    update = load(state, Runtime(context=Context()))
    assert update["sweep_format"] == "raytune" and update["n_trials"] == 6 and update["n_curve_trials"] == 5
    assert update["roles"]["id"] == "trial_id"  # the reader's hint
    assert update["roles"]["mapping"]["optimizer"] == "ignore" and "optimizer" not in update["roles"]["hyperparameters"]
    assert not {"raw", "curves", "role_hints"} & update.keys()  # no table cells in the state
    json.dumps(update, allow_nan=False)  # storable by any checkpointer
    curves = sweep_of(state).sweep.curves.frame  # the detect node's sweep: the one the load node read
    assert set(curves.columns) >= {"trial_id", "step", "val_loss"} and "nan" in curves["val_loss"].tolist()
    assert sweep_of(state) is sweep_of(dict(state))


def test_load_node_reads_records_with_a_mapping():
    records = [{"run": "a", "score": 0.5, "width": 1}, {"run": "b", "score": float("nan"), "width": 2}]
    update = load({"records": records, "mapping": {"run": "id", "score": "metric:objective:max"}},
                  Runtime(context=Context()))
    assert update["sweep_format"] == "records" and update["n_curve_trials"] is None
    assert update["roles"]["id"] == "run" and update["roles"]["metrics"]["score"]["goal"] == "max"


def test_ray_tune_directory_through_the_cli(tmp_path):
    result = run_cli(str(RAY), "--out", str(tmp_path), "--offline")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "hparam_summary.json").read_text())
    assert summary["sweep"]["format"] == "raytune" and summary["sweep"]["n_trials"] == 6
    assert summary["sweep"]["status_counts"] == {"completed": 4, "failed": 2}


def test_optuna_curves_and_declared_space_reach_the_summary(tmp_path):
    result = run_cli(str(DATA / "optuna" / "late_divergence.db"), "--out", str(tmp_path), "--offline")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "hparam_summary.json").read_text())
    diverged = {i["trial_id"] for i in summary["issues"] if i["type"] == "diverged"}
    assert diverged == {"3", "12", "13", "14", "16", "22", "24", "27", "36"}
    assert summary["search_space"]["lr"]["log"] is True
    assert summary["search_space"]["optimizer"]["choices"] == ["adam", "sgd"]
