"""Command line: ``python -m graph.run [RESULTS] [--out DIR] [--output-format md|json|html] ...``.

Writes ``hparam_report.md``, ``hparam_summary.json`` and the pictures
(``hparam_figures/*.png``) to ``--out`` (default: the current directory) as one set:
staged in a private ``.hparam-output-tmp-*`` directory there and swapped in together
(:mod:`graph.report.output_set`), so a failed or killed run never truncates or mixes an
earlier report; ``--output-format html`` adds a self-contained ``hparam_report.html``,
and ``--output-format json`` prints the summary to stdout and writes nothing.

The graph itself writes no file: its write node renders the report, the pictures and
the page (:mod:`graph.report.compose`), and this module saves exactly that, so Studio,
embedders and the CLI get the same report.

Exit status: 0 on success; 1 when ``--fail-on`` names an issue type some trial has;
2 on bad input or an output directory that cannot take the report (one line on
stderr, no traceback); 3 on an internal error (one line; ``--debug`` adds the traceback).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import os
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import InputError
from graph.report.compose import HTML_NAME, REPORT_NAME, SUMMARY_NAME, report_files, report_set

if TYPE_CHECKING:
    from core.records import Diagnosis
    from graph.report.output_set import OutputSet

OUTPUT_FORMATS = ("md", "json", "html")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command-line options."""
    prog = "hparam-inspect" if Path(sys.argv[0]).name == "hparam-inspect" else "python -m graph.run"
    parser = argparse.ArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Find the sick trials of a hyperparameter sweep, why they are sick, and what to try next.",
        epilog=f"""examples:
  {prog} results.csv --out report/               report, JSON summary and pictures in report/
  {prog} optuna.db --study cifar --output-format html
  {prog} http://127.0.0.1:5000 --study EXPERIMENT  an MLflow tracking server
  {prog} ~/ray_results/exp --fail-on nonfinite_metric,diverged --quiet   (CI)
  {prog} optuna.db --watch 60 --out watch/      re-diagnose while the sweep runs
  cat results.csv | {prog} - --output-format json | jq .next_sweep

exit status:
  0  done
  1  --fail-on matched (one line on stderr says which trials, even with --quiet)
  2  bad input (one line on stderr naming the file, row or column; nothing overwritten)
  3  internal error (one line; --debug shows the traceback)""",
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument("results", nargs="?", help="the sweep: a results table (CSV/TSV/Parquet; - reads standard "
                        "input), an Optuna or MLflow SQLite file or storage URL (sqlite:///x.db), an MLflow tracking "
                        "server URL, or a Ray Tune / Keras Tuner / mlruns directory "
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
    parser.add_argument("--model", help="the model setting (env MODEL): a Hugging Face repo id or hf:REPO (needs HF_TOKEN), "
                        "openai:[NAME@]URL or an http(s) URL (any OpenAI-compatible server), or none")
    parser.add_argument("--endpoint-url", help="OpenAI-compatible server URL (env LLM_ENDPOINT_URL)")
    parser.add_argument("--max-revisions", type=int, help="writer -> analyst loops allowed (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="md",
                        help="md (default): write the report, JSON summary and pictures to --out; html: the same plus "
                        "a self-contained hparam_report.html; json: print the JSON summary to stdout, write nothing")
    parser.add_argument("--fail-on", metavar="TYPES", help="exit with status 1 when a trial has one of these issue types "
                        "(comma-separated, e.g. nonfinite_metric,diverged; 'any' for every type but pruned)")
    parser.add_argument("--no-plots", action="store_true", help="write no pictures")
    parser.add_argument("--debug", action="store_true", help="on an internal error (exit 3), print the traceback")
    parser.add_argument("--log-to", choices=("mlflow", "wandb"), help="also attach the report, summary and pictures "
                        "to a run where the sweep lives: mlflow (MLFLOW_TRACKING_URI, or the server it was read from; "
                        "needs mlflow-skinny) or wandb (WANDB_PROJECT; WANDB_MODE=offline writes a local run; needs wandb)")
    parser.add_argument("--watch", type=float, metavar="SECONDS", help="keep watching a file-based sweep while it runs: "
                        "look every SECONDS, diagnose again (no model) when trials were added, rewrite the report and "
                        "JSON in --out, print one line per new high-severity pattern; Ctrl-C stops")
    return parser.parse_args(argv)


class _Version(argparse.Action):
    """``--version``: the installed version, read from the package's metadata only when asked (~0.03 s a run)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **_: Any) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0,
                         help="show program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hparam-pathology-inspector")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    """Run the graph on a results file and write the report; returns the exit status."""
    args = parse_args(argv)
    if args.results == "-":  # the table on standard input: kept in a private temporary file while we run
        with tempfile.TemporaryDirectory(prefix="hparam-stdin-") as tmp:
            stdin = Path(tmp) / "stdin"
            stdin.write_bytes(sys.stdin.buffer.read())
            return main([str(stdin) if a == "-" else a for a in (argv if argv is not None else sys.argv[1:])])
    _load_dotenv()
    if not args.debug:  # NaN, inf and 1e308 are inputs met on purpose: numpy's floating-point warnings are noise on stderr
        warnings.filterwarnings("ignore", r"(overflow|invalid value|divide by zero|underflow) encountered", RuntimeWarning)
    results = args.results or os.environ.get("HPATH_RESULTS_CSV") or "results.csv"
    out_dir = Path(args.out)
    console = None if args.quiet else _console()
    progress = _Silent() if args.quiet else _RichProgress(console) if console else _Plain()
    written: list[str] = []
    if args.watch is not None:
        return _watch(results, args)
    collecting = gc.isenabled()
    try:
        fail_on = _fail_on(args.fail_on)
        gc.disable()  # for the run, restored below: see _freeze_imports
        context = _context(args)
        _start_drawing(context)
        _freeze_imports()
        with progress, ExitStack() as stack:
            staged = None
            if args.output_format != "json":
                _check_out_dir(out_dir)
                staged = _writable(out_dir, lambda: stack.enter_context(report_set(out_dir)))
            from core.records import with_issue_rows
            from graph.nodes import diagnosis_of, keeping_diagnosis

            with keeping_diagnosis():
                final = run_graph(results, args, progress, context)
                diagnosis = diagnosis_of(final["summary"])  # what is said about the run, as the write node typed it
            summary_text = summary_json(with_issue_rows(final["summary"]))
            if args.output_format == "json":
                sys.stdout.write(summary_text + "\n")
            else:
                written = save_outputs(final, summary_text, out_dir, html=args.output_format == "html", staged=staged)
                if args.log_to:
                    written.append(_log_to(args, results, diagnosis, out_dir, final["pictures"]))
    except InputError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
    except PermissionError as exc:  # reading a file or folder of the input we may not open
        print(f"error: {one_line(str(exc.filename or exc))}: permission denied", file=sys.stderr)
        return 2
    except (Exception, MemoryError) as exc:  # noqa: BLE001 - anything else is a bug: one line, exit 3
        if args.debug:
            traceback.print_exc()
        print(f"error: internal error, please report it: {one_line(f'{type(exc).__name__}: {exc}')}"
              + ("" if args.debug else " (--debug shows the traceback)"), file=sys.stderr)
        return 3
    finally:
        if collecting:
            gc.enable()
        from graph.report import worker

        worker.stop()  # a drawing process that got no job (an error, an interrupt) ends with the run
    if console is not None:
        _summary_table(diagnosis, console)
    if not args.quiet and written:
        print(f"wrote {', '.join(written)}: {diagnosis.trials_affected} of {diagnosis.sweep.n_trials} trials "
              f"have issues, {len(diagnosis.patterns)} pattern(s)", file=sys.stderr)
    failing = _failing(diagnosis, fail_on)
    if failing:
        # printed even with --quiet: a CI log must say why the step failed
        print("fail-on: " + ", ".join(f"{n} trial(s) with {kind}" for kind, n in failing.items()), file=sys.stderr)
        return 1
    return 0


def summary_json(summary: dict[str, Any]) -> str:
    """The summary as ``hparam_summary.json`` holds it: UTF-8 JSON indented by 2.

    Written by orjson: 2 s of ``json.dumps`` for the 240,000 issue rows of a 1M-trial
    sweep take it 0.07 s. The summary is strict JSON by construction (see
    :func:`graph.nodes.complete_summary`); floats are written in their shortest form.
    """
    import orjson

    try:
        return orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # an integer past 64 bits (a whole-number hyperparameter of 1e308): orjson refuses it
        import json

        return json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False)


def save_outputs(final: dict[str, Any], summary_text: str, out_dir: Path, *, html: bool,
                 staged: OutputSet | None = None) -> list[str]:
    """Save what the graph produced (report, pictures, page if ``html``) and ``summary_text`` into ``out_dir``.

    The whole set is staged in a private directory in ``out_dir`` (``staged``, when the
    caller opened it already) and swapped in at once (:mod:`graph.report.output_set`):
    a failure on the way (full disk, kill) keeps the previous set, and parallel runs into
    one directory never mix their files. Returns what was written, for the closing line.
    """
    files = report_files(final, summary_text + "\n", html=html)

    def save() -> None:
        with nullcontext(staged) if staged is not None else report_set(out_dir) as target:
            for name, data in files.items():
                target.write(name, data)
            target.commit()

    _writable(out_dir, save)
    written = [str(out_dir / REPORT_NAME), SUMMARY_NAME] + ([HTML_NAME] if html else [])
    pictures = final.get("pictures") or []
    if pictures:
        written.append(f"{len(pictures)} picture(s) in {pictures[0]['path'].split('/')[0]}/")
    return written


def _writable(out_dir: Path, write: Any) -> Any:
    """``write()``, with a failure to write into ``out_dir`` as one input error."""
    try:
        return write()
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot write the report ({exc.strerror or exc}); "
                         "the previous report there is unchanged") from None


def _log_to(args: argparse.Namespace, results: str, diagnosis: Diagnosis, out_dir: Path,
            pictures: list[dict[str, str]]) -> str:
    """``--log-to``: the written files attached to a tracker's run; where they went."""
    from core.sources.mlflow_server import is_server_url
    from graph.report.trackers import log_report

    names = [REPORT_NAME, SUMMARY_NAME] + ([HTML_NAME] if args.output_format == "html" else [])
    files = [out_dir / name for name in names] + [out_dir / p["path"] for p in pictures]
    fmt = diagnosis.sweep.format or ""
    server = results if fmt == "mlflow-server" and is_server_url(results) else None
    experiment = args.study if fmt.startswith("mlflow") else None
    if fmt == "mlflow-server" and server is None:
        experiment = args.study or results  # the experiment's name, with MLFLOW_TRACKING_URI
    return log_report(args.log_to, files, out_dir, diagnosis, server=server, experiment=experiment)


def _watch(results: str, args: argparse.Namespace) -> int:
    """``--watch SECONDS``: diagnose ``results`` again whenever its trials change, until interrupted."""
    from core.sources import read_sweep
    from hparam_inspector.watch import Watch, watch_source

    if args.watch <= 0:
        print("error: --watch takes a positive number of seconds", file=sys.stderr)
        return 2
    watch = Watch(Path(args.out), stream=sys.stderr)
    try:
        _check_out_dir(Path(args.out))

        def read(path: str) -> Any:
            return read_sweep(path, format=args.format, study=args.study, curves=args.curves,
                              mapping=_mapping(args.mapping))

        watch_source(results, args.watch, read, watch)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"watch stopped after {watch.diagnoses} diagnosis(es); the report in {args.out} is the last one",
              file=sys.stderr)
    return 0


