"""Curve-based issues merged into the sweep summary (real DeepOBS curves, tests/data/README.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.curves import build_curve_table, curve_facts
from core.loading import read_results
from core.roles import infer_roles
from core.summary import analyze_sweep
from tests.conftest import DATA

CURVES = DATA / "curves" / "deepobs_curves_slice.csv"
TRIALS = DATA / "deepobs_nonfinite_slice.csv"


def _summary():
    raw = read_results(TRIALS)
    return analyze_sweep(raw, infer_roles(raw.frame, raw.source), curves=read_results(CURVES))


def test_curve_issues_are_merged_with_the_trial_issues_and_carry_the_epoch():
    summary = _summary()
    curves = pd.read_csv(CURVES, dtype=str, keep_default_na=False)
    # Independent check with plain pandas: r00754's test loss overflows to inf from epoch 56.
    r754 = curves[curves.trial_id == "r00754"]
    onset = float(r754.loc[~np.isfinite(r754.test_loss.astype(float)), "epoch"].astype(float).min())
    assert onset == 56
    nonfinite = [i for i in summary["issues"] if i["trial_id"] == "r00754" and i["type"] == "nonfinite_metric"]
    assert len(nonfinite) == 1  # one row per (trial, type): the table's and the curve's finding merged
    assert nonfinite[0]["epoch"] == onset and "curve:" in nonfinite[0]["detail"]
    pairs = [(i["trial_id"], i["type"]) for i in summary["issues"]]
    assert len(pairs) == len(set(pairs))


def test_curve_only_issue_types_enter_the_counts_and_associations():
    summary = _summary()
    block = summary["curves"]
    assert block["n_trials"] == 16 and block["n_matched"] <= 16 and block["step_column"] == "epoch"
    curve_types = {i["type"] for i in summary["issues"] if "epoch" in i}
    assert curve_types and curve_types <= set(summary["issue_types"])
    for kind in curve_types:
        assert summary["issue_counts"][kind] >= 1
    facts = curve_facts(build_curve_table(read_results(CURVES)))
    shown = {t["trial_id"]: t for t in block["trials"]}
    for trial_id, t in shown.items():
        row = facts[facts.trial_id == trial_id].iloc[0]
        assert t["n_steps"] == row["n_steps"]
        assert t["first_nonfinite_step"] == (None if np.isnan(row["first_nonfinite_step"]) else row["first_nonfinite_step"])


def test_curves_of_unknown_trials_are_left_out_with_a_note(write_csv):
    path = write_csv("trial_id,val_loss\na,0.5\nb,0.6\nc,0.4\n", name="t.csv")
    curves = write_csv("trial_id,epoch,val_loss\na,0,1\na,1,nan\nzz,0,1\nzz,1,2\n", name="c.csv")
    raw = read_results(path)
    summary = analyze_sweep(raw, infer_roles(raw.frame, raw.source), curves=read_results(curves))
    assert any("1 trial(s) in the curves are not in the results table" in n for n in summary["sweep"]["notes"])
    assert all(i["trial_id"] != "zz" for i in summary["issues"])


def test_the_state_form_of_the_issues_is_their_columns_coded():
    """issue_state codes the detectors' frame as IssueColumns.to_state codes its rows, epochs and fallbacks alike."""
    from core.records import IssueColumns
    from core.summary import issue_columns, issue_state

    raw = read_results(TRIALS)
    rows = analyze_sweep(raw, infer_roles(raw.frame, raw.source), curves=read_results(CURVES))["issues"]
    frame = pd.DataFrame({"trial_id": [r["trial_id"] for r in rows], "type": [r["type"] for r in rows],
                          "severity": [r["severity"] for r in rows], "detail": [r["detail"] for r in rows],
                          "epoch": [r.get("epoch", np.nan) for r in rows]})
    state = issue_state(frame)
    assert state == issue_columns(frame).to_state() and IssueColumns.from_state(state).rows() == rows
    assert state["epoch"]["rows"] and len(state["type"]["values"]) < len(rows)  # curve epochs; types coded
    odd = pd.DataFrame({"trial_id": pd.Series([1, "1", "b"], dtype=object), "type": ["failed"] * 3,
                        "severity": ["high"] * 3, "detail": ["x", None, "y"]})  # alike as text; a missing detail
    assert issue_state(odd) == issue_columns(odd).to_state()
    assert issue_state(odd)["trial_id"] == {"codes": [0, 0, 1], "values": ["1", "b"]}
