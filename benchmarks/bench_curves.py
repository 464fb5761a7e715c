"""Time the curve pipeline on generated long curves and print markdown tables.

Usage: ``python benchmarks/bench_curves.py [ROWS ...]`` (default 1000000 10000000).

Each size runs in a fresh subprocess, so its peak memory (max RSS) is its own. Curves are
generated with a fixed seed, 100 epochs per trial (1M rows = 10k trials, 10M rows = 100k
trials): exponential decay with 2% noise, 20% of trials overfitting (held-out loss turning
up), a blow-up for learning rates above 0.1 (x1.5 per epoch, then NaN or +inf), 5% stuck at
chance level, 5% zigzagging, the held-out loss logged every other epoch for 30% of trials and
1% of train-loss cells empty.

Timed, from an already-typed frame (string ids, int epochs, Arrow float64 metrics whose nulls
are "not logged" and NaN "reported NaN"): :func:`build_curve_table`,
:func:`detect_curve_issues`, :func:`curve_facts`, :func:`core.sources.tabular.trials_from_curves`. For the first
size, also from a CSV file (text cells, ``nan``/``inf``/empty): ``read_results`` +
``build_curve_table``, against a bare ``pyarrow.csv.read_csv`` of the same file.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

EPOCHS = 100


def make_curves(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """Seeded long curves, ``n_rows // EPOCHS`` trials of ``EPOCHS`` epochs (typed frame)."""
    rng = np.random.default_rng(seed)
    n_trials = n_rows // EPOCHS
    n = n_trials * EPOCHS
    codes = np.repeat(np.arange(n_trials), EPOCHS)
    t = np.tile(np.arange(EPOCHS, dtype=np.float64), n_trials)
    lr = 10 ** rng.uniform(-5, 0, n_trials)
    optimizer = rng.choice(np.array(["adam", "sgd", "momentum"]), n_trials)
    floor, amp = rng.uniform(0.05, 1.0, n_trials), rng.uniform(1.0, 3.0, n_trials)
    tau = rng.uniform(0.03, 0.3, n_trials) * EPOCHS
    base = floor[codes] + amp[codes] * np.exp(-t / tau[codes])
    train = base * np.exp(rng.normal(0, 0.02, n))
    over, turn = rng.random(n_trials) < 0.2, rng.uniform(0.2, 0.6, n_trials) * EPOCHS
    val = (base * 1.05 + 0.02) * np.exp(rng.normal(0, 0.02, n))
    val += np.where(over[codes], 0.01 * np.maximum(t - turn[codes], 0), 0.0)
    stuck = rng.random(n_trials) < 0.05
    train = np.where(stuck[codes], 2.3026 * np.exp(rng.normal(0, 0.001, n)), train)
    zigzag = rng.random(n_trials) < 0.05
    train = train + np.where(zigzag[codes] & (t % 2 == 1), 0.5, 0.0)
    blow = lr > 0.1
    onset = rng.integers(1, EPOCHS, n_trials)
    growth = np.where(blow[codes] & (t >= onset[codes]), 1.5 ** np.maximum(t - onset[codes], 0), 1.0)
    train, val = train * growth, val * growth
    dead = blow[codes] & (t >= (onset + rng.integers(2, 10, n_trials))[codes])
    bad_value = np.where(rng.random(n_trials) < 0.9, np.nan, np.inf)[codes]
    train = np.where(dead, bad_value, train)
    val = np.where(dead, bad_value, val)
    val_missing = (rng.random(n_trials) < 0.3)[codes] & (t % 2 == 1)
    train_missing = rng.random(n) < 0.01
    ids = pa.array([f"trial_{i:06d}" for i in range(n_trials)], type=pa.large_string())
    return pd.DataFrame({
        "trial_id": pd.Series(pc.take(ids, pa.array(codes)), dtype=pd.ArrowDtype(pa.large_string())),
        "epoch": t.astype(np.int64),
        "lr": lr[codes],
        "optimizer": pd.Categorical.from_codes(np.searchsorted(["adam", "momentum", "sgd"], optimizer)[codes],
                                               ["adam", "momentum", "sgd"]),
        "train_loss": pd.Series(pa.array(train, mask=train_missing), dtype=pd.ArrowDtype(pa.float64())),
        "val_loss": pd.Series(pa.array(val, mask=val_missing), dtype=pd.ArrowDtype(pa.float64())),
    })


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Text cells as a sweep tool writes them: ``nan``/``inf`` reported, empty = not logged."""
    text = {}
    for col in frame.columns:
        cells = frame[col]
        if col in ("train_loss", "val_loss"):
            values = cells.to_numpy(dtype=float, na_value=np.nan)
            text[col] = np.where(cells.isna().to_numpy(), "", values.astype(str))
        else:
            text[col] = cells.astype(str).to_numpy()
    pd.DataFrame(text).to_csv(path, index=False)


def rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    ``VmHWM`` from /proc is per address space, so it starts afresh in the subprocess;
    ``ru_maxrss`` is inherited across ``execve`` (it would report the parent's peak).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(n_rows: int, csv_path: str | None) -> dict[str, float]:
    from core.curves import build_curve_table, curve_facts, detect_curve_issues
    from core.loading import RawTable, read_results
    from core.sources.tabular import trials_from_curves

    frame = make_curves(n_rows)
    out: dict[str, float] = {"rows": len(frame), "trials": frame["trial_id"].nunique(), "rss_generated": rss_mb()}
    cpu0, t0 = time.process_time(), time.perf_counter()
    curves = build_curve_table(RawTable(frame=frame, source="<generated>"))
    t1 = time.perf_counter()
    issues = detect_curve_issues(curves)
    cpu2, t2 = time.process_time(), time.perf_counter()
    curve_facts(curves)
    t3 = time.perf_counter()
    trials_from_curves(curves)
    cpu4, t4 = time.process_time(), time.perf_counter()
    out.update(build=t1 - t0, detect=t2 - t1, facts=t3 - t2, trials_table=t4 - t3, rss_peak=rss_mb(),
               cpu_build_detect=cpu2 - cpu0, cpu_total=cpu4 - cpu0)
    out["issues"] = {k: int(v) for k, v in issues["type"].value_counts().items()}  # type: ignore[assignment]
    if csv_path:
        del frame, curves, issues
        import pyarrow.csv as pacsv

        t5 = time.perf_counter()
        raw = read_results(csv_path)
        t6 = time.perf_counter()
        build_curve_table(raw)
        t7 = time.perf_counter()
        pacsv.read_csv(csv_path)
        t8 = time.perf_counter()
        out.update(csv_read=t6 - t5, csv_build=t7 - t6, arrow_read=t8 - t7)
    return out


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        csv_path = sys.argv[3] if len(sys.argv) > 3 else None
        print(json.dumps(measure(int(sys.argv[2]), csv_path)))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000, 10_000_000]
    root = Path(__file__).resolve().parents[1]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / f"curves_{sizes[0]}.csv"
        write_csv(make_curves(sizes[0]), csv_path)
        for i, n in enumerate(sizes):
            args = [sys.executable, __file__, "--measure", str(n)] + ([str(csv_path)] if i == 0 else [])
            done = subprocess.run(args, capture_output=True, text=True, check=True, cwd=root,
                                  env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
            results.append(json.loads(done.stdout))
        csv_mb = csv_path.stat().st_size / 1e6
    print("| rows | trials | build s | detect s | facts s | trials table s | total s (CPU s) "
          "| peak RSS MB (frame alone) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in results:
        total = m["build"] + m["detect"] + m["facts"] + m["trials_table"]
        print(f"| {m['rows']:,} | {m['trials']:,} | {m['build']:.2f} | {m['detect']:.2f} | {m['facts']:.2f} | "
              f"{m['trials_table']:.2f} | {total:.2f} ({m['cpu_total']:.2f}) "
              f"| {m['rss_peak']:.0f} ({m['rss_generated']:.0f}) |")
    first = results[0]
    print()
    print(f"| CSV ({first['rows']:,} rows, {csv_mb:.0f} MB) | read_results s | build_curve_table s | total s | "
          "bare pyarrow.csv.read_csv s | x bare |")
    print("|---|---:|---:|---:|---:|---:|")
    total = first["csv_read"] + first["csv_build"]
    print(f"| text cells | {first['csv_read']:.2f} | {first['csv_build']:.2f} | {total:.2f} | "
          f"{first['arrow_read']:.2f} | {total / first['arrow_read']:.1f} |")
    print()
    for m in results:
        print(f"issues at {m['rows']:,} rows: {m['issues']}")
    print(f"load average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs (wall time above CPU time means waiting for a CPU)")


if __name__ == "__main__":
    main()
