"""Sweep-level findings, and the statistics they share with the associations."""

from __future__ import annotations

from typing import Any

import pytest

from core.detectors import detect_issues
from core.findings import error_signature, find_sweep_findings
from core.stats import fisher_greater, wilson_interval
from core.summary import rank_trials
from tests.helpers import table_from_records


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (1, 100, 0.0018, 0.0545)],
)
def test_wilson_interval_matches_published_values(k, n, lo, hi):
    assert wilson_interval(k, n) == pytest.approx((lo, hi), abs=5e-4)


def test_fisher_one_sided_matches_a_hand_computed_tail():
    # 3 of 3 in a group of 3, 3 flagged among 10: C(3,3)C(7,0)/C(10,3) = 1/120
    assert fisher_greater(3, 3, 3, 10) == pytest.approx(1 / 120)
    assert fisher_greater(0, 3, 3, 10) == 1.0


def _findings(rows):
    table = table_from_records(rows)
    issues = detect_issues(table)
    best = rank_trials(table, table.flagged(issues))[0]
    return find_sweep_findings(table, issues, best)


def test_error_messages_are_grouped_by_kind():
    messages = [
        "Traceback (most recent call last):\n  File \"/home/u/train.py\", line 12\nZeroDivisionError: division by zero",
        "ZeroDivisionError: division by zero",
        "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)",
        "RuntimeError: CUDA out of memory. Tried to allocate 512.00 MiB (GPU 1; 7.79 GiB total)",
        "ValueError: batch_size=512 larger than dataset of 300 with drop_last=True",
    ]
    rows = [{"trial_id": f"f{i}", "status": "failed", "lr": 0.1, "val_loss": "", "error": m} for i, m in enumerate(messages)]
    rows += [{"trial_id": f"ok{i}", "status": "completed", "lr": 0.01, "val_loss": 0.3, "error": ""} for i in range(3)]
    kinds = [f for f in _findings(rows) if f["kind"] == "error_kind"]
    assert [(f["n_trials"], f["exception"]) for f in kinds] == [(2, "ZeroDivisionError"), (2, "RuntimeError"), (1, "ValueError")]
    assert kinds[0]["trial_ids"] == ["f0", "f1"] and kinds[0]["title"] == "2 trials: ZeroDivisionError: division by zero"
    assert "Tried to allocate N bytes (GPU N; N bytes total)" in kinds[1]["signature"]


def test_error_signature_masks_specifics():
    assert error_signature("OSError: [Errno 2] No such file: '/data/x/y.csv'") == "OSError: [Errno N] No such file: '…'"
    assert error_signature("") == ""


def test_infeasible_fraction_with_interval():
    rows = [{"trial_id": i, "status": "failed" if i < 3 else "completed", "lr": 0.1, "val_loss": 0.3 if i >= 3 else ""}
            for i in range(10)]
    (f,) = [f for f in _findings(rows) if f["kind"] == "infeasible_fraction"]
    assert (f["k"], f["n"]) == (3, 10) and f["title"] == "3 of 10 trials (30%) gave no usable result"
    assert f["ci"] == pytest.approx(list(wilson_interval(3, 10)))


def test_infeasible_fraction_leaves_out_the_trials_with_no_outcome():
    """2 still running (one with a NaN reported so far): neither usable nor not, so 3 of 8, not 3 of 10."""
    rows = [{"trial_id": i, "status": "failed" if i < 3 else "running" if i >= 8 else "completed", "lr": 0.1,
             "val_loss": "nan" if i == 9 else 0.3 if i >= 3 else ""} for i in range(10)]
    (f,) = [f for f in _findings(rows) if f["kind"] == "infeasible_fraction"]
    assert (f["k"], f["n"]) == (3, 8) and f["title"] == "3 of 8 trials with an outcome (38%) gave no usable result"
    assert f["detail"] == "failed: 3" and f["ci"] == pytest.approx(list(wilson_interval(3, 8)))


