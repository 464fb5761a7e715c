"""The published JSON Schema of hparam_summary.json (schema/, generated from core/records.py by core/schema.py)."""

from __future__ import annotations

import copy
import json

import pytest

from core.records import Diagnosis, Issue, IssueColumns, issue_columns_of, with_issue_rows
from core.schema import schema_text
from tests.conftest import DATA, EXAMPLES, ROOT, SAMPLE

SCHEMA = ROOT / "schema" / "hparam_summary.schema.json"
CASES = {
    "sample": [str(SAMPLE)],
    "deepobs_cifar10": [str(EXAMPLES / "deepobs_cifar10_3c3d.csv")],
    "deepobs_slice": [str(DATA / "deepobs_nonfinite_slice.csv")],
    "curves": [str(DATA / "deepobs_nonfinite_slice.csv"), "--curves", str(DATA / "curves" / "deepobs_curves_slice.csv")],
}


def test_committed_schema_is_what_the_records_generate():
    assert SCHEMA.read_text(encoding="utf-8") == schema_text(), (
        "regenerate it: python -m core.schema schema/hparam_summary.schema.json")


@pytest.fixture(scope="module")
def summaries():
    import io
    from contextlib import redirect_stdout

    from graph.run import main

    out = {}
    for name, args in CASES.items():
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            assert main([*args, "--offline", "--output-format", "json", "--quiet"]) == 0
        out[name] = json.loads(buffer.getvalue())
    return out


def _validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", list(CASES))
def test_real_summaries_validate(summaries, name):
    summary = summaries[name]
    assert summary["next_sweep"]["hyperparameters"]
    assert ("curves" in summary) == (name == "curves")
    assert Diagnosis.from_dict(summary).to_dict() == summary
    errors = [f"{list(e.path)}: {e.message}" for e in _validator().iter_errors(summary)]
    assert errors == []


def test_the_schema_rejects_what_is_not_a_summary_and_allows_analyst_extras(summaries):
    validator = _validator()
    good = summaries["deepobs_cifar10"]
    broken = copy.deepcopy(good)
    del broken["issues"][0]["trial_id"]
    broken["surprise"] = 1
    broken["next_sweep"]["hyperparameters"]["learning_rate"]["log"] = "yes"
    broken["associations"][0]["rule"] = "vibes"
    broken["associations"][1]["issue_type"] = "vibes"  # issue types are the vocabulary's (core/issue_types.py)
    broken["issues"][1]["type"] = "vibes"
    broken["issue_counts"]["vibes"] = 1
    paths = {tuple(e.path)[:3] for e in validator.iter_errors(broken)}
    assert {(), ("issues", 0), ("associations", 0, "rule"), ("associations", 1, "issue_type"),
            ("issues", 1, "type"), ("issue_counts",)} <= paths
    assert any(p[:1] == ("next_sweep",) for p in paths)  # reported at the optional block
    extra = copy.deepcopy(good)  # the model-facing parts are open: the LLM analyst adds fields
    extra["patterns"][0]["phrasing"] = {"title": "..."}
    extra["writer"]["model_notes"] = []
    extra["analysis"]["model"] = {"analyst": "x"}
    assert list(validator.iter_errors(extra)) == []
    without_plan = {k: v for k, v in good.items() if k != "next_sweep"}  # a graph run's summary
    assert list(validator.iter_errors(without_plan)) == []


def test_issue_rows_go_column_by_column_and_back(summaries):
    """The graph state's form of the issues (interned columns) holds exactly the rows of hparam_summary.json."""
    with_epoch = 0
    for summary in summaries.values():
        compact = summary | {"issues": IssueColumns.of(summary["issues"]).to_state()}
        assert with_issue_rows(compact) == summary
        assert issue_columns_of(compact) == issue_columns_of(summary) == IssueColumns.of(summary["issues"])
        assert issue_columns_of(compact).rows() == summary["issues"]
        assert Diagnosis.from_dict(compact) == Diagnosis.from_dict(summary)
        columns = compact["issues"]
        assert columns["rows"] == len(summary["issues"])
        assert len(columns["type"]["values"]) == len({i["type"] for i in summary["issues"]})
        with_epoch += len(columns["epoch"]["rows"])
        assert len(json.dumps(columns)) < len(json.dumps(summary["issues"]))
    assert with_epoch  # the curves' issues carry their step


