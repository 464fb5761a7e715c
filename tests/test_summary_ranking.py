"""The ranking's top trials: a stable sort's first k, found without sorting the whole sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.summary import _best_rows


def test_the_best_rows_are_a_stable_sorts_first_k():
    rng = np.random.default_rng(5)
    for n, k in [(0, 10), (5, 10), (1000, 10), (1000, 1), (20_000, 10), (20_000, 3000)]:
        values = rng.choice([0.1, 0.2, 0.25, 0.5, np.nan, np.inf, -np.inf, 0.3, -0.0, 0.0], n)  # many ties
        values = np.where(rng.random(n) < 0.3, rng.random(n), values)
        finite = pd.Series(values)[np.isfinite(values)]
        for lowest_first in (True, False):
            expected = finite.sort_values(ascending=lowest_first, kind="stable").index[:k]
            assert _best_rows(values, k, lowest_first).tolist() == expected.tolist(), (n, k, lowest_first)


def test_rank_trials_takes_a_row_mask_of_the_excluded_trials():
    from core.summary import rank_trials
    from tests.helpers import table_from_records

    table = table_from_records([{"trial_id": f"t{i}", "lr": str(0.1 * (i + 1)), "train_loss": "0.2",
                                 "val_loss": str(v)} for i, v in enumerate([0.5, 0.1, 0.3, 0.1, 0.9])])
    best, top = rank_trials(table)
    assert [t["trial_id"] for t in top] == ["t1", "t3", "t2", "t0", "t4"] and best["trial_id"] == "t1"  # ties: file order
    excluded = np.zeros(len(table), dtype=bool)
    excluded[1] = True
    best, top = rank_trials(table, excluded, k=2)
    assert best["trial_id"] == "t3" and [t["trial_id"] for t in top] == ["t3", "t2"]
