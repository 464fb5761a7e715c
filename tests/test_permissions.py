"""Permission errors met for real: the CLI run without the right to read or write, one line and exit 2, nothing overwritten.

Everything here usually runs as root, for whom permission bits mean nothing. So the CLI
runs as root without the capabilities that bypass them (``setpriv`` drops
``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH``), and the kernel checks the bits as it
would for any user: the files are root's, so the owner bits decide. (Switching to
``nobody`` is not possible where the interpreter lives under ``/root``, mode 0700.) As
another user, the CLI simply runs as that user. Without ``setpriv``, or where dropping
the capabilities does not take, the tests skip with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, ROOT, SAMPLE

_DROP = "--bounding-set=-dac_override,-dac_read_search"


def _unprivileged() -> list[str]:
    """The command prefix that runs a program without the right to bypass permission bits."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is not installed: permission bits cannot be enforced")
    return [setpriv, _DROP]


@pytest.fixture
def locked(tmp_path: Path):
    """A probe of the prefix, and every mode this test changes restored afterwards (so tmp_path can be removed)."""
    prefix = _unprivileged()
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0)
    done = subprocess.run([*prefix, sys.executable, "-c", f"open({str(probe)!r}).read()"], capture_output=True)
    if done.returncode == 0:
        pytest.skip(f"{' '.join(prefix) or 'this user'} still reads a file of mode 000: permission bits are not enforced")
    yield prefix
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def _cli(prefix: list[str], *args: str | Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "MODEL")} | {"HF_HUB_OFFLINE": "1",
                                                                                       "PYTHONPATH": str(ROOT)}
    code = "import sys; from graph.run import main; sys.exit(main())"
    return subprocess.run([*prefix, sys.executable, "-c", code, *map(str, args), "--offline", "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def _one_line(done: subprocess.CompletedProcess, message: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"error: {message}\n"


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def test_an_unreadable_file_a_folder_and_a_parent(locked, tmp_path: Path) -> None:
    table = tmp_path / "results.csv"
    shutil.copyfile(SAMPLE, table)
    table.chmod(0)
    _one_line(_cli(locked, table, "--no-plots", "--out", tmp_path / "o1"), f"{table}: permission denied")
    table.chmod(0o644)

    experiment = tmp_path / "ray"
    shutil.copytree(DATA / "raytune" / "asha", experiment)
    for mode in (0, 0o644):  # neither listed nor entered; listed but not entered
        experiment.chmod(mode)
        _one_line(_cli(locked, experiment, "--no-plots", "--out", tmp_path / "o2"), f"{experiment}: permission denied")
    experiment.chmod(0o755)

    inner = sorted(experiment.rglob("result.json"))[3]
    inner.chmod(0)  # one trial's results inside a readable experiment
    _one_line(_cli(locked, experiment, "--no-plots", "--out", tmp_path / "o3"), f"{inner}: permission denied")
    inner.chmod(0o644)

    parent = tmp_path / "shut"
    parent.mkdir()
    shutil.copyfile(SAMPLE, parent / "results.csv")
    parent.chmod(0)
    _one_line(_cli(locked, parent / "results.csv", "--no-plots", "--out", tmp_path / "o4"),
              f"{parent / 'results.csv'}: permission denied")


def test_an_unwritable_output_keeps_the_previous_report(locked, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _cli([], SAMPLE, "--out", out)  # a previous report, with its pictures, written with every right
    assert first.returncode == 0, first.stderr
    before = _digests(out)
    assert "hparam_report.md" in before and any(name.startswith("hparam_figures/") for name in before)

    out.chmod(0o555)
    _one_line(_cli(locked, SAMPLE, "--out", out), f"{out}: output directory is not writable")
    out.chmod(0o755)
    (out / "hparam_report.md").chmod(0o444)
    (out / "hparam_figures").chmod(0o555)
    _one_line(_cli(locked, SAMPLE, "--out", out),
              f"{out}: cannot write the report (Permission denied); the previous report there is unchanged")
    assert _digests(out) == before  # nothing replaced, nothing left behind

    parent = tmp_path / "readonly"
    parent.mkdir()
    parent.chmod(0o555)
    _one_line(_cli(locked, SAMPLE, "--out", parent / "new"),
              f"{parent / 'new'}: cannot create the output directory (Permission denied)")
    assert not (parent / "new").exists()
