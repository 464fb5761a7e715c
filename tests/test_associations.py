"""Association statistics: planted effects are found, noise is not, real sweeps agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.associations import associate_issues
from core.detectors import detect_issues
from core.loading import read_results
from core.patterns import analyze_patterns, find_patterns
from core.records import Association, Part, Region
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
    assert top["condition"].startswith("lr ≥")  # the display text; the bound is a field
    (region,) = {a.id: a for a in assocs}[top["association_id"]].regions
    assert region.rule == "threshold" and region.direction == "above" and 0.05 <= region.low <= 0.2
    assert top["evidence"]["k_rest"] == 0 and top["evidence"]["q"] < 1e-6
    assert not any(p["hyperparameter"] == "optimizer" for p in patterns)


def test_counts_are_consistent():
    table = table_from_records(_sweep(1))
    issues = detect_issues(table)
    total = int((issues.type == "nonfinite_metric").sum())
    for a in associate_issues(table, issues):
        assert a.k + a.k_rest == total and a.n + a.n_rest == len(table)
        assert 0 <= a.p <= 1 and a.p <= a.q + 1e-12 <= 1 + 1e-12
        assert len(a.trial_ids) == min(a.k, 20)


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
    (region,) = _regions(summary, nan_lr)
    assert region.direction == "above" and 0.01 <= region.low <= 0.1
    assert summary["issue_counts"]["nonfinite_metric"] == 36


def _regions(summary, pattern):
    """The regions of a pattern, from its association's fields (never from the display text)."""
    return Association.from_dict(next(a for a in summary["associations"] if a["id"] == pattern["association_id"])).regions


def _raw_and_roles(path):
    raw = read_results(path)
    return raw, infer_roles(raw.frame, raw.source)


def test_associations_carry_wilson_interval_and_risk_ratio():
    table = table_from_records(_sweep(0))
    for a in associate_issues(table, detect_issues(table)):
        lo, hi = a.ci
        assert 0 <= lo <= a.rate <= hi <= 1
        if a.rate_rest > 0:
            assert a.risk_ratio == pytest.approx(a.rate / a.rate_rest)


def test_vectorised_threshold_search_equals_brute_force():
    from scipy.stats import hypergeom

    rng = np.random.default_rng(7)
    table = table_from_records(_sweep(3, n=120))
    issues = detect_issues(table)
    flagged = table.ids.isin(set(issues.trial_id)).to_numpy()
    x = np.array(table.hyperparameters["lr"], dtype=float)
    rng.shuffle(x)  # any order of rows must give the same answer
    table.hyperparameters["lr"] = x
    found = [a for a in associate_issues(table, issues, pairs=False) if a.rule == "threshold" and a.direction == "above"]
    cuts = np.unique(x)[1:]
    cuts = np.unique(np.quantile(cuts, np.linspace(0, 1, 64), method="nearest")) if len(cuts) > 64 else cuts
    p = [hypergeom.sf(((x >= c) & flagged).sum() - 1, len(x), flagged.sum(), (x >= c).sum())
         if ((x >= c) & flagged).any() else 1.0 for c in cuts]
    best = cuts[int(np.argmin(p))]
    assert found[0].lo == best and found[0].p == pytest.approx(min(1.0, min(p) * 2 * len(cuts)))


def test_paired_effect_is_a_pair_and_the_marginals_it_explains_say_so():
    # Non-finite only with optimizer=sgd AND an unscaled target; each alone is healthy.
    rng = np.random.default_rng(11)
    rows = []
    for i in range(240):
        opt, scaling = rng.choice(["sgd", "adam"]), rng.choice(["none", "standard"])
        sick = opt == "sgd" and scaling == "none" and rng.random() < 0.8
        rows.append({"trial_id": i, "optimizer": opt, "target_scaling": scaling, "lr": 10 ** rng.uniform(-4, -1),
                     "val_loss": "nan" if sick else 0.3})
    table = table_from_records(rows)
    patterns, _ = find_patterns(associate_issues(table, detect_issues(table)))
    nonfinite = [p for p in patterns if p["issue_type"] == "nonfinite_metric"]
    (pair,) = [p for p in nonfinite if p["rule"] == "pair"]
    assert set(pair["hyperparameters"]) == {"optimizer", "target_scaling"}
    assert "optimizer = sgd" in pair["condition"] and "target_scaling = none" in pair["condition"]
    assert "Neither condition explains it without the other" in pair["explanation"]
    assert "optimizer = sgd without target_scaling = none: 0 of" in pair["explanation"]
    assert "optimizer = sgd overall:" in pair["explanation"] and " alone:" not in pair["explanation"]
    # The significant marginals stay patterns (issue 10, item 6) but, stratified, defer to the pair.
    marginals = [p for p in nonfinite if p["rule"] != "pair"]
    assert {p["condition"] for p in marginals} == {"optimizer = sgd", "target_scaling = none"}
    for p in marginals:
        assert p["explained_by"] == pair["id"] and f"{pair['id']} ({pair['condition']}) explains" in p["explanation"]
        assert p["recommendation"].startswith(f"Follow {pair['id']}")


