"""Trials left running by a worker that stopped: abandoned, with no outcome, never a cause.

A trial still marked running at export is either still running or was left so when its
worker died (a crash, preemption, the out-of-memory killer, a closed notebook: Optuna, MLflow
and Ray Tune never mark it failed). Neither has an outcome, so neither is compared anywhere:
the real DLP study's first four trials, left RUNNING by one process, were read as killed and
made "killed runs at max_edges in [20, 34)". The study's own times tell the two apart
(:func:`core.sources._common.mark_abandoned`); a finding counts the abandoned ones.
"""

from __future__ import annotations

import pandas as pd
import pytest

from core.findings import abandoned_advice
from core.next_sweep import plan_next_sweep
from core.patterns import analyze_patterns, recommend_all
from core.roles import infer_roles
from core.sources import read_sweep
from core.sources._common import mark_abandoned
from core.status import normalize_status
from core.summary import analyze_sweep
from tests.conftest import DATA

T0 = pd.Timestamp("2026-01-01 00:00:00")
ROOT_CSV = DATA / "optuna" / "dlp_root_trials.csv"


def _at(minutes: float | None, suffix: str = "") -> str | None:
    return None if minutes is None else str(T0 + pd.Timedelta(minutes=minutes)) + suffix


def _finished(n: int = 12, took: float = 10) -> list[tuple[str, float | None, float | None]]:
    """``n`` COMPLETE trials one after another, ``took`` minutes each, the first starting at minute 10."""
    return [("COMPLETE", 10 * i, 10 * i + took) for i in range(1, n + 1)]


def _mark(rows, **kw) -> tuple[list[str], list[str]]:
    frame = pd.DataFrame([{"state": s, "start": _at(a), "end": _at(b)} for s, a, b in rows], dtype=object)
    notes = mark_abandoned(frame, "state", "start", "<t>", end="end", **kw)
    return list(frame["state"]), notes


def test_a_trial_started_long_before_the_last_finished_one_ended_is_abandoned():
    # 12 finished trials of 10 min, the last ending at minute 130: a trial still running had to start more than
    # max(10 x 10 min, 10 min) = 100 min before that to be one no healthy study could still be running
    states, notes = _mark(_finished() + [("RUNNING", 5, None), ("RUNNING", 40, None), ("RUNNING", 125, None)])
    assert states[-3:] == ["ABANDONED", "RUNNING", "RUNNING"]  # 125 min before; 90 min (may be a long run); last
    assert notes == ["<t>: 1 run(s) still marked running started long before the last finished run ended (2.083 h "
                     "before it; the runs that went the whole way took 10 min (median), 10 min at most): left "
                     "running by a worker that stopped, read as abandoned (no outcome, compared nowhere)"]
    assert list(normalize_status(pd.Series(states[-3:]))) == ["running"] * 3  # no outcome, either way


def test_a_finished_trial_that_took_longer_than_ten_medians_keeps_a_long_running_trial_running():
    rows = _finished() + [("COMPLETE", 0, 300), ("RUNNING", 50, None)]  # one trial took 5 h: so may this one
    assert _mark(rows)[0][-1] == "RUNNING"
    rows[-2] = ("COMPLETE", 0, 130)  # the longest now 130 min, the last end 130: 80 min before is not enough
    assert _mark(rows)[0][-1] == "RUNNING"
    rows[-1] = ("RUNNING", 5, None)  # and 125 min before still is not (the longest took 130)
    assert _mark(rows)[0][-1] == "RUNNING"


def test_runs_cut_short_do_not_say_how_long_a_live_one_may_take():
    """A study that prunes hard: runs pruned (or failed) in a minute beside a good trial running for an hour."""
    cut = [(state, 60 + i, 61 + i) for i, state in enumerate(["PRUNED", "FAIL"] * 6)]
    assert _mark(cut + [("RUNNING", 10, None)])[0][-1] == "RUNNING"  # no run went the whole way: no bound
    rows = cut + [("COMPLETE", 0, 55), ("RUNNING", 10, None)]  # one completed in 55 min: 62 min before is fine
    assert _mark(rows)[0][-1] == "RUNNING"
    rows[-2] = ("COMPLETE", 0, 5)  # a completed run took 5 min: max(10 x 5, 5) = 50 min, and 62 min is more
    assert _mark(rows)[0][-1] == "ABANDONED"


