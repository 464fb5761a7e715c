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


# --- issue 10 item 10 / issue 11 items 5 and 7: context columns and outcome flags --------------------


def test_infrastructure_derived_and_label_columns_are_context_never_hyperparameters():
    n = 12
    width = [64, 128, 256, 512] * 3
    f = frame(
        trial_id=range(n), val_loss=[0.3 + 0.01 * i for i in range(n)], lr=[0.1, 0.01, 0.001] * 4, width=width,
        train_gpu_name=["NVIDIA A100-SXM4-40GB", "NVIDIA H100"] * 6, world_size=[2, 4, 8] * 4,
        num_workers=[4, 8] * 6, hostname=[f"node{i % 3}" for i in range(n)], recommended_num_gpus=[1, 2] * 6,
        n_params=[w * w * 3 for w in width], planned_compute=[w * 1e9 for w in width],
        samples_planned=[w * 1000 for w in width], config_key=[f"k{i % 4}" for i in range(n)],
        exp_name=["ablation"] * n, wandb_run_name=[f"run-{i}" for i in range(n)],
        optimizer_name=["adam", "sgd"] * 6, model_name=["vit", "resnet"] * 6,
    )
    roles = infer_roles(f, "t.csv")
    assert roles.hyperparameters == ["lr", "width", "optimizer_name", "model_name"]
    assert set(roles.context) == {"train_gpu_name", "world_size", "num_workers", "hostname", "recommended_num_gpus",
                                  "n_params", "planned_compute", "samples_planned", "config_key", "exp_name",
                                  "wandb_run_name"}
    assert roles.context["world_size"].startswith("context: hardware/infrastructure")  # it tracks lr here, and says so
    assert roles.context["n_params"].startswith("context: derived from the hyperparameters")
    assert roles.context["n_params"].endswith("follows width (Spearman 1.00)")  # which searched one it stands in for
    assert roles.context["config_key"] == "context: a run label or key"
    assert ColumnRoles.from_dict(roles.to_dict()) == roles


def test_a_readers_parameter_that_is_infrastructure_is_context():
    f = frame(number=[0, 1, 2], value=[0.3, 0.2, 0.1], lr=[0.1, 0.2, 0.3], num_gpus=[1, 2, 4])
    roles = infer_roles(f, "t", {"lr": "hyperparameter", "num_gpus": "hyperparameter"})
    assert roles.hyperparameters == ["lr"] and "num_gpus" in roles.context


@pytest.mark.parametrize(("column", "kind"), [
    ("diverged", "diverged"), ("epoch_diverged", "diverged"), ("is_nan", "nonfinite_metric"), ("oom", "failed"),
    ("failed", "failed"), ("early_stopped", "pruned"), ("timed_out", "timeout")])
def test_boolean_outcome_flags_are_outcomes_not_hyperparameters(column, kind):
    f = frame(trial_id=range(6), val_loss=[0.3] * 6, lr=[0.1, 0.2] * 3, **{column: ["False", "True", "0", "1", "", "no"]})
    roles = infer_roles(f, "t.csv")
    assert roles.outcomes == {column: kind} and column not in roles.hyperparameters and column not in roles.ignored


def test_an_outcome_flag_is_read_as_that_issue_and_stated():
    from core.detectors import detect_issues
    from tests.helpers import table_from_records

    rows = [{"trial_id": i, "status": "completed", "lr": lr, "val_loss": v, "epoch_diverged": d}
            for i, (lr, v, d) in enumerate([(0.1, 2.3, "True"), (0.1, 2.31, "True"), (0.001, 0.4, "False"),
                                            (0.001, 0.41, "False"), (0.01, 0.45, "False")])]
    issues = detect_issues(table_from_records(rows))
    diverged = issues[issues.type == "diverged"]
    assert diverged.trial_id.tolist() == ["0", "1"]
    assert diverged.detail.iloc[0] == "epoch_diverged=true (the sweep's own flag)"


def test_metric_named_text_columns_are_never_hyperparameters():
    f = frame(trial_id=[1, 2, 3], val_loss=[0.1, 0.2, 0.3], val_r2=["high", "low", "mid"], lr=[1, 2, 3])
    roles = infer_roles(f, "t.csv")
    assert roles.hyperparameters == ["lr"] and "val_r2" in roles.ignored


