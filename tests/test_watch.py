"""The watch on running sweeps: real Optuna studies with a planted sick region, null sweeps, the file mode."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import EXAMPLES, ROOT

from core.loading import RawTable
from core.records import Region as RegionOf
from core.regions import condemned_regions
from core.sweep import Sweep
from hparam_inspector.watch import WATCH_ATTR, PathologyWatch, Watch, watch_source

optuna.logging.set_verbosity(optuna.logging.ERROR)
SICK_LR = 0.1


def _objective(trained: list[dict]):
    """A cheap 'training': lr above 0.1 goes NaN at some epoch in most trials; each real training is recorded."""

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
        momentum = trial.suggest_float("momentum", 0.0, 0.99)
        trial.suggest_categorical("optimizer", ["sgd", "adam"])
        trained.append({"number": trial.number, "lr": lr})
        rng = np.random.default_rng(trial.number)
        loss = 2.3
        for epoch in range(5):
            if lr > SICK_LR and rng.random() < 0.6:
                loss = float("nan")
            elif not math.isnan(loss):
                loss = loss * (0.75 + 0.05 * abs(math.log10(lr) + 2.5)) + 0.02 * momentum * rng.random()
            trial.report(loss, epoch)
        return loss  # NaN: Optuna marks the trial FAIL

    return objective


def _run(watch: PathologyWatch | None, trainings: int, seed: int = 3) -> tuple[optuna.Study, list[dict]]:
    """A study that stops after ``trainings`` trials really trained (the compute budget)."""
    trained: list[dict] = []

    def budget(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if len(trained) >= trainings:
            study.stop()

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    study.optimize(_objective(trained), n_trials=10 * trainings, callbacks=([watch] if watch else []) + [budget])
    return study, trained


def test_the_watch_condemns_a_planted_region_and_the_budget_goes_elsewhere(tmp_path: Path) -> None:
    stream = io.StringIO()
    watch = PathologyWatch(every=20, out=tmp_path / "watch", avoid_sick_regions=True, stream=stream)
    study, trained = _run(watch, trainings=120)
    _, trained_alone = _run(None, trainings=120)

    [region] = watch.condemned
    assert region.issue_type in {"nonfinite_metric", "failed"} and region.hyperparameters == ("lr",)
    assert 0.05 <= region.conditions[0].low <= 0.2 and region.conditions[0].direction == "above"
    sick_with = sum(t["lr"] > SICK_LR for t in trained)
    sick_without = sum(t["lr"] > SICK_LR for t in trained_alone)
    pruned = [t for t in study.trials if WATCH_ATTR in t.user_attrs]
    # Same seed, same budget of 120 trainings: the sick region got fewer of them, the rest of the space more.
    assert sick_without >= 20 and sick_with < 0.75 * sick_without, (sick_with, sick_without)
    assert len(trained) == len(trained_alone) == 120
    assert len(pruned) >= 10
    print(f"sick trainings: {sick_without} without the watch, {sick_with} with it; "
          f"{len(pruned)} trials pruned before training")
    for t in pruned:  # pruned before training, with the parameters drawn and the reason recorded
        assert t.state == optuna.trial.TrialState.PRUNED and not t.intermediate_values
        assert t.params["lr"] >= region.conditions[0].low
        assert t.user_attrs[WATCH_ATTR].startswith("pruned before training: lr = ")
        assert "condemned region" in t.user_attrs[WATCH_ATTR]
        assert t.number not in {x["number"] for x in trained}
    lines = stream.getvalue().splitlines()
    announced = [line for line in lines if " at lr " in line and "condemned" not in line]
    assert len(announced) == 1 and announced[0].startswith("[watch] trial ")
    assert " vs 0/" in announced[0] and "q = " in announced[0]
    assert sum("condemned lr ≥" in line for line in lines) == 1
    summary = json.loads((tmp_path / "watch" / "hparam_summary.json").read_text())
    state = json.loads((tmp_path / "watch" / "watch.json").read_text())
    assert summary["sweep"]["n_trials"] in (100, 120)  # the trained trials at the last look, never the pruned
    assert all(t["trial_id"] not in {str(p.number) for p in pruned} for t in summary["issues"])
    assert state["condemned"][0]["condition"] == region.condition
    assert len(state["pruned_before_training"]) == len(pruned)
    assert "Hyperparameter Pathologies" in (tmp_path / "watch" / "hparam_report.md").read_text()
    assert not list((tmp_path / "watch").glob(".*.tmp"))


def test_without_avoid_the_watch_only_reports(tmp_path: Path) -> None:
    stream = io.StringIO()
    watch = PathologyWatch(every=30, out=None, stream=stream)
    study, trained = _run(watch, trainings=90)
    assert not any(WATCH_ATTR in t.user_attrs for t in study.trials)
    assert type(study.sampler) is optuna.samplers.RandomSampler
    [region] = watch.condemned  # NaN objectives are failed trials to Optuna: either type may name the region
    assert region.issue_type in {"nonfinite_metric", "failed"} and region.hyperparameters == ("lr",)
    assert "condemned lr ≥ " in stream.getvalue() and " at lr ≥ " in stream.getvalue()  # later looks refine it


def _permuted(frame: pd.DataFrame, columns: list[str], seed: int) -> pd.DataFrame:
    """The rows' hyperparameters shuffled together against their outcomes: any association is gone."""
    out = frame.copy()
    order = np.random.default_rng(seed).permutation(len(frame))
    out[columns] = frame[columns].to_numpy()[order]
    return out


