"""Advice never throws the best trials away (core.patterns.find_patterns with ``top``)."""

from __future__ import annotations

from core.patterns import find_patterns, recommend_all
from core.records import Association, Part, Region

ADAM = Region(hyperparameter="optimizer", rule="value", value="adam")
HIGH_LR = Region(hyperparameter="lr", rule="threshold", low=0.6)


def _association(id_: str, kind: str, k: int, n: int, k_rest: int, n_rest: int, regions: tuple[Region, ...],
                 parts: tuple[tuple[int, int], ...] = (), q: float = 1e-4) -> Association:
    first = regions[0]
    where = first.fields() if len(regions) == 1 else {
        "hyperparameter": first.hyperparameter, "rule": "pair", "condition": " and ".join(r.condition for r in regions),
        "lo": regions[1].low, "hi": None, "value": None, "direction": "above", "closed": None}
    return Association(id=id_, hyperparameters=[r.hyperparameter for r in regions], issue_type=kind, k=k, n=n,
                       rate=k / n, ci=None, k_rest=k_rest, n_rest=n_rest, rate_rest=k_rest / n_rest, risk_ratio=None,
                       p=q / 10, log_p=-20.0 if len(regions) == 2 else -12.0, q=q, trial_ids=[f"t{i}" for i in range(k)],
                       **where, parts=[Part(**r.fields(), k=a, n=b) for r, (a, b) in zip(regions, parts)] or None)


def _top(*configs):
    return [{"rank": i, "trial_id": f"best{i}", "value": 0.9 - i / 100, "hyperparameters": c}
            for i, c in enumerate(configs, start=1)]


# 90 trials: adam 45 (12 diverge, all at lr >= 0.6), sgd 45 (none diverge); the 2nd best trial is adam at lr 0.001.
MARGINAL = _association("A1", "diverged", 12, 45, 0, 45, (ADAM,))
PAIR = _association("A2", "diverged", 12, 15, 0, 75, (ADAM, HIGH_LR), ((0, 30), (0, 15)), q=1e-6)
TOP = _top({"optimizer": "sgd", "lr": 0.01}, {"optimizer": "adam", "lr": 0.001}, {"optimizer": "sgd", "lr": 0.7})


def test_a_marginal_that_holds_a_top_trial_is_folded_into_the_pair_that_spares_it():
    patterns, leads = find_patterns([MARGINAL, PAIR], top=TOP)
    assert [p["condition"] for p in patterns] == ["optimizer = adam and lr ≥ 0.6"]
    (pair,) = patterns
    assert pair["folds"] == ["A1"]
    assert "optimizer = adam without lr ≥ 0.6: 0 of 30; optimizer = adam overall: 12 of 45" in pair["explanation"]
    assert "stands for the marginal pattern of optimizer = adam" in pair["explanation"]
    assert "best2 (rank 2)" in pair["explanation"] and "best1" not in pair["explanation"]
    assert not [lead for lead in leads if lead["issue_type"] == "diverged"]


def test_the_same_marginal_stands_beside_the_pair_when_it_holds_no_top_trial():
    top = _top({"optimizer": "sgd", "lr": 0.01}, {"optimizer": "sgd", "lr": 0.001})
    patterns, _ = find_patterns([MARGINAL, PAIR], top=top)
    conditions = [p["condition"] for p in patterns]
    assert "optimizer = adam" in conditions and "optimizer = adam and lr ≥ 0.6" in conditions  # item 6 holds
    assert not any(p.get("folds") for p in patterns)


def test_a_region_no_condition_separates_from_a_top_trial_is_a_risky_region_not_a_pattern():
    nan = _association("A3", "nonfinite_metric", 10, 20, 2, 70, (HIGH_LR,))
    top = _top({"optimizer": "sgd", "lr": 0.01}, {"optimizer": "sgd", "lr": 0.01}, {"optimizer": "sgd", "lr": 0.7})
    patterns, leads = find_patterns([nan], top=top)
    assert patterns == []
    (risky,) = leads
    assert risky["risky"] and risky["top_trials"] == [{"trial_id": "best3", "rank": 3}]
    assert risky["recommendation"].startswith("Do not exclude lr ≥ 0.6") and "Stabilise" in risky["recommendation"]
    assert "a risky region, not one to leave out" in risky["why"]
    recs = recommend_all({"issues": [{"trial_id": "t1", "type": "nonfinite_metric"}], "findings": []}, patterns,
                         leads=leads)
    assert [r["text"] for r in recs] == [risky["recommendation"]]  # no generic "avoid" advice for that type


