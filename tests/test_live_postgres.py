"""A real PostgreSQL (the pgserver package): an Optuna study stored there, and LangGraph's Postgres checkpointer."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE
from live_servers import postgres

from graph.run import main

pytest.importorskip("pgserver", reason="pgserver is in the test extra")
optuna = pytest.importorskip("optuna")

PASSWORD = "pg-s3cret-pw"


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory):
    """A server with a role that has a password and a database for the sweeps; yields (server, socket dir)."""
    root = Path(os.environ.get("TMPDIR", "/tmp")) / f"pg{os.getpid()}"  # socket paths must stay short
    root.mkdir(exist_ok=True)
    try:
        with postgres(root) as server:
            server.psql(f"CREATE ROLE alice LOGIN PASSWORD '{PASSWORD}'; CREATE DATABASE sweeps OWNER alice;")
            server.psql("CREATE DATABASE graphs OWNER alice;")
            yield server, root / "pgdata"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _url(pg, database: str, driver: str = "postgresql+psycopg") -> str:
    _, socket_dir = pg
    return f"{driver}://alice:{PASSWORD}@/{database}?host={socket_dir}"


def _objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    trial.suggest_categorical("optimizer", ["sgd", "adam"])
    if trial.number % 7 == 3:
        raise RuntimeError("CUDA out of memory")
    loss = 2.3
    for step in range(4):
        loss = float("nan") if lr > 0.1 and step >= 1 else loss * 0.8
        trial.report(loss, step)
        if trial.number % 5 == 4 and step == 1 and not math.isnan(loss):
            raise optuna.TrialPruned()
    return loss


def test_an_optuna_study_on_postgresql_written_by_optuna(pg, tmp_path: Path, capsys) -> None:
    url = _url(pg, "sweeps")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="cifar", storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(_objective, n_trials=40, catch=(RuntimeError,))
    states = {s: sum(t.state.name == s for t in study.trials) for s in ("COMPLETE", "FAIL", "PRUNED")}
    assert all(states.values()), states

    assert main([url, "--out", str(tmp_path), "--no-plots", "--offline"]) == 0
    summary = json.loads((tmp_path / "hparam_summary.json").read_text())
    assert summary["sweep"]["format"] == "optuna-storage" and summary["sweep"]["n_trials"] == 40
    counts = summary["sweep"]["status_counts"]
    assert counts["pruned"] == states["PRUNED"] and counts["failed"] == states["FAIL"]
    issues = {(i["trial_id"], i["type"]): i["detail"] for i in summary["issues"]}
    nan_trials = {str(t.number) for t in study.trials if any(math.isnan(v) for v in t.intermediate_values.values())}
    assert nan_trials and nan_trials <= {t for t, kind in issues if kind == "nonfinite_metric"}
    assert {(str(t.number), "failed") for t in study.trials if t.state.name == "FAIL"} <= set(issues)
    assert not {t for t, kind in issues if kind in ("failed", "nonfinite_metric")} & {
        str(t.number) for t in study.trials if t.state.name == "PRUNED" and t.number not in {int(x) for x in nan_trials}}
    shown = capsys.readouterr().err + "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    assert PASSWORD not in shown and "alice" not in shown and "[load] postgresql+psycopg:///sweeps?host=" in shown


def test_storage_errors_never_show_the_password(pg, tmp_path: Path, capsys) -> None:
    assert main([_url(pg, "no_such_db"), "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: postgresql+psycopg:///no_such_db") and err.count("\n") == 1
    assert PASSWORD not in err and "alice" not in err


_RUN = """
import sys
from langgraph.checkpoint.postgres import PostgresSaver
from graph.builder import build_graph
from graph.context import Context

with PostgresSaver.from_conn_string(sys.argv[1]) as saver:
    saver.setup()
    graph = build_graph().compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "sweep-1"}}
    out = graph.invoke({"results_path": sys.argv[2]}, config, context=Context(offline=True))
    print(out["summary"]["sweep"]["n_trials"], out["summary"]["trials_affected"])
"""

_READ = """
import json, sys
from langgraph.checkpoint.postgres import PostgresSaver
from graph.builder import build_graph

with PostgresSaver.from_conn_string(sys.argv[1]) as saver:
    graph = build_graph().compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "sweep-1"}}
    state = graph.get_state(config)
    history = list(graph.get_state_history(config))
    print(json.dumps({"n_trials": state.values["summary"]["sweep"]["n_trials"], "next": list(state.next),
                      "report": state.values["report"][:60], "checkpoints": len(history),
                      "nodes": [list((h.metadata or {}).get("writes") or {}) for h in history]}))
"""


def _python(code: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "MODEL")} | {"HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_langgraph_postgres_checkpointer_across_processes(pg) -> None:
    conn = _url(pg, "graphs", driver="postgresql")
    assert _python(_RUN, conn, str(SAMPLE)) == "6 4"
    first = json.loads(_python(_READ, conn))  # another process reads the thread's state and history
    assert first["n_trials"] == 6 and first["next"] == [] and first["report"].startswith("# Hyperparameter")
    assert first["checkpoints"] >= 5  # input, load, detect, analyze, write
    assert _python(_RUN, conn, str(SAMPLE)) == "6 4"  # the same thread, run again
    second = json.loads(_python(_READ, conn))
    assert second["checkpoints"] >= 2 * first["checkpoints"] - 1 and second["next"] == []
