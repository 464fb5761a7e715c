"""Which pattern explains which: a marginal beside the pair that covers its trials (core.patterns._stratify)."""

from __future__ import annotations

from core.patterns import _stratify
from core.records import Association, Evidence, Part, Pattern, Region

ADAM = Region(hyperparameter="optimizer", rule="value", value="adam")
HIGH_LR = Region(hyperparameter="lr", rule="threshold", low=0.6)


def _association(id_: str, k: int, n: int, k_rest: int, n_rest: int, regions: tuple[Region, ...],
                 part_counts: tuple[tuple[int, int], ...] = ()) -> Association:
    first = regions[0]
    where = first.fields() if len(regions) == 1 else {
        "hyperparameter": first.hyperparameter, "rule": "pair", "condition": " and ".join(r.condition for r in regions),
        "lo": HIGH_LR.low, "hi": None, "value": None, "direction": "above", "closed": None}
    return Association(id=id_, hyperparameters=[r.hyperparameter for r in regions], issue_type="diverged", k=k, n=n,
                       rate=k / n, ci=None, k_rest=k_rest, n_rest=n_rest, rate_rest=k_rest / n_rest, risk_ratio=None,
                       p=1e-3, log_p=-6.9, q=1e-2, trial_ids=[], **where,
                       parts=[Part(**r.fields(), k=k_, n=n_) for r, (k_, n_) in zip(regions, part_counts)] or None)


def _case(part_k: int, part_n: int, marginal_k: int, marginal_n: int, marginal_rest: tuple[int, int],
          alpha: float = 0.05):
    """A pair 'optimizer = adam and lr >= 0.6' (9/12) and the marginal 'optimizer = adam' beside it."""
    pair_assoc = _association("A1", 9, 12, marginal_k - 9 + marginal_rest[0], 135 - 12, (ADAM, HIGH_LR),
                              ((part_k, part_n), (0, 24)))
    marginal_assoc = _association("A4", marginal_k, marginal_n, marginal_rest[0], marginal_rest[1], (ADAM,))
    evidence = Evidence(k=9, n=12, k_rest=0, n_rest=123, p=1e-3, q=1e-2)
    pair = Pattern(id="P3", association_id="A1", rule="pair", issue_type="diverged", title="t", evidence=evidence,
                   condition="optimizer = adam and lr >= 0.6", explanation="", recommendation="r", trial_ids=[])
    marginal = Pattern(id="P5", association_id="A4", rule="value", issue_type="diverged", title="t", evidence=evidence,
                       condition="optimizer = adam", explanation="", recommendation="keep", trial_ids=[])
    _stratify([pair, marginal], [pair_assoc, marginal_assoc], alpha)
    return marginal.to_dict()


def test_a_marginal_whose_affected_trials_all_lie_in_the_pair_is_explained_by_it():
    # DeepOBS cifar10: adam without lr >= 0.631 has 0 of 33; it used to say "stands on its own".
    p = _case(0, 33, 9, 45, (0, 90))
    assert p["explained_by"] == "P3"
    assert "P3 (optimizer = adam and lr >= 0.6) explains this pattern" in p["explanation"]
    assert "stands on its own" not in p["explanation"]
    assert p["recommendation"].startswith("Follow P3")


def test_a_marginal_that_still_shows_the_issue_without_the_other_condition_stands_on_its_own():
    p = _case(12, 33, 21, 45, (0, 90))  # 12/33 without lr >= 0.6: lower bound ~22 % > 0 % outside adam
    assert "explained_by" not in p
    assert "still has 12 of 33" in p["explanation"] and "stands on its own beside P3" in p["explanation"]
    assert p["recommendation"] == "keep"


def test_a_small_cell_neither_explains_nor_clears_the_marginal():
    q = _case(1, 4, 10, 16, (10, 119))  # 1/4: its 95 % lower bound (~4.6 %) is not above the 8 % outside adam
    assert "explained_by" not in q
    assert "too few trials to tell whether P3 explains this pattern" in q["explanation"]
    assert "stands on its own" not in q["explanation"]


