"""Grounding on real sweeps: core's own sentences pass, true model phrasings pass, invented counts do not.

Usage: ``python benchmarks/grounding_check.py [--realdata DIR] [--summaries DIR] [--save DIR]``.

Each sweep of the judgment scoreboard (``benchmarks/judgment.py``: the corpus, DeepOBS and
nanoGPT from ``--realdata``) and each example is run offline; ``--summaries`` reads the
``hparam_summary.json`` files a run saved with ``--save`` instead. Against the summary as
the write node checks it (:class:`core.grounding.FactIndex`), this prints how many of:

- core's own sentences (every pattern, lead, recommendation and finding) have a problem;
- true phrasings a model may write are rejected: each type's count out of the sweep and
  out of the runs that trained, each pattern's and lead's cells said of their regions
  (inside, rest, a pair's parts), the trials with issues, a type set aside;
- invented counts are accepted: a type's count said of another type or of the wrong
  population, a region said with another region's cell or the comparison's whole, the
  trials with issues given another count.

All should be 0. The phrasings are made from the summary; none is fitted to a sweep.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
import judgment as J  # noqa: E402

from core.grounding import FactIndex  # noqa: E402
from core.issue_types import ISSUE_TYPES, NEEDS_RESULT, SICK_SEVERITIES, UNTRAINED, label_of  # noqa: E402
from core.patterns import trained_count  # noqa: E402

VERBS = {"diverged": "diverged", "nonfinite_metric": "went NaN", "overfitting": "overfit", "failed": "failed",
         "no_learning": "never learned", "generalization_gap": "show a generalisation gap",
         "still_improving": "were still improving", "plateau": "plateaued", "oscillation": "oscillated",
         "pruned": "were pruned", "timeout": "timed out", "running": "were still running", "short_run": "were cut short",
         "killed": "were killed", "status_mismatch": "were hidden failures",
         "suspicious_validation": "had suspicious validation scores"}
"""How a model says a trial has each type, beside the type's label."""


def verb_of(kind: str) -> str:
    """How a model says a trial has the type ``kind`` ("overfit"; a type without a verb here: "show" its label)."""
    return VERBS.get(kind) or f"show {label_of(kind)}"


ADJECTIVES = {"diverged": "diverged", "nonfinite_metric": "NaN", "overfitting": "overfitting", "failed": "failed",
              "pruned": "pruned"}
OWN_TEXT = ("title", "explanation", "recommendation", "text", "evidence", "detail")


def summaries(args: argparse.Namespace) -> dict[str, dict]:
    """Name -> the summary with the deterministic analysis, as the write node checks model text against it."""
    if args.summaries:
        return {p.stem: json.loads(p.read_text()) for p in sorted(Path(args.summaries).glob("*.json"))}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases = [(c.name, c.results, c.curves, c.args) for c in J.corpus_cases()
                 + J.deepobs_cases(work / "data", args.realdata) + J.nanogpt_cases(args.realdata)]
        cases += [(f"example_{p.stem}", p, None, []) for p in sorted((ROOT / "examples").glob("*.csv"))]
        for name, results, curves, extra in cases:
            out[name] = J.run_tool(results, curves, work / name, extra)
            print(f"ran {name}", file=sys.stderr, flush=True)
    if args.save:
        Path(args.save).mkdir(parents=True, exist_ok=True)
        for name, summary in out.items():
            (Path(args.save) / f"{name}.json").write_text(json.dumps(summary))
    return out


def _issue_rows(summary: dict) -> list[tuple[str, str, str]]:
    """``(trial_id, type, severity)`` of every issue row, the issues as rows or as columns."""
    issues = summary["issues"]
    if isinstance(issues, dict):
        return list(zip(*([issues[f]["values"][i] for i in issues[f]["codes"]] for f in ("trial_id", "type", "severity")),
                        strict=True))
    return [(r["trial_id"], r["type"], r["severity"]) for r in issues]


def own_sentences(summary: dict) -> list[str]:
    return [item[key] for group in ("patterns", "leads", "recommendations", "findings")
            for item in summary.get(group) or [] for key in OWN_TEXT if isinstance(item.get(key), str)]


