"""Write the Ray Tune ASHA test fixture with Ray Tune itself (not run by the tests).

Twelve random configurations (lr log-uniform 1e-4..1, batch_size from 32/64/128,
dropout uniform 0..0.5, seeded) of a simulated training loop that reports val_loss and
train_loss once per epoch for up to 9 epochs, under an ASHAScheduler (max_t=9,
grace_period=1, reduction_factor=3): trials that fall behind at a rung are stopped by
the scheduler (status TERMINATED, fewer than 9 results, last result not ``done``).
Used: ray 2.60.0 on Python 3.11, 2 CPUs. Run from this directory, then delete the
pickles and TensorBoard files Ray also writes (*.pkl, events.out.tfevents.*,
.validate_storage_marker); keep ``basic-variant-state-*.json`` (a pickle despite its
name: the search generator's state, where the declared ``param_space`` lives):

    python make_raytune_asha.py
"""

import math
import os
from pathlib import Path

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler

HERE = Path(__file__).resolve().parent
MAX_T = 9


def train(config):
    lr, dropout = config["lr"], config["dropout"]
    speed = min(1.0, lr ** 0.3)
    floor = 0.3 + 0.6 * dropout ** 2 + (0.1 if config["batch_size"] == 128 else 0.0)
    for epoch in range(1, MAX_T + 1):
        val = floor + (2.3 - floor) * math.exp(-speed * epoch / 2)
        tune.report({"train_loss": val * 0.9, "val_loss": val})


if __name__ == "__main__":
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(
        train,
        param_space={"lr": tune.loguniform(1e-4, 1.0), "batch_size": tune.choice([32, 64, 128]),
                     "dropout": tune.uniform(0.0, 0.5)},
        tune_config=tune.TuneConfig(metric="val_loss", mode="min", num_samples=12, max_concurrent_trials=2,
                                    scheduler=ASHAScheduler(max_t=MAX_T, grace_period=1, reduction_factor=3),
                                    search_alg=tune.search.BasicVariantGenerator(random_state=0)),
        run_config=tune.RunConfig(name="asha", storage_path=str(HERE)),
    )
    tuner.fit()
