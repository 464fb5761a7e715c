"""The output set under faults: parallel runs, a full disk, a killed run, an internal error."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, SAMPLE

OTHER = ROOT / "tests" / "data" / "deepobs_nonfinite_slice.csv"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"HF_TOKEN", "LLM_ENDPOINT_URL", "HPATH_RESULTS_CSV"}}
    return env | {"PYTHONPATH": str(ROOT)}


def test_parallel_runs_into_one_directory_never_mix_their_files(tmp_path):
    out = tmp_path / "out"
    runs = [subprocess.Popen([sys.executable, "-m", "graph.run", str(src), "--offline", "--out", str(out),
                              "--output-format", "html", "--quiet"], cwd=ROOT, env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for src in (SAMPLE, OTHER, SAMPLE, OTHER)]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    summary = json.loads((out / "hparam_summary.json").read_text())
    report = (out / "hparam_report.md").read_text()
    html = (out / "hparam_report.html").read_text()
    source = summary["sweep"]["source"]
    assert f"Sweep `{source}`" in report and Path(source).name in html  # one run's report, summary and page
    links = sorted(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report))
    assert links == sorted(f"hparam_figures/{p}" for p in os.listdir(out / "hparam_figures"))
    assert sorted(os.listdir(out)) == ["hparam_figures", "hparam_report.html", "hparam_report.md",
                                       "hparam_summary.json"]  # no staging directory left


def test_a_full_disk_gives_one_line_and_keeps_the_previous_set(tmp_path, monkeypatch, capsys):
    from graph.report.output_set import OutputSet
    from graph.run import main

    assert main([str(SAMPLE), "--offline", "--out", str(tmp_path), "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    pictures = sorted(os.listdir(tmp_path / "hparam_figures"))
    real = OutputSet.write

    def full(self, name, data):
        if name.endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, name, data)

    monkeypatch.setattr(OutputSet, "write", full)
    assert main([str(OTHER), "--offline", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path}: cannot write the report (No space left on device); "
                   "the previous report there is unchanged"]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert sorted(os.listdir(tmp_path / "hparam_figures")) == pictures
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_killed_runs_staging_directory_is_removed_by_the_next_run(tmp_path, capsys):
    from graph.run import main

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".hparam-output-tmp-{dead.stdout.strip()}-x1y2"
    (stale / "hparam_figures").mkdir(parents=True)
    (stale / "hparam_report.md").write_text("half")
    assert main([str(SAMPLE), "--offline", "--out", str(tmp_path), "--quiet", "--no-plots"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["hparam_report.md", "hparam_summary.json"]


def test_a_run_without_pictures_removes_the_previous_runs_pictures(tmp_path):
    from graph.run import main

    assert main([str(SAMPLE), "--offline", "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "hparam_figures").is_dir()
    (tmp_path / "notes.txt").write_text("mine")
    assert main([str(SAMPLE), "--offline", "--out", str(tmp_path), "--quiet", "--no-plots"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["hparam_report.md", "hparam_summary.json", "notes.txt"]


def test_an_internal_error_is_one_line_and_exit_3_with_the_traceback_only_on_debug(tmp_path, monkeypatch, capsys):
    import graph.run
    from graph.run import main

    def broken(*args, **kwargs):
        raise RuntimeError("boom \x1b]0;title\x07 at http://tok123@host/v1")

    monkeypatch.setattr(graph.run, "run_graph", broken)
    assert main([str(SAMPLE), "--offline", "--out", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err.splitlines() == ["error: internal error, please report it: RuntimeError: boom at http://***@host/v1 "
                                "(--debug shows the traceback)"]
    assert main([str(SAMPLE), "--offline", "--out", str(tmp_path), "--debug"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_a_fifo_is_refused_at_once_with_one_line(tmp_path):
    fifo = tmp_path / "results.csv"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-m", "graph.run", str(fifo), "--offline", "--out", str(tmp_path / "o")],
                            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {fifo}: is a named pipe (FIFO), not a file; " \
                                                     "save the table to a file first"


def test_a_bad_curves_file_is_named_in_the_error(tmp_path, capsys):
    from graph.run import main

    curves = tmp_path / "my_curves.csv"
    curves.write_text("trial_id,step,val_loss\n2,0,0.5\n2,1,0.4,9\n")
    assert main([str(SAMPLE), "--curves", str(curves), "--offline", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {curves}: line 3 has 4 fields")


def test_hostile_ids_and_names_reach_neither_terminal_nor_report_raw(tmp_path, capsys):
    from graph.run import main

    long_id = "r" + "7" * 50_000
    path = tmp_path / "hostile.csv"
    path.write_text("trial_id,lr<img src=x onerror=alert(1)>,val_loss,state\n"
                    f"{long_id},0.1,0.5,COMPLETE\nr2\x1b]0;pwned\x07,0.2,nan,FAIL\x1b[31m\n"
                    "r3,[ok](javascript:alert('ok')),0.4,COMPLETE\nr4,0.3,0.45,COMPLETE\n")
    assert main([str(path), "--offline", "--out", str(tmp_path / "o"), "--no-plots"]) == 0
    report = (tmp_path / "o" / "hparam_report.md").read_text()
    err = capsys.readouterr().err
    assert "\x1b" not in report and "\x1b" not in err
    assert "<img" not in report.replace("`lr<img src=x onerror=alert(1)>`", "")
    assert "](javascript:" not in report.replace("`[ok](javascript:alert('ok'))`", "")


def test_sigkill_while_writing_keeps_the_previous_set_and_leaves_only_a_named_staging_dir(tmp_path):
    import signal
    import time

    from graph.run import main

    assert main([str(SAMPLE), "--offline", "--out", str(tmp_path), "--quiet"]) == 0
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    run = subprocess.Popen([sys.executable, "-m", "graph.run", str(OTHER), "--offline", "--out", str(tmp_path), "--quiet"],
                           cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    give_up = time.monotonic() + 240
    while run.poll() is None and time.monotonic() < give_up:
        if any(p.name.startswith(".hparam-output-tmp-") for p in tmp_path.iterdir()):
            run.send_signal(signal.SIGKILL)  # while the pictures are being drawn into the staging directory
            break
        time.sleep(0.01)
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL, "the run ended before it could be killed while writing"
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*")
             if p.is_file() and not str(p.relative_to(tmp_path)).startswith(".hparam-output-tmp-")}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")][0].startswith(".hparam-output-tmp-")
    assert main([str(SAMPLE), "--offline", "--out", str(tmp_path), "--quiet", "--no-plots"]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


_POLL = """
import os, sys
out, misses, looks = sys.argv[1], 0, 0
names = [os.path.join(out, n) for n in ("hparam_report.md", "hparam_figures", "hparam_figures/heatmap.png")]
print("ready", flush=True)
while not os.path.exists(os.path.join(out, "stop")):
    for name in names:
        looks += 1
        misses += not os.path.exists(name)