def test_the_status_is_rewritten_by_position_whatever_the_index():
    frame = pd.DataFrame([{"state": s, "start": _at(a), "end": _at(b)} for s, a, b in
                          _finished() + [("RUNNING", 5, None)]], dtype=object, index=[0] * 13)
    mark_abandoned(frame, "state", "start", "<t>", end="end")
    assert list(frame["state"]) == ["COMPLETE"] * 12 + ["ABANDONED"]


@pytest.mark.parametrize("rows", [
    [("RUNNING", 0, None), ("RUNNING", 1, None), ("WAITING", None, None)],  # all running: no median
    [("RUNNING", 0, None)] + [("COMPLETE", None, None)] * 5,  # finished, but no time known
    [("RUNNING", 0, None), ("FAIL", 500, 400)] * 3,  # an end before its start is no duration
    [("RUNNING", 0, None), ("COMPLETE", 500, 400)] * 3,  # ... on a run that would bound the others, too
], ids=["all-running", "no-times", "end-before-start", "completed-end-before-start"])
def test_no_finished_trial_of_known_duration_marks_nothing(rows):
    states, notes = _mark(rows)
    assert "ABANDONED" not in states and notes == []


def test_missing_and_unreadable_times_are_missing_not_a_reason():
    rows = _finished() + [("RUNNING", None, None), ("WAITING", None, None)]
    frame = pd.DataFrame([{"state": s, "start": _at(a), "end": _at(b)} for s, a, b in rows], dtype=object)
    frame.loc[0, "end"] = "NaT"
    frame.loc[1, "start"] = "not a time"
    frame.loc[2, "end"] = "nan"
    frame.loc[len(_finished()), "start"] = "NaT"  # a running trial with no start: cannot tell
    assert mark_abandoned(frame, "state", "start", "<t>", end="end") == []
    assert list(frame["state"][-2:]) == ["RUNNING", "WAITING"]
    # the readable rows still bound the others: a run with a readable start long before the last end is abandoned
    frame = pd.concat([frame, pd.DataFrame([{"state": "RUNNING", "start": _at(5), "end": None}], dtype=object)],
                      ignore_index=True)
    assert len(mark_abandoned(frame, "state", "start", "<t>", end="end")) == 1
    assert list(frame["state"][-3:]) == ["RUNNING", "WAITING", "ABANDONED"]


def test_times_at_the_ends_of_the_calendar_and_absurd_runtimes_are_read_without_an_error():
    """Nanosecond timestamps end in 2262: a year 9999 or 0001 must not crash the reader (it did before)."""
    frame = pd.DataFrame({"state": ["COMPLETE", "COMPLETE", "RUNNING", "RUNNING"],
                          "start": ["2026-01-01 00:00", "9999-12-31", "1970-01-01", "0001-01-01"],
                          "end": ["2026-01-01 00:10", "9999-12-31 00:10", None, None]}, dtype=object)
    assert len(mark_abandoned(frame, "state", "start", "<t>", end="end")) == 1
    assert list(frame["state"]) == ["COMPLETE", "COMPLETE", "ABANDONED", "ABANDONED"]
    frame = pd.DataFrame({"state": ["COMPLETE", "COMPLETE", "COMPLETE", "RUNNING"],
                          "start": ["2026-01-01 00:00", "2026-01-01 00:00", "2026-01-01 01:00", "2025-01-01"],
                          "runtime": ["600", "1e300", "-inf", "x"]}, dtype=object)
    assert mark_abandoned(frame, "state", "start", "<t>", runtime="runtime") == []  # a finished run "took" 1e300 s


def test_naive_and_zoned_times_compare_as_one_clock():
    """Optuna stores naive times; an aware column (``Z``, ``+02:00``) is converted, a naive one read as UTC."""
    rows = _finished() + [("RUNNING", 5, None)]
    frame = pd.DataFrame([{"state": s, "start": _at(a), "end": _at(b, "Z")} for s, a, b in rows], dtype=object)
    frame.loc[len(rows) - 1, "start"] = str(T0 + pd.Timedelta(minutes=125)) + "+02:00"  # minute 5 UTC
    assert len(mark_abandoned(frame, "state", "start", "<t>", end="end")) == 1
    assert frame["state"].iloc[-1] == "ABANDONED"