def _two_marginals(x_without_z: tuple[int, int], z_without_x: tuple[int, int]):
    """Marginal patterns 'optimizer = adam' (P1) and 'lr >= 0.6' (P2) and their pair cell (9 of 12 in both)."""
    from core.patterns import _stratify_marginals

    adam = _association("A1", 9 + x_without_z[0], 12 + x_without_z[1], z_without_x[0], 135 - 12 - x_without_z[1],
                        (ADAM,))
    high = _association("A2", 9 + z_without_x[0], 12 + z_without_x[1], x_without_z[0], 135 - 12 - z_without_x[1],
                        (HIGH_LR,))
    pair = _association("A3", 9, 12, x_without_z[0] + z_without_x[0], 123, (ADAM, HIGH_LR), (x_without_z, z_without_x))
    evidence = Evidence(k=9, n=12, k_rest=0, n_rest=123, p=1e-3, q=1e-2)
    p1 = Pattern(id="P1", association_id="A1", rule="value", issue_type="diverged", title="t", evidence=evidence,
                 condition="optimizer = adam", explanation="", recommendation="r1", trial_ids=[],
                 hyperparameter="optimizer")
    p2 = Pattern(id="P2", association_id="A2", rule="threshold", issue_type="diverged", title="t", evidence=evidence,
                 condition="lr >= 0.6", explanation="", recommendation="r2", trial_ids=[], hyperparameter="lr")
    _stratify_marginals([p1, p2], [adam, high], [adam, high, pair])
    return p1.to_dict(), p2.to_dict()


def test_of_two_overlapping_marginals_the_one_that_holds_without_the_other_explains_it():
    # adam without lr >= 0.6: 0 of 33; lr >= 0.6 without adam: 12 of 24 -> the learning rate explains adam's pattern.
    p1, p2 = _two_marginals((0, 33), (12, 24))
    assert p1["explained_by"] == "P2" and p1["recommendation"].startswith("Follow P2")
    assert "optimizer = adam without lr >= 0.6 has 0 of 33" in p1["explanation"]
    assert "explained_by" not in p2 and "It also explains P1" in p2["explanation"]


def test_two_marginals_that_each_hold_without_the_other_both_stand():
    p1, p2 = _two_marginals((10, 33), (12, 24))
    assert "explained_by" not in p1 and "explained_by" not in p2 and p1["recommendation"] == "r1"


def test_a_large_cell_with_no_clear_excess_is_explained_by_the_pair():
    # DeepOBS cifar100: diverged at adam without its learning-rate band had 2 of 38 against 1 of 90 outside
    # adam (Fisher p = 0.21); a Wilson lower bound of 1.5 % just above 1.1 % had made it "stand on its own".
    p = _case(2, 38, 11, 50, (1, 90))
    assert p["explained_by"] == "P3" and "stands on its own" not in p["explanation"]
    assert "has 2 of 38 (against 1 of 90 without optimizer = adam)" in p["explanation"]
    assert p["recommendation"].startswith("Follow P3")


def test_a_cell_whose_excess_is_significant_stands_on_its_own():
    own = _case(4, 38, 13, 50, (1, 90))  # 4/38 against 1/90: p = 0.027
    assert "explained_by" not in own and "stands on its own beside P3" in own["explanation"]
    strict = _case(4, 38, 13, 50, (1, 90), alpha=0.01)  # the analysis' alpha reaches the test: not significant there
    assert strict["explained_by"] == "P3"


