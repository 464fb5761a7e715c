"""Write the Keras Tuner test fixture with Keras Tuner itself (not run by the tests).

A grid over six learning rates and two optimizers, three "epochs" each reported
through the oracle as Keras Tuner's own fit callback does; training is simulated
(no model), so no accelerator or dataset is needed. The largest learning rate raises
(a FAILED trial with a traceback in ``message``) and lr >= 0.3 reports NaN losses.
Used: keras-tuner 1.4.8, keras 3.15.1, jax backend. Run from this directory:

    KERAS_BACKEND=jax python make_kerastuner.py
"""

import math
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras_tuner as kt  # noqa: E402


class SimulatedTuner(kt.GridSearch):
    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        lr = hp.Choice("learning_rate", [1e-4, 1e-3, 1e-2, 0.1, 0.3, 1.0])
        optimizer = hp.Choice("optimizer", ["adam", "sgd"])
        if lr >= 1.0:
            raise FloatingPointError("gradients overflowed at step 1")
        for epoch in range(3):
            loss = 2.3 / (1 + epoch * (lr ** 0.5) * (2 if optimizer == "adam" else 1))
            if lr >= 0.3 and epoch >= 1:
                loss = math.nan
            logs = {"loss": loss, "val_loss": loss * 1.2, "val_accuracy": 0.1 if math.isnan(loss) else 1 - loss / 3}
            self.oracle.update_trial(trial.trial_id, logs, step=epoch)
        return logs


tuner = SimulatedTuner(objective=kt.Objective("val_loss", "min"), max_trials=12, directory="tuning",
                       project_name="lr_grid", overwrite=True, max_consecutive_failed_trials=12)
tuner.search()
