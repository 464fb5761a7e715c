"""``collapsed``: a run that learned, then fell back to chance and stayed there (not no_learning, not diverged)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from core.detectors import Thresholds
from core.issue_types import ISSUE_TYPES
from core.loading import RawTable
from core.roles import infer_roles
from core.summary import analyze_sweep
from tests.test_curves import long_frame

N = 30
LN10 = math.log(10)
HEALTHY = {"val_acc": [0.1, 0.6, 0.75] + [0.8] * (N - 3), "val_loss": [2.3, 1.0, 0.7] + [0.6] * (N - 3)}


def _summary(curves: dict[str, dict[str, list[float]]], final: dict[str, dict[str, object]]) -> dict:
    """Four healthy runs beside ``curves``; the table's final values are ``final`` (else the curve's last values)."""
    curves = {t: {m: [float(v) for v in vs] for m, vs in c.items()} for t, c in curves.items()}
    curves = {**curves, **{f"ok{i}": HEALTHY for i in range(4)}}
    rows = []
    for trial, metrics in curves.items():
        row = {"trial_id": trial, "lr": "0.1" if trial.startswith("ok") else "1", "status": "completed",
               **{m: repr(v[-1]) for m, v in metrics.items()}}
        row.update({k: str(v) for k, v in final.get(trial, {}).items()})
        rows.append(row)
    trials = RawTable(frame=pd.DataFrame(rows, dtype=object), source="t.csv")
    return analyze_sweep(trials, infer_roles(trials.frame, "t.csv"), Thresholds(n_classes=10), curves=long_frame(curves))


def _kinds(summary: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for issue in summary["issues"]:
        out.setdefault(issue["trial_id"], set()).add(issue["type"])
    return out


def test_a_run_that_learned_then_sat_at_chance_is_collapsed_with_its_best_epoch():
    summary = _summary({
        # learned to 0.78 by epoch 6, then fell back to chance for its last 20 epochs
        "fell": {"val_acc": [0.1, 0.5, 0.7, 0.75, 0.77, 0.77, 0.78, 0.6, 0.3] + [0.1] * (N - 9),
                 "val_loss": [2.3, 1.3, 0.8, 0.7, 0.65, 0.64, 0.63, 1.1, 1.9] + [LN10] * (N - 9)},
        # never above chance + 0.02 after the untrained step 0
        "dead": {"val_acc": [0.1, 0.11, 0.1] + [0.1] * (N - 3), "val_loss": [2.3] + [LN10] * (N - 1)},
    }, {})
    kinds = _kinds(summary)
    assert kinds["fell"] == {"collapsed"} and kinds["dead"] == {"no_learning"}
    fell = next(i for i in summary["issues"] if i["trial_id"] == "fell")
    assert fell["epoch"] == 6 and fell["severity"] == "high"
    assert fell["detail"] == ("val_acc best 0.78 at epoch 6 (chance 0.1), then back at chance: median 0.1 over the last "
                              "20% of the run (6 evaluations)")
    assert not any(k for t, k in kinds.items() if t.startswith("ok"))


def test_a_network_that_dies_in_its_last_evaluations_is_collapsed_one_bad_evaluation_is_not():
    good = [0.1, 0.6, 0.75] + [0.78] * (N - 7)
    summary = _summary({
        # DeepOBS F-MNIST r00394's shape: steady at 0.78, then 0.67, 0.60, 0.52 and a dead network (loss = ln 10)
        "died": {"val_acc": good + [0.67, 0.6, 0.52, 0.1], "val_loss": [2.3, 1.0, 0.7] + [0.62] * (N - 7)
                 + [0.85, 1.0, 1.2, LN10 + 0.005]},
        # one bad final evaluation of a working network: chance-level accuracy, but a confident (large) loss
        "blip": {"val_acc": good + [0.78, 0.78, 0.78, 0.1], "val_loss": [2.3, 1.0, 0.7] + [0.62] * (N - 4) + [6.0]},
    }, {})
    kinds = _kinds(summary)
    assert kinds["died"] == {"collapsed"}
    assert "its last held-out loss 2.308 is the trivial predictor's" in next(
        i["detail"] for i in summary["issues"] if i["trial_id"] == "died")
    assert not kinds.get("blip", set()) & {"collapsed", "no_learning"}


def test_one_lucky_evaluation_above_chance_is_not_learning_so_the_run_is_no_learning_not_collapsed():
    summary = _summary({
        # breast cancer t026's shape: at chance every epoch but one reading just past the bar at epoch 1
        "lucky": {"val_acc": [0.1, 0.125] + [0.1] * (N - 2), "val_loss": [2.3] + [LN10] * (N - 1)},
        # two neighbouring evaluations past chance: it did learn, briefly, then fell back
        "brief": {"val_acc": [0.1, 0.4, 0.45, 0.3] + [0.1] * (N - 4),
                  "val_loss": [2.3, 1.7, 1.6, 2.0] + [LN10] * (N - 4)},
    }, {})
    kinds = _kinds(summary)
    assert kinds["lucky"] == {"no_learning"}
    assert kinds["brief"] == {"collapsed"}


def test_an_early_stopped_run_that_restored_its_best_weights_is_not_collapsed():
    # its curve falls to chance over its last epochs (patience), but the result it reports is the restored best
    fell = {"val_acc": [0.1, 0.5, 0.7, 0.8, 0.8, 0.8] + [0.1] * 8, "val_loss": [2.3, 1.2, 0.8, 0.6, 0.6, 0.6] + [LN10] * 8}
    restored = _summary({"es": fell}, {"es": {"val_acc": 0.8, "val_loss": 0.6, "status": "early_stopped"}})
    assert not _kinds(restored).get("es", set()) & {"collapsed", "no_learning"}
    # ... unless the value it logged as its result collapsed too
    logged = _summary({"es": fell}, {"es": {"status": "early_stopped"}})
    assert "collapsed" in _kinds(logged)["es"]


def test_a_run_that_blew_up_or_went_nan_is_diverged_or_nonfinite_not_collapsed():
    up = [0.1, 0.5, 0.7, 0.75] + [0.1] * (N - 4)
    summary = _summary({
        # learned, then its loss blew up to 30x ln 10 with the accuracy at chance: diverged
        "blew": {"val_acc": up, "val_loss": [2.3, 1.2, 0.8, 0.7] + [70.0] * (N - 4)},
        # learned, then NaN: non-finite
        "nan": {"val_acc": [0.1, 0.5, 0.7, 0.75] + [math.nan] * (N - 4), "val_loss": [2.3, 1.2, 0.8, 0.7]
                + [math.nan] * (N - 4)},
    }, {})
    kinds = _kinds(summary)
    assert "diverged" in kinds["blew"] and "collapsed" not in kinds["blew"]
    assert "nonfinite_metric" in kinds["nan"] and "collapsed" not in kinds["nan"]


def test_collapsed_is_a_run_without_a_result_avoided_like_a_blow_up():
    entry = ISSUE_TYPES["collapsed"]
    assert entry.no_result and entry.avoidable and entry.pairable and not entry.by_design
    assert "best checkpoint" in entry.advice and "warm-up" in entry.advice and "clipping" in entry.advice


def test_where_runs_collapse_is_a_pattern_and_the_next_sweep_leaves_it_out():
    from core.next_sweep import plan_next_sweep
    from core.patterns import analyze_patterns

    curves, rows = {}, []
    for i, lr in enumerate([0.001, 0.003, 0.01, 0.03, 0.3, 1.0] * 6):
        top = 0.7 + 0.02 * (i % 6) if lr < 0.3 else 0.75
        acc = [0.1, 0.5, top - 0.05] + [top] * (N - 3)
        loss = [2.3, 1.2, 0.9] + [1.2 - top] * (N - 3)
        if lr >= 0.3:  # learned to 0.75, then fell back to chance for good halfway through
            acc[N // 2:] = [0.1] * (N - N // 2)
            loss[N // 2:] = [LN10] * (N - N // 2)
        curves[f"t{i}"] = {"val_acc": acc, "val_loss": loss}
        rows.append({"trial_id": f"t{i}", "lr": repr(lr), "status": "completed", "val_acc": repr(acc[-1]),
                     "val_loss": repr(loss[-1])})
    trials = RawTable(frame=pd.DataFrame(rows, dtype=object), source="t.csv")
    summary = analyze_sweep(trials, infer_roles(trials.frame, "t.csv"), Thresholds(n_classes=10),
                            curves=long_frame(curves))
    assert {i["trial_id"] for i in summary["issues"] if i["type"] == "collapsed"} == {
        f"t{i}" for i in range(36) if i % 6 >= 4}
    summary |= analyze_patterns(summary)
    assert [p["issue_type"] for p in summary["patterns"]] == ["collapsed"]
    cap = [c for c in plan_next_sweep(summary)["changes"] if c["hyperparameter"] == "lr"]
    assert [c["action"] for c in cap] == ["cap"] and 0.03 <= cap[0]["to"][1] <= 0.3


def test_collapse_is_read_on_an_accuracy_in_percent_and_on_a_loss_alone():
    fell_acc = [10.0, 50.0, 70.0, 78.0] + [10.0] * (N - 4)  # in %
    healthy = {"val_acc": [10.0, 60.0, 75.0] + [80.0] * (N - 3)}
    curves = {"fell": {"val_acc": fell_acc}, **{f"ok{i}": healthy for i in range(4)}}
    rows = [{"trial_id": t, "lr": "1", "val_acc": repr(m["val_acc"][-1])} for t, m in curves.items()]
    trials = RawTable(frame=pd.DataFrame(rows, dtype=object), source="t.csv")
    summary = analyze_sweep(trials, infer_roles(trials.frame, "t.csv"), Thresholds(n_classes=10),
                            curves=long_frame(curves))
    assert _kinds(summary) == {"fell": {"collapsed"}}
    # no accuracy logged: the held-out loss against ln 10 (learned: 1% below it; back: within 1% of it)
    loss_only = _summary({"fell": {"val_loss": [2.3, 1.2, 0.8, 0.7] + [LN10 * 1.005] * (N - 4)},
                          "near": {"val_loss": [2.3, 2.29, 2.285] + [LN10 * 1.005] * (N - 3)}}, {})
    loss_only = {t: k for t, k in _kinds(loss_only).items() if t in ("fell", "near")}
    assert loss_only == {"fell": {"collapsed"}, "near": {"no_learning"}}


def _rise_then_fall(low: float, high: float, k: int) -> list[float]:
    """``k`` steps down from ``high`` to ``low``, then back up to ``high`` over the rest of the run (N values)."""
    return list(np.linspace(high, low, k)) + list(np.linspace(low, high, N - k))


def test_a_run_that_gave_back_most_of_its_gain_while_its_train_loss_rose_is_collapsed():
    # tolstoi r00987's shape: 0.585 at its best (chance 0.156), 0.28 over its last fifth, train loss 1.31 -> 2.57
    gave = {"val_acc": [0.1] + list(np.linspace(0.3, 0.8, 9)) + [0.8, 0.6, 0.5, 0.4] + [0.3] * (N - 14),
            "val_loss": [2.3] + list(np.linspace(1.8, 0.6, 9)) + [0.6, 1.0, 1.3, 1.6] + [1.9] * (N - 14),
            "train_loss": _rise_then_fall(0.5, 2.3, 10)}
    # overfitting: the held-out accuracy falls as far, but the train loss keeps falling
    overfit = {"val_acc": gave["val_acc"], "val_loss": gave["val_loss"], "train_loss": list(np.linspace(2.3, 0.01, N))}
    # a noisy but healthy run: the accuracy swings between 0.7 and 0.8, the train loss noisy around 0.5
    rng = np.random.default_rng(0)
    noisy = {"val_acc": [0.1] + list(0.75 + 0.05 * np.sign(rng.standard_normal(N - 1))),
             "val_loss": [2.3] + list(0.6 + 0.1 * rng.random(N - 1)),
             "train_loss": [2.3] + list(0.5 * (1 + 0.2 * rng.standard_normal(N - 1)))}
    # gave back only 40% of its gain (0.8 -> 0.52 with chance 0.1), train loss up: not most of it
    some = {"val_acc": [0.1] + list(np.linspace(0.3, 0.8, 9)) + [0.8] + [0.52] * (N - 10),
            "val_loss": gave["val_loss"], "train_loss": gave["train_loss"]}
    summary = _summary({"gave": gave, "overfit": overfit, "noisy": noisy, "some": some}, {})
    kinds = _kinds(summary)
    assert "collapsed" in kinds["gave"]
    assert not {t for t, k in kinds.items() if "collapsed" in k} - {"gave"}
    detail = next(i["detail"] for i in summary["issues"] if i["trial_id"] == "gave" and i["type"] == "collapsed")
    assert detail == ("val_acc best 0.8 at epoch 9 (chance 0.1), then gave back 71% of its gain over chance: median 0.3 "
                      "over the last 20% of the run (6 evaluations), while train_loss rose from 0.5316 to 2.063 (median "
                      "over the same window): training itself went backwards, not overfitting")
    # the same curve in a run that restored its best weights and reports them is not this
    restored = _summary({"gave": gave}, {"gave": {"val_acc": 0.8, "val_loss": 0.6}})
    assert "collapsed" not in _kinds(restored).get("gave", set())
