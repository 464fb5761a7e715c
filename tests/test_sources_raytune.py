"""Ray Tune: an experiment written by Ray Tune (with errors) and a genuine upstream experiment directory."""

from __future__ import annotations

import shutil

import pytest

from core.errors import InputError
from core.roles import infer_roles
from core.sources import read_sweep
from core.status import normalize_status
from core.summary import analyze_sweep
from tests.conftest import DATA

SWEEP = DATA / "raytune" / "lr_sweep"
DEEPCAVE = DATA / "raytune" / "deepcave_run_2"

NOTE = "still marked running started long before the last finished run ended"


def test_experiment_with_errors():
    sweep = read_sweep(SWEEP)
    frame = sweep.trials.frame.set_index("lr")
    assert sweep.format == "raytune" and len(frame) == 6
    assert normalize_status(frame["status"]).to_dict() == {
        "0.001": "completed", "0.01": "completed", "0.1": "completed", "0.3": "completed",
        "0.6": "failed", "1.5": "failed"}
    # errored before its first report: only experiment_state knows it, and error.txt says why
    early = frame.loc["1.5"]
    assert early["val_loss"] is None and early["training_iteration"] is None
    assert early["error"] == "RuntimeError: CUDA out of memory (simulated) before the first report"
    assert frame.loc["0.6", "error"] == "FloatingPointError: loss is NaN at epoch 4"
    assert frame.loc["0.3", "val_loss"] == "nan" and frame.loc["0.6", "val_loss"] == "nan"
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    assert (roles.id, roles.status, roles.epochs, roles.runtime, roles.error) == (
        "trial_id", "status", "training_iteration", "time_total_s", "error")
    assert roles.hyperparameters == ["lr", "optimizer"]
    assert set(roles.metrics) == {"train_loss", "val_loss", "val_acc"}
    assert not {"pid", "hostname", "node_ip", "date", "timestamp"} & set(sweep.trials.frame.columns)
    issues = {(i["trial_id"], i["type"]) for i in analyze_sweep(sweep.trials, roles)["issues"]}
    ids = sweep.trials.frame.set_index("lr")["trial_id"]
    assert {(ids["1.5"], "failed"), (ids["0.6"], "failed"), (ids["0.3"], "nonfinite_metric")} <= issues
    curves = sweep.curves.frame
    assert len(curves) == 4 * 4 + 3 and list(curves.columns[:2]) == ["trial_id", "step"]
    assert (curves["val_loss"] == "nan").sum() == 2 + 1


def test_genuine_upstream_experiment():
    sweep = read_sweep(DEEPCAVE)
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    assert len(sweep.trials.frame) == 3 and set(sweep.trials.frame["status"]) == {"TERMINATED"}
    assert roles.hyperparameters == ["alpha", "beta", "gamma"] and list(roles.metrics) == ["score"]
    assert sweep.trials.frame["trial_id"].tolist() == ["73021c4e", "fba3d319", "4015af5d"]
    assert analyze_sweep(sweep.trials, roles)["issue_counts"] == {}


def test_without_experiment_state_statuses_are_guessed(tmp_path):
    copy = shutil.copytree(SWEEP, tmp_path / "exp")
    for state in copy.glob("experiment_state*.json"):
        state.unlink()
    sweep = read_sweep(copy)
    frame = sweep.trials.frame.set_index("lr")
    assert frame.loc["1.5", "status"] == "ERROR" and frame.loc["0.6", "status"] == "ERROR"
    # Ray 2.x never writes the final done=True result to result.json: finished trials are unknown then
    assert frame.loc["0.001", "status"] is None
    assert any("no experiment_state" in n for n in sweep.notes)


def test_corrupt_experiment_state_is_one_line(tmp_path):
    copy = shutil.copytree(SWEEP, tmp_path / "exp")
    next(copy.glob("experiment_state*.json")).write_text('{"trial_data": [')
    with pytest.raises(InputError) as err:
        read_sweep(copy)
    assert "experiment_state" in str(err.value) and "not valid JSON" in str(err.value)


def test_pointing_at_a_ray_file_names_the_directory():
    state = next(SWEEP.glob("experiment_state*.json"))
    with pytest.raises(InputError, match="a Ray Tune file; point at the experiment directory"):
        read_sweep(state)


def test_results_directory_holding_one_experiment(tmp_path):
    shutil.copytree(SWEEP, tmp_path / "ray_results" / "lr_sweep")
    sweep = read_sweep(tmp_path / "ray_results")
    assert len(sweep.trials.frame) == 6 and "read the Ray Tune experiment lr_sweep/" in sweep.notes[0]


ASHA = DATA / "raytune" / "asha"


def analyzed(sweep):
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    return analyze_sweep(sweep.trials, roles, curves=sweep.curves, curve_hints=sweep.curve_hints)