def test_a_top_trial_only_just_at_a_threshold_counts_as_inside_it():
    nan = _association("A3", "nonfinite_metric", 10, 20, 2, 70, (Region(hyperparameter="lr", rule="threshold",
                                                                       low=0.06309573444801936),))
    top = _top({"lr": 0.063095734448})  # the same grid value, written with fewer digits by that run
    patterns, leads = find_patterns([nan], top=top)
    assert patterns == [] and leads[0]["risky"]


def test_issue_types_that_are_not_avoided_are_left_alone():
    overfit = _association("A4", "overfitting", 10, 20, 2, 70, (HIGH_LR,))
    patterns, leads = find_patterns([overfit], top=_top({"lr": 0.7}))
    assert [p["condition"] for p in patterns] == ["lr ≥ 0.6"] and leads == []


def test_a_risky_region_of_crashes_is_advised_as_crashes_not_as_blow_ups():
    """A crash is read in the logs, not cured by gradient clipping: the advice follows the issue type."""
    crashes = _association("A5", "failed", 10, 20, 2, 70, (HIGH_LR,))
    (risky,) = find_patterns([crashes], top=_top({"lr": 0.7}))[1]
    assert risky["recommendation"].startswith("Do not exclude lr ≥ 0.6: it holds top-ranked trial best1 (rank 1).")
    assert "logs of the failed runs" in risky["recommendation"] and "clipping" not in risky["recommendation"]


MOMENTUM = Region(hyperparameter="optimizer", rule="value", value="momentum")
SGD = Region(hyperparameter="optimizer", rule="value", value="sgd")
WIDE_LR = Region(hyperparameter="lr", rule="threshold", low=0.04)
NARROW_LR = Region(hyperparameter="lr", rule="threshold", low=0.25)


def _shadowed(kind: str = "no_learning"):
    """135 trials, no learning at lr >= 0.04 (34 of 63) but sgd's top trials sit at lr 0.16; lr >= 0.25 stands.

    Within adam (15 of 18) and momentum (12 of 15), lr >= 0.04 holds no top trial; within sgd it holds them.
    """
    wide = _association("A1", kind, 34, 63, 0, 72, (WIDE_LR,), q=1e-10)
    narrow = _association("A2", kind, 28, 42, 6, 93, (NARROW_LR,), q=1e-8)
    adam = _association("A3", kind, 15, 18, 19, 117, (ADAM, WIDE_LR), ((0, 27), (19, 45)), q=1e-5)
    momentum = _association("A4", kind, 12, 15, 22, 120, (MOMENTUM, WIDE_LR), ((0, 30), (22, 48)), q=1e-4)
    sgd = _association("A5", kind, 7, 30, 27, 105, (SGD, WIDE_LR), ((0, 15), (27, 33)), q=1e-2)
    top = _top({"optimizer": "adam", "lr": 0.0003}, {"optimizer": "sgd", "lr": 0.16}, {"optimizer": "momentum", "lr": 0.003},
               {"optimizer": "sgd", "lr": 0.16})
    return find_patterns([wide, narrow, adam, momentum, sgd], top=top)


def test_a_wider_cut_holding_top_trials_is_still_applied_within_the_settings_where_none_lies():
    # DeepOBS fmnist 2c2d: lr >= 0.0398 held GD's top trials at 0.158, so only lr >= 0.2512 was cut, and adam's
    # runs that learned nothing between 0.016 and 0.25 stayed in the next sweep (ratio 0.26).
    patterns, leads = _shadowed()
    by_condition = {p["condition"]: p for p in patterns}
    assert set(by_condition) == {"lr ≥ 0.25", "optimizer = adam and lr ≥ 0.04", "optimizer = momentum and lr ≥ 0.04"}
    adam = by_condition["optimizer = adam and lr ≥ 0.04"]
    assert adam["folds"] == ["A1"] and "is the part of lr ≥ 0.04 (34 of 63" in adam["explanation"]
    assert adam["recommendation"].startswith("With optimizer = adam, keep lr below 0.04")
    # The wider region is not dropped without a word: the narrower cut says why, naming the top trials there.
    narrow = by_condition["lr ≥ 0.25"]
    assert ("The wider region lr ≥ 0.04 (34 of 63, q = 1.0e-10) is not left out as a whole: it holds top-ranked "
            "trials best2 (rank 2), best4 (rank 4)") in narrow["explanation"]
    assert "leave out its parts where none lies" in narrow["explanation"]
    assert not [lead for lead in leads if lead.get("risky")]