print(misses, looks)
"""


def _commit(out: Path, i: int) -> None:
    from graph.report.compose import report_set

    with report_set(out) as staged:
        staged.write("hparam_report.md", f"report {i}")
        staged.write("hparam_summary.json", f"{i}")
        staged.write("hparam_figures/heatmap.png", f"png {i}".encode())
        staged.commit()


def test_a_reader_never_finds_a_name_of_the_set_missing_while_sets_are_swapped_in(tmp_path):
    _commit(tmp_path, 0)
    poller = subprocess.Popen([sys.executable, "-c", _POLL, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert poller.stdout.readline().strip() == "ready"
    for i in range(1, 400):
        _commit(tmp_path, i)
    (tmp_path / "stop").touch()
    misses, looks = map(int, poller.communicate(timeout=60)[0].split())
    assert looks > 1000 and misses == 0
    assert (tmp_path / "hparam_report.md").read_text() == "report 399"
    assert (tmp_path / "hparam_figures" / "heatmap.png").read_bytes() == b"png 399"
    assert sorted(os.listdir(tmp_path)) == ["hparam_figures", "hparam_report.md", "hparam_summary.json", "stop"]


def test_a_pictures_folder_holding_the_users_files_keeps_them(tmp_path):
    _commit(tmp_path, 0)
    (tmp_path / "hparam_figures" / "mine.png").write_bytes(b"keep")
    (tmp_path / "hparam_figures" / "isolation_7.png").write_bytes(b"old")
    _commit(tmp_path, 1)
    folder = tmp_path / "hparam_figures"
    assert sorted(os.listdir(folder)) == ["heatmap.png", "mine.png"]
    assert (folder / "heatmap.png").read_bytes() == b"png 1" and (folder / "mine.png").read_bytes() == b"keep"


def test_the_saved_pictures_are_the_ones_inside_the_graphs_html_page():
    from graph import graph
    from graph.context import Context
    from graph.report.compose import report_files

    out = graph.invoke({"results_path": str(ROOT / "examples" / "deepobs_cifar10_3c3d.csv")}, context=Context(offline=True))
    files = report_files(out, "{}", html=True)
    pictures = {name: data for name, data in files.items() if name.startswith("hparam_figures/")}
    assert sorted(pictures) == sorted(p["path"] for p in out["pictures"]) and len(pictures) >= 2
    assert all(data.startswith(b"\x89PNG") for data in pictures.values())
    assert all(f"]({p['path']})" in out["report"] for p in out["pictures"])
    assert files["hparam_report.html"] == out["report_html"] and files["hparam_report.md"] == out["report"]
