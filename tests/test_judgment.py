"""The judgment scoreboard's own arithmetic and verdicts, on hand-made inputs (the instrument is tested)."""

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import judgment as J  # noqa: E402
from corpus import truth as T  # noqa: E402


def _truth(labels, causes=(), best=()):
    return {"labels": labels, "causes": list(causes), "best_trials": list(best), "hyperparameters": ["lr", "opt"]}


def _configs():
    return pd.DataFrame({"lr": [0.001, 0.01, 0.1, 0.5, 1.0, 2.0], "opt": ["sgd", "adam", "sgd", "adam", "sgd", "adam"]},
                        index=[f"t{i}" for i in range(6)])


HIGH_LR = {"kind": "nonfinite", "region": "lr >= 0.5", "conditions": [{"hyperparameter": "lr", "op": ">=", "value": 0.5}]}


def test_prf_arithmetic():
    s = J.prf({"a", "b", "c"}, {"b", "c", "d"})
    assert (s["tp"], s["fp"], s["fn"]) == (2, 1, 1)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert J.prf(set(), {"x"})["precision"] is None and J.prf(set(), {"x"})["recall"] == 0.0
    assert J.prf({"x"}, set())["recall"] is None and J.prf({"x"}, set())["precision"] == 0.0


def test_issue_scores_map_types_to_truth_labels():
    truth = _truth({"t0": {"overfitting": True}, "t1": {"early_stopped": True}, "t2": {"nonfinite": True}, "t3": {}})
    summary = {"issues": [{"trial_id": "t0", "type": "overfitting"}, {"trial_id": "t3", "type": "overfitting"},
                          {"trial_id": "t1", "type": "pruned"}, {"trial_id": "t3", "type": "short_run"},
                          {"trial_id": "t2", "type": "status_mismatch"}]}
    s = J.issue_scores(summary, truth)
    assert (s["overfitting"]["tp"], s["overfitting"]["fp"]) == (1, 1)
    assert s["pruned"]["tp"] == 1  # an early-stopped run reported as pruned is right
    assert s["short_run"]["fp"] == 1 and s["short_run"]["true"] == 0
    assert s["status_mismatch"]["tp"] == 1  # NaN in a finished run is a hidden failure
    assert s["nonfinite_metric"]["fn"] == 1


def test_parse_condition_shapes():
    assert J.parse_condition("lr ≥ 0.3 and optimizer = sgd") == [
        {"hyperparameter": "lr", "op": ">=", "value": 0.3}, {"hyperparameter": "optimizer", "op": "==", "value": "sgd"}]
    assert J.parse_condition("hidden in [32, 128)") == [
        {"hyperparameter": "hidden", "op": ">=", "value": 32.0}, {"hyperparameter": "hidden", "op": "<", "value": 128.0}]
    assert J.parse_condition("something odd happened") is None


def test_pattern_region_takes_the_exact_cut_from_its_association():
    p = {"condition": "lr ≥ 0.3124", "association_id": "A1"}
    conds = J.pattern_region(p, {"A1": {"direction": "above", "lo": 0.31235, "hi": None}})
    assert conds == [{"hyperparameter": "lr", "op": ">=", "value": 0.31235}]


def test_avoid_advice_that_excludes_a_best_trial_is_wrong():
    truth = _truth({"t3": {"nonfinite": True}, "t4": {"nonfinite": True}, "t5": {"nonfinite": True}},
                   causes=[HIGH_LR], best=["t2", "t1"])
    v = J.judge_pattern("nonfinite_metric", [{"hyperparameter": "lr", "op": ">=", "value": 0.1}], truth, _configs())
    assert v["verdict"] == "wrong" and "t2" in v["why"]
    v = J.judge_pattern("nonfinite_metric", [{"hyperparameter": "lr", "op": ">=", "value": 0.5}], truth, _configs())
    assert v["verdict"] == "right"


