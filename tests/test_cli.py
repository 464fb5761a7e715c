"""The command line: exit codes, one-line errors, atomic writes, file discovery."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"HF_TOKEN", "LLM_ENDPOINT_URL", "HPATH_RESULTS_CSV"}}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "graph.run", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=base | (env or {}), timeout=120)


def test_sample_report_and_summary(tmp_path):
    result = run_cli(str(SAMPLE), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert [line.split("]")[0][1:] for line in progress] == ["load", "detect", "analyze", "write"]
    report = (tmp_path / "hparam_report.md").read_text()
    for section in ("## Overview", "## Issue Breakdown", "## Hyperparameter Pathologies", "## Recommendations"):
        assert section in report
    summary = json.loads((tmp_path / "hparam_summary.json").read_text())
    assert {i["trial_id"] for i in summary["issues"]} == {"2", "3", "4", "5"}
    assert sorted(os.listdir(tmp_path)) == ["hparam_figures", "hparam_report.md", "hparam_summary.json"]  # no temp files
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert links and sorted(links) == sorted(f"hparam_figures/{p}" for p in os.listdir(tmp_path / "hparam_figures"))
    assert "## Next experiment" in report and summary["next_sweep"]["hyperparameters"].keys() == {
        "lr", "batch_size", "weight_decay"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("", "file is empty"),
        ("lr,val_loss\n0.1,0.5\n", "no trial id column"),
        ("trial_id,lr,batch_size\n1,0.1,32\n", "no metric column"),
        ("trial_id,val_loss\n1,0.5\n1,0.6\n", "duplicate trial id '1'"),
        ("trial_id,val_loss\n1,0.5\n2,abc\n", "column 'val_loss', line 3: 'abc' is not a number"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_keeps_the_previous_report(tmp_path, content, message):
    out = tmp_path / "out"
    assert run_cli(str(SAMPLE), "--out", str(out)).returncode == 0
    before = (out / "hparam_report.md").read_bytes()
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    result = run_cli(str(path), "--out", str(out))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if not line.startswith("[")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0] and str(path) in lines[0]
    assert "Traceback" not in result.stderr
    assert (out / "hparam_report.md").read_bytes() == before


def test_unwritable_output_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli(str(SAMPLE), "--out", str(blocker / "sub"))
    assert result.returncode == 2 and "cannot create the output directory" in result.stderr


def test_results_path_from_env_then_default_file(tmp_path):
    env_run = run_cli("--out", str(tmp_path / "a"), "--quiet", env={"HPATH_RESULTS_CSV": str(SAMPLE)})
    assert env_run.returncode == 0 and env_run.stderr == ""
    (tmp_path / "results.csv").write_bytes(SAMPLE.read_bytes())
    default_run = run_cli("--out", "b", cwd=tmp_path)
    assert default_run.returncode == 0, default_run.stderr
    assert (tmp_path / "b" / "hparam_report.md").exists()
    missing = run_cli("--out", "c", cwd=tmp_path / "b")
    assert missing.returncode == 2 and "results.csv: file not found" in missing.stderr


def test_dotenv_is_read(tmp_path):
    (tmp_path / ".env").write_text(f"HPATH_RESULTS_CSV={SAMPLE}\n")
    result = run_cli("--out", "o", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "hparam_summary.json").exists()


def test_json_to_stdout_writes_nothing(tmp_path, capsys, monkeypatch):
    from graph.run import main

    monkeypatch.chdir(tmp_path)
    assert main([str(SAMPLE), "--offline", "--output-format", "json", "--out", "never", "--quiet"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["sweep"]["n_trials"] == 6 and "next_sweep" in summary and captured.err == ""
    assert list(tmp_path.iterdir()) == []


def test_fail_on_gives_status_1_only_for_the_named_issue_types(tmp_path, capsys):
    from graph.run import main

    deepobs = str(ROOT / "examples" / "deepobs_cifar10_3c3d.csv")
    args = [deepobs, "--offline", "--out", str(tmp_path), "--no-plots"]
    assert main([*args, "--fail-on", "suspicious_validation,timeout"]) == 0
    capsys.readouterr()
    assert main([*args, "--fail-on", "diverged, nonfinite_metric"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "fail-on: 36 trial(s) with nonfinite_metric, 9 trial(s) with diverged"
    assert (tmp_path / "hparam_report.md").exists()  # the report is written all the same
    assert main([*args, "--fail-on", "any", "--quiet"]) == 1
    assert capsys.readouterr().err.startswith("fail-on: ")  # even with --quiet: a CI log says why it failed
    assert main([str(SAMPLE), "--offline", "--out", str(tmp_path), "--fail-on", "nan"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]
    assert len(lines) == 1 and lines[0].startswith("error: --fail-on 'nan': unknown issue type 'nan'; types: any, ")


def test_terminal_gets_a_spinner_and_a_colour_summary(tmp_path, monkeypatch):
    from rich.console import Console

    import graph.run
    from graph.run import main

    buffer = io.StringIO()
    monkeypatch.setattr(graph.run, "_console", lambda: Console(file=buffer, force_terminal=True, width=120))
    deepobs = str(ROOT / "examples" / "deepobs_cifar10_3c3d.csv")
    assert main([deepobs, "--offline", "--out", str(tmp_path), "--no-plots"]) == 0
    text = buffer.getvalue()
    assert "\x1b[" in text  # colour
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    for node in ("[load]", "[detect]", "[analyze]", "[write]"):
        assert node in plain
    assert "54 of 135 trials have issues" in plain and "nonfinite_metric" in plain and "Top patterns" in plain
    assert "P1" in plain and "33/48" in plain  # NaN at learning_rate ≥ 0.1 (past the 6th best run, at 0.0631)
