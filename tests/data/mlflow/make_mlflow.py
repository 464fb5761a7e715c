"""Write the MLflow test fixtures with MLflow itself (not run by the tests).

The same eight runs go into an ``mlruns/`` file store and an ``mlflow.db`` SQLite
store, with fixed start/end times and metric timestamps, and ``search_runs()`` of the
file store is saved as ``search_runs.csv``. Run from this directory with a Python that
has ``mlflow-skinny`` (3.17.2 was used) plus ``sqlalchemy`` and ``alembic``:

    MLFLOW_ALLOW_FILE_STORE=true python make_mlflow.py
"""

import math
import shutil
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

HERE = Path(__file__).resolve().parent
T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC, in ms
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3]


def curve(lr: float, epoch: int) -> tuple[float, float, float]:
    """train_loss, val_loss, val_accuracy of a toy run."""
    if lr >= 0.1 and epoch >= 3:
        return math.nan, math.nan, 0.1
    train = 2.3 * (1 - min(0.9, lr ** 0.3 * epoch / 2))
    val = train * 1.1
    if lr == 3e-2 and epoch == 5:
        val = math.inf
    return train, val, 1 - val / 2.5 if math.isfinite(val) else 0.1


def write(uri: str, registry: str) -> None:
    client = MlflowClient(tracking_uri=uri, registry_uri=registry)
    experiment = client.create_experiment("lr_sweep")
    client.create_experiment("empty_experiment")
    for i, lr in enumerate(LRS):
        start = T0 + i * 600_000
        run = client.create_run(experiment, start_time=start, run_name=f"lr_{lr:g}")
        rid = run.info.run_id
        client.log_param(rid, "lr", lr)
        client.log_param(rid, "optimizer", "adam" if i % 2 else "sgd")
        client.log_param(rid, "batch_size", 64)
        client.set_tag(rid, "team", "vision")
        last = 2 if lr == 3e-3 else 5  # the 3e-3 run is killed after epoch 2
        if lr == 0.3:
            last = 3  # crashes after epoch 3
        if lr == 1e-2:
            last = 1  # still running
        for epoch in range(1, last + 1):
            train, val, acc = curve(lr, epoch)
            stamp = start + epoch * 60_000
            client.log_metric(rid, "train_loss", train, timestamp=stamp, step=epoch)
            client.log_metric(rid, "val_loss", val, timestamp=stamp, step=epoch)
            client.log_metric(rid, "val_accuracy", acc, timestamp=stamp, step=epoch)
        end = start + last * 60_000 + 5_000
        if lr == 0.3:
            client.set_tag(rid, "error", "FloatingPointError: loss is NaN")
            client.set_terminated(rid, "FAILED", end_time=end)
        elif lr == 3e-3:
            client.set_terminated(rid, "KILLED", end_time=end)
        elif lr != 1e-2:
            client.set_terminated(rid, "FINISHED", end_time=end)
    deleted = client.create_run(experiment, start_time=T0 + 9 * 600_000, run_name="deleted_run")
    client.log_metric(deleted.info.run_id, "val_loss", 0.5, timestamp=T0 + 9 * 600_000, step=1)
    client.set_terminated(deleted.info.run_id, "FINISHED", end_time=T0 + 9 * 600_000 + 1000)
    client.delete_run(deleted.info.run_id)


if __name__ == "__main__":
    shutil.rmtree(HERE / "mlruns", ignore_errors=True)
    (HERE / "mlflow.db").unlink(missing_ok=True)
    write(f"file:{HERE / 'mlruns'}", f"file:{HERE / 'mlregistry'}")
    write(f"sqlite:///{HERE / 'mlflow.db'}", f"file:{HERE / 'mlregistry'}")
    shutil.rmtree(HERE / "mlregistry", ignore_errors=True)
    mlflow.set_tracking_uri(f"file:{HERE / 'mlruns'}")
    runs = mlflow.search_runs(experiment_names=["lr_sweep"], order_by=["attributes.start_time ASC"])
    runs.to_csv(HERE / "search_runs.csv", index=False)