def _marginal_and_incidental_pair(seed: int) -> list[dict[str, object]]:
    """NaN whenever optimizer = sgd (the simple cause); a second, incidental parameter."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(200):
        opt, act = rng.choice(["sgd", "adam", "rmsprop"]), rng.choice(["relu", "tanh", "gelu", "elu"])
        sick = opt == "sgd" and rng.random() < 0.9
        rows.append({"trial_id": i, "optimizer": opt, "activation": act, "val_loss": "nan" if sick else 0.3})
    return rows


def test_a_significant_marginal_stays_a_pattern_and_is_never_an_inconclusive_lead():
    table = table_from_records(_marginal_and_incidental_pair(4))
    patterns, leads = find_patterns(associate_issues(table, detect_issues(table)))
    simple = [p for p in patterns if p["condition"] == "optimizer = sgd" and p["issue_type"] == "nonfinite_metric"]
    assert simple and "explained_by" not in simple[0]
    assert simple[0]["recommendation"].startswith("Treat optimizer = sgd as its own region")
    assert all(lead["evidence"]["q"] >= 0.05 or lead["evidence"]["k"] < 3 for lead in leads)
    assert all(lead["why"] for lead in leads)


def test_each_condition_alone_is_fine_only_when_its_upper_bound_is_below_the_rest():
    from core.patterns import alone_is_fine, recommend

    def pair(n_first):
        a, b = Region(hyperparameter="a", rule="value", value="x"), Region(hyperparameter="b", rule="value", value="y")
        return Association(id="A1", hyperparameter="a", hyperparameters=["a", "b"], rule="pair",
                           condition="a = x and b = y", lo=None, hi=None, value=None, direction=None, closed=None,
                           issue_type="nonfinite_metric", k=8, n=10, rate=0.8, ci=None, k_rest=10, n_rest=100,
                           rate_rest=0.1, risk_ratio=8.0, p=1e-6, log_p=-13.8, q=1e-5, trial_ids=[],
                           parts=[Part(**a.fields(), k=0, n=n_first), Part(**b.fields(), k=0, n=40)])

    assert not alone_is_fine(pair(5))  # 0 of 5: the 95 % upper bound is 43 %, above the rest's 16 %
    assert "fine" not in recommend(pair(5))
    assert alone_is_fine(pair(40)) and recommend(pair(40)).endswith("each condition without the other is fine.")


def test_lead_says_why_it_is_one():
    from core.patterns import lead_reason

    def lead(k, q):
        return Association(id="A1", hyperparameter="a", hyperparameters=["a"], rule="value", condition="a = x",
                           lo=None, hi=None, value="x", direction=None, closed=True, issue_type="failed", k=k, n=20,
                           rate=k / 20, ci=None, k_rest=1, n_rest=100, rate_rest=0.01, risk_ratio=None, p=q, log_p=0.0,
                           q=q, trial_ids=[])

    few, weak = lead(2, 0.01), lead(9, 0.2)
    assert lead_reason(few, 0.05, 3).startswith("too few trials: 2")
    assert "could be chance" in lead_reason(weak, 0.05, 3) and "too few" not in lead_reason(weak, 0.05, 3)


def test_null_sweeps_with_pairs_and_three_parameters_stay_clean():
    with_pattern = 0
    for seed in range(40):
        rng = np.random.default_rng(1000 + seed)
        rows = [{"trial_id": i, "lr": 10 ** rng.uniform(-5, 0), "opt": rng.choice(["adam", "sgd", "rmsprop"]),
                 "bs": rng.choice([16, 32, 64, 128]), "val_loss": "nan" if rng.random() < 0.2 else 0.3}
                for i in range(200)]
        table = table_from_records(rows)
        with_pattern += bool(find_patterns(associate_issues(table, detect_issues(table)))[0])
    assert with_pattern <= 2


def test_deepcave_crashed_rate_rises_with_learning_rate():
    # Real sweep: DeepCAVE MNIST random search (tests/data/README.md); CRASHED = failed to learn.
    raw = read_results(DATA / "deepcave_mnist_run1_final.csv")
    summary = analyze_sweep(raw, infer_roles(raw.frame, raw.source))
    assert summary["issue_counts"] == {"failed": 215}
    buckets = [a for a in summary["associations"] if a["hyperparameter"] == "hp_learning_rate"
               and a["issue_type"] == "failed" and a["rule"] == "bucket"]
    rates = [a["rate"] for a in sorted(buckets, key=lambda a: a["lo"])]
    assert len(rates) >= 3 and rates == sorted(rates) and rates[-1] > 4 * rates[0]
    top = analyze_patterns(summary)["patterns"][0]
    assert top["hyperparameter"] == "hp_learning_rate" and top["condition"].startswith("hp_learning_rate ≥")
    (region,) = _regions(summary, top)
    assert region.direction == "above" and 1e-3 <= region.low <= 0.03 and top["evidence"]["q"] < 1e-10


def test_deepobs_fmnist_dead_networks_and_finite_blow_ups():
    # Real sweep: DeepOBS fmnist_2c2d; runs stuck at ln(10) ~ 2.30 and huge finite losses at high lr.
    raw = read_results(DATA / "deepobs_fmnist_2c2d.csv")
    summary = analyze_sweep(raw, infer_roles(raw.frame, raw.source))
    assert summary["classes"]["n"] == 10
    table = table_from_text(DATA / "deepobs_fmnist_2c2d.csv")
    val_loss, lr = table.metrics["val_loss"], table.hyperparameters["learning_rate"]
    dead = {i["trial_id"] for i in summary["issues"] if i["type"] == "no_learning"}
    expected_dead = set(table.ids[(abs(val_loss - np.log(10)) <= 0.01 * np.log(10)).to_numpy()])
    assert expected_dead <= dead and len(dead) >= 10
    diverged = {i["trial_id"] for i in summary["issues"] if i["type"] == "diverged"}
    assert diverged and lr[table.ids.isin(diverged).to_numpy()].min() > lr.median()
    # final values only (no best_val_loss, no curves): a gap, never called overfitting without a rise
    assert "generalization_gap" in summary["issue_counts"] and "overfitting" not in summary["issue_counts"]


def test_log_tail_matches_scipy_logsf_where_the_p_value_underflows():
    from scipy.stats import hypergeom

    from core.stats import hypergeom_logsf, log_fisher_greater

    rng = np.random.default_rng(5)
    total = rng.integers(1, 2_000_000, 300)
    good = (rng.random(300) * (total + 1)).astype(int)
    draws = (rng.random(300) * (total + 1)).astype(int)
    x = (rng.random(300) * (np.minimum(good, draws) + 3)).astype(int) - 1
    expected = hypergeom.logsf(x, total, good, draws)
    got = hypergeom_logsf(x, total, good, draws)
    finite = np.isfinite(expected)
    assert np.array_equal(np.isfinite(got), finite)
    assert np.allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-12)
    # 100,000 NaN trials of a million all at lr >= 0.1: p is 0.0 in double precision, log p is not.
    assert log_fisher_greater(100_000, 100_000, 100_000, 1_000_000) == pytest.approx(
        hypergeom.logsf(99_999, 1_000_000, 100_000, 100_000), rel=1e-12)
    assert log_fisher_greater(100_000, 100_000, 100_000, 1_000_000) < log_fisher_greater(
        100_000, 150_000, 100_000, 1_000_000) < -1e5


def _planted_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """NaN exactly when lr >= 0.1; the best (lowest) val_loss sits near lr = 3e-4."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-5, 0, n)
    val = 0.5 + 0.3 * np.abs(np.log10(lr) + 3.5) + rng.normal(0, 0.05, n)
    nan = lr >= 0.1
    return pd.DataFrame({"trial_id": np.arange(n), "lr": lr, "batch_size": rng.choice([32, 64, 128], n),
                         "status": "completed", "train_loss": np.where(nan, np.nan, val - 0.05),
                         "val_loss": np.where(nan, np.nan, val)}).astype(str)


