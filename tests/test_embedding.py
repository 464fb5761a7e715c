"""Embedding as users try it: the graph without a context, bad input keys, Studio's form, and diagnose()."""

from __future__ import annotations

import json
import os

import optuna
import pytest

from core.errors import InputError
from core.records import Diagnosis, with_issue_rows
from graph import diagnose, graph
from graph.context import Context
from tests.conftest import EXAMPLES

SAMPLE = EXAMPLES / "sample_results.csv"


def _study(n: int = 40) -> optuna.Study:
    """A real in-memory study: a conditional parameter, failed and pruned trials, intermediate values."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd"])
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        if optimizer == "sgd":
            trial.suggest_float("momentum", 0.0, 0.99)  # missing for every adam trial
        if lr > 0.5:
            raise RuntimeError("loss exploded")  # FAIL, no value
        loss = 1.0
        for step in range(5):
            loss = loss * (0.7 + lr)
            trial.report(loss, step)
            if trial.number % 7 == 3:
                raise optuna.TrialPruned()
        return loss

    study = optuna.create_study(study_name="embedded", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=n, catch=(RuntimeError,))
    return study


def test_the_graph_runs_without_a_context():
    out = graph.invoke({"results_path": str(SAMPLE)})  # no context=: the defaults (no model) apply
    assert out["summary"]["sweep"]["n_trials"] == 6 and out["summary"]["writer"]["author"] == "deterministic"
    assert out["report"].startswith("#")


@pytest.mark.parametrize("inputs", [{}, {"results": "results.csv"}, {"path": "x.csv", "mapping": {}}])
def test_a_missing_or_misnamed_input_key_is_an_error_naming_the_keys(inputs, tmp_path, monkeypatch):
    (tmp_path / "results.csv").write_text(SAMPLE.read_text())  # never read: that fallback is the CLI's
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="no sweep given: the graph takes 'results_path' .* or 'records'"):
        graph.invoke(inputs, context=Context(offline=True))


def test_studio_shows_what_each_input_means_and_no_object_setting():
    schema = graph.get_input_jsonschema()
    for key in ("results_path", "records", "format", "study", "curves_path", "mapping"):
        assert len(schema["properties"][key].get("description", "")) > 20, key
    context = graph.get_context_jsonschema()
    assert "chat_model" not in context["properties"] and "offline" in context["properties"]
    assert all(p.get("description") for p in context["properties"].values())


def test_diagnose_gives_the_summary_the_graph_gives():
    state = graph.invoke({"results_path": str(SAMPLE)}, context=Context(offline=True))["summary"]
    expected = with_issue_rows(state)  # the state keeps the issue rows column by column
    diagnosis = diagnose(SAMPLE)
    assert diagnosis.to_dict() == expected and Diagnosis.from_dict(state) == diagnosis
    assert diagnosis.trials_affected == expected["trials_affected"] and diagnosis.issues[0].trial_id
    assert diagnose(str(SAMPLE), context=Context(min_support=50)).patterns == []


def test_diagnose_a_live_optuna_study_and_its_trials_dataframe():
    study = _study()
    states = {t.number: t.state.name for t in study.trials}
    failed = sorted(str(n) for n, s in states.items() if s == "FAIL")
    pruned = sorted(str(n) for n, s in states.items() if s == "PRUNED")
    assert failed and pruned

    live = diagnose(study).to_dict()
    frame = study.trials_dataframe()
    assert frame["params_momentum"].isna().any() and frame["value"].isna().any()
    from_frame = diagnose(frame).to_dict()
    from_records = with_issue_rows(graph.invoke({"records": json.loads(frame.to_json(orient="records", date_format="iso"))},
                                                context=Context(offline=True))["summary"])
    from_dict_records = diagnose(frame.to_dict("records")).to_dict()

    for summary in (live, from_frame, from_records, from_dict_records):
        ids = {kind: sorted(i["trial_id"] for i in summary["issues"] if i["type"] == kind)
               for kind in ("failed", "pruned")}
        assert ids == {"failed": failed, "pruned": pruned}
        # a parameter a trial did not sample, or the value of a failed or pruned trial, is missing, not NaN
        assert "nonfinite_metric" not in summary["issue_counts"] and "status_mismatch" not in summary["issue_counts"]
        assert set(summary["sweep"]["roles"]["hyperparameters"]) == {"optimizer", "lr", "momentum"}
    assert live["sweep"]["format"] == "optuna-study" and from_frame["sweep"]["format"] == "optuna-records"
    assert live["search_space"]["lr"]["log"] is True and "curves" in live


def test_diagnose_says_what_it_takes():
    with pytest.raises(InputError, match="DataFrame, an optuna.Study"):
        diagnose(42)
    with pytest.raises(InputError, match="no trial records"):
        diagnose([])


def test_an_input_changed_between_runs_is_read_again(tmp_path):
    path = tmp_path / "results.csv"
    lines = SAMPLE.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:4]))
    first = graph.invoke({"results_path": str(path)}, context=Context(offline=True, pictures=False))
    path.write_text("".join(lines))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # a coarse clock: 1 s later
    second = graph.invoke({"results_path": str(path)}, context=Context(offline=True, pictures=False))
    assert (first["summary"]["sweep"]["n_trials"], second["summary"]["sweep"]["n_trials"]) == (3, len(lines) - 1)

    records = [{"trial_id": "a", "val_loss": 0.5}, {"trial_id": "b", "val_loss": 0.4}]
    assert graph.invoke({"records": records})["summary"]["sweep"]["n_trials"] == 2
    records.append({"trial_id": "c", "val_loss": float("nan")})  # the same list, grown
    assert graph.invoke({"records": records})["summary"]["issue_counts"] == {"nonfinite_metric": 1}
