"""A real MLflow tracking server (``mlflow server``, SQLite backend, free port): runs logged by MLflow, read back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from live_servers import free_port, mlflow_server

from core.sources import read_sweep
from graph.run import main

mlflow = pytest.importorskip("mlflow", reason="mlflow is in the test extra")

LRS = [1e-4, 1e-3, 1e-2, 0.1, 0.3, 1.0]


def _log_sweep(url: str) -> None:
    """12 runs of 4 steps: NaN val_loss and +inf train_loss from step 2 at lr >= 0.3, one FAILED, one KILLED."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    experiment = client.create_experiment("sweep-a")
    other = client.create_experiment("other")
    client.set_terminated(client.create_run(other, run_name="x").info.run_id)
    now = int(time.time() * 1000)
    for i in range(12):
        lr = LRS[i % 6]
        # explicit times: one minute each, but r03 took 4 s (runtimes vary 10x with the configuration and the
        # machine's load); all logged their 4 steps, which the histories (curves) say, so none ran short
        run_id = client.create_run(experiment, run_name=f"r{i:02d}", start_time=now).info.run_id
        metrics = []
        for step in range(4):
            sick = lr >= 0.3 and step >= 2
            val = float("nan") if sick else 2.3 * 0.7 ** step + 0.01 * i
            train = float("inf") if sick else 0.9 * val
            metrics += [Metric("val_loss", val, now + step, step), Metric("train_loss", train, now + step, step)]
        client.log_batch(run_id, metrics=metrics, params=[Param("lr", str(lr)), Param("batch_size", "32")])
        client.set_terminated(run_id, status="FAILED" if i == 1 else "KILLED" if i == 7 else "FINISHED",
                              end_time=now + (4_000 if i == 3 else 60_000))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("mlflow")
    with mlflow_server(root) as url:
        _log_sweep(url)
        yield url, root


def _issues(summary: dict) -> set[tuple[str, str]]:
    return {(i["trial_id"], i["type"]) for i in summary["issues"]}


def test_runs_on_the_server_read_back_with_the_same_issues_as_its_store(server, tmp_path: Path, capsys) -> None:
    url, root = server
    assert main([url, "--study", "sweep-a", "--out", str(tmp_path), "--no-plots", "--offline"]) == 0
    summary = json.loads((tmp_path / "hparam_summary.json").read_text())
    assert summary["sweep"]["format"] == "mlflow-server" and summary["sweep"]["n_trials"] == 12
    assert summary["sweep"]["status_counts"] == {"completed": 10, "failed": 1, "killed": 1}
    sick = {f"r{i:02d}" for i in range(12) if LRS[i % 6] >= 0.3}
    assert {t for t, kind in _issues(summary) if kind == "nonfinite_metric"} == sick
    assert ("r01", "failed") in _issues(summary) and ("r07", "killed") in _issues(summary)
    assert not any(kind == "short_run" for _, kind in _issues(summary))  # r03: 4 s, but all 4 steps logged
    nan_detail = next(i["detail"] for i in summary["issues"] if i["trial_id"] == "r04" and i["type"] == "nonfinite_metric")
    assert "val_loss=NaN from step 2" in nan_detail and "train_loss=+inf from step 2" in nan_detail  # histories as curves
    # The same runs read from the server's own backend database: the same issues.
    store = read_sweep(str(root / "mlflow.db"), study="sweep-a")
    via_server = read_sweep(url, study="sweep-a")
    assert via_server.trials.frame.drop(columns=["duration_s"]).equals(store.trials.frame.drop(columns=["duration_s"]))
    assert via_server.curves.frame.equals(store.curves.frame)
    assert "[load] " + url + " (mlflow-server): 12 trials" in capsys.readouterr().err


def test_tracking_uri_and_experiment_name_as_mlflow_users_write_it(server, tmp_path: Path, monkeypatch) -> None:
    url, _ = server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    assert main(["sweep-a", "--out", str(tmp_path), "--no-plots", "--quiet"]) == 0
    assert json.loads((tmp_path / "hparam_summary.json").read_text())["sweep"]["n_trials"] == 12


def test_server_errors_are_one_line_and_credentials_never_shown(server, tmp_path: Path, capsys) -> None:
    url, _ = server
    secret_url = url.replace("http://", "http://alice:s3cret-pw@")
    assert main([secret_url, "--out", str(tmp_path), "--quiet"]) == 2  # two experiments hold runs
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "choose one with --study NAME" in err and "sweep-a" in err
    assert "s3cret" not in err and "alice" not in err
    assert main([secret_url, "--study", "sweep-a", "--out", str(tmp_path), "--no-plots", "--offline"]) == 0
    out = capsys.readouterr()
    written = "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    assert "s3cret" not in out.err + out.out + written and "alice" not in written
    assert main([url, "--study", "nope", "--out", str(tmp_path), "--quiet"]) == 2
    assert "no experiment named 'nope'" in capsys.readouterr().err
    dead = f"http://127.0.0.1:{free_port()}"
    assert main([dead, "--study", "x", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {dead}: cannot reach an MLflow tracking server") and err.count("\n") == 1


def test_log_to_mlflow_attaches_the_report_to_the_experiment(server, tmp_path: Path, capsys) -> None:
    from mlflow.tracking import MlflowClient

    url, root = server
    assert main([url, "--study", "sweep-a", "--out", str(tmp_path), "--output-format", "html", "--offline",
                 "--log-to", "mlflow"]) == 0
    assert "mlflow run " in capsys.readouterr().err
    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("sweep-a").experiment_id
    [run] = client.search_runs([experiment], "tags.`hparam_inspector.source` != ''")
    assert run.info.run_name == "hparam-inspector report" and run.info.status == "FINISHED"
    assert run.data.tags["hparam_inspector.n_trials"] == "12" and run.data.tags["hparam_inspector.trials_affected"] == "6"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"hparam_report.md", "hparam_summary.json", "hparam_report.html", "hparam_figures"} <= names
    pictures = {a.path for a in client.list_artifacts(run.info.run_id, "hparam_figures")}
    assert {p.relative_to(tmp_path).as_posix() for p in (tmp_path / "hparam_figures").glob("*.png")} == pictures
    local = client.download_artifacts(run.info.run_id, "hparam_summary.json", str(tmp_path / "back"))
    assert Path(local).read_bytes() == (tmp_path / "hparam_summary.json").read_bytes()
    # Reading the experiment again: the report run is no trial.
    again, store = read_sweep(url, study="sweep-a"), read_sweep(str(root / "mlflow.db"), study="sweep-a")
    for sweep in (again, store):
        assert len(sweep.trials.frame) == 12 and any("1 hparam-inspector report run(s)" in n for n in sweep.notes)