@pytest.mark.parametrize("n", [500, 5_000, 100_000, 1_000_000])
def test_planted_cause_and_next_sweep_bound_are_stable_from_500_to_a_million_trials(n):
    from core.loading import RawTable
    from core.next_sweep import plan_next_sweep

    frame = _planted_frame(n)
    summary = analyze_sweep(RawTable(frame=frame, source="<planted>"), infer_roles(frame, "<planted>"))
    summary |= analyze_patterns(summary)
    lr = np.asarray(frame["lr"], dtype=float)
    first_nan = lr[lr >= 0.1].min()  # the sharpest cut the sweep allows
    (pattern,) = [p for p in summary["patterns"] if p["hyperparameter"] == "lr"]
    a = next(a for a in summary["associations"] if a["id"] == pattern["association_id"])
    assert a["rule"] == "threshold" and a["direction"] == "above" and a["lo"] == first_nan
    assert a["k"] == a["n"] == int((lr >= 0.1).sum()) and a["log_p"] < -50
    plan = plan_next_sweep(summary)
    bound = plan["hyperparameters"]["lr"]
    assert bound["high"] == first_nan and bound["low"] == lr.min() and bound["log"]
    assert [first_nan, lr.max()] in bound["exclude"]
    assert bound["low"] <= summary["best_trial"]["hyperparameters"]["lr"] < 0.1 * 0.9


