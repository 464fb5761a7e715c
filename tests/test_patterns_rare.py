"""An avoidable issue that concentrates in a region but stays rare there: the region is kept.

3 of 173 runs diverging in one region (and none elsewhere) is a real concentration, but
leaving that region out of the next sweep would give up 170 good runs to save three. The
pattern stands and says so; the advice is to keep the region and rerun those runs, and
the next sweep does not cut it. A region where a quarter of the runs diverge is still left out.
"""

from __future__ import annotations

import numpy as np

from core.loading import read_results
from core.next_sweep import plan_next_sweep
from core.patterns import RARE_RATE, analyze_patterns, rare_even_there
from core.records import Association
from core.roles import infer_roles
from core.summary import analyze_sweep

N = 2000
BATCHES = (16, 32, 64, 128, 256)


def _sweep(write_csv, diverged_in_region: int) -> dict:
    """N trials over lr x batch_size; ``diverged_in_region`` of the runs at batch_size 16 with lr >= 0.1 blow up."""
    rng = np.random.default_rng(0)
    lines = ["trial_id,lr,batch_size,epochs,train_loss,val_loss"]
    in_region = 0
    for i in range(N):
        lr, batch = float(10 ** rng.uniform(-4, 0)), BATCHES[i % len(BATCHES)]
        blown = lr >= 0.1 and batch == 16 and in_region < diverged_in_region
        in_region += blown
        losses = "5e6,5e6" if blown else f"{0.30 + 0.01 * rng.random():.4f},{0.33 + 0.01 * rng.random():.4f}"
        lines.append(f"t{i},{lr:.6g},{batch},20,{losses}")
    raw = read_results(write_csv("\n".join(lines) + "\n"))
    summary = analyze_sweep(raw, infer_roles(raw.frame, raw.source))
    return summary | analyze_patterns(summary)


def _diverged(summary: dict) -> list[dict]:
    return [p for p in summary["patterns"] if p["issue_type"] == "diverged"]


def test_a_rare_issue_where_it_concentrates_keeps_the_region(write_csv):
    summary = _sweep(write_csv, 4)
    patterns = _diverged(summary)
    assert patterns, "4 of ~100 against 0 of ~1900 is a real concentration: it stays a pattern"
    for p in patterns:
        k, n = p["evidence"]["k"], p["evidence"]["n"]
        assert k == 4 and p["evidence"]["ci"][1] < RARE_RATE
        assert p["recommendation"].startswith(f"Keep {p['condition']} in the next sweep: diverged losses are rare "
                                              f"even there ({k} of {n}, ")
        assert "Rerun those 4 configurations with another seed" in p["recommendation"]
    rec_texts = [r["text"] for r in summary["recommendations"]]
    assert not any("leave out" in t or "Avoid the combination" in t or "keep lr below" in t for t in rec_texts)
    plan = plan_next_sweep(summary)
    assert not [c for c in plan["changes"] if c["evidence"] in {p["id"] for p in patterns}]
    assert plan["hyperparameters"]["lr"]["high"] == plan["hyperparameters"]["lr"]["searched"]["high"]
    assert not plan["conditions"]


def test_a_common_issue_where_it_concentrates_is_still_left_out(write_csv):
    summary = _sweep(write_csv, 60)  # 60 of the ~100 runs at batch_size 16 with lr >= 0.1
    patterns = _diverged(summary)
    assert patterns and not any(p["recommendation"].startswith("Keep ") for p in patterns)
    plan = plan_next_sweep(summary)
    assert [c for c in plan["changes"] if c["evidence"] in {p["id"] for p in patterns}]


def _association(k: int, n: int, issue_type: str = "diverged") -> Association:
    return Association(id="A1", hyperparameter="lr", hyperparameters=["lr"], rule="threshold", condition="lr ≥ 0.1",
                       lo=0.1, hi=None, value=None, direction="above", closed=None, issue_type=issue_type, k=k, n=n,
                       rate=k / n, ci=None, k_rest=0, n_rest=1000, rate_rest=0.0, risk_ratio=None, p=1e-5,
                       log_p=-11.5, q=1e-4, trial_ids=[f"t{i}" for i in range(k)])


def test_rare_needs_the_upper_bound_below_one_in_ten_not_a_low_count():
    assert rare_even_there(_association(3, 173))
    assert not rare_even_there(_association(0, 20))  # 0 of 20: the upper bound is 16 %
    assert not rare_even_there(_association(3, 30))  # 10 %: not rare
    assert not rare_even_there(_association(3, 173, "overfitting"))  # not an avoidable type: never left out anyway