def test_by_design_cause_and_region_without_the_issue_are_wrong():
    truth = _truth({"t3": {"nonfinite": True}, "t4": {"nonfinite": True}, "t5": {"nonfinite": True}}, causes=[HIGH_LR])
    assert J.judge_pattern("pruned", [], truth, _configs())["verdict"] == "wrong"
    v = J.judge_pattern("nonfinite_metric", [{"hyperparameter": "opt", "op": "==", "value": "sgd"}], truth, _configs())
    assert v["verdict"] == "wrong" and "not a true cause" in v["why"]
    assert J.judge_pattern("plateau", [{"hyperparameter": "lr", "op": ">=", "value": 5}], truth, _configs())[
        "verdict"] == "unchecked"


def test_plan_violations_ranges_exclusions_values_and_conditions():
    plan = {"hyperparameters": {
        "lr": {"kind": "float", "low": 1e-4, "high": 0.5, "log": True, "exclude": [[0.5, 2.0]]},
        "opt": {"kind": "categorical", "values": ["sgd"], "exclude": ["adam"]}},
        "conditions": [{"when": {"hyperparameter": "opt", "condition": "opt = sgd", "value": "sgd"},
                        "hyperparameter": "lr", "low": None, "high": 0.05, "exclude": [[0.05, 2.0]]}]}
    assert J.plan_violations({"lr": 0.01, "opt": "sgd"}, plan) == []
    assert J.plan_violations({"lr": 0.5, "opt": "sgd"}, plan) == ["lr"]  # the cap itself is excluded
    assert J.plan_violations({"lr": 0.01, "opt": "adam"}, plan) == ["opt"]
    assert J.plan_violations({"lr": 0.1, "opt": "sgd"}, plan) == ["lr"]  # the condition within sgd


def test_a_next_sweep_change_that_drops_a_best_trial_is_wrong():
    truth = _truth({}, best=["t4"])
    plan = {"hyperparameters": {"lr": {"kind": "float", "low": 1e-3, "high": 0.5, "log": True, "exclude": [[0.5, 2.0]]}},
            "conditions": [], "changes": [{"hyperparameter": "lr", "action": "cap", "evidence": "P1"}]}
    [v] = J.judge_changes(plan, truth, _configs(), {"P1": {"verdict": "right"}})
    assert v["verdict"] == "wrong" and "t4" in v["why"]
    plan["changes"][0]["evidence"] = "issue_counts.pruned"
    assert "by-design" in J.judge_changes(plan, truth, _configs(), {})[0]["why"]
    plan["changes"][0]["evidence"] = "P2"
    gap = {"P2": {"verdict": "unchecked", "issue_type": "generalization_gap"}}
    assert "generalization gap" in J.judge_changes(plan, _truth({}), _configs(), gap)[0]["why"]
    plan["changes"][0]["action"] = "regularise"
    assert J.judge_changes(plan, _truth({}), _configs(), gap)[0]["verdict"] == "unchecked"


def test_cause_share_and_null_permutation(tmp_path):
    truth = _truth({}, causes=[HIGH_LR])
    assert J.cause_share([{"lr": 0.6}, {"lr": 0.01}, {"lr": 0.5}, {"lr": 0.1}], truth) == 0.5
    src = tmp_path / "r.csv"
    pd.DataFrame({"trial_id": list("abcdef"), "lr": range(6), "opt": list("uvwxyz"), "max_epochs": range(10, 16),
                  "val_loss": range(20, 26)}).to_csv(src, index=False)
    out = pd.read_csv(J.permuted(src, ["lr", "opt", "max_epochs"], 0, tmp_path / "p.csv"))
    assert list(out["max_epochs"]) == list(range(10, 16)) and list(out["val_loss"]) == list(range(20, 26))
    assert sorted(out["lr"]) == list(range(6)) and list(out["lr"]) != list(range(6))
    assert all(ord(o) - ord("u") == lr for o, lr in zip(out["opt"], out["lr"]))  # rows move together
    assert J.null_patterns({"patterns": [{"hyperparameters": ["lr"]}, {"hyperparameters": ["max_epochs"]}]},
                           ["lr", "max_epochs"]) == 1


