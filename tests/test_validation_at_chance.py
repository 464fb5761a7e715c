"""Held-out above training when training sits at chance is a run that has not learned, not leakage (issue 10, item 4)."""

from __future__ import annotations

from core.detectors import Thresholds, chance_level
from tests.helpers import issues_of, table_from_records


def _unbalanced(train_acc: float, val_acc: float) -> list[dict[str, object]]:
    """A two-class task with 62.7 % in the majority class: dead networks sit there with the binary entropy as loss."""
    dead = [{"trial_id": f"d{i}", "train_acc": 0.627, "val_acc": 0.627193, "train_loss": 0.66, "val_loss": 0.6600}
            for i in range(5)]
    live = [{"trial_id": f"l{i}", "train_acc": 0.95, "val_acc": 0.9 + i / 200, "train_loss": 0.12, "val_loss": 0.15}
            for i in range(10)]
    return dead + live + [{"trial_id": "slow", "train_acc": train_acc, "val_acc": val_acc, "train_loss": 0.63,
                           "val_loss": 0.58}]


def test_training_at_the_majority_class_share_explains_held_out_above_it():
    # breast cancer (62.7 % benign): t064, plain SGD at lr 0.0014, ended with train_acc 0.621 (a running mean still at
    # the majority share) and val_acc 0.711; chance was taken as 1/2, so "check the split for leakage" was advised.
    rows = _unbalanced(0.621, 0.711)
    assert chance_level(table_from_records(rows), Thresholds())[:2] == (2, 0.627193)
    assert ("slow", "suspicious_validation") not in issues_of(table_from_records(rows))


def test_training_well_above_the_majority_share_is_still_checked():
    assert ("slow", "suspicious_validation") in issues_of(table_from_records(_unbalanced(0.75, 0.86)))
