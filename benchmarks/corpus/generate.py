"""Generate the judgment corpus: real MLP sweeps on small scikit-learn data sets, with their truth.

    python benchmarks/corpus/generate.py            # all sweeps (about 2-4 minutes on 2 cores)
    python benchmarks/corpus/generate.py --only digits_mlp

Needs scikit-learn (the `bench` extra) for the data sets; nothing is downloaded. Each sweep is a
seeded random search; every trial is trained epoch by epoch (benchmarks/corpus/mlp.py) and its
outcome comes from the training itself. Writes, per sweep, under benchmarks/corpus/<sweep>/:

- results.csv: one row per trial (trial_id, status, hyperparameters, final metrics, epochs,
  max_epochs, runtime_sec, error)
- curves.csv: long format (trial_id, epoch, train_loss, val_loss, train_acc/val_acc or train_r2/val_r2)
- truth.json: labels per trial, counts, true causes and best trials, by the rules in truth.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # tiny matrices: threads only contend
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings)
import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mlp  # noqa: E402
import truth  # noqa: E402


def _split(x, y, n_train, n_val, seed, stratify=True):
    from sklearn.model_selection import train_test_split

    x_tr, x_rest, y_tr, y_rest = train_test_split(x, y, train_size=n_train, random_state=seed,
                                                  stratify=y if stratify else None)
    return x_tr, y_tr, x_rest[:n_val], y_rest[:n_val]


def _standardise(x_tr, x_va):
    mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
    sd[sd == 0] = 1.0
    return (x_tr - mu) / sd, (x_va - mu) / sd


def _loguniform(rng, lo, hi):
    return float(10 ** rng.uniform(math.log10(lo), math.log10(hi)))


# --- sweep designs -----------------------------------------------------------------------------
# Each design: data, a sampler of hyperparameters, and how a configuration becomes a trainer config.

def digits_mlp():
    """Digits (10 classes), 500 training images: optimizers x lr over 4 decades, dropout, weight decay,
    mixed planned budgets (max_epochs), early stopping on patience, a per-trial time limit."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x_tr, y_tr, x_va, y_va = _split(x, y, 500, 600, 0)
    x_tr, x_va = _standardise(x_tr, x_va)

    def sample(rng):
        return {"optimizer": str(rng.choice(["sgd", "momentum", "adam"])), "lr": _loguniform(rng, 1e-4, 3.0),
                "hidden": int(rng.choice([32, 128, 256])), "dropout": float(rng.choice([0.0, 0.3, 0.6])),
                "weight_decay": float(rng.choice([0.0, 1e-4, 1e-3])), "batch_size": int(rng.choice([32, 64, 128])),
                "max_epochs": int(rng.choice([15, 30, 60])), "early_stopping": str(rng.choice(["yes", "no"])),
                "patience": int(rng.choice([5, 10]))}

    def config(h, seed):
        return mlp.Config("classification", hidden=h["hidden"], optimizer=h["optimizer"], lr=h["lr"],
                          weight_decay=h["weight_decay"], dropout=h["dropout"], batch_size=h["batch_size"],
                          max_epochs=h["max_epochs"], patience=h["patience"] if h["early_stopping"] == "yes" else None,
                          budget_units=40.0, seed=seed)

    return dict(task="classification", n=120, data=(x_tr, y_tr, x_va, y_va), sample=sample, config=config,
                dropout_column="dropout", best_columns=True)