def test_config_id_is_an_id_and_a_curves_file_keyed_by_it_is_accepted():
    from core.curves import build_curve_table, looks_like_curves
    from core.loading import RawTable

    assert infer_roles(frame(config_id=["a", "b"], val_loss=[0.1, 0.2]), "t.csv").id == "config_id"
    curves = pd.DataFrame({"config_id": ["a", "a", "b", "b"], "epoch": ["1", "2", "1", "2"],
                           "val_loss": ["0.5", "0.4", "0.6", "0.5"]})
    assert looks_like_curves(curves)
    table = build_curve_table(RawTable(frame=curves, source="c.csv"))
    assert table.id_column == "config_id" and table.n_trials == 2


# --- a repeat of the whole search (DeepCAVE's run_1/2/3) is context, never a searched setting --------------


def test_a_column_labelling_a_repeat_of_the_search_is_context():
    # three repeats of one random search; the trial ids are namespaced by the repeat (run_1_c0)
    n = 12
    f = frame(trial_id=[f"run_{1 + i // 4}_c{i % 4}" for i in range(n)], val_loss=[0.3 + 0.01 * i for i in range(n)],
              lr=[0.1, 0.01, 0.001, 0.0001] * 3, study=[f"run_{1 + i // 4}" for i in range(n)],
              replicate_idx=[i // 4 for i in range(n)], optimizer=["adam", "sgd"] * 6)
    roles = infer_roles(f, "t.csv")
    assert roles.hyperparameters == ["lr", "optimizer"]
    assert roles.context["replicate_idx"] == "context: a repeat of the whole search, named as one"
    # a name that is no repeat word, found by its values alone: numbered copies of one label beginning every id
    g = f.rename(columns={"study": "origin"})
    assert infer_roles(g, "t.csv").context["origin"] == \
        "context: a repeat of the whole search: its values begin every trial id"


def test_settings_named_or_valued_like_a_repeat_stay_hyperparameters():
    # a count of repeats (repeated augmentation) is a setting; so is a setting the ids are built from
    # ("adam-0.1"): its values share no stem, so they are not numbered copies of one label
    n = 8
    f = frame(trial_id=[f"{o}-{lr}" for o, lr in zip(["adam", "sgd"] * 4, [0.1, 0.1, 0.01, 0.01, 1, 1, 2, 2])],
              val_loss=[0.3 + 0.01 * i for i in range(n)], optimizer=["adam", "sgd"] * 4, repeats=[1, 2, 4, 8] * 2,
              n_repeats=[1, 2] * 4, block=[f"block_{i % 2}" for i in range(n)])
    roles = infer_roles(f, "t.csv")
    assert roles.hyperparameters == ["optimizer", "repeats", "n_repeats", "block"] and not roles.context


def test_model_names_a_warm_restart_switch_and_a_per_trial_run_id_are_no_repeat_of_the_search():
    # resnet18/34/50 begin the trial ids but are models, not numbered copies (no separator, no run of indices);
    # restart is warm restarts on or off; a run_id with a different value in every trial is an identifier
    n = 12
    models = ["resnet18", "resnet34", "resnet50"]
    f = frame(trial_id=[f"{models[i % 3]}_{i}" for i in range(n)], val_loss=[0.3 + 0.01 * i for i in range(n)],
              model=[models[i % 3] for i in range(n)], data=[["cifar10", "cifar100"][i % 2] for i in range(n)],
              restart=["true", "false"] * 6, run_id=[f"run_{i}" for i in range(n)], lr=[0.1, 0.01, 0.001] * 4)
    roles = infer_roles(f, "t.csv")
    assert roles.hyperparameters == ["model", "data", "restart", "lr"] and not roles.context
    assert roles.ignored["run_id"] == "identifier"
    # numbered copies with a separator whose indices do not run from 0 or 1 are settings too (resnet_18, resnet_50)
    g = f.assign(model=[f"resnet_{m[6:]}" for m in f["model"]],
                 trial_id=[f"resnet_{m[6:]}_{i}" for i, m in enumerate(f["model"])])
    assert "model" in infer_roles(g, "t.csv").hyperparameters
