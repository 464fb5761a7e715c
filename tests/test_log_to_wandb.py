"""--log-to wandb in W&B's offline mode: the report lands in a local run directory (no network, no account)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES

from graph.run import main

pytest.importorskip("wandb", reason="wandb is in the test extra")


def test_log_to_wandb_offline_writes_the_files_into_the_run_directory(tmp_path: Path, monkeypatch, capsys) -> None:
    for name, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true",
                        "WANDB_PROJECT": "sweeps", "WANDB_CONFIG_DIR": str(tmp_path / "config"),
                        "WANDB_CACHE_DIR": str(tmp_path / "cache"), "WANDB_DISABLE_CODE": "true"}.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    assert main([str(EXAMPLES / "deepobs_cifar10_3c3d.csv"), "--out", str(out), "--offline", "--log-to", "wandb"]) == 0
    assert "wandb run " in capsys.readouterr().err
    [run_dir] = (tmp_path / "wandb").glob("offline-run-*")
    files = run_dir / "files"
    assert (files / "hparam_summary.json").read_bytes() == (out / "hparam_summary.json").read_bytes()
    assert (files / "hparam_report.md").read_bytes() == (out / "hparam_report.md").read_bytes()
    assert {p.name for p in (files / "hparam_figures").glob("*.png")} == {p.name for p in (out / "hparam_figures").glob("*.png")}
    [log] = run_dir.glob("run-*.wandb")  # the run's record for `wandb sync`, config included
    assert b"hparam_inspector.n_trials" in log.read_bytes()