@pytest.mark.parametrize("runtime", ["600", "0 days 00:10:00", "600.0"])
def test_without_an_end_column_the_runtime_gives_the_duration(runtime):
    rows = _finished() + [("RUNNING", 5, None)]
    frame = pd.DataFrame([{"state": s, "start": _at(a), "runtime": runtime if b else None} for s, a, b in rows],
                         dtype=object)
    assert len(mark_abandoned(frame, "state", "start", "<t>", runtime="runtime")) == 1
    assert frame["state"].iloc[-1] == "ABANDONED"


def test_abandoned_is_no_outcome_while_a_tracker_recorded_kill_keeps_its_meaning():
    words = pd.Series(["ABANDONED", "abandoned", "RUNNING", "WAITING", "TrialState.RUNNING",
                       "KILLED", "killed", "preempted", "FAIL", "crashed"])
    assert list(normalize_status(words)) == ["running"] * 5 + ["killed"] * 3 + ["failed"] * 2


def _analyzed(sweep):
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    summary = analyze_sweep(sweep.trials, roles, curves=sweep.curves, curve_hints=sweep.curve_hints,
                            search_space=sweep.space)
    summary["sweep"]["format"] = sweep.format
    return summary | analyze_patterns(summary)


def _compared(summary, ids: set[str]) -> list[str]:
    """Patterns, leads and associations that hold any of ``ids`` or are about running/killed trials."""
    found = []
    for key in ("patterns", "leads", "associations"):
        for item in summary.get(key) or []:
            kinds = {item["issue_type"], *item.get("also_issue_types", [])}
            if kinds & {"running", "killed"} or ids & set(item.get("trial_ids") or []):
                found.append(f"{key}: {item['issue_type']} at {item.get('condition')}")
    return found


def test_the_real_dlp_study_first_four_trials_are_abandoned_not_a_killed_pattern():
    """DLP's root optuna.db: trials 0-3 started together, 21 h before the last trial ended, never finished.

    They were read as killed and gave "Killed runs at max_edges in [20, 34): 4/7 vs 0/25" and "check the
    scheduler"; their max_edges is what the sampler drew first, not why they stopped.
    """
    sweep = read_sweep(ROOT_CSV)
    assert sweep.format == "optuna-csv"
    summary = _analyzed(sweep)
    assert summary["sweep"]["status_counts"] == {"completed": 16, "failed": 12, "running": 4}
    assert _compared(summary, {"0", "1", "2", "3"}) == []
    abandoned = [f for f in summary["findings"] if f["kind"] == "abandoned"]
    assert [(f["n_trials"], f["trial_ids"]) for f in abandoned] == [(4, ["0", "1", "2", "3"])]
    assert abandoned[0]["title"] == "4 of 32 trials were left running by a worker that stopped"
    recs = [r for r in summary["recommendations"] if {"0", "1", "2", "3"} & set(r["trial_ids"])]
    assert len(recs) == 1 and recs[0]["finding_id"] == abandoned[0]["id"]
    assert recs[0]["text"].startswith("Trials `0`, `1`, `2`, `3` never finished: read the logs of the job that ran")
    assert "heartbeat_stale_trial_callback such as RetryHeartbeatStaleTrialCallback" in recs[0]["text"]
    assert not any("scheduler" in r["text"] or "Re-run this report" in r["text"] for r in summary["recommendations"])
    plan = summary.get("next_sweep") or {}
    assert "killed" not in str(plan) and "running" not in str(plan.get("constraints", ""))
    plan = plan_next_sweep(summary)  # the summary above has no plan of its own: make one
    assert isinstance(plan["changes"], list) and "killed" not in str(plan)
    assert not any({"0", "1", "2", "3"} & set(c.get("trial_ids") or []) for c in plan["changes"])


