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


def _starved(crashes: bool) -> tuple[list, list[dict]]:
    """Unscaled inputs learn nothing at batch size 16 and crash at 512 (out of memory); scaled inputs train everywhere.

    breast cancer: "scale_inputs = no without batch_size ≤ 32: 1 of 24" counted 12 crashed and 10 diverged runs as
    runs that learned.
    """
    rows, issues = [], []
    for i in range(160):
        scale, batch = ["no", "yes"][i % 2], [16, 128, 512, 64][(i // 2) % 4]
        rows.append({"trial_id": f"t{i}", "scale": scale, "batch_size": batch, "val_loss": 0.5})
        if scale == "no" and batch == 16:
            issues.append((f"t{i}", "no_learning"))
        elif scale == "no" and batch == 512 and crashes:
            issues.append((f"t{i}", "failed"))
        elif scale == "no" and batch == 128 and i % 5 == 0:
            issues.append((f"t{i}", "no_learning"))
    associations = associate_issues(table_from_records(rows), pd.DataFrame(issues, columns=["trial_id", "type"]))
    patterns, _ = find_patterns(associations)
    return associations, patterns


def test_a_without_cell_of_a_no_result_type_counts_only_the_runs_that_could_show_it():
    associations, patterns = _starved(crashes=True)
    pair = next(a for a in associations if a.issue_type == "no_learning" and a.condition == "scale = no and batch_size = 16")
    part = next(p for p in pair.parts if p.hyperparameter == "scale")
    assert (part.k, part.n, part.n_no_result, part.n_trained) == (4, 60, 20, 40)  # the 20 crashed runs at 512 set apart
    assert pair.to_dict()["parts"][0]["n_no_result"] == 20
    cut = next(a for a in associations if a.issue_type == "no_learning" and a.condition == "scale = no and batch_size ≤ 16")
    assert [(q.k, q.n, q.n_no_result) for q in cut.parts] == [(4, 60, 20), (0, 20, 0)]  # a conditional threshold too
    p = next(p for p in patterns if p["association_id"] == pair.id)
    assert "scale = no without batch_size = 16: 4 of 40 that could show it (20 more ended without a result" in (
        p["explanation"])
    assert "of 60" not in p["explanation"].split("overall")[0]


def test_without_other_failures_the_without_cell_is_the_plain_count():
    associations, patterns = _starved(crashes=False)
    pair = next(a for a in associations if a.issue_type == "no_learning" and a.condition == "scale = no and batch_size = 16")
    part = next(p for p in pair.parts if p.hyperparameter == "scale")
    assert (part.k, part.n, part.n_no_result) == (4, 60, 0) and "n_no_result" not in pair.to_dict()["parts"][0]
    p = next(p for p in patterns if p["association_id"] == pair.id)
    assert "scale = no without batch_size = 16: 4 of 60;" in p["explanation"]
    assert "could show it" not in p["explanation"]
