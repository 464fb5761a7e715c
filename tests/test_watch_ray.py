"""The watch as a Ray Tune callback, in a real (small, local) Tuner run."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from hparam_inspector.watch import ray_tune_callback

ray = pytest.importorskip("ray", reason="ray[tune] is in the test extra")


def test_ray_tune_callback_diagnoses_every_n_ended_trials(tmp_path: Path) -> None:
    from ray import tune

    def trainable(config: dict) -> None:  # defined here: Ray's workers get it by value, not by module name
        loss = 2.3
        for _ in range(3):
            loss = float("nan") if config["lr"] > 0.1 else loss * (0.7 + config["lr"])
            tune.report({"val_loss": loss})

    stream = io.StringIO()
    callback = ray_tune_callback(every=6, out=tmp_path / "watch", stream=stream)
    short = tempfile.mkdtemp(prefix="ray")  # Ray's socket paths must stay under 108 bytes
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False, _temp_dir=short)
    try:
        tuner = tune.Tuner(trainable, param_space={"lr": tune.grid_search([1e-4, 1e-3, 1e-2, 0.2, 0.5, 1.0] * 2)},
                           run_config=tune.RunConfig(callbacks=[callback], storage_path=str(tmp_path / "results"),
                                                     name="exp", verbose=0))
        tuner.fit()
    finally:
        ray.shutdown()
        shutil.rmtree(short, ignore_errors=True)
    assert callback.watch.diagnoses == 2  # after 6 and after 12 ended trials
    summary = json.loads((tmp_path / "watch" / "hparam_summary.json").read_text())
    assert summary["sweep"]["n_trials"] == 12 and summary["sweep"]["status_counts"] == {"completed": 12}
    assert summary["issue_counts"]["nonfinite_metric"] == 6
    assert "Read as `raytune`" in (tmp_path / "watch" / "hparam_report.md").read_text()
    lines = stream.getvalue().splitlines()
    assert all(line.startswith("[watch] ") and "lr ≥ 0.2" in line for line in lines), lines
