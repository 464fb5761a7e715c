"""Time load + roles + table + detect + associate on generated sweeps; print a markdown table.

Usage: ``python benchmarks/bench_pipeline.py [N ...]`` (default 10000 100000 1000000).

Each size is written once (fixed seed) to a temporary CSV, then measured in two fresh
subprocesses so that neither timings nor peak memory mix: one runs the pipeline
(``read_results``, ``infer_roles``, ``build_trial_table``, ``detect_issues``,
``associate_issues``), the other reads the same file bare with
``pyarrow.csv.read_csv(path)`` (best of 3). ``ratio`` is the pipeline total over the
bare read (issue 3's target: at most 3 at 1M trials); ``peak MB`` is the pipeline
process's max RSS.

The sweep mixes what real exports hold, with about one trial in six sick: string trial
ids; a status column (92% completed, 3% failed, 3% pruned, 1% killed, 1% running); six
hyperparameters (log-uniform learning rate and weight decay, uniform dropout, integer
depth, categorical batch size and optimizer); a seed; train/val loss and accuracy with
NaN/inf at high learning rates (written ``nan``, ``NaN``, ``inf``, ``-inf``), empty cells
for failed runs that logged nothing, overfitting at low dropout and high depth, a few
diverged losses; epochs and runtime.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
STAGES = ("load", "roles", "table", "detect", "associate")


def _text(values: np.ndarray, nan_spelling: np.ndarray, empty: np.ndarray) -> pa.Array:
    """Floats as text, NaN spelled per row (``nan``/``NaN``), empty where nothing was logged."""
    text = pc.cast(pa.array(values), pa.string())  # nan -> "nan", inf -> "inf", -inf -> "-inf"
    text = pc.if_else(pa.array(nan_spelling), pa.scalar("NaN"), text)
    return pc.if_else(pa.array(empty), pa.scalar(""), text)


def make_sweep(n: int, path: Path, seed: int = 0) -> None:
    """Write a realistic sweep of ``n`` trials to ``path`` (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-5, 0, n)
    weight_decay = 10 ** rng.uniform(-6, -2, n)
    dropout = rng.uniform(0, 0.5, n).round(3)
    num_layers = rng.integers(1, 9, n)
    batch_size = rng.choice([16, 32, 64, 128, 256], n)
    optimizer = rng.choice(["adam", "adamw", "sgd", "rmsprop"], n)
    status = rng.choice(["completed", "failed", "killed", "pruned", "running"], n,
                        p=[0.92, 0.03, 0.01, 0.03, 0.01])
    failed = status == "failed"
    epochs = np.where(status == "completed", 50, rng.integers(1, 50, n))
    epochs = np.where(rng.random(n) < 0.01, 3, epochs)

    train_loss = rng.uniform(0.05, 0.5, n) * (1 + 3 * lr)
    overfit = (dropout < 0.05) & (num_layers >= 6)  # about 4% of the sweep
    val_loss = train_loss * np.where(overfit, rng.uniform(1.4, 3.0, n), rng.uniform(1.0, 1.3, n))
    blown = (lr > 0.3) & (rng.random(n) < 0.6)  # about 6%: NaN or inf at high learning rates
    val_loss = np.where(blown, np.where(rng.random(n) < 0.8, np.nan, np.inf), val_loss)
    train_loss = np.where(blown & (rng.random(n) < 0.3), -np.inf, train_loss)
    val_loss = np.where(rng.random(n) < 0.001, val_loss * 1e4, val_loss)  # diverged but finite
    train_acc = np.clip(1 - train_loss / 2 + rng.normal(0, 0.01, n), 0, 1).round(4)
    val_acc = np.where(np.isfinite(val_loss), np.clip(train_acc - rng.uniform(0, 0.04, n), 0, 1), np.nan).round(4)
    spelled = rng.random(n) < 0.5
    logged_nothing = failed & (rng.random(n) < 0.7)
    no_val = rng.random(n) < 0.005

    table = pa.table({
        "trial_id": pc.binary_join_element_wise("run_", pc.cast(pa.array(np.arange(n)), pa.string()), ""),
        "status": pa.array(status),
        "learning_rate": pa.array(lr),
        "weight_decay": pa.array(weight_decay),
        "dropout": pa.array(dropout),
        "num_layers": pa.array(num_layers),
        "batch_size": pa.array(batch_size),
        "optimizer": pa.array(optimizer),
        "seed": pa.array(rng.integers(0, 2**31, n)),
        "train_loss": _text(train_loss, spelled & np.isnan(train_loss), logged_nothing),
        "val_loss": _text(val_loss, spelled & np.isnan(val_loss), logged_nothing | no_val),
        "train_acc": _text(train_acc, spelled & np.isnan(train_acc), logged_nothing),
        "val_acc": _text(val_acc, spelled & np.isnan(val_acc), logged_nothing | no_val),
        "epochs": pa.array(epochs),
        "runtime_sec": pa.array((epochs * rng.uniform(1, 3, n)).round(2)),
    })
    with open(path, "wb") as out:  # a plain header line, as sweep tools write it
        out.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style="none"))


def measure_pipeline(path: str) -> dict[str, float]:
    """Run the pipeline once on ``path`` (after a warm-up on 500 trials): seconds per stage, peak RSS."""
    from core.associations import associate_issues
    from core.detectors import detect_issues
    from core.loading import read_results
    from core.roles import infer_roles
    from core.table import build_trial_table

    with tempfile.TemporaryDirectory() as tmp:  # warm up: imports and first calls, not timed
        make_sweep(500, Path(tmp) / "warm.csv", seed=1)
        raw = read_results(Path(tmp) / "warm.csv")
        table = build_trial_table(raw, infer_roles(raw.frame, raw.source))
        associate_issues(table, detect_issues(table))

    times = [time.perf_counter()]
    raw = read_results(path)
    times.append(time.perf_counter())
    roles = infer_roles(raw.frame, raw.source)
    times.append(time.perf_counter())
    table = build_trial_table(raw, roles)
    times.append(time.perf_counter())
    issues = detect_issues(table)
    times.append(time.perf_counter())
    associate_issues(table, issues)
    times.append(time.perf_counter())
    out: dict[str, float] = {stage: b - a for stage, a, b in zip(STAGES, times, times[1:])}
    out["issues"] = len(issues)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def measure_bare(path: str, repeat: int = 3) -> dict[str, float]:
    """Best of ``repeat`` bare ``pyarrow.csv.read_csv(path)`` reads."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        pacsv.read_csv(path)
        best = min(best, time.perf_counter() - t0)
    return {"bare": best}


def _run(mode: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, mode, str(path)], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if out.returncode != 0:
        raise SystemExit(f"{mode} {path} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] in ("--pipeline", "--bare"):
        measure = measure_pipeline if sys.argv[1] == "--pipeline" else measure_bare
        print(json.dumps(measure(sys.argv[2])))
        return
    sizes = [int(a.replace("_", "")) for a in sys.argv[1:]] or list(DEFAULT_SIZES)
    print("| trials | MB | load s | roles s | table s | detect s | associate s | total s | "
          "pyarrow s | ratio | peak MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"sweep_{n}.csv"
            make_sweep(n, path)
            bare = _run("--bare", path)["bare"]
            m = _run("--pipeline", path)
            total = sum(m[s] for s in STAGES)
            cells = " | ".join(f"{m[s]:.2f}" for s in STAGES)
            print(f"| {n:,} | {path.stat().st_size / 1e6:.0f} | {cells} | {total:.2f} | {bare:.2f} | "
                  f"{total / bare:.1f}x | {m['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