def _nested_case(outer_type: str, inner_band: tuple[float, float], outer_q: float = 1e-12):
    """'no learning at optimizer = gd and lr in band' (3 of 7) beside 'OUTER_TYPE at lr >= 0.004' (54 of 69)."""
    from core.patterns import _defer_nested

    gd = Region(hyperparameter="optimizer", rule="value", value="gd")
    band = Region(hyperparameter="lr", rule="bucket", low=inner_band[0], high=inner_band[1], closed=False)
    high = Region(hyperparameter="lr", rule="threshold", low=0.004)
    outer = Association(id="A1", issue_type=outer_type, k=54, n=69, rate=54 / 69, ci=None, k_rest=0, n_rest=66,
                        rate_rest=0.0, risk_ratio=None, p=outer_q, log_p=-27.0, q=outer_q, trial_ids=[],
                        hyperparameters=["lr"], **high.fields())
    inner = Association(id="A2", issue_type="no_learning", k=3, n=7, rate=3 / 7, ci=None, k_rest=5, n_rest=128,
                        rate_rest=5 / 128, risk_ratio=None, p=1e-3, log_p=-6.9, q=0.025, trial_ids=[],
                        hyperparameters=["optimizer", "lr"], hyperparameter="optimizer", rule="pair",
                        condition="optimizer = gd and " + band.condition, lo=None, hi=None, value=None,
                        direction=None, closed=None,
                        parts=[Part(**gd.fields(), k=0, n=38), Part(**band.fields(), k=0, n=16)])
    evidence = Evidence(k=54, n=69, k_rest=0, n_rest=66, p=outer_q, q=outer_q)
    p1 = Pattern(id="P1", association_id="A1", rule="threshold", issue_type=outer_type, title="t", evidence=evidence,
                 condition=high.condition, explanation="", recommendation="r1", trial_ids=[], hyperparameter="lr")
    p2 = Pattern(id="P2", association_id="A2", rule="pair", issue_type="no_learning", title="t", evidence=evidence,
                 condition=inner.condition, explanation="", recommendation="r2", trial_ids=[],
                 hyperparameter="optimizer")
    _defer_nested([p1, p2], [outer, inner])
    return p1.to_dict(), p2.to_dict()


def test_an_avoid_pattern_inside_a_stronger_avoid_patterns_region_is_explained_by_it():
    # DeepOBS fmnist VAE: no learning at GD and lr in [0.1585, 3.981) (3 of 7) lies inside non-finite at lr >= 0.004.
    p1, p2 = _nested_case("nonfinite_metric", (0.1585, 3.981))
    assert p2["explained_by"] == "P1" and "lies inside P1's (lr ≥ 0.004: 54 of 69" in p2["explanation"]
    assert p2["recommendation"].startswith("Follow P1") and "It also explains P2 (optimizer = gd and lr in" in p1["explanation"]


def test_a_pattern_reaching_outside_the_region_or_a_milder_type_explains_nothing():
    _, p2 = _nested_case("nonfinite_metric", (0.001, 3.981))  # the band starts below lr >= 0.004
    assert "explained_by" not in p2 and p2["recommendation"] == "r2"
    p1, p2 = _nested_case("plateau", (0.1585, 3.981))  # a plateau never explains runs that learned nothing
    assert "explained_by" not in p2 and "It also explains" not in p1["explanation"]


def _grid_floor_case(marginal_n: int):
    """Pair 'dropout = 0 and lr >= 0.6' (9/12; dropout = 0 without it: 0 of 10) and the marginal 'dropout <= 0'."""
    zero = Region(hyperparameter="dropout", rule="value", low=0.0, high=0.0)
    floor = Region(hyperparameter="dropout", rule="threshold", high=0.0)
    pair_assoc = _association("A1", 9, 12, 0, 123, (zero, HIGH_LR), ((0, 10), (0, 30)))
    marginal_assoc = _association("A4", 9, marginal_n, 0, 135 - marginal_n, (floor,))
    evidence = Evidence(k=9, n=12, k_rest=0, n_rest=123, p=1e-3, q=1e-2)
    pair = Pattern(id="P6", association_id="A1", rule="pair", issue_type="diverged", title="t", evidence=evidence,
                   condition="dropout = 0 and lr >= 0.6", explanation="", recommendation="r", trial_ids=[])
    marginal = Pattern(id="P8", association_id="A4", rule="threshold", issue_type="diverged", title="t",
                       evidence=evidence, condition="dropout ≤ 0", explanation="", recommendation="keep", trial_ids=[])
    _stratify([pair, marginal], [pair_assoc, marginal_assoc])
    return marginal.to_dict()


def test_a_threshold_at_the_lowest_grid_value_is_stratified_as_that_value():
    # digits: "generalisation gap at dropout ≤ 0" (22 of 43) stood beside "dropout = 0 and lr ≥ 0.0028" (22 of 33)
    p = _grid_floor_case(22)  # 10 without the pair + 12 in it: the same 22 trials as dropout = 0
    assert p["explained_by"] == "P6" and p["recommendation"].startswith("Follow P6")


def test_a_wider_threshold_than_the_pair_region_is_not_taken_for_it():
    p = _grid_floor_case(40)  # dropout <= 0 would hold 40 trials, dropout = 0 only 22: another region
    assert "explained_by" not in p and p["recommendation"] == "keep"