def test_best_trials_inside_a_true_cause_region_are_listed_beside_the_ratio():
    overfit = {"kind": "overfitting", "region": "opt == sgd",
               "conditions": [{"hyperparameter": "opt", "op": "==", "value": "sgd"}]}
    truth = _truth({}, causes=[HIGH_LR, overfit], best=["t1", "t3", "t4", "t9"])
    assert J.best_in_causes(truth, _configs()) == {"nonfinite: lr >= 0.5": ["t3", "t4"]}  # overfitting is not a hard cause
    assert J._in_causes(J.best_in_causes(truth, _configs())) == "2 (nonfinite: lr >= 0.5)"
    assert J._in_causes(J.best_in_causes(_truth({}, causes=[HIGH_LR], best=["t0"]), _configs())) == "none"


def test_wrong_verdicts_on_deferring_patterns_are_counted_and_shown_apart():
    verdicts = [{"verdict": "wrong", "explained_by": "P3"}, {"verdict": "wrong", "explained_by": None},
                {"verdict": "right", "explained_by": "P1"}, {"verdict": "wrong"}]
    assert J._count(verdicts, "wrong") == 3 and J._deferring(verdicts) == 1


def test_leakage_claims_count_explained_trials():
    truth = _truth({"t0": {"val_above_train": True, "explained_by": "dropout"}, "t1": {}})
    summary = {"issues": [{"trial_id": "t0", "type": "suspicious_validation", "detail": "possible leakage"},
                          {"trial_id": "t1", "type": "suspicious_validation", "detail": "x"}],
               "recommendations": [{"text": "Check the split for leakage."}]}
    c = J.leakage_claims(summary, truth)
    assert (c["suspicious_flags"], c["explained_flags"], c["leak_advice"], c["leak_issue_texts_explained"]) == (2, 1, 1, 1)


def _curve(train, val, acc=None):
    df = pd.DataFrame({"epoch": range(1, len(train) + 1), "train_loss": train, "val_loss": val})
    if acc is not None:
        df["train_acc"], df["val_acc"] = acc
    return df


def test_truth_rules_on_hand_made_curves():
    rise = T.trial_labels(_curve([1, .8, .6, .4, .3, .2, .1], [1, .7, .6, .65, .7, .75, .8]), "completed", "loss", 2.3, None)
    assert rise.get("overfitting") and rise["best_epoch"] == 3
    gap = T.trial_labels(_curve([1, .5, .3, .2, .1], [1, .8, .7, .6, .5]), "completed", "loss", 2.3, None)
    assert gap.get("generalization_gap") and not gap.get("overfitting")
    nan = T.trial_labels(_curve([1, math.nan, math.nan], [1, math.nan, math.nan]), "early_stopped", "loss", 2.3, None)
    assert nan.get("nonfinite") and nan.get("early_stopped") and not nan.get("no_learning")
    chance = T.trial_labels(_curve([2.3] * 5, [2.3] * 5, ([0.1] * 5, [0.11] * 5)), "completed", "classification",
                            2.3, 0.1)
    assert chance.get("no_learning")
    bad_init = T.trial_labels(_curve([50, 2, 1, 1, 1], [3, 2, 1, 1, 1]), "completed", "loss", 2.0, None)
    assert not bad_init.get("diverged")  # a loss that starts high is not a blow-up
    blown = T.trial_labels(_curve([2, 1, 40], [2, 1, 45]), "completed", "loss", 2.0, None)
    assert blown.get("diverged")
    reg = pd.DataFrame({"epoch": [1, 2], "train_loss": [1, 1], "val_loss": [1, 1], "train_r2": [-.2, .05],
                        "val_r2": [-.3, -.01]})
    assert T.trial_labels(reg, "completed", "regression", 1.0, None).get("no_learning")


def test_find_causes_recovers_a_planted_threshold_and_a_second_mechanism():
    rng = np.random.default_rng(0)
    hp = pd.DataFrame({"lr": 10 ** rng.uniform(-4, 0, 200), "opt": rng.choice(["sgd", "adam"], 200),
                       "noise": rng.choice([1, 2, 3], 200)})
    y = (hp["lr"] >= 0.1).to_numpy() | ((hp["opt"] == "sgd") & (hp["lr"] < 1e-3)).to_numpy()
    causes = T.find_causes(hp, y)
    assert T.describe(causes[0]["conditions"]).startswith("lr >= ")
    assert 0.08 <= causes[0]["conditions"][0]["value"] <= 0.13
    assert {c["hyperparameter"] for c in causes[1]["conditions"]} == {"opt", "lr"}
    assert T.find_causes(hp, rng.random(200) < 0.2) == []  # pure noise: no cause


