"""Typed records of a diagnosis (core/records.py): the summary dict round-trips, regions are fields."""

from __future__ import annotations

import copy
import json

import pytest

from core.diagnosis import diagnose
from core.records import Association, Diagnosis, Region
from core.sources import read_sweep
from tests.conftest import DATA, EXAMPLES, SAMPLE

SWEEPS = {
    "sample": (SAMPLE, None),
    "deepobs_cifar10": (EXAMPLES / "deepobs_cifar10_3c3d.csv", None),
    "deepobs_slice_curves": (DATA / "deepobs_nonfinite_slice.csv", DATA / "curves" / "deepobs_curves_slice.csv"),
    "deepobs_fmnist": (DATA / "deepobs_fmnist_2c2d.csv", None),
    "deepcave_crashed": (DATA / "deepcave_mnist_run1_final.csv", None),
    "hpolib_seeds": (DATA / "hpolib_naval_seeds.csv", None),
    "optuna_dlp": (DATA / "optuna" / "dlp_models.db", None),
    "raytune_asha": (DATA / "raytune" / "asha", None),
}


@pytest.fixture(scope="module")
def summaries():
    out = {}
    for name, (path, curves) in SWEEPS.items():
        summary = diagnose(read_sweep(path, curves=curves))
        out[name] = json.loads(json.dumps(summary))  # as hparam_summary.json holds it
    return out


@pytest.mark.parametrize("name", list(SWEEPS))
def test_the_summary_round_trips_through_the_records(summaries, name):
    summary = summaries[name]
    diagnosis = Diagnosis.from_dict(summary)
    assert diagnosis.to_dict() == summary
    assert json.dumps(diagnosis.to_dict(), sort_keys=True) == json.dumps(summary, sort_keys=True)
    assert len(diagnosis.associations) == len(summary["associations"]) and diagnosis.sweep.n_trials > 0


def test_every_association_names_its_regions_by_fields_and_the_text_is_only_their_display(summaries):
    seen_rules = set()
    for summary in summaries.values():
        for data in summary["associations"]:
            a = Association.from_dict(data)
            seen_rules.add(a.rule)
            assert " and ".join(r.condition for r in a.regions) == a.condition
            assert [r.hyperparameter for r in a.regions] == a.hyperparameters
            if a.rule == "pair":
                assert [p["k"] for p in data["parts"]] == [p.k for p in a.parts]
    assert seen_rules == {"bucket", "value", "threshold", "pair"}


def test_a_pattern_region_holds_exactly_its_trials_values():
    cifar = diagnose(read_sweep(EXAMPLES / "deepobs_cifar10_3c3d.csv"))
    by_id = {a["id"]: Association.from_dict(a) for a in cifar["associations"]}
    # (no longer a pattern: the 6th best run, an sgd one, trained at 0.0631; its association stays)
    a = next(a for a in by_id.values() if a.condition == "learning_rate ≥ 0.0631" and a.issue_type == "nonfinite_metric")
    (region,) = a.regions
    assert region.rule == "threshold" and region.direction == "above" and 0.0630 < region.low < 0.0632
    assert region.contains(region.low) and not region.contains(region.low * 0.999)


def test_regions_contain_values_as_their_rule_says():
    bucket = Region(hyperparameter="wd", rule="bucket", low=0.001, high=0.01, closed=False)
    last = Region(hyperparameter="wd", rule="bucket", low=0.01, high=0.1)
    assert bucket.contains(0.001) and not bucket.contains(0.01) and last.contains(0.1) and not last.contains(0.11)
    assert bucket.condition == "wd in [0.001, 0.01)" and last.condition == "wd in [0.01, 0.1]"
    value = Region(hyperparameter="bs", rule="value", value="32")
    assert value.contains(32) and value.contains("32") and not value.contains(64) and value.condition == "bs = 32"
    numeric = Region(hyperparameter="x", rule="value", low=0.0631, high=0.0631)
    assert numeric.contains(0.06310001) and not numeric.contains(0.07) and numeric.condition == "x = 0.0631"
    assert Region(hyperparameter="flag", rule="value", value="true").contains(True)
    missing = Region(hyperparameter="opt", rule="value", value="(missing)")
    assert missing.contains(None) and not Region(hyperparameter="lr", rule="threshold", high=0.1).contains(None)
    below = Region(hyperparameter="lr", rule="threshold", high=0.1)
    assert below.direction == "below" and below.contains(0.1) and not below.contains(float("nan"))
    assert below.condition == "lr ≤ 0.1"


def test_a_condition_text_with_and_in_a_value_is_not_parsed(summaries):
    # A categorical value may contain " and " (a model name): the regions come from the fields.
    region = Region(hyperparameter="model", rule="value", value="cnn and rnn")
    other = Region(hyperparameter="lr", rule="threshold", low=0.1)
    a = Association.from_dict(next(x for x in summaries["deepobs_cifar10"]["associations"] if x["rule"] == "pair"))
    parts = [p.to_dict() | region_fields for p, region_fields in zip(a.parts, (region.fields(), other.fields()))]
    data = a.to_dict() | {"condition": f"{region.condition} and {other.condition}", "parts": parts}
    assert Association.from_dict(data).regions == (region, other)


def test_wrong_shapes_are_refused_with_the_key_named(summaries):
    summary = copy.deepcopy(summaries["deepobs_cifar10"])
    summary["surprise"] = 1
    with pytest.raises(ValueError, match="unknown key 'surprise'"):
        Diagnosis.from_dict(summary)
    summary = copy.deepcopy(summaries["deepobs_cifar10"])
    del summary["associations"][0]["closed"]
    with pytest.raises(ValueError, match="Association: missing key"):
        Diagnosis.from_dict(summary)
    summary = copy.deepcopy(summaries["deepobs_cifar10"])
    summary["patterns"][0]["phrasing"] = {"title": "x"}  # open records keep what the model adds
    assert Diagnosis.from_dict(summary).to_dict() == summary


def test_issues_are_columns_whichever_way_a_diagnosis_is_built(summaries):
    import dataclasses

    from core.records import Issue, IssueColumns

    diagnosis = Diagnosis.from_dict(summaries["sample"])
    rows = [Issue.from_dict(r) for r in summaries["sample"]["issues"]]
    built = dataclasses.replace(diagnosis, issues=rows)  # a list of records, as code may build it
    assert isinstance(built.issues, IssueColumns) and built.to_dict() == summaries["sample"]
    assert [i.type for i in built.issues] == [r["type"] for r in summaries["sample"]["issues"]]
    with pytest.raises(ValueError, match="columns of different lengths"):
        IssueColumns(trial_id=["a", "b"], type=["failed"], severity=["high", "high"], detail=["", ""],
                     epoch=[None, None])
