"""Write the Keras Tuner Hyperband test fixture with Keras Tuner itself (not run by the tests).

A real (tiny) Keras model fitted by Keras Tuner's own ``Hyperband`` (max_epochs=9,
factor=3, one iteration) on 600 rows of a seeded synthetic 3-class problem: the search
space declares ``units`` Int 8..64 step 8, ``dropout`` Float 0..0.5 step 0.1, ``lr``
Float 1e-4..1e-1 log and ``optimizer`` Choice adam/sgd. Hyperband trains each trial to
its bracket's ``tuner/epochs`` (1, 3 or 9) and continues the best from their
checkpoints in new trials; Keras Tuner stores only the best epoch's metrics per trial.
Checkpoints are not kept. Used: keras-tuner 1.4.8, keras 3.15.1, jax 0.10.2 (CPU).
Run from this directory:

    KERAS_BACKEND=jax python make_kerastuner_hyperband.py
"""

import os
import shutil
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8)).astype("float32")
    w = rng.normal(size=(8, 3))
    y = np.argmax(x @ w + rng.normal(scale=1.0, size=(600, 3)), axis=1)
    return x[:450], y[:450], x[450:], y[450:]


def build(hp):
    model = keras.Sequential([
        keras.Input(shape=(8,)),
        keras.layers.Dense(hp.Int("units", 8, 64, step=8), activation="relu"),
        keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5, step=0.1)),
        keras.layers.Dense(3, activation="softmax"),
    ])
    lr = hp.Float("lr", 1e-4, 1e-1, sampling="log")
    optimizer = keras.optimizers.Adam(lr) if hp.Choice("optimizer", ["adam", "sgd"]) == "adam" else keras.optimizers.SGD(lr)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    x, y, xv, yv = data()
    tuner = kt.Hyperband(build, objective="val_loss", max_epochs=9, factor=3, hyperband_iterations=1, seed=0,
                         directory=str(HERE / "hb_tuning"), project_name="hyperband", overwrite=True)
    tuner.search(x, y, validation_data=(xv, yv), batch_size=32, verbose=0)
    project = HERE / "hb_tuning" / "hyperband"
    for checkpoint in project.glob("trial_*/checkpoint*"):
        checkpoint.unlink() if checkpoint.is_file() else shutil.rmtree(checkpoint)