def test_domain_violations_of_plan_bounds():
    plan = {"hyperparameters": {
        "dropout": {"kind": "float", "low": 0.0, "high": 1.2}, "weight_decay": {"kind": "float", "low": -1e-4, "high": 0.1},
        "batch_size": {"kind": "int", "low": 0, "high": 512}, "lr": {"kind": "float", "low": 1e-5, "high": 0.1},
        "min_lr": {"kind": "float", "low": 1e-5, "high": 0.1},
        "n_layer": {"kind": "int", "low": 1, "high": 6},
        "opt": {"kind": "categorical", "values": ["sgd"]}}}
    assert J.domain_violations(plan) == ["dropout high 1.2 > 1", "weight_decay low -0.0001 < 0", "batch_size low 0 < 1"]
    assert J._best_rank("t3", ["t1", "t3"]) == "yes (t3, rank 2)" and J._best_rank("t9", ["t1"]) == "no (t9)"


def test_pushes_out_reads_each_change_on_its_own():
    cfg = {"lr": 0.0005, "dropout": 0.5, "opt": "adam"}
    assert J.pushes_out({"hyperparameter": "dropout", "action": "exclude_when", "to": [0.5, 0.5],
                         "when": "lr in [0.000328, 0.002168)"}, cfg) is True
    assert J.pushes_out({"hyperparameter": "dropout", "action": "exclude_when", "to": [0.5, 0.5],
                         "when": "lr ≥ 0.01"}, cfg) is False  # the change does not apply there
    assert J.pushes_out({"hyperparameter": "dropout", "action": "regularise", "to": [0.0, 1.0], "when": "opt = adam"},
                        cfg) is False
    assert J.pushes_out({"hyperparameter": "lr", "action": "cap", "to": [1e-5, 0.0005]}, cfg) is True  # cut excluded
    assert J.pushes_out({"hyperparameter": "lr", "action": "raise_low", "to": [0.0001, 1.0]}, cfg) is False
    assert J.pushes_out({"hyperparameter": "opt", "action": "exclude", "to": ["adam"]}, cfg) is True
    assert J.pushes_out({"hyperparameter": "opt", "action": "exclude", "to": "sgd"}, cfg) is False


def test_pushes_out_reads_an_integer_cap_as_the_values_kept():
    """An integer range's ``to`` is the closed range kept (16..128 after capping 512 away), unlike a float cut."""
    cap = {"hyperparameter": "batch_size", "action": "cap", "to": [16, 128]}
    assert J.pushes_out(cap, {"batch_size": 128}, "int") is False
    assert J.pushes_out(cap, {"batch_size": 512}, "int") is True
    assert J.pushes_out(cap, {"batch_size": 128}) is True  # read as a float cut, 128 would be the excluded threshold
    raise_low = {"hyperparameter": "batch_size", "action": "raise_low", "to": [32, 512]}
    assert J.pushes_out(raise_low, {"batch_size": 32}, "int") is False
    assert J.pushes_out(raise_low, {"batch_size": 16}, "int") is True


def test_timeout_patterns_are_wrong_only_when_their_region_is_avoided():
    truth = _truth({"t4": {"timeout": True}, "t5": {"timeout": True}})
    cond = [{"hyperparameter": "lr", "op": ">=", "value": 1.0}]
    assert J.judge_pattern("timeout", cond, truth, _configs())["verdict"] == "unchecked"
    plan = {"hyperparameters": {}, "conditions": [], "changes": [
        {"hyperparameter": "lr", "action": "cap", "to": [1e-3, 1.0], "evidence": "P1"},
        {"hyperparameter": "epochs", "action": "more_epochs", "to": 80, "evidence": "P1"}]}
    avoid, more = J.judge_changes(plan, truth, _configs(), {"P1": {"verdict": "unchecked", "issue_type": "timeout"}})
    assert avoid["verdict"] == "wrong" and "budget cuts" in avoid["why"] and more["verdict"] == "unchecked"
