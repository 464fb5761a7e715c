"""Column roles: metrics by name, never a metric or free text as a hyperparameter."""

from __future__ import annotations

import pandas as pd
import pytest

from core.errors import InputError
from core.roles import ColumnRoles, classify_metric, infer_roles


@pytest.mark.parametrize(
    ("name", "kind", "split"),
    [
        ("val_loss", "loss", "val"),
        ("val/loss", "loss", "val"),
        ("eval_loss", "loss", "val"),
        ("valid_loss", "loss", "val"),
        ("validation_loss", "loss", "val"),
        ("train_loss", "loss", "train"),
        ("train/loss", "loss", "train"),
        ("loss", "loss", "train"),
        ("final_test_loss", "loss", "test"),
        ("train_acc", "accuracy", "train"),
        ("val_accuracy", "accuracy", "val"),
        ("valAccuracy", "accuracy", "val"),
        ("eval_accuracy", "accuracy", "val"),
        ("value", "objective", None),
        ("values_0", "objective", None),
    ],
)
def test_metric_names(name, kind, split):
    info = classify_metric(name)
    assert info is not None and (info.kind, info.split) == (kind, split)


@pytest.mark.parametrize("name", ["lr", "learning_rate", "batch_size", "optimizer", "dropout", "weight_decay"])
def test_hyperparameter_names_are_not_metrics(name):
    assert classify_metric(name) is None


def frame(**columns):
    return pd.DataFrame({k: [str(v) for v in vals] for k, vals in columns.items()})


def test_roles_of_a_typical_table():
    n = 30
    f = frame(
        trial_id=range(n), status=["completed"] * n, lr=[0.1] * 15 + [0.01] * 15,
        optimizer=["adam", "sgd"] * 15, train_loss=[0.1] * n, val_loss=[0.2] * n,
        epochs=[10] * n, runtime_sec=[5.0] * n, seed=range(n),
        notes=[f"run number {i} went fine on host {i}" for i in range(n)],
        start_time=range(n), error=[""] * n,
    )
    roles = infer_roles(f, "t.csv")
    assert roles.id == "trial_id" and roles.status == "status"
    assert set(roles.metrics) == {"train_loss", "val_loss"}
    assert (roles.epochs, roles.runtime) == ("epochs", "runtime_sec")
    assert roles.hyperparameters == ["lr", "optimizer"]
    assert roles.seed == "seed" and "seed" not in roles.hyperparameters
    assert roles.ignored["start_time"] == "timestamp"
    assert roles.ignored["error"] == "empty"
    assert "notes" in roles.ignored
    assert roles.loss_pair() == ("train_loss", "val_loss")
    assert roles.error is None and roles.mapping == {}
    assert ColumnRoles.from_dict(roles.to_dict()) == roles


def test_error_column_with_messages_gets_the_error_role():
    f = frame(trial_id=[1, 2, 3], val_loss=[0.1, 0.2, 0.3], lr=[1, 2, 3],
              error=["", "ZeroDivisionError: division by zero", ""])
    roles = infer_roles(f, "t.csv")
    assert roles.error == "error" and "error" not in roles.hyperparameters


def test_hints_override_inference_and_are_recorded():
    f = frame(run=["a", "b", "c"], score=[0.9, 0.8, 0.7], width=[1, 2, 3], junk=[1, 2, 3],
              val_loss=[0.1, 0.2, 0.3])
    hints = {"run": "id", "score": "metric:objective:max", "val_loss": "hyperparameter", "junk": "ignore"}
    roles = infer_roles(f, "t.csv", hints)
    assert roles.id == "run"
    assert roles.metrics["score"].kind == "objective" and roles.metrics["score"].goal == "max"
    assert roles.hyperparameters == ["width", "val_loss"]
    assert roles.ignored["junk"] == "ignored (role given by the reader or --map)" and roles.mapping == hints
    assert ColumnRoles.from_dict(roles.to_dict()) == roles


@pytest.mark.parametrize(
    ("hints", "message"),
    [
        ({"nope": "id"}, r"--map names column 'nope', which is not in the table"),
        ({"lr": "colour"}, r"--map lr=colour: unknown role 'colour'"),
        ({"lr": "metric:val_loss:up"}, r"metric goal must be min or max"),
        ({"lr": "id", "trial_id": "id"}, r"gives the role 'id' to several columns: lr, trial_id"),
    ],
)
def test_bad_hints_are_input_errors(hints, message):
    with pytest.raises(InputError, match=message):
        infer_roles(frame(trial_id=[1, 2], lr=[0.1, 0.2], val_loss=[1, 2]), "t.csv", hints)


def test_loss_and_accuracy_goals():
    assert classify_metric("val_loss").goal == "min"
    assert classify_metric("val_acc").goal == "max"
    assert classify_metric("value").goal is None


def test_free_text_column_is_never_a_hyperparameter():
    n = 40
    f = frame(id=range(n), val_loss=[0.3] * n, comment=[f"tried variant {i}" for i in range(n)])
    roles = infer_roles(f, "t.csv")
    assert roles.hyperparameters == [] and "comment" in roles.ignored


def test_metric_named_column_with_text_values_is_not_a_metric():
    f = frame(id=[1, 2, 3], val_loss=[0.1, 0.2, 0.3], loss_note=["high", "low", "mid"])
    roles = infer_roles(f, "t.csv")
    assert "loss_note" not in roles.metrics and "loss_note" not in roles.hyperparameters


def test_no_id_column_is_an_input_error():
    with pytest.raises(InputError, match=r"t\.csv: no trial id column.*columns are: lr, val_loss"):
        infer_roles(frame(lr=[1], val_loss=[0.2]), "t.csv")


def test_no_metric_column_is_an_input_error():
    with pytest.raises(InputError, match=r"t\.csv: no metric column"):
        infer_roles(frame(trial_id=[1], lr=[0.1], batch_size=[32]), "t.csv")


def test_unique_id_candidate_is_preferred():
    f = frame(name=["a", "a", "b"], run_id=["x1", "x2", "x3"], val_loss=[1, 2, 3])
    assert infer_roles(f, "t.csv").id == "run_id"