def type_counts(summary: dict, rows: list[tuple[str, str, str]]) -> tuple[list[str], list[str]]:
    """Each type's count out of the sweep and the runs that trained (true), and said of another type or population."""
    n, counts = summary["sweep"]["n_trials"], summary.get("issue_counts") or {}
    trained = n - len({t for t, kind, _ in rows if kind in UNTRAINED})
    truths, lies = [], []
    for kind, c in counts.items():
        label, verb = label_of(kind), verb_of(kind)
        truths += [f"{c} of the {n} trials show {label}.", f"Of the {n} trials, {c} show {label}.",
                   f"{c}/{n} trials show {label}.", f"{c} of the {n} trials {verb}.", f"Of the {n} trials, {c} {verb}.",
                   f"{c} out of {n} trials {verb}."]
        if kind in ADJECTIVES:
            truths += [f"{c}/{n} {ADJECTIVES[kind]} trials.", f"There were {c}/{n} {ADJECTIVES[kind]} trials."]
        if kind in NEEDS_RESULT:
            truths += [f"Of the {trained} runs that trained, {c} show {label}.",
                       f"{c} of the {trained} runs that trained {verb}.", f"{c}/{trained} trained runs show {label}.",
                       f"Among the {trained} runs with a result, {c} {verb}.", f"{c} of {trained} finished runs {verb}.",
                       f"{c} of the {trained} trials compared {verb}."]
            lies += [text for m in {n, trained + 1, trained - 1} - {trained}
                     for text in (f"{c} of {m} runs that trained {verb}.", f"Of the {m} runs that trained, {c} {verb}.")]
        for other in ISSUE_TYPES:
            if other != kind and counts.get(other) != c:
                lies += [f"{c} of the {n} trials show {label_of(other)}.", f"Of the {n} trials, {c} show {label_of(other)}.",
                         f"{c} of the {n} trials {verb_of(other)}.", f"Of the {n} trials, {c} {verb_of(other)}."]
    return truths, lies


def with_issues(summary: dict, rows: list[tuple[str, str, str]]) -> tuple[list[str], list[str]]:
    """The trials with issues, and with an issue other than a type set aside (true); another count said so."""
    n, counts, affected = summary["sweep"]["n_trials"], summary.get("issue_counts") or {}, summary["trials_affected"]
    truths = [f"{affected} of the {n} trials have issues.", f"Of the {n} trials, {affected} show problems.",
              f"{affected}/{n} trials are affected."]
    lies = [f"{c} of the {n} trials have issues." for c in set(counts.values()) - {affected}]
    for kind, c in counts.items():
        label = label_of(kind)
        other = len({t for t, k, severity in rows if k != kind and severity in SICK_SEVERITIES})
        truths += [f"{label.capitalize()} aside, {other} of the {n} trials had issues.",
                   f"{other} of the {n} trials had issues other than {label}."]
        truths += [f"{label.capitalize()} aside, {c2} of the {n} trials {verb_of(k2)}." for k2, c2 in counts.items()
                   if k2 != kind]
        if c not in (other, affected):
            lies.append(f"{label.capitalize()} aside, {c} of the {n} trials had issues.")
    return truths, lies


