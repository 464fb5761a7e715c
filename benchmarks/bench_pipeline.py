"""Time load + detect + associate on generated sweeps and print a table.

Usage: ``python benchmarks/bench_pipeline.py [N ...]`` (default 10000 100000).
Each size runs in a fresh subprocess so peak memory (max RSS) is its own. The
sweep is generated with a fixed seed: lr log-uniform, NaN above lr 0.3, some
failed and overfit trials. Compared with reading the same file bare with pandas
(and pyarrow when installed).
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
import pandas as pd


def make_sweep(n: int, path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-5, 0, n)
    train = rng.uniform(0.05, 0.5, n)
    val = train * rng.uniform(1.0, 2.0, n)
    val = np.where(lr > 0.3, np.nan, val)
    status = np.where(rng.random(n) < 0.02, "failed", "completed")
    pd.DataFrame({
        "trial_id": [f"t{i}" for i in range(n)], "status": status, "lr": lr,
        "batch_size": rng.choice([16, 32, 64, 128, 256], n), "optimizer": rng.choice(["adam", "sgd", "momentum"], n),
        "dropout": rng.uniform(0, 0.5, n), "train_loss": train, "val_loss": val,
        "epochs": np.where(rng.random(n) < 0.01, 3, 50), "runtime_sec": rng.uniform(50, 150, n),
    }).to_csv(path, index=False)


def measure(path: str) -> dict[str, float]:
    from core.associations import associate_issues
    from core.detectors import detect_issues
    from core.loading import read_results
    from core.roles import infer_roles
    from core.table import build_trial_table

    t0 = time.perf_counter()
    raw = read_results(path)
    roles = infer_roles(raw.frame, raw.source)
    table = build_trial_table(raw, roles)
    t1 = time.perf_counter()
    issues = detect_issues(table)
    t2 = time.perf_counter()
    associate_issues(table, issues)
    t3 = time.perf_counter()
    pd.read_csv(path)
    t4 = time.perf_counter()
    bare_arrow = float("nan")
    try:
        import pyarrow.csv as pacsv

        t5 = time.perf_counter()
        pacsv.read_csv(path)
        bare_arrow = time.perf_counter() - t5
    except ImportError:
        pass
    return {"load": t1 - t0, "detect": t2 - t1, "associate": t3 - t2, "pandas_read": t4 - t3,
            "arrow_read": bare_arrow, "n_issues": len(issues),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2])))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    root = Path(__file__).resolve().parents[1]
    print(f"{'trials':>9} {'load s':>8} {'detect s':>9} {'assoc s':>8} {'total s':>8} "
          f"{'pandas s':>9} {'arrow s':>8} {'x arrow':>8} {'RSS MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"sweep_{n}.csv"
            make_sweep(n, path)
            out = subprocess.run([sys.executable, __file__, "--measure", str(path)], capture_output=True,
                                 text=True, check=True, cwd=root, env={"PYTHONPATH": str(root)})
            m = json.loads(out.stdout)
            total = m["load"] + m["detect"] + m["associate"]
            print(f"{n:>9} {m['load']:>8.2f} {m['detect']:>9.2f} {m['associate']:>8.2f} {total:>8.2f} "
                  f"{m['pandas_read']:>9.2f} {m['arrow_read']:>8.2f} {total / m['arrow_read']:>8.1f} "
                  f"{m['max_rss_mb']:>8.0f}")


if __name__ == "__main__":
    main()
