"""Command line: ``python -m graph.run [RESULTS.csv] [--out DIR] [--offline] ...``.

Writes ``hparam_report.md`` and ``hparam_summary.json`` to ``--out`` (default: the
current directory), each through a temporary file and a rename, so a failed run
never truncates an earlier report. Exit status: 0 on success, 2 on bad input (one
line on stderr, no traceback), 1 on an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from core.errors import InputError

REPORT_NAME = "hparam_report.md"
SUMMARY_NAME = "hparam_summary.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m graph.run",
        description="Find the sick trials of a hyperparameter sweep, why they are sick, and what to try next.",
    )
    parser.add_argument("results", nargs="?", help="the sweep: a results table (CSV/TSV/Parquet), an Optuna or MLflow "
                        "SQLite file or storage URL (sqlite:///x.db), or a Ray Tune / Keras Tuner / mlruns directory "
                        "(default: $HPATH_RESULTS_CSV, else ./results.csv)")
    parser.add_argument("--format", help="read the input as this format instead of detecting it: csv, parquet, curves, "
                        "optuna, wandb, mlflow, raytune, kerastuner (or an exact name such as optuna-sqlite)")
    parser.add_argument("--study", help="the Optuna study (or MLflow experiment) to read when the storage holds several")
    parser.add_argument("--curves", metavar="FILE", help="per-step curves kept apart: a long-format CSV (trial id, "
                        "step or epoch, metrics) or a directory of W&B history CSVs")
    parser.add_argument("--map", metavar="COL=ROLE", action="append", default=[], dest="mapping",
                        help="give a column a role, over inference (repeatable): id, status, hyperparameter, "
                        "metric, metric:val_loss, metric:objective:max, epochs, runtime, error, seed, ignore")
    parser.add_argument("--out", default=".", help="directory for the report and JSON summary (default: .)")
    parser.add_argument("--offline", action="store_true", help="never call a model (deterministic analyst and writer)")
    parser.add_argument("--model", help="Hugging Face model id for the HF router (env MODEL)")
    parser.add_argument("--endpoint-url", help="OpenAI-compatible server URL (env LLM_ENDPOINT_URL)")
    parser.add_argument("--max-revisions", type=int, help="writer -> analyst loops allowed (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the graph on a results file and write the report; returns the exit status."""
    args = parse_args(argv)
    _load_dotenv()
    results = args.results or os.environ.get("HPATH_RESULTS_CSV") or "results.csv"
    out_dir = Path(args.out)
    try:
        _check_out_dir(out_dir)
        final = _run(results, args)
        _write_atomically(out_dir / REPORT_NAME, final["report"])
        summary_text = json.dumps(final["summary"], indent=2, ensure_ascii=False, allow_nan=False)
        _write_atomically(out_dir / SUMMARY_NAME, summary_text + "\n")
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
    if not args.quiet:
        s = final["summary"]
        print(f"wrote {out_dir / REPORT_NAME} and {out_dir / SUMMARY_NAME}: "
              f"{s['trials_affected']} of {s['sweep']['n_trials']} trials have issues, "
              f"{len(s['patterns'])} pattern(s)", file=sys.stderr)
    return 0


def _run(results: str, args: argparse.Namespace) -> dict[str, Any]:
    from graph import graph
    from graph.context import Context

    settings: dict[str, Any] = {"offline": args.offline}
    if args.model:
        settings["model"] = args.model
    if args.endpoint_url:
        settings["endpoint_url"] = args.endpoint_url
    if args.max_revisions is not None:
        settings["max_revisions"] = args.max_revisions
    context = Context(**settings)
    final: dict[str, Any] = {}
    inputs: dict[str, Any] = {"results_path": results, "mapping": _mapping(args.mapping)}
    for key, value in (("format", args.format), ("study", args.study), ("curves_path", args.curves)):
        if value:
            inputs[key] = value
    for update in graph.stream(inputs, context=context, stream_mode="updates"):
        for node, values in update.items():
            values = values or {}
            final.update(values)
            if not args.quiet:
                print(f"[{node}] {_progress(node, values)}", file=sys.stderr)
    for note in final["summary"]["writer"]["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return final


def _mapping(entries: list[str]) -> dict[str, str]:
    """``--map COL=ROLE`` entries as a dict; a column name may itself hold ``=`` (the last one splits)."""
    mapping: dict[str, str] = {}
    for entry in entries:
        column, sep, role = entry.rpartition("=")
        if not sep or not column.strip() or not role.strip():
            raise InputError(f"--map {entry!r}: expected COLUMN=ROLE, e.g. --map lr=hyperparameter")
        mapping[column.strip()] = role.strip()
    return mapping


def _progress(node: str, values: dict[str, Any]) -> str:
    if node == "load":
        roles = values["roles"]
        n = len(next(iter(values["raw"].values()), []))
        curves = values.get("curves")
        with_curves = f", curves for {len(set(curves['trial_id']))} trial(s)" if curves and "trial_id" in curves else ""
        fmt = values.get("sweep_format") or "csv"
        read_as = f" ({fmt})" if fmt != "csv" else ""
        return (f"{values['source']}{read_as}: {n} trials, {len(roles['metrics'])} metric(s), "
                f"{len(roles['hyperparameters'])} hyperparameter(s){with_curves}")
    if node == "detect":
        s = values["summary"]
        return f"{sum(s['issue_counts'].values())} issue(s) in {s['trials_affected']} trial(s)"
    if node == "analyze":
        a = values["analysis"]
        return f"{len(a['patterns'])} pattern(s), {len(a['recommendations'])} recommendation(s)"
    if values.get("invalid_citations"):
        return f"draft cited unknown trial ids {', '.join(values['invalid_citations'])}; back to the analyst"
    return "report rendered"


def _check_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot create the output directory ({exc.strerror or exc})") from None
    if not os.access(out_dir, os.W_OK):
        raise InputError(f"{out_dir}: output directory is not writable")


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_dotenv() -> None:
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)


if __name__ == "__main__":
    sys.exit(main())
