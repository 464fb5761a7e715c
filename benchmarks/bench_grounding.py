"""Grounding cost: checking model-written text against the summary, at growing sweep sizes.

Usage: ``python benchmarks/bench_grounding.py [--repeat R] [N ...]`` (default 10000 100000 1000000).

For each size a sweep is generated (:func:`bench_pipeline.make_sweep`, fixed seed) and run
offline through the load, detect and analyze nodes; then a model's text is made up from
the deterministic analysis: each pattern's title and explanation and the recommendations
(facts the summary backs, about what a model writes whatever the sweep's size), and an
overview with an invented trial id, hyperparameter value and loss. Timed, median of R in
the same process:

- ``index + check``: building the write node's :class:`core.grounding.FactIndex` and
  grounding the backed texts (the index collects its facts on first use);
- ``+ a text with invented facts``: then grounding the overview (whose unbacked numbers
  make the index read the sweep-sized parts of the summary once).

Printed as a markdown table with the issue rows and associations of the summary; each
step in wall seconds and in CPU seconds of this process (steadier on a shared machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
from bench_pipeline import make_sweep  # noqa: E402


def model_texts(summary: dict, analysis: dict) -> tuple[list[str], str]:
    """What a model would write: the patterns and recommendations reworded (backed), and an overview that is not."""
    backed = [f"{p['title']}. {p['explanation']}" for p in analysis["patterns"][:8]]
    backed += [r["text"] for r in analysis["recommendations"][:8]]
    best = (summary.get("best_trial") or {}).get("trial_id")
    invented = (f"Of {summary['sweep']['n_trials']} trials, {summary['trials_affected']} have issues. The best run "
                f"is trial {best}. Trial zz99999x diverged at lr = 0.5 with a loss of 123456.7.")
    return backed, invented


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=lambda s: int(s.replace("_", "")),
                        default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from core.grounding import FactIndex
    from graph.context import Context
    from graph.diagnose import run_nodes

    print("| trials | issue rows | associations | backed text chars | index + check s (cpu) | "
          "+ a text with invented facts s (cpu) |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-grounding-") as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"sweep_{n}.csv"
            make_sweep(n, path)
            state: dict = {"results_path": str(path)}
            for name, _ in run_nodes(state, Context(offline=True, pictures=False)):
                if name == "analyze":
                    break
            summary, analysis = state["summary"], state["analysis"]
            backed, invented = model_texts(summary, analysis)
            first, then = [], []
            for _ in range(args.repeat):
                t, c = time.perf_counter(), time.process_time()
                facts = FactIndex(summary | analysis)  # the write node's index: no model ran, so all deterministic
                for text in backed:
                    facts.ground(text)
                first.append((time.perf_counter() - t, time.process_time() - c))
                t, c = time.perf_counter(), time.process_time()
                facts.ground(invented)
                then.append((time.perf_counter() - t, time.process_time() - c))
            print(f"| {n:,} | {sum(summary['issue_counts'].values()):,} | {len(summary['associations']):,} | "
                  f"{sum(map(len, backed)):,} | {_median(first)} | {_median(then)} |", flush=True)


def _median(times: list[tuple[float, float]]) -> str:
    """"wall (cpu)": the medians of each."""
    return f"{statistics.median(w for w, _ in times):.3f} ({statistics.median(c for _, c in times):.3f})"


if __name__ == "__main__":
    main()
