"""W&B: the genuine nanoGPT runs export, and its per-run history CSVs as curves."""

from __future__ import annotations

import pandas as pd
import pytest

from core.errors import InputError
from core.roles import infer_roles
from core.sources import read_sweep
from core.status import normalize_status
from core.summary import analyze_sweep
from tests.conftest import DATA

EXPORT = DATA / "wandb_nanogpt_export.csv"
HISTORY = DATA / "wandb" / "history"

NOTE = "still marked running started long before the last finished run ended"


def test_genuine_export_without_run_ids():
    sweep = read_sweep(EXPORT)
    frame = sweep.trials.frame
    assert sweep.format == "wandb-csv" and len(frame) == 64
    assert frame["trial_id"].is_unique and frame["trial_id"].str.fullmatch(r".+:[1-4]").all()
    # Name:k in order of Created: the first row is the latest of the four G1 runs
    first = frame.iloc[0]
    assert first["trial_id"] == "G1_ternary_weights:4" and first["seed"] == "6242"
    assert set(normalize_status(frame["State"])) == {"completed"}
    roles = infer_roles(frame, sweep.source, sweep.role_hints)
    assert (roles.id, roles.status, roles.runtime, roles.seed) == ("trial_id", "State", "Runtime", "seed")
    assert {"train/loss", "val/loss"} <= set(roles.metrics)
    assert {"learning_rate", "pos_encoding", "block_size"} <= set(roles.hyperparameters)
    assert not {"Name", "Notes", "User", "Tags", "Created", "Sweep"} & set(roles.hyperparameters)
    assert "no ID column" in sweep.notes[0]
    summary = analyze_sweep(sweep.trials, roles)
    # final values alone (no best value, no curves) show a gap; overfitting needs a rise after the best (issue 10)
    gap = {i["trial_id"] for i in summary["issues"] if i["type"] == "generalization_gap"}
    assert {f"F2_context_512:{k}" for k in range(1, 5)} <= gap


def test_histories_are_matched_to_their_runs():
    sweep = read_sweep(EXPORT, curves=HISTORY)
    curves = sweep.curves.frame
    assert set(curves["trial_id"]) == {"F2_context_512:1", "F2_context_512:4", "E2_no_residuals:1"}
    assert any("1 of 4 history files match no run" in n and "cq9b1ady" in n for n in sweep.notes)
    assert "Sample Generation" not in curves.columns and "_timestamp" not in curves.columns
    assert {"_step", "iter", "train/loss", "val/loss"} <= set(curves.columns)
    summary_of = sweep.trials.frame.set_index("trial_id")["val/loss"]
    for trial, rows in curves.groupby("trial_id"):
        logged = rows["val/loss"][rows["val/loss"].fillna("") != ""]
        assert logged.iloc[-1] == summary_of[trial]  # the run's last val/loss is its summary value


def test_keys_the_histories_log_are_summaries_not_config():
    """nanoGPT logs iter and lr each step: the export's iter is the steps trained, its lr the schedule's last value."""
    without = read_sweep(EXPORT)
    roles = infer_roles(without.trials.frame, without.source, without.role_hints)
    assert {"iter", "lr"} <= set(roles.hyperparameters)  # the export alone cannot tell config from summary
    sweep = read_sweep(EXPORT, curves=HISTORY)
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    assert roles.epochs == "iter" and roles.budget == "max_iters"
    assert not {"iter", "lr"} & set(roles.hyperparameters) and "lr" in roles.ignored
    assert {"learning_rate", "min_lr", "max_iters"} <= set(roles.hyperparameters)  # config keys the histories do not log
    assert {"train/loss", "val/loss"} <= set(roles.metrics)
    note = next(n for n in sweep.notes if "logged in the run histories" in n)
    assert "iter is read as the steps each run trained; lr is left out of the hyperparameters" in note


def test_a_key_logged_at_one_value_per_run_stays_a_hyperparameter(tmp_path):
    """wandb.log({"lr": lr, ...}) without a schedule: the history's lr is the config's, so it is still tuned."""
    rows = ['"Name","State","Notes","User","Tags","Created","Runtime","Sweep","lr","batch_size","val_loss"']
    (tmp_path / "hist").mkdir()
    for i, lr in enumerate([0.001, 0.01, 0.1]):
        rows.append(f'"run{i}","finished","-","","","2026-01-01T00:0{i}:00.000Z","100","","{lr}","64","{0.5 + lr}"')
        steps = [f"{s},{s},{1767225600 + 60 * i + s},{lr},{0.5 + lr + 0.1 * (9 - s)}" for s in range(10)]
        (tmp_path / "hist" / f"run{i}_history.csv").write_text("_step,_runtime,_timestamp,lr,val_loss\n"
                                                                 + "\n".join(steps) + "\n")
    (tmp_path / "wandb_export.csv").write_text("\n".join(rows) + "\n")
    sweep = read_sweep(tmp_path / "wandb_export.csv", curves=tmp_path / "hist")
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    assert "lr" in roles.hyperparameters and not any("logged in the run histories" in n for n in sweep.notes)


