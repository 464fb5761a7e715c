"""The issue-type table (core/issue_types.py) is the one place the vocabulary lives."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from core.curves import CURVE_DETECTORS, build_curve_table, detect_curve_issues
from core.detectors import DETECTORS, Thresholds
from core.grounding import check_sentence, facts_of
from core.issue_types import ISSUE_TYPES, SEVERITIES, IssueType, emits, names_where, severity_of
from core.loading import read_results
from core.roles import infer_roles, outcome_kind
from core.status import STATUSES
from core.summary import analyze_sweep
from core.table import build_trial_table
from tests.conftest import DATA, EXAMPLES, SAMPLE

ROOT = Path(__file__).resolve().parents[1]
ALL_DETECTORS = (*DETECTORS, *CURVE_DETECTORS)


def test_every_detector_registers_the_types_it_emits_against_the_table():
    for detector in ALL_DETECTORS:
        assert detector.emits, detector.__name__
        assert set(detector.emits) <= set(ISSUE_TYPES), detector.__name__
    emitted = {t for d in ALL_DETECTORS for t in d.emits}
    assert emitted == set(ISSUE_TYPES)  # no entry that nothing can flag


def _kinds_written(function) -> set[str]:
    """Issue-type names a detector's source passes to ``_issues`` as string constants."""
    tree = ast.parse(inspect.getsource(function).lstrip())
    return {arg.value for call in ast.walk(tree) if isinstance(call, ast.Call)
            and getattr(call.func, "id", None) == "_issues"
            for arg in call.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)}


def test_each_type_a_detector_writes_is_one_it_registered():
    written = {d.__name__: _kinds_written(d) for d in ALL_DETECTORS}
    assert sum(map(len, written.values())) >= 12  # the scan sees the detectors' literals
    for detector in ALL_DETECTORS:
        assert written[detector.__name__] <= set(detector.emits), detector.__name__


STATUS_AND_FLAGS = """trial_id,status,lr,val_loss,epochs,epoch_diverged,is_nan,early_stopped
1,completed,0.1,0.5,10,false,false,false
2,failed,0.2,,3,false,false,false
3,killed,0.3,0.6,4,false,false,false
4,timeout,0.4,0.7,5,true,false,false
5,running,0.5,0.8,2,false,true,false
6,pruned,0.6,0.9,1,false,false,true
"""


@pytest.mark.parametrize("path", [SAMPLE, EXAMPLES / "deepobs_cifar10_3c3d.csv", DATA / "deepobs_nonfinite_slice.csv",
                                  DATA / "optuna_dlp_trials.csv", DATA / "hpolib_naval_seeds.csv", None])
def test_what_detectors_emit_on_real_sweeps_is_what_they_registered(path, write_csv):
    raw = read_results(path or write_csv(STATUS_AND_FLAGS))
    table = build_trial_table(raw, infer_roles(raw.frame, raw.source))
    if path is None:  # the detectors whose types are not literals in their source
        emitted = {d.__name__: set(d(table, Thresholds())["type"]) for d in DETECTORS}
        assert emitted["detect_status"] == set(names_where(lambda t: t.from_status))
        assert emitted["detect_outcome_flags"] == {"diverged", "nonfinite_metric", "pruned"}
    for detector in DETECTORS:
        found = detector(table, Thresholds())
        assert set(found["type"]) <= set(detector.emits), detector.__name__
        assert all(ISSUE_TYPES[t].severity == s for t, s in zip(found["type"], found["severity"]))


def test_curve_detectors_emit_what_they_registered():
    curves = build_curve_table(read_results(DATA / "curves" / "deepobs_curves_slice.csv"))
    issues = detect_curve_issues(curves)
    assert set(issues["type"]) <= set(names_where(lambda t: t.from_curves))
    assert len(set(issues["type"])) >= 4


