"""Write the Optuna test fixture ``late_divergence.db`` with Optuna itself (not run by the tests).

One study, ``late_divergence`` (minimise), 40 trials of a simulated training loop over
a declared search space: ``lr`` log-float 1e-4..1, ``weight_decay`` log-float
1e-6..1e-2, ``dropout`` float 0..0.5 step 0.1, ``n_layers`` int 1..4, ``batch_size``
categorical 32/64/128, ``optimizer`` categorical adam/sgd. Each trial reports its
validation loss after each of 30 epochs (``trial.report``), under a PercentilePruner (75th percentile,
5 startup trials, 8 warm-up steps). Trials with ``lr > 0.05`` train well, then
diverge late (the loss is multiplied by 8 at one epoch between 16 and 24 and grows
from there); trial 2 raises (FAIL), trial 7 is asked for and never told (left RUNNING
while every later trial finishes: an abandoned worker), and the last trial is asked
for and left RUNNING (still running when the storage was copied). Used: optuna 5.1.0,
Python 3.11. Run from this directory:

    python make_optuna.py
"""

import math
import random
from pathlib import Path

import optuna

HERE = Path(__file__).resolve().parent
EPOCHS = 30


def curve(params, rng):
    """Validation loss per epoch, and the epoch the run diverges at (None when it does not)."""
    lr, layers = params["lr"], params["n_layers"]
    speed = min(1.0, lr ** 0.35 * (1.3 if params["optimizer"] == "adam" else 0.8))
    floor = 0.25 + 0.05 * layers + 0.4 * params["dropout"] ** 2 + 10 * params["weight_decay"]
    start = rng.randint(16, 24) if lr > 0.05 else None
    out, loss = [], None
    for epoch in range(EPOCHS):
        loss = floor + (2.3 - floor) * math.exp(-speed * (epoch + 1) / 3) + rng.gauss(0, 0.004)
        if start is not None and epoch >= start:
            loss = out[-1] * (8.0 if epoch == start else 1.6)
        out.append(loss)
    return out, start


def objective(trial, rng):
    params = {
        "lr": trial.suggest_float("lr", 1e-4, 1.0, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5, step=0.1),
        "n_layers": trial.suggest_int("n_layers", 1, 4),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
        "optimizer": trial.suggest_categorical("optimizer", ["adam", "sgd"]),
    }
    if trial.number == 2:
        raise RuntimeError("CUDA out of memory (simulated)")
    losses, start = curve(params, rng)
    for epoch, loss in enumerate(losses):
        trial.report(loss, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return losses[-1]


def main():
    path = HERE / "late_divergence.db"
    path.unlink(missing_ok=True)
    rng = random.Random(0)
    study = optuna.create_study(
        study_name="late_divergence", storage=f"sqlite:///{path}", direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=12),
        pruner=optuna.pruners.PercentilePruner(75.0, n_startup_trials=5, n_warmup_steps=8),
    )
    abandoned = None
    for number in range(39):
        trial = study.ask()
        if number == 7:
            abandoned = trial  # a worker that died: never told
            trial.suggest_float("lr", 1e-4, 1.0, log=True)
            continue
        try:
            value = objective(trial, rng)
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        except RuntimeError:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
    last = study.ask()
    last.suggest_float("lr", 1e-4, 1.0, log=True)
    last.report(2.1, 0)
    assert abandoned is not None
    for t in study.trials:
        print(t.number, t.state.name, {k: (round(v, 5) if isinstance(v, float) else v) for k, v in t.params.items()},
              len(t.intermediate_values))


if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    main()
