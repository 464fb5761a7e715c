"""Association statistics: planted effects are found, noise is not, real sweeps agree."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.associations import associate_issues
from core.detectors import detect_issues
from core.loading import read_results
from core.patterns import analyze_patterns, find_patterns
from core.roles import infer_roles
from core.summary import analyze_sweep
from tests.conftest import DATA, EXAMPLES
from tests.helpers import table_from_records, table_from_text


def _sweep(seed: int, n: int = 150, planted: bool = True) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-5, 0, n)
    opt = rng.choice(["adam", "sgd"], n)
    if planted:
        sick = lr > 0.1
    else:
        sick = rng.random(n) < 0.15
    return [
        {"trial_id": f"t{i}", "lr": lr[i], "optimizer": opt[i], "train_loss": 0.3,
         "val_loss": "nan" if sick[i] else 0.35, "epochs": 20}
        for i in range(n)
    ]


def test_planted_learning_rate_threshold_is_found():
    table = table_from_records(_sweep(0))
    assocs = associate_issues(table, detect_issues(table))
    patterns, _ = find_patterns(assocs)
    top = patterns[0]
    assert top["issue_type"] == "nonfinite_metric" and top["hyperparameter"] == "lr"
    assert top["condition"].startswith("lr ≥")
    lo = float(top["condition"].split("≥")[1])
    assert 0.05 <= lo <= 0.2
    assert top["evidence"]["k_rest"] == 0 and top["evidence"]["q"] < 1e-6
    assert not any(p["hyperparameter"] == "optimizer" for p in patterns)


def test_counts_are_consistent():
    table = table_from_records(_sweep(1))
    issues = detect_issues(table)
    total = int((issues.type == "nonfinite_metric").sum())
    for a in associate_issues(table, issues):
        assert a["k"] + a["k_rest"] == total and a["n"] + a["n_rest"] == len(table)
        assert 0 <= a["p"] <= 1 and a["p"] <= a["q"] + 1e-12 <= 1 + 1e-12
        assert len(a["trial_ids"]) == min(a["k"], 20)


def test_null_sweeps_yield_no_pattern_in_at_least_95_percent_of_seeds():
    with_pattern = 0
    for seed in range(40):
        table = table_from_records(_sweep(seed, planted=False))
        patterns, _ = find_patterns(associate_issues(table, detect_issues(table)))
        with_pattern += bool(patterns)
    assert with_pattern <= 2  # <= 5 % of 40


def test_one_of_one_is_never_a_pattern():
    records = [{"trial_id": i, "opt": "rare" if i == 0 else "common", "val_loss": "nan" if i == 0 else 0.3}
               for i in range(200)]
    table = table_from_records(records)
    patterns, leads = find_patterns(associate_issues(table, detect_issues(table)))
    assert patterns == [] and leads == []


def test_deepobs_nonfinite_rises_with_learning_rate_and_differs_by_optimizer():
    # Real sweep: DeepOBS baselines (tests/data/README.md), seed 42, lr >= 1e-3, 8 problems.
    table = table_from_text(DATA / "deepobs_nonfinite_slice.csv")
    issues = detect_issues(table)
    sick = set(issues.loc[issues.type == "nonfinite_metric", "trial_id"])
    lr = table.hyperparameters["learning_rate"]
    is_sick = table.ids.isin(sick)
    by_decade = is_sick.groupby(np.floor(np.log10(lr) + 1e-9)).mean()
    assert list(by_decade) == sorted(by_decade)  # rises with the learning rate
    assert by_decade.iloc[0] < 0.1 < 0.5 < by_decade.iloc[-1]
    summary = analyze_sweep(read_results(DATA / "deepobs_nonfinite_slice.csv"),
                            infer_roles(read_results(DATA / "deepobs_nonfinite_slice.csv").frame, "x"))
    patterns = analyze_patterns(summary)["patterns"]
    lr_pattern = next(p for p in patterns if p["issue_type"] == "nonfinite_metric"
                      and p["hyperparameter"] == "learning_rate")
    assert "≥" in lr_pattern["condition"] and lr_pattern["evidence"]["q"] < 1e-6
    by_opt = pd.Series(is_sick.to_numpy()).groupby(table.hyperparameters["optimizer"].to_numpy()).mean()
    assert by_opt["momentum"] > by_opt["adam"]


def test_cifar10_example_threshold_and_optimizer():
    # Real sweep: the DeepOBS cifar10_3c3d example; NaN starts at lr ~ 1e-2 and momentum is worst.
    summary = analyze_sweep(*_raw_and_roles(EXAMPLES / "deepobs_cifar10_3c3d.csv"))
    patterns = analyze_patterns(summary)["patterns"]
    nan_lr = next(p for p in patterns if p["issue_type"] == "nonfinite_metric"
                  and p["hyperparameter"] == "learning_rate")
    threshold = float(nan_lr["condition"].split("≥")[1])
    assert 0.01 <= threshold <= 0.1
    assert summary["issue_counts"]["nonfinite_metric"] == 36


def _raw_and_roles(path):
    raw = read_results(path)
    return raw, infer_roles(raw.frame, raw.source)