def test_status_and_flag_vocabularies_agree_with_the_table():
    # every status but completed/unknown is an issue type of the same name, and only those
    assert set(names_where(lambda t: t.from_status)) == set(STATUSES) - {"completed", "unknown"}
    assert {t for t in ISSUE_TYPES if outcome_kind(f"epoch_{t}") == t} >= {"diverged", "failed", "pruned"}
    assert outcome_kind("is_nan") == "nonfinite_metric" and outcome_kind("timed_out") == "timeout"


def test_the_flags_say_what_the_analysis_relies_on():
    by_design = names_where(lambda t: t.by_design)
    assert set(by_design) == {"pruned", "running", "timeout"}
    assert not set(by_design) & set(names_where(lambda t: t.avoidable))  # advice never avoids a by-design outcome
    assert all(ISSUE_TYPES[t].severity == "high" for t in names_where(lambda t: t.no_result))
    assert set(names_where(lambda t: t.no_result)) <= set(names_where(lambda t: t.avoidable))
    assert ISSUE_TYPES["pruned"].severity == "info" and severity_of("diverged") == "high"
    for t in ISSUE_TYPES.values():
        assert t.severity in SEVERITIES and t.label and t.short_label and t.words and t.colour.startswith("#")
        assert "{ids}" in t.advice, t.name
    assert len({(t.colour, t.marker) for t in ISSUE_TYPES.values()}) == len(ISSUE_TYPES)


def test_the_table_refuses_what_it_cannot_mean():
    with pytest.raises(ValueError, match="severity"):
        IssueType("x", "critical", "x", "x", "{ids}", "x", "#000000", "o")
    with pytest.raises(ValueError, match="by-design"):
        IssueType("x", "low", "x", "x", "{ids}", "x", "#000000", "o", avoidable=True, by_design=True)
    with pytest.raises(ValueError, match="does not list"):
        emits("diverged", "exploding_gradient")(lambda table, thresholds: None)
    with pytest.raises(KeyError, match="unknown issue type"):
        severity_of("exploding_gradient")


# --------------------------------------------------------------------------------------
# No other module keeps its own per-type table
# --------------------------------------------------------------------------------------

#: Another vocabulary that shares five words with the issue types: the tools' statuses.
_OTHER_VOCABULARIES = {"core/status.py"}