def test_best_trial_at_the_edge_of_the_searched_range():
    rows = [{"trial_id": i, "lr": lr, "wd": wd, "val_loss": loss}
            for i, (lr, wd, loss) in enumerate([(1e-4, 0.1, 0.9), (1e-3, 0.0, 0.5), (1e-2, 0.05, 0.2), (1e-3, 0.1, 0.6)])]
    edges = [f for f in _findings(rows) if f["kind"] == "edge_of_range"]
    assert [(f["hyperparameter"], f["side"], f["trial_ids"]) for f in edges] == [("lr", "high", ["2"])]
    assert edges[0]["title"] == "The best trial has lr = 0.01, the highest value searched"


def test_seed_instability_same_configuration_different_outcomes():
    rows = []
    for seed in range(3):
        rows.append({"trial_id": f"a{seed}", "lr": 0.5, "width": 64, "seed": seed, "val_loss": "nan" if seed == 1 else 0.4})
        rows.append({"trial_id": f"b{seed}", "lr": 0.01, "width": 64, "seed": seed, "val_loss": 0.3 + 0.01 * seed})
    unstable = [f for f in _findings(rows) if f["kind"] == "seed_instability"]
    assert len(unstable) == 1 and unstable[0]["trial_ids"] == ["a0", "a1", "a2"]
    assert "1 of 3 runs failed or went bad" in unstable[0]["title"] and "seeds: 0, 1, 2" in unstable[0]["detail"]


def test_no_findings_on_a_clean_sweep_without_repeats():
    rows = [{"trial_id": i, "lr": 10 ** -i, "val_loss": 0.3 + 0.1 * abs(i - 2)} for i in range(5)]
    assert _findings(rows) == []


def test_findings_lead_to_recommendations():
    from core.patterns import recommend_all

    rows = [{"trial_id": i, "lr": lr, "val_loss": loss} for i, (lr, loss) in enumerate([(1e-4, 0.9), (1e-3, 0.5), (1e-2, 0.2)])]
    table = table_from_records(rows)
    issues = detect_issues(table)
    summary = {"issues": [], "findings": find_sweep_findings(table, issues, rank_trials(table)[0])}
    (rec,) = recommend_all(summary, [])
    assert rec["text"].startswith("Try lr above 0.01: the best trial sits at the highest value searched") \
        and "widens the range itself only when the top trials crowd at that edge too" in rec["text"]
    assert rec["finding_id"] == "F1"
    assert rec["evidence"] == "F1: The best trial has lr = 0.01, the highest value searched"


def test_log_tail_agrees_with_scipy_sf_everywhere():
    """The p-value (scipy's ``hypergeom.sf``) and the log tail the cuts are ranked on (ours) agree."""
    import numpy as np
    from scipy.stats import hypergeom

    from core.stats import hypergeom_logsf, log_fisher_greater

    rng = np.random.default_rng(3)
    total = np.concatenate([rng.integers(1, 60, 500), rng.integers(1, 2_000_000, 500)])
    good = (rng.random(1000) * (total + 1)).astype(int)
    draws = (rng.random(1000) * (total + 1)).astype(int)
    x = (rng.random(1000) * (np.minimum(good, draws) + 3)).astype(int) - 1
    expected = hypergeom.sf(x, total, good, draws)
    got = np.exp(hypergeom_logsf(x, total, good, draws))
    tiny = expected < 1e-280
    assert np.allclose(got[~tiny], expected[~tiny], rtol=1e-8, atol=1e-15)
    assert np.all(got[tiny] < 1e-270)
    k = np.maximum(x + 1, 0)
    assert np.allclose(fisher_greater(k, draws, good, total), np.exp(log_fisher_greater(k, draws, good, total)),
                       rtol=1e-8, atol=1e-15)


