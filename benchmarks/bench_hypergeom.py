"""The Fisher tail on a million trials: ``core.stats.hypergeom_logsf`` against scipy's; prints a markdown table.

Usage: ``python benchmarks/bench_hypergeom.py [TESTS ...]`` (default 650 5000 tests at N = 1,000,000).

The associations rank cuts on the log p-value because the p-value itself underflows to 0
for strong cuts on large sweeps. ``scipy.stats.hypergeom.sf`` is fast but underflows;
``scipy.stats.hypergeom.logsf`` does not, but sums the tail in a Python loop per element.
The table gives the seconds of each, how many p-values underflow, and the largest relative
difference of the log p-values (ours against ``logsf``; scipy's ``logsf`` is timed on the
first 200 tests only, it takes seconds).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy.stats import hypergeom

from core.stats import hypergeom_logsf

N = 1_000_000


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [650, 5000]
    rng = np.random.default_rng(0)
    print("| tests | ours logsf s | scipy sf s | scipy logsf s (per 200) | sf = 0 | max rel. diff |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        draws = rng.integers(1, N, size)
        good = rng.integers(1, N // 5, size)
        x = np.floor(np.minimum(draws, good) * rng.uniform(0, 1, size)) - 1
        t0 = time.perf_counter()
        ours = hypergeom_logsf(x, N, good, draws)
        t1 = time.perf_counter()
        sf = hypergeom.sf(x, N, good, draws)
        t2 = time.perf_counter()
        theirs = hypergeom.logsf(x[:200], N, good[:200], draws[:200])
        t3 = time.perf_counter()
        finite = np.isfinite(theirs)
        diff = np.max(np.abs(ours[:200][finite] - theirs[finite]) / np.maximum(1.0, np.abs(theirs[finite])))
        print(f"| {size:,} | {t1 - t0:.3f} | {t2 - t1:.3f} | {t3 - t2:.1f} | {int((sf == 0).sum()):,} | {diff:.1e} |",
              flush=True)


if __name__ == "__main__":
    main()
