"""Keras Tuner: a project written by Keras Tuner, with failed trials and NaN losses."""

from __future__ import annotations

import json
import shutil

import pytest

from core.errors import InputError
from core.roles import infer_roles
from core.sources import read_sweep
from core.status import normalize_status
from core.summary import analyze_sweep
from tests.conftest import DATA

TUNING = DATA / "kerastuner" / "tuning"
PROJECT = TUNING / "lr_grid"


def test_project():
    sweep = read_sweep(PROJECT)
    frame = sweep.trials.frame
    assert sweep.format == "kerastuner" and len(frame) == 12
    assert frame["trial_id"].tolist() == [f"{i:02d}" for i in range(12)]
    assert normalize_status(frame["status"]).value_counts().to_dict() == {"completed": 10, "failed": 2}
    roles = infer_roles(frame, sweep.source, sweep.role_hints)
    assert roles.hyperparameters == ["learning_rate", "optimizer"]
    assert {"loss", "val_loss", "val_accuracy", "score"} == set(roles.metrics)
    assert roles.metrics["score"].goal == "min"  # the score is val_loss's best value in every trial
    assert (roles.epochs, roles.error) == ("epochs", "error")
    by_lr = frame.set_index(["learning_rate", "optimizer"])
    nan_trial = by_lr.loc[("0.3", "adam")]
    assert nan_trial["val_loss"] == "nan" and nan_trial["score"] == "2.76"  # Keras Tuner's score skips the NaN
    assert by_lr.loc[("1.0", "sgd"), "error"] == "FloatingPointError: gradients overflowed at step 1"
    issues = {(i["trial_id"], i["type"]) for i in analyze_sweep(sweep.trials, roles)["issues"]}
    assert {("08", "nonfinite_metric"), ("09", "nonfinite_metric"), ("10", "failed"), ("11", "failed")} <= issues
    curves = sweep.curves.frame
    assert len(curves) == 10 * 3 and list(curves.columns[:2]) == ["trial_id", "epoch"]
    assert curves[(curves["trial_id"] == "08") & (curves["epoch"] == "3")]["loss"].item() == "nan"


def test_tuner_directory_with_one_project():
    sweep = read_sweep(TUNING)
    assert len(sweep.trials.frame) == 12 and "read the Keras Tuner project lr_grid/" in sweep.notes[0]


def test_empty_idle_trials_are_left_out(tmp_path):
    copy = shutil.copytree(PROJECT, tmp_path / "proj")
    (copy / "trial_12").mkdir()
    (copy / "trial_12" / "trial.json").write_text(json.dumps(
        {"trial_id": "12", "hyperparameters": {"space": [], "values": {}}, "metrics": {"metrics": {}},
         "score": None, "best_step": 0, "status": "IDLE", "message": None}))
    sweep = read_sweep(copy, format="keras-tuner")
    assert len(sweep.trials.frame) == 12 and any("1 empty IDLE/STOPPED" in n for n in sweep.notes)


def test_broken_trial_json_is_one_line(tmp_path):
    copy = shutil.copytree(PROJECT, tmp_path / "proj")
    (copy / "trial_03" / "trial.json").write_text("{not json")
    with pytest.raises(InputError) as err:
        read_sweep(copy)
    assert "trial_03" in str(err.value) and "not valid JSON" in str(err.value)


HYPERBAND = DATA / "kerastuner" / "hb_tuning" / "hyperband"


def test_hyperband_rungs_are_pruned_and_epochs_are_what_was_trained():
    """A real Hyperband search (max_epochs=9, factor=3) written by Keras Tuner around a Keras model."""
    sweep = read_sweep(HYPERBAND)
    frame = sweep.trials.frame.set_index("trial_id")
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    assert roles.epochs == "tuner/epochs"  # not best_step + 1: trial 0018 trained to 9, its best epoch was its 1st
    assert frame.loc["0018", "tuner/epochs"] == "9" and "epochs" not in frame.columns
    assert roles.hyperparameters == ["units", "dropout", "lr", "optimizer"]  # bracket, round, ... are context
    status = normalize_status(frame["status"])
    assert (status == "pruned").sum() == 17 and status.eq("completed").sum() == 6
    assert set(frame.loc[status == "pruned", "tuner/epochs"]) == {"1", "3"}
    assert set(frame.loc[status == "completed", "tuner/epochs"]) == {"9"}
    assert "trained 17 of 23 trials only to a rung (1, 3 epochs)" in sweep.notes[0]
    assert "6 of them were continued as later trials" in sweep.notes[0]
    assert sweep.curves is None  # one observation per metric, at the best epoch: a best value, no curve
    summary = analyze_sweep(sweep.trials, roles)
    assert "short_run" not in summary["issue_counts"] and summary["issue_counts"]["pruned"] == 17
    assert summary["best_trial"]["trial_id"] in set(frame.index[status == "completed"])


def test_declared_space_from_the_oracle():
    space = read_sweep(HYPERBAND).space
    assert space["lr"] == {"kind": "float", "low": 1e-4, "high": 0.1, "log": True, "step": None, "choices": None,
                           "source": "kerastuner"}
    assert space["units"] == {"kind": "int", "low": 8, "high": 64, "log": False, "step": 8, "choices": None,
                              "source": "kerastuner"}
    assert space["dropout"]["step"] == 0.1 and space["optimizer"]["choices"] == ["adam", "sgd"]
    grid = read_sweep(PROJECT).space
    assert grid["learning_rate"]["kind"] == "categorical" and grid["learning_rate"]["choices"][-1] == 1.0


def test_boolean_and_fixed_are_categorical():
    from core.sources.kerastuner import _space

    oracle = {"hyperparameters": {"space": [
        {"class_name": "Boolean", "config": {"name": "bn", "default": False}},
        {"class_name": "Fixed", "config": {"name": "act", "value": "relu"}},
        {"class_name": "Int", "config": {"name": "filters", "min_value": 16, "max_value": 256, "step": 2,
                                         "sampling": "log"}},
        {"class_name": "Nope", "config": {"name": "x"}}]}}
    space = _space(oracle, [])
    assert space["bn"]["choices"] == [False, True] and space["act"]["choices"] == ["relu"]
    assert space["filters"]["log"] is True and space["filters"]["step"] is None and "x" not in space
