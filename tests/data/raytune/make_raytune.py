"""Write the Ray Tune test fixture with Ray Tune itself (not run by the tests).

Six learning rates on a grid; a simulated training loop reports train_loss, val_loss
and val_acc per iteration. lr >= 0.3 reports NaN from iteration 3, lr = 0.6 then
raises (ERROR after three results) and lr = 1.5 raises before its first report (ERROR
with no result at all: only experiment_state-*.json knows its status). Used: ray
2.60.0 on Python 3.11, 2 CPUs. Run from this directory, then delete the pickles and
TensorBoard files Ray also writes (*.pkl, events.out.tfevents.*, .validate_storage_marker):

    python make_raytune.py
"""

import math
import os
from pathlib import Path

import ray
from ray import tune

HERE = Path(__file__).resolve().parent


def train(config):
    lr = config["lr"]
    if lr >= 1.0:
        raise RuntimeError("CUDA out of memory (simulated) before the first report")
    for epoch in range(1, 5):
        loss = 2.0 / epoch * (1 + lr)
        if lr >= 0.3 and epoch >= 3:
            loss = float("nan")
        if lr >= 0.5 and epoch == 4:
            raise FloatingPointError("loss is NaN at epoch 4")
        tune.report({"train_loss": loss * 0.9, "val_loss": loss, "val_acc": 0.5 if math.isnan(loss) else 1 - loss / 4})


if __name__ == "__main__":
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(
        train,
        param_space={"lr": tune.grid_search([0.001, 0.01, 0.1, 0.3, 0.6, 1.5]), "optimizer": "adam"},
        tune_config=tune.TuneConfig(metric="val_loss", mode="min"),
        run_config=tune.RunConfig(name="lr_sweep", storage_path=str(HERE),
                                  failure_config=tune.FailureConfig(max_failures=0, fail_fast=False)),
    )
    tuner.fit()
