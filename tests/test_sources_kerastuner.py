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