def test_a_threshold_that_holds_a_protected_trial_gets_a_narrower_one_beside_it():
    # NaN in 10 of the 12 trials at lr >= 0.1; one clean trial there (t38, lr ~ 0.2) is among the best.
    rates = np.repeat(np.geomspace(1e-4, 1.0, 24), 2)
    rows = []
    for i, lr in enumerate(rates):
        clean = lr < 0.1 or i in (38, 41)
        rows.append({"trial_id": f"t{i}", "lr": float(lr), "train_loss": 0.3 if clean else float("nan"),
                     "val_loss": 0.35 if clean else float("nan")})
    table = table_from_records(rows)
    issues = detect_issues(table)
    kind = issues["type"].iloc[0]  # the NaN trials' type (no status column: a hidden failure or NaN)

    def thresholds(protect=None):
        return [a for a in associate_issues(table, issues, protect=protect)
                if a.issue_type == kind and a.direction == "above"]

    plain, guarded = thresholds(), thresholds(np.array([38]))
    assert plain[0].lo <= rates[38]  # the best cut holds t38
    extra = [a for a in guarded if a.lo > rates[38]]
    assert len(extra) == 1 and len(guarded) == len(plain) + 1
    assert extra[0].k == sum(1 for i, lr in enumerate(rates) if lr >= extra[0].lo and i not in (38, 41))
    assert extra[0].q < 0.05
    # A protected trial outside the cut: no extra test.
    assert len(thresholds(np.array([0]))) == len(plain)


def test_an_issue_type_is_never_tested_against_a_hyperparameter_its_rule_reads():
    # suspicious_validation is flagged only where dropout is off: "at dropout = 0" would hold by construction.
    rng = np.random.default_rng(3)
    rows = [{"trial_id": f"t{i}", "dropout": [0.0, 0.3][i % 2], "lr": float(rng.uniform(1e-3, 1e-1)),
             "train_acc": 0.80, "val_acc": 0.90 if i % 3 else 0.80} for i in range(60)]
    table = table_from_records(rows)
    issues = detect_issues(table)
    flagged = set(issues.loc[issues["type"] == "suspicious_validation", "trial_id"])
    assert flagged and all(int(t[1:]) % 2 == 0 for t in flagged)  # only dropout = 0 trials can be flagged
    tested = [a for a in associate_issues(table, issues) if a.issue_type == "suspicious_validation"]
    assert tested and not any("dropout" in a.hyperparameters for a in tested)
    assert any(a.hyperparameters == ["lr"] for a in tested)  # other hyperparameters are still tested


