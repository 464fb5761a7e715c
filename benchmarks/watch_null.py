"""How often the watch condemns a region of a sweep that has none: Optuna studies whose trials go NaN at random.

Each study: 150 trials of a random sampler over lr (log), momentum and optimizer, a quarter
of the trials NaN whatever their parameters, the watch looking every 10 trials (15 looks)
with ``avoid_sick_regions=True``. Prints, per seed count, the studies in which a region was
condemned and those in which a high-severity pattern was announced.

    python benchmarks/watch_null.py [N_STUDIES]      # 40 studies: about 6 minutes on 2 busy cores
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hparam_inspector.watch import PathologyWatch  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _objective(seed: int):
    rng = np.random.default_rng(1000 + seed)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("lr", 1e-5, 1.0, log=True)
        trial.suggest_float("momentum", 0.0, 0.99)
        trial.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop"])
        sick = rng.random() < 0.25
        loss = 2.3
        for step in range(3):
            loss = float("nan") if sick else loss * 0.8
            trial.report(loss, step)
        return loss

    return objective


def main(n_studies: int) -> None:
    start = time.perf_counter()
    condemned, announced = [], []
    for seed in range(n_studies):
        watch = PathologyWatch(every=10, out=None, avoid_sick_regions=True, stream=None)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        study.optimize(_objective(seed), n_trials=150, callbacks=[watch])
        if watch.condemned:
            condemned.append((seed, [r.line() for r in watch.condemned]))
        if watch.watch.reported:
            announced.append(seed)
    print("| null studies | looks each | condemned a region | announced a pattern | seconds |")
    print("|---|---|---|---|---|")
    print(f"| {n_studies} | 15 | {len(condemned)} | {len(announced)} | {time.perf_counter() - start:.0f} |")
    for seed, lines in condemned:
        print(f"seed {seed}: {lines}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
