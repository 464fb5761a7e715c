"""Sweep-level findings, and the statistics they share with the associations."""

from __future__ import annotations

import pytest

from core.detectors import detect_issues
from core.findings import error_signature, find_sweep_findings
from core.stats import fisher_greater, wilson_interval
from core.summary import _best_trial
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
    best = _best_trial(table, set(issues.trial_id))
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
    summary = {"issues": [], "findings": find_sweep_findings(table, issues, _best_trial(table, set()))}
    (rec,) = recommend_all(summary, [])
    assert rec["text"].startswith("Widen the range of lr upwards") and rec["finding_id"] == "F1"
    assert rec["evidence"] == "F1: The best trial has lr = 0.01, the highest value searched"


def test_hypergeometric_tail_matches_scipy_everywhere():
    import numpy as np
    from scipy.stats import hypergeom

    from core.stats import hypergeom_sf

    rng = np.random.default_rng(3)
    total = np.concatenate([rng.integers(1, 60, 500), rng.integers(1, 2_000_000, 500)])
    good = (rng.random(1000) * (total + 1)).astype(int)
    draws = (rng.random(1000) * (total + 1)).astype(int)
    x = (rng.random(1000) * (np.minimum(good, draws) + 3)).astype(int) - 1
    expected = hypergeom.sf(x, total, good, draws)
    got = hypergeom_sf(x, total, good, draws)
    tiny = expected < 1e-280
    assert np.allclose(got[~tiny], expected[~tiny], rtol=1e-8, atol=1e-15)
    assert np.all(got[tiny] < 1e-270)