def breast_cancer_mlp():
    """Breast cancer (binary, 341 training rows): unscaled inputs, sgd/momentum/adam, batch sizes up to
    512 with drop_last (larger than the training set: a crash), one planned budget, no early stopping.
    The loop keeps training through NaN and reports `completed` (a hidden failure)."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x_tr, y_tr, x_va, y_va = _split(x, y, 341, 228, 1)
    xs_tr, xs_va = _standardise(x_tr, x_va)

    def sample(rng):
        return {"scale_inputs": str(rng.choice(["yes", "no"])), "optimizer": str(rng.choice(["sgd", "momentum", "adam"])),
                "lr": _loguniform(rng, 1e-4, 1.0), "hidden": int(rng.choice([16, 64])),
                "batch_size": int(rng.choice([16, 32, 128, 512])), "weight_decay": float(rng.choice([0.0, 1e-3]))}

    def config(h, seed):
        return mlp.Config("classification", hidden=h["hidden"], optimizer=h["optimizer"], lr=h["lr"],
                          weight_decay=h["weight_decay"], batch_size=h["batch_size"], drop_last=True,
                          max_epochs=40, seed=seed)

    def data_for(h):
        return (xs_tr, y_tr, xs_va, y_va) if h["scale_inputs"] == "yes" else (x_tr, y_tr, x_va, y_va)

    return dict(task="classification", n=100, data_for=data_for, sample=sample, config=config, fixed_epochs=40)


def diabetes_regression():
    """Diabetes (regression, 265 training rows): targets scaled or not, lr over 4 decades, dropout,
    mixed budgets; the loop raises FloatingPointError on a non-finite train loss (status failed)."""
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x_tr, y_tr, x_va, y_va = _split(x, y, 265, 177, 2, stratify=False)
    x_tr, x_va = _standardise(x_tr, x_va)
    mu, sd = y_tr.mean(), y_tr.std()

    def sample(rng):
        return {"scale_targets": str(rng.choice(["yes", "no"])), "optimizer": str(rng.choice(["sgd", "momentum", "adam"])),
                "lr": _loguniform(rng, 1e-5, 0.3), "hidden": int(rng.choice([32, 128])),
                "dropout": float(rng.choice([0.0, 0.2])), "weight_decay": float(rng.choice([0.0, 1e-2])),
                "batch_size": int(rng.choice([16, 64])), "max_epochs": int(rng.choice([40, 80]))}

    def config(h, seed):
        return mlp.Config("regression", hidden=h["hidden"], optimizer=h["optimizer"], lr=h["lr"],
                          weight_decay=h["weight_decay"], dropout=h["dropout"], batch_size=h["batch_size"],
                          max_epochs=h["max_epochs"], stop_on_nonfinite=True, seed=seed)

    def data_for(h):
        if h["scale_targets"] == "yes":
            return x_tr, (y_tr - mu) / sd, x_va, (y_va - mu) / sd
        return x_tr, y_tr, x_va, y_va

    return dict(task="regression", n=100, data_for=data_for, sample=sample, config=config, dropout_column="dropout")


def synthetic_overfit():
    """make_classification (4 classes, 40 features, 10 % label noise), only 150 training rows: wide
    nets overfit, dropout and weight decay against it, mixed budgets up to 150 epochs, early
    stopping, a per-trial time limit."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=700, n_features=40, n_informative=8, n_redundant=4, n_classes=4,
                               n_clusters_per_class=2, flip_y=0.1, class_sep=1.0, random_state=3)
    x_tr, y_tr, x_va, y_va = _split(x, y, 150, 500, 3)
    x_tr, x_va = _standardise(x_tr, x_va)

    def sample(rng):
        return {"optimizer": str(rng.choice(["sgd", "adam"])), "lr": _loguniform(rng, 3e-4, 0.1),
                "hidden": int(rng.choice([64, 256, 512])), "layers": int(rng.choice([1, 2])),
                "dropout": float(rng.choice([0.0, 0.25, 0.5])), "weight_decay": float(rng.choice([0.0, 1e-3, 1e-2])),
                "max_epochs": int(rng.choice([40, 80, 150])), "early_stopping": str(rng.choice(["yes", "no"]))}

    def config(h, seed):
        return mlp.Config("classification", hidden=h["hidden"], layers=h["layers"], optimizer=h["optimizer"],
                          lr=h["lr"], weight_decay=h["weight_decay"], dropout=h["dropout"], batch_size=32,
                          max_epochs=h["max_epochs"], patience=10 if h["early_stopping"] == "yes" else None,
                          budget_units=90.0, seed=seed)

    return dict(task="classification", n=110, data=(x_tr, y_tr, x_va, y_va), sample=sample, config=config,
                dropout_column="dropout")


SWEEPS = {f.__name__: f for f in (digits_mlp, breast_cancer_mlp, diabetes_regression, synthetic_overfit)}


def _r(v):
    """Six significant digits; non-finite values as the loop printed them."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.6g}"
    return v


def _trivial_loss(design: dict, h: dict) -> float:
    """The loss of the trivial predictor on the validation set, in the trial's units."""
    _, y_tr, _, y_va = design["data"] if "data" in design else design["data_for"](h)
    if design["task"] == "classification":
        prior = np.bincount(y_va) / len(y_va)
        return float(-(prior[prior > 0] * np.log(prior[prior > 0])).sum())
    return float(np.mean((y_va - y_tr.mean()) ** 2))


