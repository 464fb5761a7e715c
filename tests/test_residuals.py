"""A second cause hidden by the first: the residual pass over the trials outside a type's patterns (core.residuals)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from core.associations import associate_issues
from core.detectors import detect_issues
from core.diagnosis import diagnose
from core.patterns import find_patterns
from core.records import Association, Region
from core.residuals import is_neighbour, residual_associations, rows_in
from core.sources import read_sweep
from tests.helpers import table_from_text

LRS = [1e-4, 3.7e-4, 1.4e-3, 5.2e-3, 0.019, 0.072, 0.27, 1.0]
NAN = "nonfinite_metric"


def _grid(tmp_path: Path, bad, best: set[int] = frozenset()) -> Path:
    """144 trials: 2 seeds x optimizer (adam, sgd, rmsprop) x width (32, 64, 128) x 8 learning rates.

    ``bad(seed, optimizer, width, lr, block)`` says which trials end with a NaN held-out
    loss (``block`` numbers the 18 (seed, optimizer, width) cells); the trials in ``best``
    get the sweep's lowest losses.
    """
    rows = []
    for seed, opt, width, lr in itertools.product(range(2), ["adam", "sgd", "rmsprop"], [32, 64, 128], LRS):
        i = len(rows)
        val = 0.1 if i in best else round(0.3 + 0.02 * abs(math.log10(lr) + 2.5) + 0.001 * (i % 7), 4)
        rows.append({"trial_id": f"t{i:03d}", "status": "completed", "optimizer": opt, "lr": lr, "width": width,
                     "seed": seed, "train_loss": round(val * 0.9, 4),
                     "val_loss": float("nan") if bad(seed, opt, width, lr, i // 8) else val})
    path = tmp_path / "sweep.csv"
    pd.DataFrame(rows).to_csv(path, index=False, na_rep="nan")
    return path


def _two_mechanisms(seed, opt, width, lr, block) -> bool:
    """NaN at lr >= 0.27 (36 of 36), and at rmsprop with width 128 (5 of its 12 trials below that)."""
    return lr >= 0.1 or (opt == "rmsprop" and width == 128 and lr in (3.7e-4, 1.4e-3, 0.019, 0.072)
                         and (seed == 0 or lr == 0.019))


def _residual(summary: dict) -> list[dict]:
    return [p for p in summary["patterns"] if p.get("outside")]


def test_a_second_mechanism_hidden_by_the_first_is_found_among_the_trials_outside_it(tmp_path):
    summary = diagnose(read_sweep(_grid(tmp_path, _two_mechanisms)))
    first = summary["patterns"][0]
    assert (first["issue_type"], first["condition"]) == (NAN, "lr ≥ 0.27")
    # hidden in the first look: the 36 NaN runs at high lr sit in "the rest" (9 of 16 against 32 of 128)
    hidden = next(a for a in summary["associations"] if not a.get("outside") and a["issue_type"] == NAN
                  and a["condition"] == "optimizer = rmsprop and width = 128")
    assert (hidden["k"], hidden["n"], hidden["k_rest"], hidden["n_rest"]) == (9, 16, 32, 128)
    assert hidden["q"] >= 0.05
    (second,) = _residual(summary)
    assert second["issue_type"] == NAN and second["condition"] == "optimizer = rmsprop and width = 128"
    assert second["outside"] == [first["id"]] and second["id"] == f"P{len(summary['patterns'])}"
    e = second["evidence"]
    assert (e["k"], e["n"], e["k_rest"], e["n_rest"]) == (5, 12, 0, 96) and e["q"] < 0.05
    assert second["explanation"].startswith(
        f"Outside the region of {first['id']} (lr ≥ 0.27), 5 of the 108 trials compared show NaN/inf metrics; "
        "5 of 12 trials with optimizer = rmsprop and width = 128 (42%) do, against 0 of 96 (0%) of the others there")
    assert "over the tests of this second look alone" in second["explanation"]
    assert second["title"].endswith(f"(outside {first['id']})")
    assert "it adds to it, it does not replace it" in second["recommendation"]
    # one pattern for the two issue types of the same trials, as in the first look
    assert second["also_issue_types"] == ["status_mismatch"]
    # its association is a residual one: counted among the 108 trials, corrected on its own
    a = next(a for a in summary["associations"] if a["id"] == second["association_id"])
    assert a["outside"] == [first["association_id"]] and a["n"] + a["n_rest"] == 108
    # a pattern like any other: advice and a next-sweep constraint
    advice = next(r for r in summary["recommendations"] if r.get("pattern_id") == second["id"])
    assert advice["evidence"].endswith(f"vs 0/96 elsewhere outside {first['id']}")
    change = next(c for c in summary["next_sweep"]["changes"] if c["evidence"] == second["id"])
    assert change["reason"].startswith("5 of 12 trials with optimizer = rmsprop and width = 128 show NaN/inf metrics, "
                                       "against 0 of 96 elsewhere outside the first cause's region")
    assert (change["hyperparameter"], change["when"]) in {("width", "optimizer = rmsprop"),
                                                          ("optimizer", "width = 128")}


def test_one_mechanism_and_scattered_noise_leave_nothing_for_a_second_look(tmp_path):
    noise = {(0, 3), (2, 0), (7, 4), (11, 2), (13, 5), (16, 1)}  # (cell, lr index): one NaN here and there

    def bad(seed, opt, width, lr, block):
        return lr >= 0.1 or (block, LRS.index(lr)) in noise

    summary = diagnose(read_sweep(_grid(tmp_path, bad)))
    assert [p["condition"] for p in summary["patterns"] if p["issue_type"] == NAN] == ["lr ≥ 0.27"]
    assert _residual(summary) == []
    assert not any(a.get("outside") for a in summary["associations"])  # no family kept where nothing stands


def _fading_edge(seed, opt, width, lr, block) -> bool:
    """NaN at lr >= 0.27 (36 of 36), then at 6 of 18 runs at 0.072 and 2 of 18 at 0.019: one mechanism fading out."""
    return lr >= 0.1 or (lr == 0.072 and block in (0, 4, 8, 10, 14, 15)) or (lr == 0.019 and block in (2, 12))


def test_the_first_causes_neighbour_is_not_reported_a_second_time(tmp_path):
    path = _grid(tmp_path, _fading_edge)
    summary = diagnose(read_sweep(path))
    assert [p["condition"] for p in summary["patterns"] if p["issue_type"] == NAN] == ["lr ≥ 0.27"]
    assert _residual(summary) == []
    # the band below the first cut is significant among the trials outside it: the neighbour rule keeps it out
    table = table_from_text(path)
    issues = detect_issues(table)
    first = associate_issues(table, issues)
    first_region = rows_in(table, (Region(hyperparameter="lr", rule="threshold", low=0.27),))
    band = [a for a in associate_issues(table, issues, left_out={NAN: first_region})
            if a.rule == "threshold" and a.direction == "above" and a.q < 0.05]
    assert band and band[0].hyperparameter == "lr"
    assert not any(a.hyperparameter == "lr" or "lr" in a.hyperparameters
                   for a in residual_associations(table, issues, first) if a.issue_type == NAN)


def test_a_second_region_that_holds_a_best_trial_is_not_advised_out(tmp_path):
    rmsprop_128 = {i for i in range(144) if (i // 8) in (8, 17)}
    healthy = [i for i in sorted(rmsprop_128) if not _two_mechanisms(i // 72, "rmsprop", 128, LRS[i % 8], i // 8)]
    summary = diagnose(read_sweep(_grid(tmp_path, _two_mechanisms, best={healthy[0]})))
    assert summary["best_trial"]["trial_id"] == f"t{healthy[0]:03d}"
    assert any(a.get("outside") and a["condition"] == "optimizer = rmsprop and width = 128" and a["q"] < 0.05
               for a in summary["associations"])  # significant among the trials outside P1, but it holds the best
    assert _residual(summary) == []
    assert not any(c["evidence"] != "P1" for c in summary["next_sweep"]["changes"] if c["action"].startswith("exclude"))
    # said as a risky region of the second look: once, however many regions and issue types of those runs concentrate
    (lead,) = summary["leads"]
    assert lead["risky"] and lead["outside"] == ["P1"] and lead["condition"] == "optimizer = rmsprop and width = 128"
    assert lead["title"].endswith("where top trials live too (outside P1)")
    assert lead["explanation"].startswith("Outside the region of P1 (lr ≥ 0.27)")
    assert lead["recommendation"].startswith(f"Do not exclude optimizer = rmsprop and width = 128: it holds top-ranked "
                                             f"trial t{healthy[0]:03d} (rank 1)")


def test_a_residual_family_computed_for_other_patterns_is_not_read(tmp_path):
    summary = diagnose(read_sweep(_grid(tmp_path, _two_mechanisms)))
    associations = [Association.from_dict(a) for a in summary["associations"]]
    assert len(find_patterns(associations, top=summary["top_trials"])[0]) == len(summary["patterns"])
    moved = [replace(a, outside=["A9999"]) if a.outside else a for a in associations]
    patterns, _ = find_patterns(moved, top=summary["top_trials"])
    assert not any(p.get("outside") for p in patterns) and len(patterns) == len(summary["patterns"]) - 1


def test_a_trial_still_running_is_in_no_residual_population(tmp_path):
    path = _grid(tmp_path, _two_mechanisms)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    extra = frame[(frame["optimizer"] == "rmsprop") & (frame["width"] == "128")].head(4).copy()
    extra["trial_id"] = [f"r{i}" for i in range(4)]
    extra["status"], extra["val_loss"], extra["train_loss"] = "running", "", ""
    pd.concat([frame, extra]).to_csv(path, index=False)
    (second,) = _residual(diagnose(read_sweep(path)))
    assert (second["evidence"]["k"], second["evidence"]["n"], second["evidence"]["n_rest"]) == (5, 12, 96)


def test_which_residual_regions_restate_or_extend_a_first_one():
    high = Region(hyperparameter="lr", rule="threshold", low=0.1)
    pair = (Region(hyperparameter="scale", rule="value", value="no"),
            Region(hyperparameter="batch", rule="value", low=128.0, high=128.0))
    assert is_neighbour((Region(hyperparameter="lr", rule="threshold", low=0.03),), (high,))  # the band below
    assert is_neighbour((Region(hyperparameter="lr", rule="bucket", low=0.01, high=0.1, closed=False),), (high,))
    assert not is_neighbour((Region(hyperparameter="lr", rule="threshold", high=1e-4),), (high,))  # the other end
    assert is_neighbour((pair[0],), pair)  # the first pair's condition seen overall
    assert not is_neighbour((pair[0], Region(hyperparameter="lr", rule="threshold", low=0.3)), pair)  # within it
    assert is_neighbour((Region(hyperparameter="scale", rule="value", value="yes"), pair[1]), pair)  # same batch
    assert not is_neighbour((Region(hyperparameter="scale", rule="value", value="yes"),), pair)  # another value
    assert not is_neighbour((Region(hyperparameter="optimizer", rule="value", value="momentum"), high), pair)


def test_the_rows_of_a_region_are_those_contains_accepts():
    values = [1e-4, 0.0631, 0.06310000001, 0.1, 0.5, 1.0, float("nan"), float("inf")]
    table = table_from_text_records(values)
    regions = [Region(hyperparameter="lr", rule="threshold", low=0.0631),
               Region(hyperparameter="lr", rule="threshold", high=0.1),
               Region(hyperparameter="lr", rule="bucket", low=0.0631, high=0.5, closed=False),
               Region(hyperparameter="lr", rule="bucket", low=0.0631, high=0.5, closed=True),
               Region(hyperparameter="lr", rule="value", low=0.1, high=0.1),
               Region(hyperparameter="opt", rule="value", value="adam"),
               Region(hyperparameter="opt", rule="value", value="(missing)")]
    for r in regions:
        expected = [r.contains(None if pd.isna(v) else v) for v in table.hyperparameters[r.hyperparameter].tolist()]
        assert rows_in(table, (r,)).tolist() == expected, r.condition
    both = rows_in(table, (regions[0], regions[5]))
    assert both.tolist() == list(rows_in(table, (regions[0],)) & rows_in(table, (regions[5],)))


def table_from_text_records(lrs: list[float]):
    from tests.helpers import table_from_records

    opts = ["adam", "sgd", "", "adam", "sgd", "adam", "sgd", "adam"]
    return table_from_records([{"trial_id": f"t{i}", "lr": str(lr), "opt": o, "val_loss": "0.5"}
                               for i, (lr, o) in enumerate(zip(lrs, opts))])


def test_no_second_look_without_a_first_pattern():
    table = table_from_text_records([1e-4, 1e-3, 1e-2, 0.1, 0.2, 0.3, 0.5, 1.0])
    issues = detect_issues(table)
    assert residual_associations(table, issues, associate_issues(table, issues)) == []
    assert np.all(~rows_in(table, (Region(hyperparameter="lr", rule="threshold", low=2.0),)))


def test_the_heatmap_shows_the_first_looks_counts_only(tmp_path):
    from graph.report.pictures import heatmap_figure

    summary = diagnose(read_sweep(_grid(tmp_path, _two_mechanisms)))
    residual = [a for a in summary["associations"] if a.get("outside")]
    assert any(a["rule"] in ("bucket", "value") for a in residual)
    cells = [t.get_text() for t in heatmap_figure(summary).axes[0].texts]
    first_look = {**summary, "associations": [a for a in summary["associations"] if not a.get("outside")]}
    assert cells == [t.get_text() for t in heatmap_figure(first_look).axes[0].texts]
    rows = [t.get_text() for t in heatmap_figure(summary).axes[0].get_yticklabels()]
    rmsprop = rows.index("optimizer = rmsprop")
    assert cells[2 * rmsprop] == "17/48"  # all of its trials; outside P1 it has 5 of 36


def test_the_second_look_follows_the_analysis_settings(tmp_path):
    path = _grid(tmp_path, _two_mechanisms)
    # at alpha 0.1 the first look already names the rmsprop pair (q = 0.056): nothing is left for a second one,
    # and no family computed outside another set of patterns is kept
    loose = diagnose(read_sweep(path), alpha=0.1)
    assert [p["condition"] for p in loose["patterns"]] == ["lr ≥ 0.27", "optimizer = rmsprop and width = 128"]
    assert _residual(loose) == [] and not any(a.get("outside") for a in loose["associations"])
    (second,) = _residual(diagnose(read_sweep(path), alpha=0.001))  # q = 0.00043 among the trials outside P1
    assert second["condition"] == "optimizer = rmsprop and width = 128"
    assert _residual(diagnose(read_sweep(path), alpha=0.0001)) == []
    assert _residual(diagnose(read_sweep(path), min_support=6)) == []  # 5 affected trials there


def test_the_other_end_of_the_range_is_a_region_of_its_own_beside_a_bucket_too():
    """A first pattern that is a bucket (``lr in [0.1585, 3.981)``, the top of the range), not only a threshold."""
    top = Region(hyperparameter="lr", rule="bucket", low=0.1585, high=3.981, closed=False)
    spans = {"lr": (1e-5, 3.981)}  # two decades or more: halved at the geometric middle, ~0.0063
    low = Region(hyperparameter="lr", rule="threshold", high=1e-4)
    assert not is_neighbour((low,), (top,), spans)
    assert not is_neighbour((Region(hyperparameter="opt", rule="value", value="sgd"), low), (top,), spans)
    assert not is_neighbour((Region(hyperparameter="lr", rule="bucket", low=1e-5, high=1e-4, closed=False),), (top,), spans)
    # the band next to the bucket, or a region reaching past the middle, is the same mechanism's edge
    assert is_neighbour((Region(hyperparameter="lr", rule="bucket", low=0.0251, high=0.1585, closed=False),), (top,), spans)
    assert is_neighbour((Region(hyperparameter="lr", rule="threshold", high=0.01),), (top,), spans)
    # without the searched span only the opposite threshold is known to be the other end
    assert is_neighbour((low,), (top,))
    assert not is_neighbour((low,), (Region(hyperparameter="lr", rule="threshold", low=0.1585),))
    # with it, an opposite threshold reaching past the middle is the same edge, beside a threshold as a bucket
    reaching = Region(hyperparameter="lr", rule="threshold", high=0.05)
    assert is_neighbour((reaching,), (Region(hyperparameter="lr", rule="threshold", low=0.1585),), spans)
    assert is_neighbour((reaching,), (top,), spans)
    # a linear range is halved at its arithmetic middle
    first = Region(hyperparameter="dropout", rule="bucket", low=0.6, high=0.8)
    assert not is_neighbour((Region(hyperparameter="dropout", rule="threshold", high=0.2),), (first,), {"dropout": (0.0, 0.8)})
    assert is_neighbour((Region(hyperparameter="dropout", rule="threshold", high=0.5),), (first,), {"dropout": (0.0, 0.8)})


def test_both_looks_over_one_coding_find_what_each_finds_with_its_own(tmp_path):
    """The first pass's coding of the hyperparameters is counted over again by the second look, and left as it was."""
    from core.associations import code_hyperparameters
    from core.roles import infer_roles
    from core.summary import both_looks, rank_trials
    from core.table import build_trial_table

    sweep = read_sweep(_grid(tmp_path, _two_mechanisms, best={3, 50}))
    table = build_trial_table(sweep.trials, infer_roles(sweep.trials.frame, sweep.source))
    issues = detect_issues(table)
    _, top = rank_trials(table)
    top_rows = table.rows_of([t["trial_id"] for t in top])
    first = associate_issues(table, issues, protect=top_rows)
    second = residual_associations(table, issues, first, top, protect=top_rows)
    assert second and all(a.outside for a in second)  # the hidden mechanism: the second look keeps something

    coded = code_hyperparameters(table)
    before = [(c.codes.copy(), c.n.copy(), None if c.order is None else c.order.copy()) for c in coded]
    shared_first = associate_issues(table, issues, protect=top_rows, coded=coded)
    assert shared_first == first
    assert residual_associations(table, issues, shared_first, top, protect=top_rows, coded=coded) == second
    for c, (codes, n, order) in zip(coded, before):
        assert np.array_equal(c.codes, codes) and np.array_equal(c.n, n)
        assert order is None or np.array_equal(c.order, order)
    assert both_looks(table, issues, top, top_rows, 0.05, 3) == first + second