def _look_as_it_grows(frame: pd.DataFrame, every: int) -> Watch:
    watch = Watch(out=None, stream=None)
    for end in range(every, len(frame) + every, every):
        part = frame.iloc[:end].reset_index(drop=True)
        watch.update(Sweep(trials=RawTable(frame=part, source="deepobs"), format="csv"))
    return watch


def test_null_sweeps_never_condemn_a_region() -> None:
    """DeepOBS (real sick regions at high lr) with its hyperparameters permuted, looked at every 27 trials."""
    frame = pd.read_csv(EXAMPLES / "deepobs_cifar10_3c3d.csv", dtype=str, keep_default_na=False).replace("", None)
    hps = ["learning_rate", "optimizer", "momentum"] if "momentum" in frame.columns else ["learning_rate", "optimizer"]
    real = _look_as_it_grows(frame, every=27)
    assert any(r.hyperparameters[-1] == "learning_rate" for r in real.condemned.values())  # the test can fail
    condemned = {seed: [r.line() for r in _look_as_it_grows(_permuted(frame, hps, seed), 27).condemned.values()]
                 for seed in range(8)}
    assert not any(condemned.values()), condemned


def test_condemned_regions_only_from_high_severity_patterns_and_never_the_best_trial() -> None:
    def pattern(pid: str, issue: str, q: float, assoc: str) -> dict:
        return {"id": pid, "association_id": assoc, "issue_type": issue, "trial_ids": ["1"],
                "evidence": {"k": 9, "n": 10, "k_rest": 1, "n_rest": 50, "q": q}}

    summary = {
        "associations": [
            {"id": "A1", "rule": "threshold", "hyperparameter": "lr", "condition": "lr ≥ 0.1", "lo": 0.1, "hi": None,
             "direction": "above"},
            {"id": "A2", "rule": "value", "hyperparameter": "opt", "condition": "opt = adam", "value": "adam"},
            {"id": "A3", "rule": "bucket", "hyperparameter": "wd", "condition": "wd in [0.001, 0.01)", "lo": 0.001,
             "hi": 0.01, "closed": False},
            {"id": "A4", "rule": "pair", "hyperparameter": "opt", "hyperparameters": ["opt", "lr"],
             "condition": "opt = sgd and lr ≤ 1e-05",
             "parts": [{"hyperparameter": "opt", "rule": "value", "condition": "opt = sgd", "value": "sgd"},
                       {"hyperparameter": "lr", "rule": "threshold", "condition": "lr ≤ 1e-05", "hi": 1e-05}]},
        ],
        "patterns": [pattern("P1", "nonfinite_metric", 1e-6, "A1"), pattern("P2", "killed", 1e-6, "A2"),
                     pattern("P3", "pruned", 1e-9, "A2"), pattern("P4", "failed", 0.2, "A3"),
                     pattern("P5", "no_learning", 1e-4, "A4"), pattern("P6", "diverged", 1e-4, "A3")],
        "best_trial": {"hyperparameters": {"lr": 0.01, "opt": "adam", "wd": 0.005}},
    }
    regions = condemned_regions(summary)
    assert [r.pattern_id for r in regions] == ["P1", "P5"]  # killed/pruned never; q too big; P6 holds the best trial
    threshold, pair = regions
    assert threshold.contains({"lr": 0.1}) and not threshold.contains({"lr": 0.0999}) and not threshold.contains({})
    assert pair.contains({"opt": "sgd", "lr": 1e-5}) and not pair.contains({"opt": "adam", "lr": 1e-6})
    assert not pair.decided({"opt": "sgd"})
    bucket = RegionOf(hyperparameter="wd", rule="bucket", low=0.001, high=0.01, closed=False)
    assert bucket.contains(0.001) and not bucket.contains(0.01)
    assert RegionOf(hyperparameter="bs", rule="value", value="32").contains(32)
    assert RegionOf(hyperparameter="x", rule="value", low=0.0631, high=0.0631).contains(0.06310001)
    assert threshold.reason({"lr": 0.3}).startswith("lr = 0.3 lies in a condemned region (P1): NaN/inf metrics at lr ≥ 0.1")


