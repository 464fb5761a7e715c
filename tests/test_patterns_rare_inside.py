"""A handful of failures that all lie where another pattern's cut already goes: that pattern is their cause, no rerun.

DeepCAVE MNIST: "Rerun those 3 configurations with another seed" for 3 diverged runs (tanh, batch 16-64), all three
CNNs at lr 0.064-0.088, inside P1's failed runs at lr ≥ 0.01538, which the next sweep leaves out.
"""

from __future__ import annotations

from core.patterns import _rare_inside_a_cause, find_patterns
from core.records import Association


def _assoc(id_: str, issue_type: str, hp: str, rule: str, k: int, n: int, *, lo=None, value=None, q=1e-4,
           ids=None) -> Association:
    condition = f"{hp} = {value}" if value is not None else f"{hp} ≥ {lo}"
    return Association(id=id_, hyperparameter=hp, hyperparameters=[hp], rule=rule, condition=condition, lo=lo, hi=None,
                       value=value, direction="above" if lo is not None else None, closed=True if lo else None,
                       issue_type=issue_type, k=k, n=n, rate=k / n, ci=None, k_rest=0 if k < 5 else 40, n_rest=2800,
                       rate_rest=0.0 if k < 5 else 40 / 2800, risk_ratio=None, p=q / 10, log_p=-12.0, q=q,
                       trial_ids=ids or [f"{issue_type}{i}" for i in range(k)])


def _patterns(inner_lo: float) -> list[dict]:
    cause = _assoc("A1", "failed", "lr", "threshold", 470, 820, lo=0.015, q=1e-40)
    rare = _assoc("A2", "diverged", "act", "value", 3, 173, value="tanh", q=0.003)
    inner = _assoc("A3", "diverged", "lr", "threshold", 3, 210, lo=inner_lo, q=0.4)
    associations = [cause, rare, inner]
    patterns, _ = find_patterns(associations)
    _rare_inside_a_cause(patterns, associations)
    return patterns


def test_rare_runs_inside_a_region_the_plan_leaves_out_name_it_as_their_cause():
    rare = next(p for p in _patterns(0.064) if p["issue_type"] == "diverged")
    assert "another seed" not in rare["recommendation"]
    assert rare["recommendation"] == (
        "Diverged losses are rare at act = tanh (3 of its 173 runs, 2%), and all 3 lie in lr ≥ 0.064, within P1's "
        "region (lr ≥ 0.015), which the next sweep leaves out: that region is their likely cause too, so there is "
        "nothing to rerun.")


def test_rare_runs_outside_every_cut_are_still_rerun():
    rare = next(p for p in _patterns(0.001) if p["issue_type"] == "diverged")  # lr ≥ 0.001 reaches below the cut
    assert "Rerun those 3 configurations with another seed" in rare["recommendation"]