def run_sweep(name: str, out_dir: Path, seed: int = 0) -> None:
    """Train every trial of one sweep and write its results.csv and curves.csv."""
    design = SWEEPS[name]()
    rng = np.random.default_rng(1000 + seed + sum(map(ord, name)))
    metric = "acc" if design["task"] == "classification" else "r2"
    rows, curve_rows = [], []
    for i in range(design["n"]):
        h = design["sample"](rng)
        tid = f"t{i:03d}"
        data = design["data"] if "data" in design else design["data_for"](h)
        run = mlp.train(design["config"](h, seed=10_000 + i), *data)
        last = run.curves[-1] if run.curves else {}
        row = {"trial_id": tid, "status": run.status, **h}
        if "fixed_epochs" not in design:
            row["max_epochs"] = h["max_epochs"]
        row.update({"epochs": len(run.curves), "runtime_sec": run.runtime_sec,
                    "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss"),
                    f"train_{metric}": last.get(f"train_{metric}"), f"val_{metric}": last.get(f"val_{metric}")})
        if design.get("best_columns"):
            vl = np.array([c["val_loss"] for c in run.curves], float)
            ok = np.isfinite(vl)
            row["best_val_loss"] = float(vl[ok].min()) if ok.any() else (float("nan") if run.curves else None)
            row["best_epoch"] = int(np.argmin(np.where(ok, vl, np.inf))) + 1 if ok.any() else None
        row["error"] = run.error
        rows.append(row)
        curve_rows.extend({"trial_id": tid, **c} for c in run.curves)
    out = out_dir / name
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, dtype=object).map(_r).to_csv(out / "results.csv", index=False)  # never reported: empty
    pd.DataFrame(curve_rows).map(_r).to_csv(out / "curves.csv", index=False)


def write_truth(name: str, out_dir: Path) -> dict:
    """Derive truth.json from the written results.csv and curves.csv (read back as the tool reads them)."""
    design = SWEEPS[name]()
    out = out_dir / name
    results = pd.read_csv(out / "results.csv", keep_default_na=False, na_values=[""], dtype={"trial_id": str})
    curves = pd.read_csv(out / "curves.csv", dtype={"trial_id": str})
    hyper = list(design["sample"](np.random.default_rng(0)))
    metric = "acc" if design["task"] == "classification" else "r2"
    trivial = {str(r["trial_id"]): _trivial_loss(design, r) for r in results.to_dict("records")}
    chance = None
    if design["task"] == "classification":
        y_va = (design["data"] if "data" in design else design["data_for"](results.iloc[0].to_dict()))[3]
        chance = float(np.bincount(y_va).max() / len(y_va))
    t = truth.sweep_truth(name, results, curves, design["task"], hyper, trivial, chance,
                          metric=f"val_{metric}", goal="max", dropout_column=design.get("dropout_column"))
    t["design"] = " ".join(SWEEPS[name].__doc__.split())
    t["trivial_loss"] = {"rule": "classification: entropy of the validation class prior; regression: MSE of the "
                                 "training-target mean on the validation set, in the trial's target units",
                         "values": sorted({round(v, 6) for v in trivial.values()})}
    (out / "truth.json").write_text(json.dumps(t, indent=1, default=float) + "\n")
    return t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=sorted(SWEEPS))
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--truth-only", action="store_true", help="re-derive truth.json from the written CSVs")
    args = ap.parse_args(argv)
    for name in args.only or SWEEPS:
        if not args.truth_only:
            run_sweep(name, args.out)
        t = write_truth(name, args.out)
        statuses = pd.Series([s for lab in t["labels"].values() for s in lab if s in truth.BY_DESIGN + ("failed",)])
        print(f"{name}: {t['n_trials']} trials; " + ", ".join(f"{k} {v}" for k, v in t["counts"].items() if v)
              + "; causes: " + "; ".join(f"{c['kind']}: {c['region']} ({c['k']}/{c['n']})" for c in t["causes"])
              + (f"; statuses {statuses.value_counts().to_dict()}" if len(statuses) else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