def test_a_logged_key_never_overrides_a_role_given(tmp_path):
    sweep = read_sweep(EXPORT, curves=HISTORY, mapping={"lr": "hyperparameter"})
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    assert "lr" in roles.hyperparameters and roles.epochs == "iter"


def test_history_file_named_by_run_id_matches_the_id_column(tmp_path):
    frame = pd.read_csv(EXPORT, dtype=str, keep_default_na=False)
    frame.insert(0, "ID", [f"run{i:04d}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "wandb_export.csv", index=False)
    history = pd.read_csv(HISTORY / "F2_context_512_xoys2s0w_history.csv", dtype=str, keep_default_na=False)
    (tmp_path / "hist").mkdir()
    history.to_csv(tmp_path / "hist" / "run0007.csv", index=False)
    sweep = read_sweep(tmp_path / "wandb_export.csv", curves=tmp_path / "hist")
    assert sweep.role_hints["ID"] == "id"
    assert set(sweep.curves.frame["trial_id"]) == {"run0007"}


def test_unique_names_are_the_ids(tmp_path):
    frame = pd.read_csv(EXPORT, dtype=str, keep_default_na=False).drop_duplicates("Name")
    frame.to_csv(tmp_path / "wandb_export_2026.csv", index=False)
    sweep = read_sweep(tmp_path / "wandb_export_2026.csv")
    assert sweep.role_hints["Name"] == "id" and "trial_id" not in sweep.trials.frame.columns


def test_states_and_nan_of_a_wandb_export(tmp_path):
    path = tmp_path / "wandb_export.csv"
    path.write_text('"Name","State","Notes","User","Tags","Created","Runtime","Sweep","lr","val/loss","val/loss.min"\n'
                    '"a","finished","-","","","2026-01-01T00:00:00.000Z","100","","0.1","0.5","0.4"\n'
                    '"b","crashed","-","","","2026-01-01T00:01:00.000Z","3","","1.0","NaN","NaN"\n'
                    '"c","killed","-","","","2026-01-01T00:02:00.000Z","50","","0.5","Infinity","0.9"\n'
                    '"d","running","-","","","2026-01-01T00:03:00.000Z","20","","0.01","",""\n'
                    '"e","preempted","-","","","2026-01-01T00:04:00.000Z","20","","0.02","0.7","0.6"\n')
    sweep = read_sweep(path)
    assert normalize_status(sweep.trials.frame["State"]).tolist() == ["completed", "failed", "killed", "running",
                                                                      "killed"]
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    assert roles.metrics["val/loss.min"].split == "val"
    issues = {(i["trial_id"], i["type"]) for i in analyze_sweep(sweep.trials, roles)["issues"]}
    assert {("b", "nonfinite_metric"), ("c", "nonfinite_metric"), ("d", "running"), ("b", "failed")} <= issues


def test_histories_matching_nothing_is_an_error(tmp_path):
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "zzz_history.csv").write_text("_step,_runtime,_timestamp,loss\n0,1,1700000000,0.5\n")
    with pytest.raises(InputError, match="none of the 1 history files matches a run"):
        read_sweep(EXPORT, curves=tmp_path / "h")


def test_a_run_still_running_long_after_it_started_is_abandoned(tmp_path):
    import pandas as pd

    from core.sources import read_sweep

    frame = pd.read_csv(DATA / "wandb_nanogpt_export.csv", dtype=str, keep_default_na=False)
    order = pd.to_datetime(frame["Created"], utc=True).sort_values().index
    frame.loc[[order[0], order[-1]], "State"] = "running"
    frame.to_csv(tmp_path / "wandb_export.csv", index=False)
    sweep = read_sweep(tmp_path / "wandb_export.csv")
    states = sweep.trials.frame["State"]
    assert states.iloc[order[0]] == "ABANDONED" and states.iloc[order[-1]] == "running"
    # the earliest run started 27.6 h before the last finished run ended; the runs that went the whole way took 12.73 min
    # (median), 26.85 min at most: abandoned, read as running (no outcome), no longer as killed
    assert any(f"1 run(s) {NOTE} ("
               "27.6 h before it; the runs that went the whole way took 12.73 min (median), 26.85 min at most)"
               in n for n in sweep.notes)
