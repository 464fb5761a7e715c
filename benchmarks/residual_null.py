"""Null sweeps for the second look (core.residuals): no second cause where there is none to find.

The judgment scoreboard's null sweeps permute every hyperparameter, so no first pattern
stands and the second look never runs. Here, per corpus sweep and per issue type with
patterns, the hyperparameters are permuted among the trials OUTSIDE that type's named
regions (its standing patterns and risky regions) only: the first mechanism stays, the
trials it does not explain keep their outcomes but lose any link to their settings (a
permuted row comes from another trial outside the regions, so it stays outside them).
Any second pattern of that type is then a false one. Prints one table row per (sweep,
issue type): the first regions, the trials outside them, and the second patterns found
per seed (target: none).

    python benchmarks/residual_null.py [--seeds 5] [sweep ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.diagnosis import diagnose  # noqa: E402
from core.patterns import standing_associations  # noqa: E402
from core.records import Association  # noqa: E402
from core.residuals import rows_in  # noqa: E402
from core.roles import infer_roles  # noqa: E402
from core.sources import read_sweep  # noqa: E402
from core.table import build_trial_table  # noqa: E402

CORPUS = ROOT / "benchmarks" / "corpus"
SWEEPS = ("breast_cancer_mlp", "diabetes_regression", "digits_mlp", "synthetic_overfit")


def second_patterns(directory: Path, seeds: int, work: Path) -> list[tuple[str, list[str], int, list[int]]]:
    """Per issue type with patterns: its first regions, the trials outside them, second patterns per seed."""
    hyperparameters = json.loads((directory / "truth.json").read_text())["hyperparameters"]
    results, curves = directory / "results.csv", directory / "curves.csv"
    frame = pd.read_csv(results, dtype=str, keep_default_na=False)
    base = diagnose(read_sweep(results, curves=curves))
    firsts_of = standing_associations([Association.from_dict(a) for a in base["associations"]], top=base["top_trials"])
    sweep = read_sweep(results)
    table = build_trial_table(sweep.trials, infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints))
    rows = []
    for kind, firsts in firsts_of.items():
        inside = np.zeros(len(table), dtype=bool)
        for a in firsts:
            inside |= rows_in(table, a.regions)
        outside = np.flatnonzero(~inside)
        found = []
        for seed in range(seeds):
            permuted = frame.copy()
            permuted.loc[outside, hyperparameters] = frame.loc[np.random.default_rng(seed).permutation(outside),
                                                               hyperparameters].to_numpy()
            path = work / f"{directory.name}_{kind}_{seed}.csv"
            permuted.to_csv(path, index=False)
            summary = diagnose(read_sweep(path, curves=curves))
            found.append(sum(1 for p in summary["patterns"] if p.get("outside") and p["issue_type"] == kind))
        rows.append((kind, [a.condition for a in firsts], len(outside), found))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="*", default=list(SWEEPS), help="corpus sweeps (default: all four)")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    print("| sweep | issue type | first regions | trials outside | second patterns per seed (target 0) |")
    print("|---|---|---|---|---|")
    total = 0
    with tempfile.TemporaryDirectory(prefix="residual-null-") as tmp:
        for name in args.sweeps:
            for kind, firsts, n_out, found in second_patterns(CORPUS / name, args.seeds, Path(tmp)):
                total += sum(found)
                print(f"| {name} | {kind} | {'; '.join(firsts)} | {n_out} | {' '.join(map(str, found))} |", flush=True)
    print(f"\nsecond patterns in all permuted sweeps: {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