def test_a_plateau_gets_no_range_per_setting_but_still_the_sentence():
    patterns, _ = _shadowed("plateau")
    assert [p["condition"] for p in patterns] == ["lr ≥ 0.25"]
    assert "The wider region lr ≥ 0.04" in patterns[0]["explanation"]


def test_a_risky_region_keeps_its_lead_and_its_parts_without_top_trials_become_patterns():
    # diabetes: no learning at lr <= 0.000502 holds six top trials (momentum and sgd at lr 3e-5 to 1.3e-4), but
    # with sgd, lr <= 5.4e-5 holds none of them (8 of 8 learned nothing).
    low = Region(hyperparameter="lr", rule="threshold", high=0.0005)
    sgd_low = Region(hyperparameter="lr", rule="threshold", high=5.4e-5)
    wide = _association("A1", "no_learning", 20, 41, 1, 59, (low,), q=2e-4)
    sgd = _association("A2", "no_learning", 8, 8, 13, 92, (SGD, sgd_low), ((0, 25), (13, 30)), q=4.5e-3)
    sgd = Association.from_dict({**sgd.to_dict(), "lo": None, "hi": 5.4e-5, "direction": "below"})
    top = _top({"optimizer": "momentum", "lr": 3e-5}, {"optimizer": "sgd", "lr": 7.3e-5}, {"optimizer": "adam", "lr": 0.001})
    patterns, leads = find_patterns([wide, sgd], top=top)
    assert [p["condition"] for p in patterns] == ["optimizer = sgd and lr ≤ 5.4e-05"]
    (risky,) = [lead for lead in leads if lead.get("risky")]
    assert risky["condition"] == "lr ≤ 0.0005" and "P1 leaves out its part where none lies" in risky["why"]


def _error_finding(region: Region, k: int, n: int):
    return {"id": "F1", "kind": "error_kind", "title": f"{k} trials: FloatingPointError", "n_trials": k,
            "signature": "FloatingPointError: train loss is N at epoch N", "budget_cut": False,
            "trial_ids": [f"t{i}" for i in range(k)],
            "explained_by": region.fields() | {"k": k, "n": n, "k_rest": 0, "n_rest": 100 - n, "p": 1e-9, "q": 1e-8}}


def _with_error_finding(top):
    # A crash pattern at lr >= 0.6 stands; the error group concentrates at the wider lr >= 0.0015.
    crash = _association("A1", "failed", 12, 20, 17, 80, (HIGH_LR,))
    summary = {"issues": [], "top_trials": top, "associations": [crash.to_dict()],
               "findings": [_error_finding(Region(hyperparameter="lr", rule="threshold", low=0.0015), 29, 51)]}
    patterns, leads = find_patterns([crash], top=top)
    return recommend_all(summary, patterns, leads=leads)[-1]["text"]


def test_an_error_group_whose_region_holds_a_top_trial_is_not_advised_out():
    # diabetes: NaN losses at lr >= 0.00152 (29 of 51) and the 9th best trial at lr 0.0100
    text = _with_error_finding(_top({"optimizer": "sgd", "lr": 0.001}, {"optimizer": "sgd", "lr": 0.01}))
    assert "fix it, but do not leave lr ≥ 0.0015 out of the next sweep as a whole" in text
    assert "best2 (rank 2)" in text and "P1 leaves out its part where none lies" in text


def test_an_error_group_whose_region_holds_no_top_trial_is_left_out_until_fixed():
    text = _with_error_finding(_top({"optimizer": "sgd", "lr": 0.001}, {"optimizer": "sgd", "lr": 0.0002}))
    assert text.endswith("fix it or leave lr ≥ 0.0015 out of the next sweep until it is fixed.")


BIG_BATCH = Region(hyperparameter="batch_size", rule="threshold", low=512)


def _crash_and_confounded_pair(pair_ids):
    # 20 crashes, all at batch_size >= 512 (20 of 20); "adam and weight_decay = 0" holds 8 of them and a top trial.
    crash = _association("A1", "failed", 20, 20, 0, 80, (BIG_BATCH,), q=1e-17)
    wd0 = Region(hyperparameter="weight_decay", rule="value", low=0.0, high=0.0)
    pair = _association("A2", "failed", 8, 14, 12, 86, (ADAM, wd0), ((4, 30), (3, 20)), q=0.02)
    pair.trial_ids[:] = pair_ids
    top = _top({"optimizer": "sgd", "lr": 0.01, "batch_size": 16, "weight_decay": 0.001},
               {"optimizer": "adam", "lr": 0.01, "batch_size": 16, "weight_decay": 0.0})
    return find_patterns([crash, pair], top=top)