def test_watch_source_diagnoses_only_when_trials_were_added(tmp_path: Path) -> None:
    frame = pd.read_csv(EXAMPLES / "deepobs_cifar10_3c3d.csv", dtype=str)
    path = tmp_path / "results.csv"
    frame.iloc[:60].to_csv(path, index=False)
    reads: list[str] = []
    growth = iter([None, lambda: frame.iloc[:135].to_csv(path, index=False), lambda: os.utime(path), None])

    def read(p: str) -> Sweep:
        from core.sources import read_sweep

        reads.append(p)
        return read_sweep(p)

    def sleep(_seconds: float) -> None:
        step = next(growth)
        if step:
            step()

    stream = io.StringIO()
    diagnoses = watch_source(str(path), 1.0, read, Watch(tmp_path / "out", stream=stream), max_checks=5, sleep=sleep)
    # look 1 reads and diagnoses; look 2 nothing moved; look 3 new rows; look 4 touched, same trials; look 5 still.
    assert diagnoses == 2 and len(reads) == 3
    assert "135 trials (+75)" in stream.getvalue()
    assert json.loads((tmp_path / "out" / "hparam_summary.json").read_text())["sweep"]["n_trials"] == 135


def test_the_progress_line_is_said_before_the_summary_is_written(tmp_path: Path) -> None:
    """Ctrl-C right after the summary lands must not lose its line (the CLI test raced on this)."""
    frame = pd.read_csv(EXAMPLES / "deepobs_cifar10_3c3d.csv", dtype=str)
    stream = io.StringIO()
    watch = Watch(tmp_path / "out", stream=stream)
    said_at_write: list[str] = []
    write = watch._write
    watch._write = lambda summary: (said_at_write.append(stream.getvalue()), write(summary))
    watch.update(Sweep(trials=RawTable(frame=frame.iloc[:40], source="deepobs"), format="csv"), progress="r.csv")
    watch.update(Sweep(trials=RawTable(frame=frame, source="deepobs"), format="csv"), progress="r.csv")
    assert "[watch] r.csv: 40 trials (+40)" in said_at_write[0] and "[watch] r.csv: 135 trials (+95)" in said_at_write[1]


