"""Chance read off a constant predictor: many different runs at one identical lowest held-out accuracy.

A network that always predicts the majority class scores exactly that class's share of
the held-out set (DeepOBS tolstoi_char_rnn: 22 runs of 135 end at test accuracy 0.155798,
the share of the space character among 83 symbols, far from 1/83).
"""

from __future__ import annotations

import numpy as np

from core.detectors import Thresholds, chance_level, detect_issues
from tests.helpers import table_from_records

SHARE, TRAIN_SHARE = 0.155798, 0.156877


def _sweep(dead_val: float, dead_train: list[float], lrs: list[float]) -> list[dict[str, object]]:
    """Learned runs between 0.3 and 0.6, blown-up runs below chance (worse loss), and the runs at ``dead_val``."""
    rows = [{"trial_id": f"ok{i}", "lr": 0.01 * (i + 1), "val_acc": 0.3 + 0.02 * i, "train_acc": 0.31 + 0.02 * i,
             "val_loss": 2.4 - 0.05 * i} for i in range(14)]
    rows += [{"trial_id": f"blown{i}", "lr": 20 + i, "val_acc": 0.02 + 0.03 * i, "train_acc": 0.03 + 0.03 * i,
              "val_loss": 9.0 + 10 * i} for i in range(4)]
    rows += [{"trial_id": f"dead{i}", "lr": lr, "val_acc": dead_val, "train_acc": t, "val_loss": 3.11 + 0.1 * i}
             for i, (lr, t) in enumerate(zip(lrs, dead_train))]
    return rows


def test_many_runs_at_one_identical_lowest_accuracy_set_chance_and_are_no_learning():
    rows = _sweep(SHARE, [TRAIN_SHARE] * 7, [1e-5, 2e-5, 4e-5, 1e-4, 2e-4, 5.0, 8.0])
    classes, chance, trivial, how = chance_level(table_from_records(rows), Thresholds())
    assert classes is None and round(chance, 6) == SHARE and np.isnan(trivial)
    assert how.startswith("7 trials of different configurations end at val_acc = 0.1558 exactly")
    issues = detect_issues(table_from_records(rows))
    flat = issues[issues.type == "no_learning"]
    # the blown-up runs below it fit worse than any constant predictor: they do not break the floor (and learned
    # nothing either); no run that learned is flagged
    assert set(flat.trial_id) == {f"dead{i}" for i in range(7)} | {f"blown{i}" for i in range(4)}
    assert flat.set_index("trial_id").detail["dead0"] == "val_acc=0.1558 at chance (the majority class share 0.1558)"


def test_a_shared_value_is_not_chance_when_train_accuracies_differ_or_match_everyone_or_one_config_repeats():
    # a small held-out set: several runs land on the same value, but they fit the training data differently
    differ = _sweep(0.25, [0.28, 0.35, 0.41, 0.3, 0.5, 0.26, 0.45], [1e-5, 2e-5, 4e-5, 1e-4, 2e-4, 5.0, 8.0])
    # seven seeds of one configuration (deterministic evaluation can repeat a value)
    repeated = _sweep(SHARE, [TRAIN_SHARE] * 7, [1e-3] * 7)
    # every trial fits its training data alike (0.80 everywhere): one shared train value says nothing of a constant
    # predictor, whose train accuracy sits below the runs that learned
    alike = [{"trial_id": f"t{i}", "lr": 0.001 * (i + 1), "train_acc": 0.80, "val_acc": 0.90 if i % 3 else 0.80}
             for i in range(60)]
    for rows in (differ, repeated, alike):
        assert np.isnan(chance_level(table_from_records(rows), Thresholds())[1])
        assert not (detect_issues(table_from_records(rows)).type == "no_learning").any()


def test_without_a_train_accuracy_a_high_shared_value_is_not_chance():
    # ten runs at exactly 0.97 on a 100-example test set: good results, the lowest shared value, no train accuracy
    rows = [{"trial_id": f"a{i}", "lr": 10.0 ** -i, "val_acc": 0.97, "val_loss": 0.1} for i in range(10)]
    rows += [{"trial_id": f"b{i}", "lr": 2.0 ** -i, "val_acc": 0.98 + 0.001 * i, "val_loss": 0.08} for i in range(10)]
    assert np.isnan(chance_level(table_from_records(rows), Thresholds())[1])
    assert not (detect_issues(table_from_records(rows)).type == "no_learning").any()