def test_a_risky_region_whose_affected_trials_a_pattern_holds_is_no_risky_region():
    patterns, leads = _crash_and_confounded_pair([f"t{i}" for i in range(8)])
    assert [p["condition"] for p in patterns] == ["batch_size ≥ 512"]
    assert not [lead for lead in leads if lead.get("risky")]


def test_a_risky_region_with_affected_trials_outside_every_pattern_stays_risky():
    # The crash pattern no longer holds every crash: the pair's own trials are not all inside it.
    crash = _association("A1", "failed", 12, 20, 8, 80, (BIG_BATCH,), q=1e-9)
    wd0 = Region(hyperparameter="weight_decay", rule="value", low=0.0, high=0.0)
    pair = _association("A2", "failed", 8, 14, 12, 86, (ADAM, wd0), ((4, 30), (3, 20)), q=0.02)
    pair.trial_ids[:] = [f"t{i}" for i in range(4)] + [f"x{i}" for i in range(4)]
    top = _top({"optimizer": "adam", "lr": 0.01, "batch_size": 16, "weight_decay": 0.0})
    patterns, leads = find_patterns([crash, pair], top=top)
    assert [lead["condition"] for lead in leads if lead.get("risky")] == ["optimizer = adam and weight_decay = 0"]


def test_more_epochs_for_a_long_list_of_trials_reads_once():
    issues = [{"trial_id": f"t{i}", "type": "still_improving"} for i in range(9)]
    (rec,) = recommend_all({"issues": issues, "findings": []}, [])
    assert rec["text"].startswith("Give more epochs to trials `t0`") and "and 4 more:" in rec["text"]
    assert "more more" not in rec["text"]


def _risky_low_lr(scaled_ids):
    """diabetes: no learning at lr <= 0.0005 (20 of 41) holds top trials; with sgd, lr <= 5.4e-5 (8 of 8) and with
    scaled targets, lr <= 0.000118 (11 of 15) hold none. ``scaled_ids``: the scaled-target cell's affected trials."""
    low = Region(hyperparameter="lr", rule="threshold", high=0.0005)
    wide = _association("A1", "no_learning", 20, 41, 1, 59, (low,), q=2e-4)
    sgd = _association("A2", "no_learning", 8, 8, 13, 92, (SGD, Region(hyperparameter="lr", rule="threshold", high=5.4e-5)),
                       ((0, 25), (13, 30)), q=4.5e-3)
    scaled = _association("A3", "no_learning", 11, 15, 10, 85,
                          (Region(hyperparameter="scale_targets", rule="value", value="yes"),
                           Region(hyperparameter="lr", rule="threshold", high=1.18e-4)), ((0, 35), (4, 10)), q=9e-3)
    sgd = Association.from_dict({**sgd.to_dict(), "lo": None, "hi": 5.4e-5, "direction": "below"})
    scaled = Association.from_dict({**scaled.to_dict(), "lo": None, "hi": 1.18e-4, "direction": "below",
                                    "trial_ids": scaled_ids})
    top = _top({"optimizer": "momentum", "lr": 3e-5, "scale_targets": "no"},
               {"optimizer": "sgd", "lr": 7.3e-5, "scale_targets": "no"},
               {"optimizer": "adam", "lr": 2.9e-4, "scale_targets": "yes"})
    return find_patterns([wide, sgd, scaled], top=top)


def test_a_part_within_another_hyperparameters_setting_stands_when_it_holds_other_failed_trials():
    # 4 of the scaled-target cell's 11 trials are not sgd's: a second mechanism, left out too.
    patterns, _ = _risky_low_lr([f"t{i}" for i in range(7)] + ["u1", "u2", "u3", "u4"])
    assert [p["condition"] for p in patterns] == ["optimizer = sgd and lr ≤ 5.4e-05",
                                                  "scale_targets = yes and lr ≤ 0.000118"]


def test_a_part_that_cuts_the_same_failed_trials_another_way_does_not_stand():
    patterns, _ = _risky_low_lr([f"t{i}" for i in range(8)] + ["u1", "u2"] + ["t0"])  # 2 new trials only
    assert [p["condition"] for p in patterns] == ["optimizer = sgd and lr ≤ 5.4e-05"]