def regions(summary: dict) -> tuple[list[str], list[str]]:
    """Each pattern's and lead's cells said of their regions (true); the comparison's whole, the rest said as the
    region, a pair's cells said of another of its conditions (lies, unless that region has such a cell too)."""
    items = (summary.get("patterns") or []) + (summary.get("leads") or [])
    cells: dict[tuple[str, str], set[tuple[int, int]]] = {}
    for a in (summary.get("associations") or []) + items:
        e = a.get("evidence") or a
        cells.setdefault((a["condition"], a["issue_type"]), set()).add((e["k"], e["n"]))
        for part in a.get("parts") or []:
            cells.setdefault((part["condition"], a["issue_type"]), set()).add((part["k"] + e["k"], part["n"] + e["n"]))
    truths, lies = [], []
    for a in items:
        e, kind, condition = a["evidence"], a["issue_type"], a["condition"]
        label, verb = label_of(kind), verb_of(kind)
        k, n, k_rest, n_rest = e["k"], e["n"], e["k_rest"], e["n_rest"]

        truths += [f"{k} of the {n} trials with {condition} show {label}.", f"Of the {n} trials with {condition}, {k} {verb}.",
                   f"{k_rest} of the {n_rest} trials outside {condition} show {label}.",
                   f"With {condition}, {k} of the {n} trials {verb}.", f"{condition}: {k}/{n} trials show {label}."]
        if n not in (summary["sweep"]["n_trials"], trained_count(summary)):
            lies += [f"{k} of {n} runs that trained show {label}.", f"Of the {n} runs that trained, {k} show {label}."]
        unless = [((k + k_rest, n + n_rest), f"{k + k_rest} of the {n + n_rest} trials with {condition} show {label}.",
                   condition),
                  ((k + k_rest, n + n_rest), f"Of the {n + n_rest} trials with {condition}, {k + k_rest} {verb}.", condition),
                  ((k + k_rest, n + n_rest), f"With {condition}, {k + k_rest} of the {n + n_rest} trials {verb}.", condition)]
        if (k_rest, n_rest) != (k, n):
            unless.append(((k_rest, n_rest), f"{k_rest} of the {n_rest} trials with {condition} show {label}.", condition))
            lies.append(f"{k} of the {n} trials outside {condition} show {label}.")
        parts = a.get("parts") or []
        for p, q in zip(parts, parts[::-1], strict=True):
            truths += [f"{p['k']} of the {p['n']} trials with {p['condition']} but not {q['condition']} show {label}.",
                       f"{p['k'] + k} of the {p['n'] + n} trials with {p['condition']} show {label}.",
                       f"{p['condition']} without {q['condition']}: {p['k']} of {p['n']} trials show {label}.",
                       f"{p['condition']} overall: {p['k'] + k} of {p['n'] + n} trials show {label}."]
            unless += [((p["k"] + k, p["n"] + n), f"{p['k'] + k} of the {p['n'] + n} trials with {condition} show {label}.",
                        condition),
                       ((k, n), f"{k} of the {n} trials with {p['condition']} show {label}.", p["condition"]),
                       ((k, n), f"{p['condition']} overall: {k} of {n} trials show {label}.", p["condition"])]
        lies += [text for pair, text, said_of in unless if pair not in cells.get((said_of, kind), set())]
        other = None if parts else _complement(condition, a, summary)
        if other:
            truths.append(f"{k_rest} of the {n_rest} trials with {other} show {label}.")
            if (k_rest, n_rest) != (k, n):
                lies.append(f"{k} of the {n} trials with {other} show {label}.")
    return truths, lies


def _complement(condition: str, region: dict, summary: dict) -> str | None:
    """The region's rest as a condition: "lr < x" for "lr ≥ x", the other value of a column that takes two."""
    for op, other in (("≥", "<"), ("≤", ">")):
        if f" {op} " in condition:
            return condition.replace(f" {op} ", f" {other} ")
    column = region["hyperparameter"]
    values = ((summary["sweep"].get("hyperparameters") or {}).get(column) or {}).get("values") or []
    if region.get("rule") != "value" or len(values) != 2:
        return None
    mine = condition.split(" = ", 1)[-1]
    others = [str(v) for v in values if J._number(str(v)) != J._number(mine) and str(v) != mine]
    return f"{column} = {others[0]}" if len(others) == 1 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=J.REALDATA)
    parser.add_argument("--summaries", type=Path, help="read saved summaries instead of running the tool")
    parser.add_argument("--save", type=Path, help="save the summaries the runs give")
    args = parser.parse_args(argv)
    totals: dict[str, list] = {}
    for name, summary in summaries(args).items():
        index = FactIndex({k: v for k, v in summary.items() if k not in ("writer", "next_sweep")})
        rows = _issue_rows(summary)
        groups = {"core's own sentences": (own_sentences(summary), [])}
        for what, make in (("counts of a type", type_counts), ("trials with issues", with_issues)):
            groups[what] = make(summary, rows)
        groups["counts of a region"] = regions(summary)
        for what, (truths, lies) in groups.items():
            for text, true in [(t, True) for t in truths] + [(t, False) for t in lies]:
                kind = (what, "true, rejected" if true else "invented, accepted")
                if what == "core's own sentences":
                    kind = (what, "with a problem")
                entry = totals.setdefault(kind, [0, []])
                entry[0] += 1
                if bool(index.ground(text).problems) == true:
                    entry[1].append(f"{name}: {text}")
    print("| texts | checked | wrong |\n|---|---:|---:|")
    for (what, wrong), (checked, bad) in totals.items():
        print(f"| {what}: {wrong} | {checked:,} | {len(bad)} |")
    for (what, wrong), (_, bad) in totals.items():
        for line in bad[:10]:
            print(f"- {what}, {wrong}: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
