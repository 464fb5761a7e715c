"""Write the MLflow nested-runs test fixture with MLflow itself (not run by the tests).

Experiment ``mlp_sweep`` in an SQLite store (``nested.db``): a parent run ``sweep``
(the tuning driver: no metrics, FINISHED) and 12 nested child runs (tag
``mlflow.parentRunId``), one per configuration, each logging ``train_loss``,
``val_loss``, ``best_val_loss`` (the running minimum of ``val_loss``, as a
checkpoint callback logs it) and ``val_accuracy`` at every one of 20 epochs. Children
with ``weight_decay == 0`` and ``lr >= 0.01`` overfit: their val_loss is lowest
near epoch 6-8 and then rises while train_loss keeps falling. Child ``c03`` logs
val_loss = +inf at epoch 12 (stored as 1.7976931348623157e308); child ``c02`` was
abandoned (RUNNING after 4 epochs, never ended, while every later child finished);
child ``c11`` started last and is still RUNNING. ``search_runs.csv`` is
``mlflow.search_runs()`` of the experiment saved with ``to_csv``. Fixed times. Run
from this directory with a Python that has ``mlflow-skinny`` (3.18.0 was used) plus
``sqlalchemy`` and ``alembic`` (then VACUUM ``nested.db``):

    python make_mlflow_nested.py
"""

import math
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

HERE = Path(__file__).resolve().parent
T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC, in ms
CONFIGS = [(lr, wd, dropout) for lr in (0.001, 0.01, 0.03) for wd in (0.0, 1e-4) for dropout in (0.0, 0.3)]


def losses(lr, wd, dropout, epoch):
    train = 0.15 + 2.0 * math.exp(-lr ** 0.5 * 3 * epoch / 4)
    val = train * 1.05 + 0.05 + 0.1 * dropout
    if wd == 0.0 and lr >= 0.01 and epoch > 6:
        train = train * (0.97 ** (epoch - 6))
        val = val + 0.06 * (epoch - 6)
    return train, val


def main():
    path = HERE / "nested.db"
    path.unlink(missing_ok=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{path}", registry_uri=f"file:{HERE / 'mlregistry'}")
    experiment = client.create_experiment("mlp_sweep")
    parent = client.create_run(experiment, start_time=T0, run_name="sweep").info.run_id
    client.log_param(parent, "n_trials", len(CONFIGS))
    client.log_param(parent, "sampler", "grid")
    for i, (lr, wd, dropout) in enumerate(CONFIGS):
        start = T0 + 60_000 + i * 600_000
        run = client.create_run(experiment, start_time=start, run_name=f"c{i:02d}",
                                tags={"mlflow.parentRunId": parent})
        rid = run.info.run_id
        client.log_param(rid, "lr", lr)
        client.log_param(rid, "weight_decay", wd)
        client.log_param(rid, "dropout", dropout)
        last = {2: 4, 11: 3}.get(i, 20)
        best = math.inf
        for epoch in range(1, last + 1):
            train, val = losses(lr, wd, dropout, epoch)
            if i == 3 and epoch == 12:
                val = math.inf
            best = min(best, val)
            stamp = start + epoch * 20_000
            client.log_metric(rid, "train_loss", train, timestamp=stamp, step=epoch)
            client.log_metric(rid, "val_loss", val, timestamp=stamp, step=epoch)
            client.log_metric(rid, "best_val_loss", best, timestamp=stamp, step=epoch)
            client.log_metric(rid, "val_accuracy", max(0.0, 1 - val / 2.5) if math.isfinite(val) else 0.0,
                              timestamp=stamp, step=epoch)
        if i not in (2, 11):
            client.set_terminated(rid, "FINISHED", end_time=start + last * 20_000 + 5_000)
    client.set_terminated(parent, "FINISHED", end_time=T0 + 60_000 + len(CONFIGS) * 600_000)
    mlflow.set_tracking_uri(f"sqlite:///{path}")
    runs = mlflow.search_runs(experiment_names=["mlp_sweep"], order_by=["attributes.start_time ASC"])
    runs.to_csv(HERE / "nested_search_runs.csv", index=False)


if __name__ == "__main__":
    main()
    import shutil

    shutil.rmtree(HERE / "mlregistry", ignore_errors=True)