def _fail_on(spec: str | None) -> set[str]:
    """``--fail-on`` as a set of issue types; an unknown name is an input error."""
    if not spec:
        return set()
    from core.issue_types import ISSUE_TYPES

    names = {name.strip() for name in spec.split(",") if name.strip()}
    if "any" in names:
        return {t for t in ISSUE_TYPES if t != "pruned"} | (names & {"pruned"})
    unknown = sorted(names - set(ISSUE_TYPES))
    if unknown or not names:
        raise InputError(f"--fail-on {spec!r}: unknown issue type {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"types: any, {', '.join(ISSUE_TYPES)}")
    return names


def _failing(diagnosis: Diagnosis, fail_on: set[str]) -> dict[str, int]:
    """Issue type -> number of trials with it, for the types of ``--fail-on`` that some trial has."""
    return {kind: n for kind, n in diagnosis.issue_counts.items() if kind in fail_on and n}


def run_graph(results: str, args: argparse.Namespace, progress: _Plain, context: Any = None) -> dict[str, Any]:
    """Run the graph on the inputs, one progress line per node; the merged updates, with the inputs.

    The ``summary`` keeps its issues column by column, as the graph's state holds them
    (:func:`core.records.with_issue_rows` gives ``hparam_summary.json``'s rows).
    ``context`` is :func:`_context` of ``args`` when the caller made it already.

    A run that calls no model (offline, or no model set) runs the same nodes in the
    same order without LangGraph (:func:`graph.diagnose.run_nodes`): nothing of it is
    needed then, and importing it costs a second.
    """
    context = context or _context(args)
    inputs: dict[str, Any] = {"results_path": results, "mapping": _mapping(args.mapping)}
    for key, value in (("format", args.format), ("study", args.study), ("curves_path", args.curves)):
        if value:
            inputs[key] = value
    final: dict[str, Any] = dict(inputs)  # the inputs name the sweep the pictures are drawn from
    progress.step(_NEXT["__start__"])
    for node, values in _updates(inputs, context, offline=_offline(context)):
        final.update(values)
        progress.node(node, _progress(node, values))
        step = _NEXT.get(node, "working")
        progress.step(step if not context.pictures or node != "analyze" else f"{step} and drawing pictures")
    for note in final["summary"]["writer"]["notes"]:
        progress.note(f"note: {note}")
    return final


def _context(args: argparse.Namespace) -> Any:
    """The run's :class:`graph.context.Context` from the options (``--output-format json`` draws no pictures: it writes none)."""
    from graph.context import Context

    settings: dict[str, Any] = {"offline": args.offline}
    if args.model:
        settings["model"] = args.model
    if args.endpoint_url:
        settings["endpoint_url"] = args.endpoint_url
    if args.max_revisions is not None:
        settings["max_revisions"] = args.max_revisions
    if args.no_plots or args.output_format == "json":
        settings["pictures"] = False
    return Context(**settings)


def _offline(context: Any) -> bool:
    """Whether the run calls no model (then it runs without LangGraph)."""
    from graph.llm import choose_provider

    return choose_provider(context).provider == "none"


def _start_drawing(context: Any) -> None:
    """Start the drawing process (:mod:`graph.report.worker`) for a run that calls no model and draws pictures.

    Called before the output directory is opened (the process holds none of its files)
    and before the sweep is read, which it overlaps with Matplotlib's import.
    """
    if context.pictures and _offline(context):
        from graph.report import worker

        worker.start()


def _freeze_imports() -> None:
    """Leave the modules a run imports out of the garbage collector's passes (``gc.freeze``).

    :func:`main` runs one sweep without the collector (and restores it after, whatever
    happens): the objects of its imports (pandas, SciPy, the project) live as long as the
    run, and so does nearly everything it builds. The collector ran some 230 times while
    the modules were imported (0.06-0.09 s of CPU before the sweep is read) and 250 to
    1,200 times during the run (0.07 s at 100,000 trials, 0.19 s at 1,000,000), and found
    nothing worth freeing: a 1,000,000-trial run peaks at the same memory without it
    (804 and 805 MB). Frozen, the imports stay out of the passes of a program that embeds
    :func:`main` and collects again after it. The drawing process is forked before this
    (it imports Matplotlib without the collector too, freezes its own and turns it back on).
    """
    from graph import diagnose, nodes  # noqa: F401 - imported by every run: frozen with the rest

    gc.freeze()


def _updates(inputs: dict[str, Any], context: Any, offline: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(node, update)`` as the nodes finish."""
    if offline:
        from graph.diagnose import run_nodes

        yield from run_nodes(dict(inputs), context)
        return
    from graph import graph

    for update in graph.stream(inputs, context=context, stream_mode="updates"):
        for node, values in update.items():
            yield node, values or {}


_NEXT = {"__start__": "load: reading the sweep", "load": "detect: running the detectors and statistics",
         "detect": "analyze: finding patterns", "analyze": "write: rendering the report", "write": "finishing"}


class _Plain:
    """One plain line per node on stderr (logs, pipes, CI)."""

    def __enter__(self) -> _Plain:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def node(self, node: str, text: str) -> None:
        print(f"[{node}] {one_line(text)}", file=sys.stderr)

    def step(self, text: str) -> None:
        return None

    def note(self, text: str) -> None:
        print(one_line(text), file=sys.stderr)


class _Silent(_Plain):
    """``--quiet``: model notices only."""

    def node(self, node: str, text: str) -> None:
        return None


class _RichProgress(_Plain):
    """A terminal: a spinner naming the running step, and the node lines in colour."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.status: Any = None

    def __enter__(self) -> _RichProgress:
        self.status = self.console.status("starting", spinner="dots")
        self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.status.stop()

    def node(self, node: str, text: str) -> None:
        from rich.text import Text

        self.console.print(Text.assemble((f"[{node}] ", "bold cyan"), one_line(text)))

    def step(self, text: str) -> None:
        self.status.update(text)

    def note(self, text: str) -> None:
        from rich.text import Text

        self.console.print(Text(one_line(text), style="yellow"))


def _console() -> Any:
    """A rich console on stderr when stderr is a terminal, else None (plain lines)."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    return Console(stderr=True)


def _summary_table(diagnosis: Diagnosis, console: Any) -> None:
    """Issues by type and the top patterns, in colour, on a terminal."""
    from rich.table import Table

    colours = {"high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
    issues = Table(title=f"{diagnosis.trials_affected} of {diagnosis.sweep.n_trials} trials have issues",
                   title_justify="left")
    for column in ("issue type", "severity", "trials"):
        issues.add_column(column, justify="right" if column == "trials" else "left")
    for kind, n in diagnosis.issue_counts.items():
        severity = diagnosis.issue_types[kind].severity
        issues.add_row(kind, f"[{colours[severity]}]{severity}[/]", str(n))
    console.print(issues)
    if diagnosis.patterns:
        patterns = Table(title="Top patterns", title_justify="left")
        for column in ("id", "pattern", "k/n", "q"):
            patterns.add_column(column)
        for p in diagnosis.patterns[:5]:
            e = p.evidence
            patterns.add_row(p.id, _plain(p.title), f"{e.k}/{e.n}", f"{e.q:.1e}")
        console.print(patterns)


def _plain(text: str) -> Any:
    """Input-derived text for a rich table: shown as is, never read as markup."""
    from rich.text import Text

    return Text(one_line(text))


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
        n = values["n_trials"]
        curves = values.get("n_curve_trials")
        with_curves = f", curves for {curves} trial(s)" if curves is not None else ""
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


def one_line(text: str) -> str:
    """A message as one safe line for stderr: secrets masked, control sequences gone, at most 2,000 characters."""
    from graph.llm import redact

    line = " ".join(redact(text).split())
    return line if len(line) <= 2000 else line[:2000] + " ..."


def cli() -> None:
    """The ``hparam-inspect`` console script: :func:`main`, then end the process at once with its exit code.

    Model calls run in daemon threads and are cut off at their deadline, but a library
    may keep a non-daemon worker waiting on a socket; interpreter exit would wait for it.
    And the interpreter's own teardown frees every object of the sweep one by one
    (0.3-0.75 s after a 100,000-trial report). Once the report is written nothing is
    left to do, so the process ends at once (``os._exit``) after the exit handlers that
    libraries and callers registered (matplotlib removes its temporary config folder
    there) and with streams and logs flushed. A program that embeds the tool calls
    :func:`main`, which returns the code: ``cli`` ends the process with it.

    NumPy and SciPy each start an OpenBLAS thread pool when imported, one thread per core,
    unless ``OPENBLAS_NUM_THREADS`` says otherwise: some 0.05 s of CPU at start-up, on the
    core the drawing process uses, for a run that multiplies no matrices. The command line
    asks for one thread (an explicit setting in the environment is kept).
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy and SciPy load: see the docstring
    code = main()
    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stuck:
        _end_now(code)
    atexit.register(_end_now, code)  # the last registered runs first: before the teardown, after any finally of a caller
    sys.exit(code)


def _end_now(code: int) -> None:
    atexit.unregister(_end_now)
    atexit._run_exitfuncs()  # every other handler, as a normal exit would run them
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _load_dotenv() -> None:
    path = Path.cwd() / ".env"
    if not path.exists():  # the usual case: python-dotenv is not even imported (a few hundredths of a second)
        return
    from dotenv import load_dotenv

    load_dotenv(path, override=False)


if __name__ == "__main__":
    cli()
