"""Early-stopped runs are called early-stopped, pruned ones pruned, and runs that stopped failing are named apart."""

from __future__ import annotations

import pandas as pd

from core.loading import RawTable
from core.patterns import analyze_patterns
from core.roles import infer_roles
from core.summary import analyze_sweep
from graph.report.markdown import render_report


def _summary(rows: list[dict[str, object]]) -> dict:
    frame = pd.DataFrame(rows, dtype=object).astype(str)
    summary = analyze_sweep(RawTable(frame=frame, source="<t>"), infer_roles(frame, "<t>"))
    return summary | analyze_patterns(summary) | {"writer": {"author": "deterministic", "notes": []}}


def _sweep(statuses: dict[int, str], blown: tuple[int, ...] = ()) -> list[dict[str, object]]:
    """24 healthy trials; ``statuses`` sets some status words, ``blown`` trials went NaN (a loss that blew up)."""
    rows = []
    for i in range(24):
        loss = 0.3 + 0.01 * (i % 7)
        rows.append({"trial_id": f"t{i:02d}", "lr": 0.001 * (1 + i % 5), "batch_size": [32, 64, 128][i % 3],
                     "status": statuses.get(i, "completed"),
                     "train_loss": "nan" if i in blown else loss - 0.05, "val_loss": "nan" if i in blown else loss})
    return rows


def _stop_rec(summary: dict) -> str:
    (rec,) = [r["text"] for r in summary["recommendations"] if "by design" in r["text"] or "stopped early too" in r["text"]]
    return rec


def test_early_stopped_runs_are_not_called_pruned_and_failures_among_them_are_named_apart():
    early, blown = (1, 5, 9, 13), (5, 13)
    summary = _summary(_sweep(dict.fromkeys(early, "early_stopped"), blown))
    assert summary["sweep"]["status_counts"] == {"completed": 20, "early_stopped": 4}
    rec = _stop_rec(summary)
    by_design, _, failed = rec.partition("They are counted")
    assert "were early-stopped, by design" in by_design and "`t01`, `t09`" in by_design
    assert "prun" not in rec  # no tuner was involved
    assert "`t05`" not in by_design and "`t13`" not in by_design  # they stopped because they blew up ...
    assert ("Trials `t05`, `t13` stopped early too, but with NaN/inf metrics or hidden failures (status says "
            "finished): they stopped because they failed") in failed  # ... and are named apart
    (finding,) = [f for f in summary["findings"] if f["kind"] == "by_design"]
    assert finding["counts"]["early-stopped"] == 2 and finding["failed_ids"] == ["t05", "t13"]
    assert "pruner" not in finding["detail"] and "2 more stopped early after failing" in finding["detail"]
    report = render_report(summary).splitlines()
    assert "(and 2 trial(s) early-stopped, by design; 2 more stopped early after failing, counted above)." in report[6]
    assert "- Status: 20 completed, 4 early-stopped." in report


def test_pruned_runs_keep_the_pruner_wording_and_healthy_stops_name_nothing_apart():
    summary = _summary(_sweep({2: "PRUNED", 6: "pruned", 10: "early_stopped"}))
    assert summary["sweep"]["status_counts"] == {"completed": 21, "pruned": 2, "early_stopped": 1}
    rec = _stop_rec(summary)
    assert rec.startswith("Trials `t10`, `t02`, `t06` were early-stopped (1) or pruned by the tuner (2), by design: "
                          "early stopping fires sooner") or rec.startswith(
        "Trials `t02`, `t06`, `t10` were early-stopped (1) or pruned by the tuner (2), by design: early stopping")
    assert "a pruner stops weak runs" in rec and "stopped early too" not in rec and "failed" not in rec
    report = render_report(summary)
    assert "(and 1 trial(s) early-stopped and 2 trial(s) pruned by the tuner, by design)." in report
    assert "- Status: 21 completed, 2 pruned, 1 early-stopped." in report
    summary = _summary(_sweep({2: "PRUNED", 6: "pruned"}))
    rec = _stop_rec(summary)
    assert rec.startswith("Trials `t02`, `t06` were pruned by the tuner, by design: a pruner stops weak runs.")
    assert "early stopping" not in rec


def _three_readings(summary: dict) -> tuple[dict, str, str]:
    """The by-design finding's counts, the advice and the Overview's line: the three places that say why runs stopped."""
    (finding,) = [f for f in summary["findings"] if f["kind"] == "by_design"]
    overview = next(line for line in render_report(summary).splitlines() if "by design)" in line)
    return finding["counts"], _stop_rec(summary), overview


def test_a_pruners_message_that_says_stopped_does_not_make_a_pruned_run_early_stopped():
    """The error's last line quoted after the status word is the pruner's message, not the status: it stays pruned."""
    rows = _sweep({2: "pruned", 6: "pruned"})
    for row in rows:
        row["error"] = "TrialPruned: trial stopped by the pruner at step 3" if row["status"] == "pruned" else ""
    counts, rec, overview = _three_readings(_summary(rows))
    assert counts["pruned by the tuner"] == 2 and counts["early-stopped"] == 0
    assert rec.startswith("Trials `t02`, `t06` were pruned by the tuner, by design: a pruner stops weak runs.")
    assert overview.endswith("(and 2 trial(s) pruned by the tuner, by design).")


def test_the_sweeps_own_early_stopping_flag_is_read_alike_by_the_finding_the_advice_and_the_overview():
    """A flag column says early stopping, whatever the status word (a tuner's PRUNED, or completed): all three agree."""
    rows = _sweep({2: "PRUNED"})
    for row in rows:
        row["early_stopped"] = "true" if row["trial_id"] in ("t02", "t06") else "false"
    counts, rec, overview = _three_readings(_summary(rows))
    assert counts["early-stopped"] == 2 and counts["pruned by the tuner"] == 0
    assert rec.startswith("Trials `t02`, `t06` were early-stopped, by design: early stopping fires sooner")
    assert overview.endswith("(and 2 trial(s) early-stopped, by design).")