def per_type_tables(source: str, path: str = "<test>") -> list[str]:
    """Per-issue-type tables in a module's source: ``name (line)`` of each.

    A dict literal anywhere with at least 3 issue-type keys, and a module- or
    class-level constant listing at least 2 issue types (a tuple, list or set, or a
    dict keyed by them). Branches on a type inside a rule (``if kind in (...)``) are
    rule logic, not a table, and are not counted.
    """
    names = set(ISSUE_TYPES)

    def typed(nodes: list[ast.expr | None]) -> int:
        return sum(isinstance(n, ast.Constant) and n.value in names for n in nodes)

    def listed(value: ast.expr) -> int:
        if isinstance(value, ast.Call) and getattr(value.func, "id", None) in ("frozenset", "set", "tuple") and value.args:
            value = value.args[0]
        if isinstance(value, ast.Dict):
            return typed(value.keys)
        if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
            return typed(value.elts)
        return 0

    if path in _OTHER_VOCABULARIES:
        return []
    tree = ast.parse(source)
    found = [f"dict literal ({node.lineno})" for node in ast.walk(tree)
             if isinstance(node, ast.Dict) and typed(node.keys) >= 3]
    scopes = [tree.body] + [node.body for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    for body in scopes:
        for stmt in body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(
                stmt, ast.AnnAssign) else []
            value = getattr(stmt, "value", None)
            for target in targets:
                name = getattr(target, "id", "?")
                if value is not None and listed(value) >= 2:
                    found.append(f"{name} ({stmt.lineno})")
    return sorted(set(found))


def test_the_scan_finds_a_per_type_table():
    assert per_type_tables('SEVERITY = {"diverged": "high", "failed": "high", "pruned": "info"}') == [
        "SEVERITY (1)", "dict literal (1)"]
    assert per_type_tables('_NO_PAIRS = ("running", "pruned")') == ["_NO_PAIRS (1)"]
    assert per_type_tables('class P:\n    SICK = frozenset({"failed", "diverged"})') == ["SICK (2)"]
    assert per_type_tables('def f(kind):\n    return kind in ("failed", "diverged")') == []
    assert per_type_tables('STATUSES = ("failed", "pruned")', "core/status.py") == []
    assert per_type_tables('STATUSES = ("failed", "pruned")', "core/other.py") == ["STATUSES (1)"]


def test_no_module_but_the_table_defines_a_per_type_table():
    files = [p for folder in ("core", "graph", "report", "hparam_inspector") if (ROOT / folder).is_dir()
             for p in (ROOT / folder).rglob("*.py")]
    assert len(files) > 30
    found = {}
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel != "core/issue_types.py" and (tables := per_type_tables(path.read_text(encoding="utf-8"), rel)):
            found[rel] = tables
    assert found == {}


# --------------------------------------------------------------------------------------
# Grounding names every type, the curve types included
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def curve_facts_of_sweep():
    """deepobs_nonfinite_slice with its curves: r00187 plateaus, r00777 oscillates, r00191 is still
    improving; r00754 went non-finite and diverged, and shows none of the three."""
    from core.patterns import analyze_patterns

    raw = read_results(DATA / "deepobs_nonfinite_slice.csv")
    summary = analyze_sweep(raw, infer_roles(raw.frame, raw.source),
                            curves=read_results(DATA / "curves" / "deepobs_curves_slice.csv"))
    by_trial = {}
    for issue in summary["issues"]:
        by_trial.setdefault(issue["trial_id"], set()).add(issue["type"])
    assert by_trial["r00187"] == {"plateau"} and by_trial["r00777"] == {"oscillation"}
    assert "still_improving" in by_trial["r00191"] and by_trial["r00754"] == {"nonfinite_metric", "diverged"}
    return facts_of(summary | analyze_patterns(summary))


@pytest.mark.parametrize(("sentence", "expected"), [
    ("Trial r00754 plateaued early.", ["misattributed_id"]),
    ("Trial r00187 plateaued early.", []),
    ("The loss of trial r00754 stalled after the first epochs.", ["misattributed_id"]),
    ("Trial r00754 oscillates.", ["misattributed_id"]),
    ("Trial r00777 oscillates.", []),
    ("Trial r00754 was still improving when it ended.", ["misattributed_id"]),
    ("Trial r00191 was still improving when it ended.", []),
    ("Trial r00754 is under-trained.", ["misattributed_id"]),
    ("Trial r00754 diverged.", []),
])
def test_a_curve_type_said_of_a_trial_without_it_is_caught(curve_facts_of_sweep, sentence, expected):
    assert [kind for kind, _ in check_sentence(sentence, curve_facts_of_sweep)] == expected


def test_exactly_the_avoidable_types_say_what_to_do_in_a_risky_region():
    assert {n for n, t in ISSUE_TYPES.items() if t.risky_advice} == set(names_where(lambda t: t.avoidable))
    with pytest.raises(ValueError, match="risky_advice"):
        IssueType("x", "high", "x", "x", advice="", words="x", colour="#000000", marker="o", avoidable=True)


def test_a_verb_after_a_label_agrees_with_it():
    from core.issue_types import concentrate

    assert concentrate("failed") == "failed runs concentrate"
    assert concentrate("overfitting") == "overfitting concentrates"
    assert concentrate("no_learning") == "no learning (chance level) concentrates"
    assert concentrate("an_old_type") == "an_old_type concentrate"
    # every label reads as "12 trials show {label}" and is plural unless flagged a mass noun
    for entry in ISSUE_TYPES.values():
        core = entry.label.split(" (")[0]
        assert entry.mass_noun or core.endswith("s") or core == "runs cut short", entry.name
