"""A type only a run with a result can show is never counted healthy on runs that blew up.

DeepOBS mnist_vae: every MomentumOptimizer run at learning_rate > 0.1585 went NaN, every one
below plateaued. Counted over the whole sweep, the NaN runs "had no plateau", so the
plateau pattern read "Momentum and learning_rate ≤ 0.1585", its stratified cell
"Momentum without learning_rate ≤ 0.1585: 0 of 14" (all 14 NaN) and the advice "with
Momentum, keep learning_rate above 0.1585": straight into the NaN region, against the
NaN pattern's "keep learning_rate below 0.004".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.associations import associate_issues
from core.patterns import find_patterns
from tests.helpers import table_from_records

LRS = np.geomspace(1e-4, 10, 21)


def _patterns(momentum_blows_up: bool) -> list[dict]:
    """Adam trains below 0.004 and NaNs above; Momentum plateaus up to 0.16, and above it NaNs (or trains well)."""
    rows, issues = [], []
    for i in range(126):
        optimizer, lr = ["momentum", "adam"][i % 2], float(LRS[(i // 2) % 21])
        rows.append({"trial_id": f"t{i}", "optimizer": optimizer, "lr": lr, "val_loss": 0.5})
        nan = lr > 0.16 if optimizer == "momentum" else lr >= 0.004
        if nan and (momentum_blows_up or optimizer == "adam"):
            issues.append((f"t{i}", "nonfinite_metric"))
        elif optimizer == "momentum" and lr <= 0.16:
            issues.append((f"t{i}", "plateau"))
    frame = pd.DataFrame(issues, columns=["trial_id", "type"])
    patterns, _ = find_patterns(associate_issues(table_from_records(rows), frame))
    return patterns


def test_a_plateau_pattern_is_not_cut_where_the_runs_went_nan_instead():
    patterns = _patterns(momentum_blows_up=True)
    plateau = [p for p in patterns if p["issue_type"] == "plateau"]
    assert any(p["condition"] == "optimizer = momentum" for p in plateau)  # it plateaus wherever it trains
    text = " ".join(p["recommendation"] + " " + p["explanation"] for p in plateau)
    assert "above" not in text and "without" not in text  # no advice into the NaN region, no "0 of 14" cell
    n_trained = 126 - sum(1 for i in range(126) if (float(LRS[(i // 2) % 21]) > 0.16 if i % 2 == 0
                                                    else float(LRS[(i // 2) % 21]) >= 0.004))
    assert all(p["evidence"]["n"] + p["evidence"]["n_rest"] == n_trained for p in plateau)
    nan = [p for p in patterns if p["issue_type"] == "nonfinite_metric"]
    assert nan and nan[0]["condition"].startswith("lr ≥")


def test_where_momentum_trains_well_at_high_rates_the_advice_does_point_there():
    # The healthy counterpart: momentum above 0.16 trains without a plateau, so "keep lr above" is right there.
    plateau = [p for p in _patterns(momentum_blows_up=False) if p["issue_type"] == "plateau"]
    assert any("optimizer = momentum and lr ≤" in p["condition"] and "keep lr above" in p["recommendation"]
               for p in plateau)
