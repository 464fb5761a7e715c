"""A hyperparameter some trials leave unset (conditional, or added/dropped while a study ran)
is judged only over the trials that set it: the unset ones are not "the rest"."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from core.associations import associate_issues
from core.detectors import detect_issues
from core.patterns import find_patterns
from core.records import Diagnosis, Pattern
from graph.report.markdown import _evidence
from tests.helpers import table_from_records


def _study(failing_edges: set[int] | None, seed: int = 0) -> list[dict[str, object]]:
    """20 early trials search ``max_edges`` (50..500); 40 later ones no longer set it.

    The early phase crashed half the time: at random (``failing_edges`` None), or exactly at
    the ``max_edges`` values given. The later phase crashed once.
    """
    rng = np.random.default_rng(seed)
    edges = np.tile(np.arange(50, 550, 50), 2)
    random_half = set(rng.permutation(20)[:10].tolist())
    rows = []
    for i in range(60):
        early = i < 20
        if early:
            fails = (i in random_half) if failing_edges is None else int(edges[i]) in failing_edges
        else:
            fails = i == 45
        rows.append({"trial_id": f"t{i}", "status": "failed" if fails else "completed",
                     "lr": float(10 ** rng.uniform(-5, -2)), "max_edges": float(edges[i]) if early else np.nan,
                     "val_loss": np.nan if fails else float(rng.uniform(0.2, 0.4))})
    return rows


def test_unset_trials_are_not_the_rest_so_a_study_phase_is_no_pattern_of_the_parameter():
    # counted against all 60 trials, "max_edges >= 100: 9 of 18 vs 2 of 42" was a pattern (q = 0.03),
    # although within the 20 trials that set it the crashes are at random
    table = table_from_records(_study(None))
    assocs = associate_issues(table, detect_issues(table))
    edges = [a for a in assocs if a.hyperparameter == "max_edges" and a.rule != "pair"]
    assert edges
    for a in edges:
        assert a.n + a.n_rest == 20 and a.k + a.k_rest == 10  # the early phase only, not 60 trials and 11 failures
    patterns, leads = find_patterns(assocs)
    assert not [p for p in patterns + leads if "max_edges" in p["hyperparameters"]]


def _ended(n_trials: int) -> SimpleNamespace:
    """What the evidence table reads of a diagnosis (patterns.compared_with): a sweep of trials that all ended."""
    return SimpleNamespace(sweep=SimpleNamespace(n_trials=n_trials), issue_counts={})


def test_a_real_cause_inside_the_trials_that_set_it_is_still_found_and_said_so():
    rows = _study({400, 450, 500})
    table = table_from_records(rows)
    patterns, _ = find_patterns(associate_issues(table, detect_issues(table)))
    (p,) = [p for p in patterns if p["hyperparameter"] == "max_edges"]
    e = p["evidence"]
    assert p["condition"].startswith("max_edges ≥") and (e["k"], e["n"]) == (6, 6) and (e["k_rest"], e["n_rest"]) == (0, 14)
    assert "against 0 of 14 (0%) in the other trials with max_edges set" in p["explanation"]
    assert "| other trials with max_edges set | 0 / 14 |" in "\n".join(_evidence(Pattern.from_dict(p), _ended(len(rows))))


def test_a_parameter_every_trial_sets_is_compared_with_the_rest_of_the_sweep():
    rows = _study({400, 450, 500})
    for r in rows:
        r["max_edges"] = 500.0 if r["status"] == "failed" else 100.0 + float(r["trial_id"][1:])
    table = table_from_records(rows)
    patterns, _ = find_patterns(associate_issues(table, detect_issues(table)))
    (p,) = [p for p in patterns if p["hyperparameter"] == "max_edges"]
    assert p["evidence"]["n"] + p["evidence"]["n_rest"] == 60
    assert "in the rest of the sweep" in p["explanation"]
    assert "| rest of the sweep |" in "\n".join(_evidence(Pattern.from_dict(p), _ended(len(rows))))


def test_the_best_trial_line_says_which_parameters_it_did_not_set_instead_of_none():
    from core.loading import RawTable
    from core.patterns import analyze_patterns
    from core.roles import infer_roles
    from core.summary import analyze_sweep
    from graph.report.markdown import _overview

    rows = _study({400, 450, 500})
    rows[0]["val_loss"] = 0.01  # the best: an early trial, max_edges 50, set
    rows[30]["val_loss"] = 0.001  # now the best is a later trial, which never set max_edges
    frame = pd.DataFrame(rows, dtype=object).astype(str)
    summary = analyze_sweep(RawTable(frame=frame, source="<test>"), infer_roles(frame, "<test>"))
    summary.update(analyze_patterns(summary), writer={"author": "deterministic", "notes": []})
    assert summary["best_trial"]["trial_id"] == "t30" and summary["best_trial"]["hyperparameters"]["max_edges"] is None
    (line,) = [ln for ln in _overview(Diagnosis.from_dict(summary)) if ln.startswith("- Best finished trial")]
    assert "None" not in line and line.endswith("; not set in this trial: `max_edges`).")
    assert "`lr` = " in line


def _summary_with(details: list[str], goal: str) -> dict[str, object]:
    issues = []
    for i, detail in enumerate(details):
        issues.append({"trial_id": f"t{i}", "type": "nonfinite_metric", "severity": "high", "detail": detail})
        issues.append({"trial_id": f"t{i}", "type": "status_mismatch", "severity": "high",
                       "detail": "status 'COMPLETE' but a metric is non-finite"})
    return {"issues": issues, "findings": [],
            "sweep": {"roles": {"metrics": {"value": {"kind": "objective", "split": None, "goal": goal}}}}}


def test_an_objective_returning_its_worst_infinity_is_a_trial_given_up_not_a_blow_up():
    from core.patterns import recommend_all

    texts = [r["text"] for r in recommend_all(_summary_with(["value=+inf"] * 3, "min"), [])]
    assert any(t.startswith("Read the logs of trials `t0`, `t1`, `t2`: their objective `value` is +inf") for t in texts)
    assert any("returned +inf instead of raising" in t for t in texts)
    assert not any("gradient clipping" in t or "fail loudly on a non-finite loss" in t for t in texts)


def test_a_nan_objective_or_a_mix_keeps_the_numerical_advice():
    from core.patterns import recommend_all

    for details, goal in ((["value=NaN"] * 3, "min"), (["value=+inf", "value=NaN"], "min"), (["value=+inf"], "max")):
        texts = [r["text"] for r in recommend_all(_summary_with(details, goal), [])]
        assert any("gradient clipping" in t for t in texts) and not any("instead of raising" in t for t in texts)
