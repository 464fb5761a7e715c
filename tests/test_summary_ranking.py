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
