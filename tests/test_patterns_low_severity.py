"""A low-severity type (an early plateau) does not make advice avoid a whole setting that has healthy runs.

DeepOBS tolstoi: "Check why trials with optimizer = MomentumOptimizer show early plateaus; meanwhile avoid
optimizer = MomentumOptimizer" came from 6 of 38 Momentum runs, 3 at the lowest learning rates and 3 at the
highest, while Momentum at lr 0.016-0.16 was healthy (test accuracy 0.61); the plan kept Momentum.
"""

from __future__ import annotations

import pytest

from core.next_sweep import plan_next_sweep
from core.patterns import find_patterns, keeps_the_setting, recommend
from core.records import Association


def _value(issue_type: str, k: int, n: int, value: str = "momentum") -> Association:
    return Association(id="A1", hyperparameter="optimizer", hyperparameters=["optimizer"], rule="value",
                       condition=f"optimizer = {value}", lo=None, hi=None, value=value, direction=None, closed=None,
                       issue_type=issue_type, k=k, n=n, rate=k / n, ci=None, k_rest=0, n_rest=65, rate_rest=0.0,
                       risk_ratio=None, p=1e-4, log_p=-9.2, q=1e-3, trial_ids=[f"t{i}" for i in range(k)])


def test_a_plateau_at_one_optimizer_with_healthy_runs_keeps_the_optimizer():
    text = recommend(_value("plateau", 6, 38))
    assert "avoid" not in text and "stays in the next sweep" in text
    assert text.startswith("Check why 6 of the 38 trials with optimizer = momentum show early plateaus: the other 32 "
                           "there do not, so optimizer = momentum stays in the next sweep")


@pytest.mark.parametrize("a", [_value("diverged", 6, 38), _value("plateau", 8, 8)])
def test_a_high_severity_type_or_a_setting_where_every_run_stalls_is_still_avoided(a):
    assert not keeps_the_setting(a)
    assert "stays in the next sweep" not in recommend(a)


def test_the_plan_keeps_the_setting_the_advice_keeps():
    """6 of 10 runs plateau with one optimizer (over the plan's share to drop a value), 4 are healthy: both keep it."""
    a = _value("plateau", 6, 10)
    patterns, _ = find_patterns([a])
    assert patterns and "stays in the next sweep" in patterns[0]["recommendation"]
    summary = {"sweep": {"n_trials": 75, "hyperparameters": {
        "optimizer": {"kind": "categorical", "n_values": 3, "values": {"adam": 30, "sgd": 35, "momentum": 10}}}},
        "associations": [a.to_dict()], "patterns": patterns, "leads": [], "issues": [], "findings": [],
        "top_trials": [], "issue_counts": {"plateau": 6}}
    plan = plan_next_sweep(summary)
    assert plan["hyperparameters"]["optimizer"]["values"] == ["adam", "sgd", "momentum"]
    assert not plan["changes"]
    # the same share of a high-severity type drops the value, as before
    b = _value("diverged", 6, 10)
    patterns, _ = find_patterns([b])
    plan = plan_next_sweep(summary | {"associations": [b.to_dict()], "patterns": patterns,
                                      "issue_counts": {"diverged": 6}})
    assert "momentum" not in plan["hyperparameters"]["optimizer"]["values"]
