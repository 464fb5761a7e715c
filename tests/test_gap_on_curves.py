"""A generalisation gap's advice says what the held-out curves show after their best, measured, never a false "no rise"."""

from __future__ import annotations

from core.issue_types import GAP_ON_CURVES, GAP_UNMEASURED, ISSUE_TYPES, LOG_CURVES
from core.patterns import find_patterns, gap_on_curves
from core.records import Association


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


def _gap(k: int = 12) -> Association:
    return Association(id="A1", hyperparameter="dropout", hyperparameters=["dropout"], rule="threshold",
                       condition="dropout ≤ 0.05", lo=None, hi=0.05, value=None, direction="below", closed=None,
                       issue_type="generalization_gap", k=k, n=20, rate=k / 20, ci=None, k_rest=0, n_rest=80,
                       rate_rest=0.0, risk_ratio=None, p=1e-8, log_p=-18.4, q=1e-7, trial_ids=[f"t{i}" for i in range(k)])


def test_a_gap_pattern_says_what_its_curves_show_and_else_what_to_log_in_the_words_of_its_issue_type():
    """The pattern's advice is built with the curves (no text replaced afterwards); without them it ends as the type's."""
    start = "Trials with dropout ≤ 0.05 end with held-out results well below training: a gap, not proof of overfitting. "
    (plain,), _ = find_patterns([_gap()])
    # no curves in the sweep at all: only what to log, never "where per-epoch held-out curves were read"
    assert plain["recommendation"] == start + LOG_CURVES[0].upper() + LOG_CURVES[1:]
    assert ISSUE_TYPES["generalization_gap"].advice.endswith("{curves}") and GAP_UNMEASURED.endswith(LOG_CURVES)
    (unread,), _ = find_patterns([_gap()], curves=_curves(("u1", 10, 1.0, 1.1)))  # curves, none of these trials'
    assert unread["recommendation"] == start + GAP_UNMEASURED
    (read,), _ = find_patterns([_gap()], curves=_curves(*((f"t{i}", 10, 1.0, 1.0) for i in range(12))))
    assert read["recommendation"] == (start + "Their per-epoch held-out curves (all 12 read) ended at their best: no "
                                      "rise after it, no overfitting.")
    assert GAP_ON_CURVES not in read["recommendation"]
    (some,), _ = find_patterns([_gap()], curves=_curves(("t0", 10, 1.0, 1.1)))
    assert some["recommendation"].endswith(f"For the others, {LOG_CURVES}")
