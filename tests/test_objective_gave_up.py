"""An Optuna objective that returns +inf for a trial it gave up on: the direction, the best trial and the advice.

A trials_dataframe() CSV does not say whether the study minimised or maximised. Seen on the
GNN link-prediction study's CSV export (tests/data/optuna_dlp_trials.csv): 16 completed trials
returned +inf (its objective catches every exception and returns float("inf")), no best trial
was named, so nothing protected trial 38 (the best, at batch_size 400) and the next sweep cut
batch_size at 350, with the advice "add gradient clipping and a check of the loss scale".
"""

from __future__ import annotations

import numpy as np
import pytest

from core.next_sweep import plan_next_sweep
from core.patterns import analyze_patterns
from core.roles import infer_roles
from core.sources import read_sweep
from core.summary import analyze_sweep
from tests.conftest import DATA

HEADER = "number,value,datetime_start,datetime_complete,duration,params_batch_size,params_lr,state"


def _summary(sweep) -> dict:
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    summary = analyze_sweep(sweep.trials, roles)
    return summary | analyze_patterns(summary)


def _csv(write_csv, value_of, batches=(64, 128, 256, 512, 1024)) -> object:
    """40 trials over batch_size x lr; ``value_of(i, batch)`` gives each one's objective cell."""
    rng = np.random.default_rng(3)
    lines = [HEADER]
    for i in range(40):
        batch = batches[i % len(batches)]
        lr = float(10 ** rng.uniform(-5, -2))
        lines.append(f"{i},{value_of(i, batch)},2025-01-01 00:{i:02d}:00,2025-01-01 00:{i:02d}:30,"
                     f"0 days 00:00:30,{batch},{lr:.6g},COMPLETE")
    return read_sweep(write_csv("\n".join(lines) + "\n"))


def test_the_csv_export_names_the_same_best_trial_as_the_storage():
    db = _summary(read_sweep(DATA / "optuna" / "dlp_models.db"))
    csv_sweep = read_sweep(DATA / "optuna_dlp_trials.csv")
    assert csv_sweep.role_hints["value"] == "metric:objective:min"
    assert any("read as minimised, since 16 trials returned +inf" in n for n in csv_sweep.notes)
    csv = _summary(csv_sweep)
    assert csv["best_trial"]["trial_id"] == db["best_trial"]["trial_id"] == "38"
    assert [t["trial_id"] for t in csv["top_trials"]] == [t["trial_id"] for t in db["top_trials"]]
    plan = plan_next_sweep(csv)
    batch = plan["hyperparameters"]["batch_size"]
    assert batch["low"] <= 400 <= batch["high"], "the best trial's batch size stays in the next sweep"
    assert not any("gradient clipping" in r["text"] for r in csv["recommendations"])


@pytest.mark.parametrize("value_of, goal", [
    (lambda i, b: "-inf" if b >= 512 and i % 2 else f"{0.5 + i / 100:.3f}", "max"),
    (lambda i, b: ("-inf" if i % 2 else "inf") if b >= 512 else f"{0.5 + i / 100:.3f}", None),
    (lambda i, b: f"{0.5 + i / 100:.3f}", None),
])
def test_only_infinities_of_one_sign_tell_the_direction(write_csv, value_of, goal):
    sweep = _csv(write_csv, value_of)
    assert sweep.role_hints["value"] == "metric:objective" + (f":{goal}" if goal else "")
    assert any("read as maximised" in n for n in sweep.notes) == (goal == "max")


def test_map_still_decides_the_direction(write_csv, tmp_path):
    path = write_csv("\n".join([HEADER] + [f"{i},{'inf' if i < 3 else 0.1 * i},,,,{64 * (i + 1)},0.001,COMPLETE"
                                           for i in range(6)]) + "\n")
    sweep = read_sweep(path, mapping={"value": "metric:objective:max"})
    assert sweep.role_hints["value"] == "metric:objective:max"


def test_a_region_where_the_objective_gave_up_is_read_in_the_logs_not_clipped(write_csv):
    """Most runs at batch_size >= 512 returned +inf: the advice names the returned value, not numerics."""
    summary = _summary(_csv(write_csv, lambda i, b: "inf" if b >= 512 and i not in (3, 24) else f"{0.2 + i / 100:.3f}"))
    assert summary["best_trial"]["trial_id"] == "0"
    patterns = [p for p in summary["patterns"] if p["issue_type"] in ("nonfinite_metric", "status_mismatch")]
    assert patterns
    for p in patterns:
        assert "the objective returned +inf for them" in p["recommendation"]
        assert "gradient clipping is not the remedy" in p["recommendation"]
        assert "add gradient clipping" not in p["recommendation"]


def test_a_risky_region_where_the_objective_gave_up_says_so_too(write_csv):
    """The best trial sits where most runs returned +inf: do not exclude it, and do not call it a blow-up."""
    summary = _summary(_csv(write_csv, lambda i, b: ("0.01" if i == 3 else "0.9" if i in (13, 23) else "inf")
                            if b >= 512 else f"{0.2 + i / 100:.3f}", batches=(64, 1024)))
    assert summary["best_trial"]["trial_id"] == "3"
    risky = [p for p in summary["leads"] if p.get("risky")]
    assert risky
    for p in risky:
        assert p["recommendation"].startswith(f"Do not exclude {p['condition']}")
        assert "The objective returned +inf for the affected trials there" in p["recommendation"]
        assert "Stabilise" not in p["recommendation"]
