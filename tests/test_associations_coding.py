"""How the association statistics code a hyperparameter: small integers, shared values, the same counts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.associations import _code, associate_issues
from core.detectors import detect_issues
from tests.helpers import table_from_records


def test_region_codes_take_a_byte_and_a_population_shares_the_sweeps_values():
    values = pd.Series(np.linspace(0.0, 1.0, 1000))
    coded = _code("lr", values, max_buckets=5)
    assert coded is not None and coded.codes.dtype == np.int8 and coded.order.dtype == np.int32
    keep = np.arange(1000) % 3 != 0
    population = coded.within(keep)
    assert population.x is coded.x  # no copy of the values per population
    assert population.codes.dtype == np.int8
    assert (population.codes[~keep] == -1).all() and (population.codes[keep] == coded.codes[keep]).all()
    assert population.n.sum() == keep.sum()
    rows = np.array([0, 1, 2, 3])
    assert np.isnan(population.values(rows)[[0, 3]]).all()  # rows 0 and 3 are left out
    assert population.values(rows)[[1, 2]].tolist() == coded.x[[1, 2]].tolist()
    assert population.is_set().sum() == keep.sum()
    assert np.isfinite(population.x[population.order]).all() and len(population.order) == keep.sum()
    # its cuts are over the kept values in ascending order, taken from the sweep's sorted values
    assert population.cuts is not None and population.cuts.sorted_x.tolist() == population.x[population.order].tolist()
    assert population.cuts.sorted_x.tolist() == sorted(values[keep].tolist())

    text = _code("opt", pd.Series([f"v{i % 20:02d}" for i in range(400)], dtype=object), max_buckets=5)
    assert text is not None and text.codes.dtype == np.int8 and len(text.groups) == 20


def test_pair_cells_of_two_twenty_value_parameters_are_counted_exactly():
    # 20 x 20 = 400 cells: a cell's code does not fit the byte each region code takes
    rng = np.random.default_rng(3)
    n = 6000
    a = rng.integers(0, 20, n)
    b = rng.integers(0, 20, n)
    sick = (a >= 17) & (b >= 17) & (rng.random(n) < 0.9) | (rng.random(n) < 0.02)
    records = [{"trial_id": f"t{i}", "arch": f"a{a[i]:02d}", "init": f"b{b[i]:02d}",
                "train_loss": "0.3", "val_loss": "nan" if sick[i] else f"{0.3 + 0.01 * (i % 7):.2f}"}
               for i in range(n)]
    table = table_from_records(records)
    issues = detect_issues(table)
    flagged = set(issues.loc[issues["type"] == "nonfinite_metric", "trial_id"])
    assert flagged
    frame = pd.DataFrame({"arch": [r["arch"] for r in records], "init": [r["init"] for r in records],
                          "sick": [r["trial_id"] in flagged for r in records]})
    pairs = [x for x in associate_issues(table, issues, min_support=1)
             if x.rule == "pair" and x.issue_type == "nonfinite_metric" and x.hyperparameters == ["arch", "init"]]
    assert len(pairs) >= 9  # every cell of a17..a19 x b17..b19 at least
    for x in pairs:
        cell = (frame["arch"] == x.parts[0].value) & (frame["init"] == x.parts[1].value)
        assert (x.k, x.n) == (int(frame["sick"][cell].sum()), int(cell.sum())), x.condition
        assert (x.k_rest, x.n_rest) == (int(frame["sick"][~cell].sum()), int((~cell).sum()))


def test_the_codings_sort_gives_the_tables_extents_as_their_own_sort_does():
    from core.associations import code_hyperparameters
    from core.table import numeric_extents

    rng = np.random.default_rng(7)
    lr = 10 ** rng.uniform(-5, 0, 300)
    lr[[3, 40]] = np.nan
    lr[7] = np.inf
    table = table_from_records([
        {"trial_id": f"t{i}", "val_loss": 0.5, "lr": lr[i], "layers": float(1 + i % 4), "fixed": 2.0,
         "bs": float([16, 32][i % 2]), "signed": [-0.0, 0.0, -1.5][i % 3], "opt": ["adam", "sgd"][i % 2]}
        for i in range(300)])
    coded = code_hyperparameters(table)
    sorted_columns = {c.name: c.sorted_values() for c in coded if c.x is not None}
    assert {"lr", "layers", "bs", "signed"} <= set(sorted_columns) and "fixed" not in sorted_columns
    plain = numeric_extents(table.hyperparameters)
    assert numeric_extents(table.hyperparameters, sorted_columns) == plain
    assert list(plain) == [c for c in table.hyperparameters.columns if c != "opt"]
    assert plain["lr"].n_finite == 297 and plain["layers"].integral and not plain["lr"].integral
    assert plain["signed"].n_values == 2  # -0.0 and 0.0 are one value
    assert table.extents(sorted_columns) == plain and table.extents() is table.extents()
