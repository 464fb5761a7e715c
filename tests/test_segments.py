"""Segment reductions over rows sorted by trial (core.curves.segments)."""

from __future__ import annotations

import numpy as np

from core.curves.segments import make_view, seg_last_row


def test_the_last_row_of_each_trial_and_minus_one_for_a_trial_without_rows():
    codes = np.array([0, 0, 0, 2, 3, 3])  # trial 1 logged nothing
    view = make_view(np.arange(6.0), codes, np.array([1, 2, 3, 1, 5, 9]))
    assert seg_last_row(view, 5).tolist() == [2, -1, 3, 5, -1]
    empty = make_view(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0))
    assert seg_last_row(empty, 3).tolist() == [-1, -1, -1]