def test_cli_watch_follows_a_growing_file_until_interrupted(tmp_path: Path) -> None:
    frame = pd.read_csv(EXAMPLES / "deepobs_cifar10_3c3d.csv", dtype=str)
    path, out = tmp_path / "results.csv", tmp_path / "out"
    frame.iloc[:40].to_csv(path, index=False)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "MODEL")} | {"HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "graph.run", str(path), "--watch", "0.2", "--out", str(out)],
                               cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        summary = out / "hparam_summary.json"
        _wait(lambda: summary.exists() and json.loads(summary.read_text())["sweep"]["n_trials"] == 40)
        frame.to_csv(tmp_path / "next.csv", index=False)  # the whole table at once: no half-written read to race
        os.replace(tmp_path / "next.csv", path)
        _wait(lambda: json.loads(summary.read_text())["sweep"]["n_trials"] == 135)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "135 trials (+95)" in err and "watch stopped after 2 diagnosis(es)" in err
    assert any(line.startswith("[watch] ") and " at learning_rate " in line and ", q = " in line
               for line in err.splitlines()) and "Traceback" not in err  # DeepOBS: its lr regions are sick


def _wait(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, json.JSONDecodeError):
            pass
        time.sleep(0.1)
    pytest.fail("timed out")


def test_a_diagnosis_that_cannot_run_never_stops_the_study() -> None:
    stream = io.StringIO()
    watch = PathologyWatch(every=5, out=None, avoid_sick_regions=True, stream=stream)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    def crashes(trial: optuna.Trial) -> float:
        trial.suggest_float("lr", 1e-4, 1.0, log=True)
        raise RuntimeError("CUDA out of memory")  # no metric ever reported

    study.optimize(crashes, n_trials=12, callbacks=[watch], catch=(RuntimeError,))
    assert len(study.trials) == 12 and watch.watch.diagnoses == 2 and not watch.condemned  # failing everywhere

    def unreadable() -> Sweep:
        from core.errors import InputError

        raise InputError("x: no metric column")

    assert watch.watch.safely(unreadable, "trial 3") == []
    assert watch.watch.safely(lambda: 1 / 0, "trial 4") == []
    assert stream.getvalue().splitlines()[-2:] == [
        "[watch] trial 3: not diagnosed yet (x: no metric column)",
        "[watch] trial 4: diagnosis failed (ZeroDivisionError: division by zero); the sweep goes on"]


def test_a_top_trial_on_a_threshold_written_with_fewer_digits_is_never_condemned() -> None:
    """The watch, the patterns and the plan read one grid value written two ways as one (Region.contains)."""
    summary = {
        "associations": [{"id": "A1", "rule": "threshold", "hyperparameter": "lr", "condition": "lr ≥ 0.0631",
                          "lo": 0.06309573444801936, "hi": None, "direction": "above"}],
        "patterns": [{"id": "P1", "association_id": "A1", "issue_type": "nonfinite_metric", "trial_ids": ["1"],
                      "evidence": {"k": 9, "n": 10, "k_rest": 1, "n_rest": 50, "q": 1e-6}}],
        "top_trials": [{"rank": 1, "trial_id": "b", "hyperparameters": {"lr": 0.01}},
                       {"rank": 2, "trial_id": "c", "hyperparameters": {"lr": 0.063095734448}}],
    }
    assert condemned_regions(summary) == []
    assert [r.pattern_id for r in condemned_regions(summary | {"top_trials": summary["top_trials"][:1]})] == ["P1"]
    bound = RegionOf(hyperparameter="lr", rule="threshold", low=0.06309573444801936)
    assert bound.contains(0.063095734448) and not bound.contains(0.0630957)
    bucket = RegionOf(hyperparameter="lr", rule="bucket", low=0.01, high=0.06309573444801936, closed=False)
    assert not bucket.contains(0.06309573444801936) and bucket.contains(0.01 * (1 - 1e-12))