def _by_design_sweep(seed: int = 0, n: int = 240) -> list[dict[str, object]]:
    """Early stopping fires sooner at good learning rates and small patience; NaN only at lr >= 0.3 (the cause).

    Early-stopped trials hold the best results (as they do in real sweeps), a tuner prunes
    some weak runs, one trial early-stopped because its loss went NaN (a hidden failure),
    and a few long runs hit a time limit.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lr, patience, dropout = 10 ** rng.uniform(-4, 0), int(rng.choice([5, 10, 20])), float(rng.choice([0.0, 0.2, 0.4]))
        good = 1e-3 <= lr <= 1e-2
        val = 0.3 + 0.1 * abs(np.log10(lr) + 2.5) + 0.05 * dropout + rng.normal(0, 0.01)
        status = "early_stopped" if rng.random() < (0.9 if good and patience == 5 else 0.6 if good else 0.1) else "completed"
        val -= 0.02 * (status == "early_stopped")  # early stopping keeps the best epoch
        if status == "completed" and rng.random() < 0.1:
            status, val = "pruned", val + 0.5
        nan = lr >= 0.3
        rows.append({"trial_id": f"t{i:03d}", "lr": lr, "patience": patience, "dropout": dropout, "status": status,
                     "train_loss": "nan" if nan else val - 0.02, "val_loss": "nan" if nan else val})
    rows[0] |= {"lr": 0.005, "status": "early_stopped", "train_loss": "nan", "val_loss": "nan"}
    return rows


def test_pruned_and_early_stopped_runs_are_counted_and_never_a_pattern_or_a_limit():
    from core.loading import RawTable
    from core.next_sweep import plan_next_sweep
    from core.patterns import analyze_patterns
    from core.roles import infer_roles
    from core.summary import analyze_sweep

    rows = _by_design_sweep()
    frame = __import__("pandas").DataFrame(rows, dtype=object).astype(str)
    summary = analyze_sweep(RawTable(frame=frame, source="<t>"), infer_roles(frame, "<t>"))
    # The associations do see pruned runs concentrate at good lr and patience 5 ...
    assert any(a["issue_type"] == "pruned" and a["q"] < 0.05 for a in summary["associations"])
    summary |= analyze_patterns(summary)
    # ... but nothing is built on them.
    assert not [p for p in summary["patterns"] + summary["leads"] if p["issue_type"] in ("pruned", "running")]
    assert {p["hyperparameter"] for p in summary["patterns"]} == {"lr"}
    assert all(p["condition"].startswith("lr ≥") for p in summary["patterns"])
    plan = plan_next_sweep(summary)
    assert {c["hyperparameter"] for c in plan["changes"] if c["action"] != "widen"} <= {"lr"}
    patience = plan["hyperparameters"]["patience"]
    assert patience["low"] <= 5 and patience["high"] == 20 and plan["hyperparameters"]["lr"]["high"] > 0.1
    # The trial that early-stopped because its loss went NaN stays a hidden failure.
    assert {"nonfinite_metric", "status_mismatch"} <= {i["type"] for i in summary["issues"] if i["trial_id"] == "t000"}
    (by_design,) = [f for f in summary["findings"] if f["kind"] == "by_design"]
    early = sum(r["status"] == "early_stopped" and r["val_loss"] != "nan" for r in rows)  # NaN: hidden failures
    assert by_design["counts"]["early-stopped"] == early
    assert by_design["counts"]["pruned by the tuner"] == sum(r["status"] == "pruned" and r["val_loss"] != "nan" for r in rows)
    assert "t000" not in by_design["trial_ids"]
    rec = next(r for r in summary["recommendations"] if "or pruned by the tuner (" in r["text"])
    assert "no advice is built on them" in rec["text"] and "they say they finished" not in str(summary)
    # The best trial is the best finished one: early-stopped runs count, tuner-pruned ones do not.
    finite = [r for r in rows if r["val_loss"] != "nan" and r["status"] in ("completed", "early_stopped")]
    expected = min(finite, key=lambda r: r["val_loss"])
    assert summary["best_trial"]["trial_id"] == expected["trial_id"]
    assert expected["status"] == "early_stopped" and summary["best_trial"]["status"] == "pruned"


def test_best_trial_excludes_only_high_severity_issues_and_may_be_a_timeout():
    rows = [{"trial_id": f"t{i}", "lr": 0.01 * (i + 1), "status": s, "train_loss": tr, "val_loss": v}
            for i, (s, tr, v) in enumerate([
                ("completed", 0.30, 0.50), ("completed", 0.01, 0.20),  # t1: low train loss, overfitting (medium)
                ("timeout", 0.35, 0.19), ("failed", 0.2, 0.10), ("pruned", 0.4, 0.05), ("completed", "nan", 0.01),
            ])]
    table = table_from_records(rows)
    issues = detect_issues(table)
    best = rank_trials(table, table.flagged(issues[issues["severity"] == "high"]))[0]
    assert best["trial_id"] == "t2" and best["status"] == "timeout"  # failed, pruned and NaN trials do not count
    rows[2]["status"] = "completed"
    rows[2]["val_loss"] = 0.9
    table = table_from_records(rows)
    issues = detect_issues(table)
    assert set(issues.loc[issues["trial_id"] == "t1", "type"]) & {"overfitting", "generalization_gap"}  # medium or low
    assert rank_trials(table, table.flagged(issues[issues["severity"] == "high"]))[0]["trial_id"] == "t1"


def test_best_trial_is_compared_on_a_scale_free_metric_when_targets_differ():
    rows = [{"trial_id": f"t{i}", "lr": 0.001 * (i + 1), "scale_targets": sc, "train_loss": v * 0.9, "val_loss": v,
             "val_r2": r2} for i, (sc, v, r2) in enumerate([("yes", 0.40, 0.60), ("yes", 0.60, 0.40),
                                                             ("no", 0.30, 0.20), ("no", 2500.0, 0.70)])]
    table = table_from_records(rows)
    if "val_r2" not in table.roles.metrics:  # r2 read as a metric is the detectors' part of the issue
        pytest.skip("val_r2 is not read as a metric yet")
    best = rank_trials(table)[0]
    assert best["metric"] == "val_r2" and best["trial_id"] == "t3" and "scale_targets" in best["note"]


def test_best_trial_compares_only_one_target_scaling_without_a_scale_free_metric():
    rows = [{"trial_id": f"t{i}", "lr": 0.001 * (i + 1), "scale_targets": sc, "train_loss": v * 0.9, "val_loss": v}
            for i, (sc, v) in enumerate([("yes", 0.40), ("yes", 0.60), ("yes", 0.5), ("no", 0.01), ("no", 2500.0)])]
    best = rank_trials(table_from_records(rows))[0]
    assert best["trial_id"] == "t0" and "only trials with scale_targets = yes are compared" in best["note"]


def test_timeouts_are_budget_cuts_not_errors_to_fix():
    from core.patterns import recommend_all

    rows = [{"trial_id": f"t{i}", "lr": 0.01 * (i + 1), "status": "timeout" if i < 4 else "completed",
             "error": "TimeoutError: trial stopped by its time limit of 60 s" if i < 4 else "", "val_loss": 0.3}
            for i in range(10)]
    findings = _findings(rows)
    (kind,) = [f for f in findings if f["kind"] == "error_kind"]
    assert kind["budget_cut"]
    summary = {"issues": [], "findings": findings}
    (rec,) = [r for r in recommend_all(summary, []) if r.get("finding_id") == kind["id"]]
    assert "budget cuts, not failures" in rec["text"] and "Fix the error" not in rec["text"]


def test_no_widening_past_a_natural_bound():
    rows = [{"trial_id": f"t{i}", "dropout": d, "weight_decay": w, "layers": n, "lr": 0.001 * (i + 1),
             "val_loss": 0.1 if i == 0 else 0.5 + 0.01 * i}
            for i, (d, w, n) in enumerate([(0.0, 0.0, 1), (0.2, 1e-4, 2), (0.4, 1e-3, 3), (0.2, 1e-4, 2)] * 3)]
    table = table_from_records(rows)
    issues = detect_issues(table)
    best = rank_trials(table)[0]
    assert best["trial_id"] == "t0"
    edges = [f for f in find_sweep_findings(table, issues, best) if f["kind"] == "edge_of_range"]
    assert {f["hyperparameter"] for f in edges} == {"lr"}  # dropout 0, weight decay 0, 1 layer: nothing below


@pytest.mark.parametrize(("name", "low", "high", "log", "kind", "side", "expected"), [
    ("dropout", 0.0, 0.5, False, "float", "high", 0.75),
    ("dropout", 0.0, 0.6, False, "float", "high", 0.8),
    ("momentum", 0.5, 0.99, False, "float", "high", 0.995),
    ("weight_decay", 0.0, 0.01, False, "float", "low", None),
    ("lr", 1e-5, 1e-1, True, "float", "low", 1e-6),
    ("hidden", 1, 256, False, "int", "low", None),
    ("hidden", 3, 256, False, "int", "low", 1),
    ("batch_size", 16, 512, False, "int", "high", 1024),
])
def test_widening_stays_in_the_natural_domain(name, low, high, log, kind, side, expected):
    from core.domains import natural_domain
    from core.next_sweep import _beyond

    entry = {"kind": kind, "low": low, "high": high, "log": log,
             "domain": natural_domain(name, low, kind == "int")}
    assert _beyond(entry, side) == (pytest.approx(expected) if expected is not None else None)


def test_an_error_kind_is_tested_against_the_hyperparameters():
    import numpy as np

    from core.patterns import recommend_all

    rng = np.random.default_rng(2)
    rows = []
    for i in range(160):
        act = str(rng.choice(["relu", "tanh", "gelu", "elu"]))
        other = rng.random() < 0.15  # unrelated failures everywhere dilute the "failed" type
        error = "KeyError: 'gelu'" if act == "gelu" else ("RuntimeError: CUDA error: an illegal memory access" if other
                                                          else "")
        rows.append({"trial_id": f"t{i}", "activation": act, "lr": float(10 ** rng.uniform(-4, -1)),
                     "status": "failed" if error else "completed", "error": error,
                     "val_loss": "" if error else 0.3 + 0.01 * i})
    findings = _findings(rows)
    (key_error,) = [f for f in findings if f["kind"] == "error_kind" and f["exception"] == "KeyError"]
    assert key_error["explained_by"]["condition"] == "activation = gelu"
    assert key_error["explained_by"]["k"] == key_error["explained_by"]["n"] == key_error["n_trials"]
    assert "it happens at activation = gelu" in key_error["detail"]
    (cuda,) = [f for f in findings if f["kind"] == "error_kind" and f["exception"] == "RuntimeError"]
    assert cuda["explained_by"] is None  # spread over every activation: nothing to say
    recs = recommend_all({"issues": [], "findings": findings}, [])
    text = next(r["text"] for r in recs if r.get("finding_id") == key_error["id"])
    assert "happens at activation = gelu" in text and "say nothing about their hyperparameters" not in text


def test_seed_instability_is_ranked_by_disagreement_with_a_total():
    rows = []
    # In file order: 25 configurations whose seeds spread a little, then 4 whose seeds fail beside healthy runs.
    for c in range(25):
        for seed in range(2):
            rows.append({"trial_id": f"s{c}_{seed}", "lr": 0.001 * (c + 1), "seed": seed,
                         "val_loss": 0.3 + 0.01 * c + (0.5 + 0.02 * c) * seed})
    for c, bad in enumerate([1, 2, 1, 3]):
        for seed in range(4):
            rows.append({"trial_id": f"m{c}_{seed}", "lr": 0.5 + c, "seed": seed,
                         "val_loss": "nan" if seed < bad else 0.4})
    unstable = [f for f in _findings(rows) if f["kind"] == "seed_instability"]
    assert len(unstable) == 20 and all(f["n_unstable"] == unstable[0]["n_unstable"] for f in unstable)
    assert unstable[0]["n_unstable"] > 20  # more than shown: the total is said
    assert [f["trial_ids"][0] for f in unstable[:4]] == ["m1_0", "m0_0", "m2_0", "m3_0"]  # 2 of 4 first
    assert f"1 of {unstable[0]['n_unstable']} unstable configurations" in unstable[0]["title"]
    spreads = [f for f in unstable if f["trial_ids"][0].startswith("s")]
    assert spreads[0]["trial_ids"][0] == "s24_0"  # the widest spread first, not the first in the file


def test_budget_advice_never_comes_from_a_failed_or_cut_run():
    from core.next_sweep import plan_next_sweep

    summary = {"sweep": {"hyperparameters": {}, "roles": {"epochs": "epochs"}}, "patterns": [], "findings": [],
               "associations": [], "best_trial": None,
               "issues": [{"trial_id": "f", "type": "failed", "severity": "high", "detail": ""},
                          {"trial_id": "f", "type": "still_improving", "severity": "low", "detail": "", "epoch": 49.0},
                          {"trial_id": "t", "type": "timeout", "severity": "medium", "detail": ""},
                          {"trial_id": "t", "type": "still_improving", "severity": "low", "detail": "", "epoch": 70.0},
                          {"trial_id": "ok", "type": "still_improving", "severity": "low", "detail": "", "epoch": 20.0}]}
    assert plan_next_sweep(summary)["settings"]["epochs"]["from"] == 20.0
    summary["issues"] = summary["issues"][:4]
    assert "epochs" not in plan_next_sweep(summary)["settings"]


def test_top_trials_rank_finished_comparable_trials_without_high_severity_issues():
    # t3 has the lowest loss but failed; t5 is NaN; t6 was pruned by the tuner: none of them is ranked.
    rows = [{"trial_id": f"t{i}", "lr": 0.01 * (i + 1), "status": s, "train_loss": v * 0.9, "val_loss": v}
            for i, (s, v) in enumerate([("completed", 0.50), ("completed", 0.20), ("timeout", 0.19), ("failed", 0.01),
                                        ("completed", 0.30), ("completed", float("nan")), ("pruned", 0.02),
                                        ("completed", 0.20)])]
    table = table_from_records(rows)
    issues = detect_issues(table)
    best, top = rank_trials(table, table.flagged(issues[issues["severity"] == "high"]), k=4)
    assert [t["trial_id"] for t in top] == ["t2", "t1", "t7", "t4"]  # a tie (t1, t7) keeps the table's order
    assert [t["rank"] for t in top] == [1, 2, 3, 4] and top[0]["status"] == "timeout"
    assert best["trial_id"] == "t2" and top[0]["hyperparameters"] == best["hyperparameters"] == {"lr": 0.03}
    assert len(rank_trials(table, k=100)[1]) == 5  # every finished trial with a finite objective, no more


def test_top_trials_follow_the_comparable_metric_when_targets_differ():
    rows = [{"trial_id": f"t{i}", "lr": 0.001 * (i + 1), "scale_targets": sc, "train_loss": v * 0.9, "val_loss": v}
            for i, (sc, v) in enumerate([("yes", 0.40), ("yes", 0.60), ("yes", 0.5), ("no", 0.01), ("no", 2500.0)])]
    _, top = rank_trials(table_from_records(rows))
    assert [t["trial_id"] for t in top] == ["t0", "t2", "t1"]  # t3's 0.01 is in other units: not ranked


def _edge_sweep(dropouts: list[float]) -> tuple[Any, Any, dict[str, Any]]:
    """The best trial (t0) has the lowest dropout sampled and the highest lr sampled."""
    rows = [{"trial_id": f"t{i}", "dropout": d, "lr": 1e-3 / (i + 1), "val_loss": 0.1 if i == 0 else 0.5 + 0.01 * i}
            for i, d in enumerate(dropouts)]
    table = table_from_records(rows)
    return table, detect_issues(table), rank_trials(table)[0]


def test_a_declared_range_is_what_was_searched_for_the_edge():
    # dropout 0.004 is the lowest value sampled, but the declared range starts at 0, the natural bound:
    # nothing to widen (an Optuna study's best trial had this; "widen dropout downwards" was advised)
    table, issues, best = _edge_sweep([0.004, 0.1, 0.2, 0.3, 0.45, 0.25])
    space = {"dropout": {"kind": "float", "low": 0.0, "high": 0.5, "log": False, "step": None},
             "lr": {"kind": "float", "low": 1e-5, "high": 1e-3, "log": True, "step": None}}
    edges = {f["hyperparameter"]: f for f in find_sweep_findings(table, issues, best, space) if f["kind"] == "edge_of_range"}
    assert set(edges) == {"lr"} and edges["lr"]["searched"] == [1e-5, 1e-3]  # lr sits on its declared high
    # without the declared range, the observed extent is all there is: dropout 0.004 is judged as before
    assert {f["hyperparameter"] for f in find_sweep_findings(table, issues, best) if f["kind"] == "edge_of_range"} \
        == {"dropout", "lr"}


def test_a_best_value_far_inside_a_declared_range_is_no_edge_but_one_on_its_bound_is():
    table, issues, best = _edge_sweep([0.3, 0.35, 0.4, 0.45, 0.5, 0.38])
    far = {"dropout": {"kind": "float", "low": 0.1, "high": 0.9, "log": False, "step": None}}
    assert not [f for f in find_sweep_findings(table, issues, best, far)
                if f["kind"] == "edge_of_range" and f["hyperparameter"] == "dropout"]
    on = {"dropout": {"kind": "float", "low": 0.3, "high": 0.5, "log": False, "step": None}}
    (f,) = [f for f in find_sweep_findings(table, issues, best, on)
            if f["kind"] == "edge_of_range" and f["hyperparameter"] == "dropout"]
    assert f["side"] == "low" and f["searched"] == [0.3, 0.5]


def test_nan_and_inf_in_an_error_message_are_one_kind_of_error():
    # diabetes: "train loss is nan at epoch 7" (23 trials) and "... is inf at epoch 3" (6) were two groups
    assert (error_signature("FloatingPointError: train loss is nan at epoch 7")
            == error_signature("FloatingPointError: train loss is inf at epoch 3")
            == error_signature("FloatingPointError: train loss is -Infinity at epoch 12")
            == "FloatingPointError: train loss is N at epoch N")


def test_words_that_merely_contain_nan_or_inf_are_kept():
    assert error_signature("KeyError: 'x' missing in info of nanny_layer") == "KeyError: '…' missing in info of nanny_layer"
    assert error_signature("ValueError: Infinite loop detected in inference") == (
        "ValueError: Infinite loop detected in inference")


def test_a_group_of_nan_and_inf_losses_is_still_said_to_be_a_non_finite_loss():
    messages = ["FloatingPointError: train loss is nan at epoch 7", "FloatingPointError: train loss is inf at epoch 3",
                "ZeroDivisionError: division by zero"]
    rows = [{"trial_id": f"f{i}", "status": "failed", "lr": 0.1, "val_loss": "", "error": m} for i, m in enumerate(messages)]
    rows += [{"trial_id": f"ok{i}", "status": "completed", "lr": 0.01, "val_loss": 0.3, "error": ""} for i in range(3)]
    kinds = {f["exception"]: f for f in _findings(rows) if f["kind"] == "error_kind"}
    assert kinds["FloatingPointError"]["n_trials"] == 2 and "(a non-finite loss)" in kinds["FloatingPointError"]["detail"]
    assert "non-finite" not in kinds["ZeroDivisionError"]["detail"]
