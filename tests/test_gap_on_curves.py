"""A generalisation gap's advice says what the held-out curves show after their best, measured, never a false "no rise"."""

from __future__ import annotations

from core.issue_types import GAP_ON_CURVES
from core.patterns import gap_on_curves


def _curves(*trials: tuple[str, float, float, float]) -> dict:
    return {"step_column": "iter", "trials": [{"trial_id": t, "held_out": "val/loss", "best_step": step,
                                               "best_value": best, "last_value": last} for t, step, best, last in trials]}


def test_a_mild_rise_after_the_best_is_stated_with_its_size():
    # nanoGPT B2_post_ln:4: val/loss 1.482 at iteration 2000, 1.581 at 5000 (a rise below the overfitting rule's bar)
    curves = _curves(("a", 2000, 1.482, 1.581), ("b", 4000, 1.40, 1.41), ("c", 5000, 1.3, 1.3))
    text = gap_on_curves(["a", "b", "c"], 3, curves)
    assert text.startswith("Their per-epoch held-out curves (all 3 read) ended at most 7% above their best (a: "
                           "val/loss 1.482 at iter 2000, 1.581 at the end). The overfitting rule did not count that")
    assert "did not show" not in text and "For the others" not in text
    # only some of the pattern's trials have a curve: say how many, and what to do for the others
    assert gap_on_curves(["a", "b", "x"], 5, curves).startswith("Their per-epoch held-out curves (2 of them read)")
    assert "For the others, log per-epoch held-out loss" in gap_on_curves(["a", "x"], 2, curves)
    # a pattern lists at most 20 of its trials: all listed ones read is no reason to ask for curves
    listed = gap_on_curves(["a", "b", "c"], 60, curves)
    assert listed.startswith("Their per-epoch held-out curves (3 of them read)") and "For the others" not in listed


def test_curves_that_end_at_their_best_say_so_and_no_curves_leave_the_general_sentence():
    flat = gap_on_curves(["c"], 1, _curves(("c", 5000, 1.3, 1.3)))
    assert flat == "Their per-epoch held-out curves (1 of 1 read) ended at their best: no rise after it, no overfitting."
    assert gap_on_curves(["a"], 1, None) == "" and gap_on_curves(["z"], 1, _curves(("a", 1, 1.0, 2.0))) == ""
    assert "did not show a sustained rise" not in GAP_ON_CURVES and "a mild rise may remain" in GAP_ON_CURVES