def _study_csv(tmp_path, abandoned_region: bool) -> pd.DataFrame:
    """An Optuna trials_dataframe (no duration column): FAIL exactly at batch_size >= 512, 40 trials of 10 min.

    Four more trials were left RUNNING 1 day before the end; with ``abandoned_region`` they all sit at
    batch_size 64 (where nothing fails), the sampler's last proposals.
    """
    rows = []
    for i in range(40):
        batch = [64, 128, 256, 512, 1024][i % 5]
        start = T0 + pd.Timedelta(days=1, minutes=10 * i)
        fail = batch >= 512
        rows.append({"number": i, "value": None if fail else 0.3 + 0.01 * (i % 7),
                     "datetime_start": str(start), "datetime_complete": str(start + pd.Timedelta(minutes=10)),
                     "params_batch_size": batch, "params_lr": [1e-4, 3e-4, 1e-3, 3e-3][i % 4],
                     "state": "FAIL" if fail else "COMPLETE"})
    for j in range(4):
        rows.append({"number": 40 + j, "value": None, "datetime_start": str(T0 + pd.Timedelta(seconds=j)),
                     "datetime_complete": None, "params_batch_size": 64 if abandoned_region else [128, 1024][j % 2],
                     "params_lr": 1e-3, "state": "RUNNING"})
    rows.append({"number": 44, "value": None, "datetime_start": None, "datetime_complete": None,
                 "params_batch_size": 256, "params_lr": 1e-3, "state": "WAITING"})
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "trials.csv", index=False)
    return frame


@pytest.mark.parametrize("abandoned_region", [True, False])
def test_a_genuine_failure_pattern_still_appears_beside_abandoned_trials(tmp_path, abandoned_region):
    _study_csv(tmp_path, abandoned_region)
    sweep = read_sweep(tmp_path / "trials.csv")
    assert list(sweep.trials.frame["state"][40:]) == ["ABANDONED"] * 4 + ["WAITING"]
    summary = _analyzed(sweep)
    assert summary["sweep"]["status_counts"] == {"completed": 24, "failed": 16, "running": 5}
    failed = [p for p in summary["patterns"] if p["issue_type"] == "failed"]
    assert [(p["condition"], p["evidence"]["k"], p["evidence"]["n"], p["evidence"]["n_rest"]) for p in failed] == [
        ("batch_size ≥ 512", 16, 16, 24)]  # counted over the 40 trials with an outcome, not 45
    assert _compared(summary, {"40", "41", "42", "43", "44"}) == []
    running = [r for r in summary["recommendations"] if "Re-run this report" in r["text"]]
    assert [r["trial_ids"] for r in running] == [["44"]]  # waiting: may still run; 40-43 never will


def test_the_optuna_fix_is_named_only_for_an_optuna_study():
    finding = {"id": "F1", "kind": "abandoned", "title": "2 of 9 trials were left running by a worker that stopped",
               "n_trials": 2, "trial_ids": ["a", "b"]}
    assert "RetryHeartbeatStaleTrialCallback" not in abandoned_advice("mlflow-csv", "trials `a`, `b`")
    assert "RetryHeartbeatStaleTrialCallback" in abandoned_advice("optuna-sqlite", "trials `a`, `b`")
    summary = {"sweep": {"n_trials": 9, "format": "mlflow-store"}, "findings": [finding], "issues": [
        {"trial_id": "a", "type": "running", "detail": "status 'ABANDONED'"},
        {"trial_id": "b", "type": "running", "detail": "status 'abandoned'"},
        {"trial_id": "c", "type": "running", "detail": "status 'RUNNING'"}]}
    recs = recommend_all(summary, [])
    assert [(r["trial_ids"], r["text"][:40]) for r in recs] == [
        (["c"], "Re-run this report later for trial `c`: "),
        (["a", "b"], "Trials `a`, `b` never finished: read the")]


def test_runs_whose_objective_gave_up_do_not_say_how_long_a_run_takes():
    """GNN study: 16 of 60 completed runs returned +inf, some in 0.1 s; the median counted them (2.361 min, not 7.18)."""
    rows = _finished(6, took=30) + [("COMPLETE", 400 + i, 400 + i + 0.002) for i in range(6)] + [("RUNNING", 0, None)]
    frame = pd.DataFrame([{"state": s, "start": _at(a), "end": _at(b)} for s, a, b in rows], dtype=object)
    frame["value"] = ["0.3"] * 6 + ["inf"] * 6 + [None]
    notes = mark_abandoned(frame, "state", "start", "<t>", end="end", results=["value"])
    assert "the runs that went the whole way to a finite result took 30 min (median), 30 min at most" in notes[0]
    assert frame["state"].iloc[-1] == "ABANDONED"