def test_the_rows_of_a_state_are_its_columns_read_back():
    rows = [{"trial_id": "a", "type": "diverged", "severity": "high", "detail": "loss 1e9", "epoch": 3.0},
            {"trial_id": "b", "type": "failed", "severity": "high", "detail": "crashed"}]
    state = {"schema_version": "x", "issues": IssueColumns.of_rows(rows).to_state()}
    assert with_issue_rows(state) == {"schema_version": "x", "issues": rows}
    other = {"issues": IssueColumns.of_rows(rows[:1]).to_state()}
    assert with_issue_rows(other)["issues"] == rows[:1] and with_issue_rows(state)["issues"] == rows
    summary = {"issues": rows}
    assert with_issue_rows(summary) is summary  # rows already
    assert issue_columns_of(state).rows() == issue_columns_of(summary).rows() == rows
    assert state["issues"]["type"] == {"codes": [0, 1], "values": ["diverged", "failed"]}
    assert issue_columns_of({}) == IssueColumns.of_rows([])  # no issues: no rows


def test_issue_columns_keep_every_row_and_reject_a_broken_form():
    rows = [{"trial_id": "a", "type": "diverged", "severity": "high", "detail": "loss 1e9", "epoch": 3.0},
            {"trial_id": "b", "type": "diverged", "severity": "high", "detail": "loss 1e9"},
            {"trial_id": "a", "type": "overfitting", "severity": "low", "detail": "gap", "epoch": 0.0}]
    state = IssueColumns.of_rows(rows).to_state()
    assert state["detail"] == {"codes": [0, 0, 1], "values": ["loss 1e9", "gap"]}
    assert state["epoch"] == {"rows": [0, 2], "values": [3.0, 0.0]}  # an epoch 0 is an epoch
    assert IssueColumns.from_state(state).rows() == rows
    assert IssueColumns.from_state(IssueColumns.of_rows([]).to_state()).rows() == []
    broken = copy.deepcopy(state)
    broken["type"]["codes"] = [0, 5, 0]
    with pytest.raises(ValueError, match="issues"):
        IssueColumns.from_state(broken)
    broken = copy.deepcopy(state)
    broken["trial_id"]["codes"].pop()
    with pytest.raises(ValueError, match="different lengths"):
        IssueColumns.from_state(broken)


def test_a_diagnosis_keeps_its_issues_column_by_column():
    rows = [{"trial_id": "a", "type": "diverged", "severity": "high", "detail": "loss 1e9", "epoch": 3.0},
            {"trial_id": "b", "type": "failed", "severity": "high", "detail": "crashed"}]
    columns = IssueColumns.of(rows)
    assert IssueColumns.of(columns.to_state()) == columns and IssueColumns.of(columns) is columns
    assert columns[0] == Issue(trial_id="a", type="diverged", severity="high", detail="loss 1e9", epoch=3.0)
    assert columns[-1].epoch is None and columns[1:].rows() == rows[1:] and list(columns) == [columns[0], columns[1]]
    with pytest.raises(ValueError, match="unknown key 'surprise'"):
        IssueColumns.of([rows[1] | {"surprise": 1}])
    with pytest.raises(ValueError, match="missing key"):
        IssueColumns.of([{"trial_id": "a", "type": "failed"}])
    with pytest.raises(ValueError, match="issues: expected a list"):
        IssueColumns.of("a")


def test_a_key_no_record_declares_costs_the_run_nothing_but_a_note(tmp_path, monkeypatch):
    """A producer out of step with the records (a key the schema does not declare) used to end the run with exit 3.

    The report is still written; hparam_summary.json leaves the key out, so it matches the
    published schema; a note names what was left out, to be reported.
    """
    from graph import nodes
    from graph.run import main

    real = nodes.plan_next_sweep
    monkeypatch.setattr(nodes, "plan_next_sweep", lambda summary: real(summary) | {"surprise": 1})
    assert main([str(SAMPLE), "--out", str(tmp_path), "--offline", "--no-plots", "--quiet"]) == 0
    summary = json.loads((tmp_path / "hparam_summary.json").read_text(encoding="utf-8"))
    assert "surprise" not in summary["next_sweep"] and summary["next_sweep"]["hyperparameters"]
    (note,) = [n for n in summary["writer"]["notes"] if "left out" in n]
    assert note == ("the summary held key(s) no record of schema " + summary["schema_version"] + " declares, left "
                    "out: NextSweep 'surprise' (a bug: please report it)")
    assert note in (tmp_path / "hparam_report.md").read_text(encoding="utf-8")
    assert [f"{list(e.path)}: {e.message}" for e in _validator().iter_errors(summary)] == []


def test_a_summary_of_another_schema_version_is_refused_naming_both_versions(summaries):
    summary = copy.deepcopy(summaries["sample"]) | {"surprise": 1}
    with pytest.raises(ValueError, match=r"^Diagnosis: unknown key 'surprise'$"):
        Diagnosis.from_dict(summary)
    summary["schema_version"] = "9.0"
    with pytest.raises(ValueError, match=r"unknown key 'surprise' \(a summary of schema 9.0; this version reads 1\.\d+\)"):
        Diagnosis.from_dict(summary)
