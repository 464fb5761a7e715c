"""A type only a run that trained can show is compared among the runs that trained.

Overfitting, a generalisation gap, a short run or a suspicious validation score never
sit on a run that failed, went non-finite, blew up or learned nothing
(``IssueType.needs_result``). Compared with the whole sweep, those runs make "the rest"
look clean by construction, and the region where runs train at all becomes a pattern
(DeepOBS fmnist_2c2d: "overfitting at learning_rate ≤ 0.398", 59 of 99 against 0 of 36).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

from core.associations import associate_issues
from core.detectors import reconcile_issues
from core.issue_types import names_where
from core.loading import read_results
from core.next_sweep import plan_next_sweep
from core.patterns import analyze_patterns
from core.roles import infer_roles
from core.summary import analyze_sweep
from tests.helpers import table_from_records

LRS = np.geomspace(1e-4, 10, 12)  # lr >= 1 (the 3 highest of 12 values) blows up: NaN losses


def _sweep(write_csv, overfits) -> dict:
    """120 trials, 10 per learning rate; ``overfits(lr, replicate)`` says which trained runs overfit.

    Overfitting is a rise after the best point (``best_val_loss`` beside the final loss).
    """
    lines = ["trial_id,lr,optimizer,epochs,train_loss,val_loss,best_val_loss"]
    for i in range(120):
        lr, replicate = LRS[i % 12], i // 12
        optimizer = ["adam", "sgd"][(i // 12) % 2]
        if lr >= 1:
            losses = "nan,nan,nan"
        elif overfits(lr, replicate):
            losses = f"0.10,{0.50 + 0.001 * replicate:.3f},0.30"
        else:
            losses = f"0.30,{0.33 + 0.001 * replicate:.3f},0.32"
        lines.append(f"t{i},{lr:.6g},{optimizer},20,{losses}")
    raw = read_results(write_csv("\n".join(lines) + "\n"))
    summary = analyze_sweep(raw, infer_roles(raw.frame, raw.source))
    return summary | analyze_patterns(summary)


def _patterns(summary: dict, kind: str) -> list[dict]:
    return [p for p in summary["patterns"] if kind in (p["issue_type"], *p.get("also_issue_types", []))]


def test_overfitting_on_every_run_that_trained_is_sweep_wide_not_a_region(write_csv):
    summary = _sweep(write_csv, lambda lr, replicate: replicate < 7)  # 7 of 10 at every trained learning rate
    trained = 90  # 12 learning rates x 10 runs, of which the 3 highest (30 runs) blew up
    overfit = {i["trial_id"] for i in summary["issues"] if i["type"] == "overfitting"}
    assert len(overfit) == 63
    # Against the whole sweep, "where runs train" looks like a cause: 63 of 90 against 0 of 30.
    assert fisher_exact([[63, 27], [0, 30]], alternative="greater")[1] < 1e-9
    # Among the runs that trained, every region is compared with the other trials that trained.
    assert _patterns(summary, "nonfinite_metric")  # the blow-up itself is a pattern (lr >= 1)
    assert not _patterns(summary, "overfitting")
    tested = [a for a in summary["associations"] if a["issue_type"] == "overfitting"]
    assert tested and all(a["n"] + a["n_rest"] == trained for a in tested if a["rule"] != "pair")
    rec = next(r for r in summary["recommendations"] if r["text"].startswith("63 of 90 runs that trained"))
    assert "overfitting" in rec["text"] and "no region concentrates it" in rec["text"]
    assert rec["pattern_id"] is None and rec["evidence"].startswith("63 of 90 runs that trained show overfitting")
    # The next sweep regularises the whole sweep (it has no weight decay or dropout: add one).
    plan = plan_next_sweep(summary)
    add = next(c for c in plan["changes"] if c["action"] == "add")
    assert add["when"] is None and add["evidence"] == "issue_counts.overfitting" and "weight_decay" in add["hyperparameter"]
    assert add["reason"].startswith("63 of 90 runs that trained show overfitting")


def test_overfitting_that_concentrates_among_the_runs_that_trained_stays_a_pattern(write_csv):
    # Trained runs at lr >= 0.01 overfit 9 times in 10, slower ones once in 10.
    summary = _sweep(write_csv, lambda lr, replicate: replicate < (9 if lr >= 0.01 else 1))
    (pattern,) = [p for p in _patterns(summary, "overfitting") if p["hyperparameter"] == "lr"]
    e = pattern["evidence"]
    assert e["n"] + e["n_rest"] == 90 and e["k_rest"] > 0  # the runs that blew up are not in the rest
    assert "in the other trials that trained" in pattern["explanation"]
    assert pattern["condition"].startswith("lr ≥ 0.01") and pattern["recommendation"].startswith("Regularise the trials")
    assert not any(r["text"].startswith(f"{len(pattern['trial_ids'])} of 90 runs") for r in summary["recommendations"])
    plan = plan_next_sweep(summary)
    add = next(c for c in plan["changes"] if c["action"] == "add")
    assert add["when"] == pattern["condition"] and add["evidence"] == pattern["id"]  # within the region, not sweep-wide


def test_a_minority_that_overfits_everywhere_is_said_but_does_not_regularise_the_sweep(write_csv):
    summary = _sweep(write_csv, lambda lr, replicate: replicate < 2)  # 18 of 90: not "most runs"
    assert not _patterns(summary, "overfitting")
    assert any(r["text"].startswith("18 of 90 runs that trained show overfitting") for r in summary["recommendations"])
    assert not any(c["action"] in ("add", "regularise") for c in plan_next_sweep(summary)["changes"])


def test_only_types_that_need_a_result_are_compared_among_the_runs_that_trained():
    assert set(names_where(lambda t: t.needs_result)) == {"overfitting", "generalization_gap", "short_run",
                                                          "suspicious_validation", "still_improving", "plateau"}
    assert not set(names_where(lambda t: t.needs_result)) & set(names_where(lambda t: t.no_result))
    rows = [{"trial_id": f"t{i}", "lr": float(LRS[i % 12]), "optimizer": ["adam", "sgd"][i % 2], "val_loss": 0.5}
            for i in range(120)]
    table = table_from_records(rows)
    dead = [f"t{i}" for i in range(120) if LRS[i % 12] >= 1]
    # a run that blew up logged no loss to stall: a plateau too is compared among the runs that trained
    plateau = [f"t{i}" for i in range(120) if LRS[i % 12] <= 1e-3]
    gap = [f"t{i}" for i in range(120) if LRS[i % 12] < 1 and i % 3 == 0]
    issues = pd.DataFrame({"trial_id": dead + plateau + gap,
                           "type": ["diverged"] * len(dead) + ["plateau"] * len(plateau) + ["generalization_gap"] * len(gap)})
    by_type: dict[str, set[int]] = {}
    for a in associate_issues(table, issues):
        if a.rule != "pair":
            by_type.setdefault(a.issue_type, set()).add(a.n + a.n_rest)
    assert by_type["diverged"] == {120} and by_type["plateau"] == {90}
    assert by_type["generalization_gap"] == {90}


def test_a_run_that_blew_up_is_not_under_trained():
    """A loss falling back after a blow-up is a recovery, not a run that wants more epochs (DeepOBS CIFAR-10: Adam
    at lr >= 0.16 diverged, and its falling tails read as "still improving, give more epochs" inside the region the
    next sweep leaves out)."""
    issues = pd.DataFrame({"trial_id": ["t1", "t1", "t2", "t3", "t3", "t4", "t4"],
                           "type": ["diverged", "still_improving", "still_improving", "nonfinite_metric",
                                    "still_improving", "pruned", "still_improving"],
                           "severity": ["high", "low", "low", "high", "low", "info", "low"], "detail": [""] * 7})
    kept = reconcile_issues(issues)
    # t4: a pruner cut it while its loss was still falling, by design: "give it more epochs" would overrule it
    assert sorted(zip(kept["trial_id"], kept["type"])) == [("t1", "diverged"), ("t2", "still_improving"),
                                                           ("t3", "nonfinite_metric"), ("t4", "pruned")]