def test_asha_stops_are_pruned_not_short_runs():
    """12 trials under ASHA (max_t=9, rungs 1/3/9), written by Ray Tune: 9 stopped at a rung, by design."""
    sweep = read_sweep(ASHA)
    frame = sweep.trials.frame
    iterations = frame.set_index("trial_id")["training_iteration"].astype(int)
    status = normalize_status(frame.set_index("trial_id")["status"])
    assert (status == "pruned").sum() == 9 and set(iterations[status == "pruned"]) == {1, 3}
    assert set(iterations[status == "completed"]) == {9} and (status == "completed").sum() == 3
    assert "9 of 12 TERMINATED trials ended after fewer iterations (1, 3) than the longest (9)" in sweep.notes[0]
    summary = analyzed(sweep)
    assert summary["sweep"]["roles"]["epochs"] == "training_iteration"  # epochs are what was trained
    assert summary["issue_counts"] == {"pruned": 9}  # no short_run, nothing sick


def test_a_trial_that_reached_its_own_budget_was_not_stopped():
    from core.sources.raytune import _scheduler_stops

    def row(trial, iterations, **config):
        return {"trial_id": trial, "status": "TERMINATED", "error": None, "stop": {}, "config": config,
                "metrics": {"training_iteration": iterations}}

    rows = [row("a", 20, max_epochs=20), row("b", 5, max_epochs=5), row("c", 3, max_epochs=20), row("d", 20)]
    rows[3]["stop"] = {"training_iteration": 20}
    notes = _scheduler_stops("x", rows)
    assert [r["status"] for r in rows] == ["TERMINATED", "TERMINATED", "PRUNED", "TERMINATED"]
    assert notes and "1 of 4" in notes[0]
    same = [row("a", 4), row("b", 4)]
    assert _scheduler_stops("x", same) == [] and {r["status"] for r in same} == {"TERMINATED"}


def test_errors_and_equal_budgets_are_left_as_they_are():
    assert normalize_status(read_sweep(DEEPCAVE).trials.frame["status"]).eq("completed").all()
    statuses = normalize_status(read_sweep(SWEEP).trials.frame["status"]).value_counts().to_dict()
    assert statuses == {"completed": 4, "failed": 2}  # an ERROR after 3 of 4 iterations is a failure, not a stop


def test_declared_param_space_from_the_search_generator_state():
    space = read_sweep(ASHA).space
    assert space == {
        "lr": {"kind": "float", "low": 1e-4, "high": 1.0, "log": True, "step": None, "choices": None, "source": "raytune"},
        "batch_size": {"kind": "categorical", "low": None, "high": None, "log": False, "step": None,
                       "choices": [32, 64, 128], "source": "raytune"},
        "dropout": {"kind": "float", "low": 0.0, "high": 0.5, "log": False, "step": None, "choices": None,
                    "source": "raytune"},
    }
    grid = read_sweep(SWEEP).space  # tune.grid_search([...]) is a declared list of choices
    assert grid == {"lr": {"kind": "categorical", "low": None, "high": None, "log": False, "step": None,
                           "choices": [0.001, 0.01, 0.1, 0.3, 0.6, 1.5], "source": "raytune"}}
    assert read_sweep(DEEPCAVE).space == {}  # no generator state kept: nothing declared, nothing guessed


def test_the_state_pickle_is_read_without_running_anything(tmp_path):
    import os
    import pickle

    from core.sources.raytune_space import read_space

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    (tmp_path / "basic-variant-state-x.json").write_bytes(pickle.dumps({"unresolved_spec": {"config": {"a": Boom()}}}))
    assert read_space(tmp_path) == {} and not (tmp_path / "ran").exists()
    (tmp_path / "basic-variant-state-x.json").write_bytes(b"\x80\x04 truncated")
    assert read_space(tmp_path) == {}


def test_a_trial_left_running_by_a_dead_driver_is_abandoned(tmp_path):
    import json

    copy = shutil.copytree(ASHA, tmp_path / "asha")
    state_file = next(copy.glob("experiment_state*.json"))
    state = json.loads(state_file.read_text())
    entries = [(json.loads(t), json.loads(r)) for t, r in state["trial_data"]]
    earliest = min(range(len(entries)), key=lambda i: entries[i][1]["start_time"])
    latest = max(range(len(entries)), key=lambda i: entries[i][1]["start_time"])
    for i in (earliest, latest):
        entries[i][0]["status"] = "RUNNING"
    state["trial_data"] = [[json.dumps(t), json.dumps(r)] for t, r in entries]
    state_file.write_text(json.dumps(state))
    sweep = read_sweep(copy)
    status = sweep.trials.frame.set_index("trial_id")["status"]
    assert status[entries[earliest][0]["trial_id"]] == "ABANDONED"
    assert status[entries[latest][0]["trial_id"]] == "RUNNING"  # started last: may still finish
    # killed before the abandoned-runs rule read the study's times: now no outcome, like a run still running
    assert any(f"1 run(s) {NOTE}" in n and "read as abandoned (no outcome" in n for n in sweep.notes)
    assert normalize_status(status).value_counts().get("killed", 0) == 0
