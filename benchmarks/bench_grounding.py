"""Grounding cost: checking model-written text against the summary, at growing sweep sizes.

Usage: ``python benchmarks/bench_grounding.py [--repeat R] [N ...]`` (default 10000 100000 1000000).

For each size a sweep is generated (:func:`bench_pipeline.make_sweep`, fixed seed) and run
offline through the load, detect and analyze nodes; then a model's text is made up from
the deterministic analysis (each pattern's title and explanation, the recommendations,
and an overview citing the best trial, issue counts and a made-up trial id), about
what a model writes whatever the sweep's size. Timed, median of R in the same process:

- ``index``: building the write node's :class:`core.grounding.FactIndex` and grounding
  the first text (the index is built on first use);
- ``ground``: grounding the same texts again with the index built.

Printed as a markdown table with the text's length and the issue rows of the summary.
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


def model_texts(summary: dict, analysis: dict) -> list[str]:
    """What a model would write: the patterns and recommendations reworded, and an overview."""
    texts = [f"{p['title']}. {p['explanation']}" for p in analysis["patterns"][:8]]
    texts += [r["text"] for r in analysis["recommendations"][:8]]
    best = (summary.get("best_trial") or {}).get("trial_id")
    counts = ", ".join(f"{n} trials {kind.replace('_', ' ')}" for kind, n in list(summary["issue_counts"].items())[:4])
    texts.append(f"Of {summary['sweep']['n_trials']} trials, {summary['trials_affected']} have issues ({counts}). "
                 f"The best run is trial {best}. Trial zz99999x diverged at lr = 0.5.")
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=lambda s: int(s.replace("_", "")),
                        default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from core.grounding import FactIndex
    from graph.context import Context
    from graph.diagnose import run_nodes

    print("| trials | issue rows | text chars | index + first check s | check again s |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-grounding-") as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"sweep_{n}.csv"
            make_sweep(n, path)
            state: dict = {"results_path": str(path)}
            for name, _ in run_nodes(state, Context(offline=True, pictures=False)):
                if name == "analyze":
                    break
            summary, analysis = state["summary"], state["analysis"]
            texts = model_texts(summary, analysis)
            first, again = [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                facts = FactIndex(summary | analysis)  # the write node's index: no model ran, so all deterministic
                facts.ground(texts[0])
                first.append(time.perf_counter() - t)
                t = time.perf_counter()
                for text in texts:
                    facts.ground(text)
                again.append(time.perf_counter() - t)
            rows = summary["issue_counts"]
            print(f"| {n:,} | {sum(rows.values()):,} | {sum(map(len, texts)):,} | "
                  f"{statistics.median(first):.3f} | {statistics.median(again):.3f} |", flush=True)


if __name__ == "__main__":
    main()