def test_a_missing_category_is_one_region_with_cells_written_missing():
    from core.associations import _code

    values = pd.Series(["adam", None, "(missing)", "sgd", "adam", float("nan"), "adam"], dtype=object)
    coded = _code("optimizer", values, 5)
    assert coded is not None
    assert [g.value for g in coded.groups] == ["(missing)", "adam", "sgd"]  # most frequent first, ties by name
    assert coded.codes.tolist() == [1, 0, 0, 2, 1, 0, 1] and coded.n.tolist() == [3, 3, 1]
    mixed = pd.Series([1, "1", "a", None], dtype=object)  # two objects written alike are one value
    coded = _code("x", mixed, 5)
    assert coded is not None and [g.value for g in coded.groups] == ["1", "(missing)", "a"]
    assert coded.codes.tolist() == [0, 0, 2, 1]


def test_still_improving_is_never_tested_against_the_planned_budget():
    # Its rule needs 5 points in the last 20 % of a run: a 15-epoch run can never be flagged, so
    # "still improving at max_epochs >= 30" would hold by construction (digits: 44 of 78 vs 0 of 42).
    rows = [{"trial_id": f"t{i}", "max_epochs": [15, 30, 60][i % 3], "lr": [0.001, 0.01, 0.1, 0.3][i % 4],
             "val_loss": 0.5} for i in range(60)]
    table = table_from_records(rows)
    assert table.roles.budget == "max_epochs" and "max_epochs" in table.hyperparameters.columns
    flagged = [f"t{i}" for i in range(60) if i % 3 and i % 4 == 0]  # longer budgets at lr 0.001 only
    issues = pd.DataFrame({"trial_id": flagged, "type": "still_improving"})
    tested = [a for a in associate_issues(table, issues) if a.issue_type == "still_improving"]
    assert tested and not any("max_epochs" in a.hyperparameters for a in tested)
    assert any(a.hyperparameters == ["lr"] for a in tested)  # the searched hyperparameters still are


def test_other_issue_types_are_still_tested_against_the_planned_budget():
    # Overfitting with more epochs is a real effect of the budget: it stays testable.
    rows = [{"trial_id": f"t{i}", "max_epochs": [15, 30, 60][i % 3], "lr": [0.001, 0.01, 0.1, 0.3][i % 4],
             "val_loss": 0.5} for i in range(60)]
    table = table_from_records(rows)
    issues = pd.DataFrame({"trial_id": [f"t{i}" for i in range(60) if i % 3 == 2], "type": "overfitting"})
    tested = [a for a in associate_issues(table, issues) if a.issue_type == "overfitting"]
    assert any(a.hyperparameters == ["max_epochs"] and a.q < 0.05 for a in tested)


def _budget_sweep():
    """120 trials, max_epochs 40 or 80, lr on a log grid; no learning at lr <= 3e-5 where the budget is 80."""
    rows, flagged = [], []
    for i in range(120):
        lr, budget = [1e-5, 3e-5, 1e-4, 1e-3, 1e-2][i % 5], [40, 80][(i // 5) % 2]
        rows.append({"trial_id": f"t{i}", "max_epochs": budget, "lr": lr, "val_loss": 0.5})
        if lr <= 3e-5 and budget == 80:
            flagged.append(f"t{i}")
    return table_from_records(rows), flagged


def test_a_larger_budget_is_never_named_a_cause_of_no_learning():
    table, flagged = _budget_sweep()
    issues = pd.DataFrame({"trial_id": flagged, "type": "no_learning"})
    tested = associate_issues(table, issues)
    assert not any(r.hyperparameter == "max_epochs" and r.low is not None and r.low > 40
                   for a in tested for r in a.regions)
    assert any(a.hyperparameters == ["lr"] and a.direction == "below" and a.q < 0.05 for a in tested)


def test_a_too_short_budget_and_other_issue_types_still_are():
    table, flagged = _budget_sweep()
    shorter = [f"t{int(t[1:]) - 5}" for t in flagged]  # the same lrs at max_epochs = 40
    tested = associate_issues(table, pd.DataFrame({"trial_id": shorter, "type": "no_learning"}))
    assert any("max_epochs" in a.hyperparameters and a.q < 0.05 for a in tested)
    tested = associate_issues(table, pd.DataFrame({"trial_id": flagged, "type": "diverged"}))
    assert any(r.hyperparameter == "max_epochs" and r.low == 80 for a in tested if a.q < 0.05 for r in a.regions)
