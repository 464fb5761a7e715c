"""A pair is reported as a pair only when its other condition adds to it; otherwise the marginal is the pattern.

DeepCAVE MNIST: "hp_activation = tanh and hp_dropout_rate ≥ 0.6514" (128 of 327, 39%) was a pattern that "concentrates
it most", while hp_dropout_rate ≥ 0.6514 without tanh had 225 of 593 (38%): tanh added nothing, and the standing
hp_dropout_rate ≥ 0.6548 already held nearly all of its failures. It was kept as the part of the wider cut (≥ 0.6434,
which holds a top trial) where no top trial lies.
"""

from __future__ import annotations

from core.patterns import _pair_parts, _parts_without_top_trials
from core.records import Association, Part, Region

TANH = Region(hyperparameter="act", rule="value", value="tanh")
RELU = Region(hyperparameter="act", rule="value", value="relu")


def _threshold(id_: str, low: float, ids: list[str], n: int) -> Association:
    return Association(id=id_, hyperparameter="dropout", hyperparameters=["dropout"], rule="threshold",
                       condition=f"dropout ≥ {low}", lo=low, hi=None, value=None, direction="above", closed=True,
                       issue_type="failed", k=len(ids), n=n, rate=len(ids) / n, ci=None, k_rest=10, n_rest=300,
                       rate_rest=10 / 300, risk_ratio=None, p=1e-9, log_p=-20.7, q=1e-8, trial_ids=ids)


def _pair(id_: str, first: Region, low: float, ids: list[str], n: int, parts: tuple[tuple[int, int], ...]) -> Association:
    second = Region(hyperparameter="dropout", rule="threshold", low=low)
    return Association(id=id_, hyperparameter="act", hyperparameters=["act", "dropout"], rule="pair",
                       condition=f"{first.condition} and {second.condition}", lo=low, hi=None, value=None,
                       direction="above", closed=None, issue_type="failed", k=len(ids), n=n, rate=len(ids) / n, ci=None,
                       k_rest=40, n_rest=300, rate_rest=40 / 300, risk_ratio=None, p=1e-6, log_p=-13.8, q=1e-5,
                       trial_ids=ids, parts=[Part(**r.fields(), k=k, n=m) for r, (k, m) in zip((first, second), parts)])


def test_a_part_that_holds_only_the_narrower_cuts_failures_is_not_a_pattern():
    failed = [f"f{i}" for i in range(12)]
    narrower = _threshold("A1", 0.655, failed[:10], 25)
    wider = _threshold("A2", 0.643, failed, 30)  # holds a top trial
    same = _pair("A3", TANH, 0.651, failed[:6] + ["f10"], 18, ((3, 40), (5, 12)))  # 39% with tanh, 42% without
    holding = {"A2": [{"trial_id": "top", "rank": 7}]}
    assert _parts_without_top_trials(wider, narrower, [narrower, wider, same], holding, 3, [narrower]) == []
    # a setting that adds to the cut (83% against 5% without it) makes a pair: it stays
    own = _pair("A4", RELU, 0.600, ["g1", "g2", "g3", "g4", "f0", "f1", "f2", "f3", "f4", "f5"], 12, ((1, 40), (2, 40)))
    wider = _threshold("A2", 0.59, failed + ["g1", "g2", "g3", "g4"], 40)
    assert _parts_without_top_trials(wider, narrower, [narrower, wider, own], holding, 3, [narrower]) == [own]


def test_a_pair_whose_other_condition_adds_little_says_so_instead_of_concentrates_it_most():
    text = _pair_parts(_pair("A3", TANH, 0.651, [f"f{i}" for i in range(128)], 327, ((54, 665), (225, 593))))
    assert "concentrates it most" not in text
    assert text.startswith("Without act = tanh, dropout ≥ 0.651 shows it about as often (38%, against 39% with it)")
    needed = _pair_parts(_pair("A5", TANH, 0.651, [f"f{i}" for i in range(30)], 40, ((2, 200), (3, 150))))
    assert needed.startswith("The pair concentrates it most") or needed.startswith("Neither condition")
