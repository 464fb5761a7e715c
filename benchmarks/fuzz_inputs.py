"""Run the command line on thousands of generated hostile inputs and print what became of them.

Usage: ``python benchmarks/fuzz_inputs.py [TABLES] [KERAS_TRIALS] [OPTUNA_DAMAGES] [SEED] [LAYOUT_DAMAGES]``
(default 2000 100 100 0 200).

The inputs come from the same Hypothesis strategies as tests/test_fuzz_inputs.py
(tests/fuzz_cases.py): CSV dialects, line endings, encodings, NaN/inf spellings, huge
numbers, text in numeric columns, hostile ids, damaged files; corrupt Keras Tuner trials;
damaged Optuna SQLite storages; MLflow file stores, MLflow SQLite databases and Ray Tune
experiments with one file truncated, salted with junk, deleted, emptied or given a wrong
value. Every run is the real CLI, offline, in process, without pictures. Printed: per kind,
how many runs ended with exit 0 and a summary valid against the JSON Schema, with exit 2 and
one ``error:`` line, or otherwise (a failure of the property; the first few are shown), and
the time per run (median, 95th percentile, max).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from tests.fuzz_cases import (  # noqa: E402
    SQLITE_DAMAGE,
    check,
    damaged_layouts,
    kerastuner_trials,
    outcome,
    results_tables,
    write_input,
)


def fuzz(strategy: object, n: int, run_seed: int) -> tuple[Counter[str], list[float], list[str]]:
    """Run ``n`` generated cases; (outcome counts, seconds per run, first failures)."""
    counts: Counter[str] = Counter()
    times: list[float] = []
    failures: list[str] = []

    @seed(run_seed)
    @settings(max_examples=n, deadline=None, database=None, phases=["generate"],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(case: object) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            path = write_input(base, case)
            start = time.perf_counter()
            try:
                code, lines, summary = outcome(path, base / "out")
                times.append(time.perf_counter() - start)
                check(code, lines, summary)
                counts["exit 0, valid summary" if code == 0 else "exit 2, one line"] += 1
            except BaseException as exc:  # noqa: BLE001 - counted and shown, never raised to Hypothesis
                counts["property failed"] += 1
                if len(failures) < 5:
                    failures.append(f"{type(exc).__name__}: {str(exc)[:300]} | {repr(case)[:200]}\n"
                                    + "".join(traceback.format_exception(exc)[-3:]))

    one()
    return counts, times, failures


def main(argv: list[str]) -> None:
    """Print one table row per kind of input, then any failures."""
    sizes = [int(a) for a in argv[:3]] + [2000, 100, 100][len(argv[:3]):]
    run_seed = int(argv[3]) if len(argv) > 3 else 0
    layouts = int(argv[4]) if len(argv) > 4 else 200
    kinds = [("results tables", results_tables(), sizes[0]), ("Keras Tuner trials", kerastuner_trials(), sizes[1]),
             ("damaged Optuna storages", SQLITE_DAMAGE, sizes[2]),
             ("damaged MLflow / Ray Tune layouts", damaged_layouts(), layouts)]
    print(f"seed {run_seed}\n")
    print("| input kind | runs | exit 0, valid summary | exit 2, one line | property failed | median s | p95 s | max s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    all_failures = []
    for name, strategy, n in kinds:
        if n <= 0:
            continue
        counts, times, failures = fuzz(strategy, n, run_seed)
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))] if times else 0.0
        print(f"| {name} | {sum(counts.values())} | {counts['exit 0, valid summary']} | {counts['exit 2, one line']} | "
              f"{counts['property failed']} | {statistics.median(times) if times else 0:.2f} | {p95:.2f} | "
              f"{max(times, default=0):.2f} |", flush=True)
        all_failures += [f"{name}: {f}" for f in failures]
    for failure in all_failures:
        print("\n" + failure)


if __name__ == "__main__":
    main(sys.argv[1:])
