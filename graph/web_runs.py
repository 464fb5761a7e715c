"""One diagnosis per upload, run by the command line's own code in a worker thread.

A run builds the argument list the CLI would get (``--output-format html`` into a
temporary folder, ``--offline`` unless a model is set), parses it with
:func:`graph.run.parse_args`, streams the compiled graph through
:func:`graph.run.run_graph` (``graph.stream(..., stream_mode="updates")``) and saves the
report, summary, HTML page and pictures the graph produced through
:func:`graph.run.save_outputs`: the same code path as ``python -m graph.run``. The
outputs are kept in memory and the run's temporary folder (upload, unpacked files,
outputs) is removed when it ends.

The temporary folder's path is replaced by nothing in what the user sees (the report,
the summary, messages), so an upload is named as the user named it.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.records import with_issue_rows
from graph import run as cli
from graph.web_view import build_view

OUTPUT_FILES = (cli.REPORT_NAME, cli.HTML_NAME, cli.SUMMARY_NAME)


@dataclass
class RunRequest:
    """What the input page asked for (paths already inside the run's folder, or typed by the user)."""

    results: str
    curves: str | None = None
    format: str | None = None
    study: str | None = None
    mapping: list[str] = field(default_factory=list)
    model: str | None = None
    endpoint_url: str | None = None

    def argv(self, out_dir: Path) -> list[str]:
        """The command line ``python -m graph.run`` would get (values attached with ``=``, the input after ``--``)."""
        argv = [f"--out={out_dir}", "--output-format=html"]
        for flag, value in (("--format", self.format), ("--study", self.study), ("--curves", self.curves),
                            ("--endpoint-url", self.endpoint_url)):
            if value:
                argv.append(f"{flag}={value}")
        argv += [f"--map={entry}" for entry in self.mapping]
        argv += [f"--model={self.model}"] if self.model else ["--offline"]
        return [*argv, "--", self.results]


@dataclass
class Run:
    """One upload's diagnosis: its progress events, then its outputs or its one-line error."""

    id: str
    label: str
    folder: Path
    state: str = "queued"  # queued, running, done, error
    events: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    view: dict[str, Any] | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None

    def since(self, index: int) -> tuple[list[dict[str, str]], str]:
        """Events from ``index`` on, and the state (read together, for the event stream)."""
        return self.events[index:], self.state

    def clean(self, text: str) -> str:
        """Text without the run folder's path (so the upload keeps the user's name)."""
        return text.replace(f"{self.folder}/in/", "").replace(str(self.folder), "upload")


class _Progress:
    """What :func:`graph.run.run_graph` reports, kept as events of the run."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def node(self, node: str, text: str) -> None:
        self.run.events.append({"kind": "node", "node": node, "text": self.run.clean(text)})

    def step(self, text: str) -> None:
        self.run.events.append({"kind": "step", "text": self.run.clean(text)})

    def note(self, text: str) -> None:
        self.run.events.append({"kind": "note", "text": self.run.clean(text)})


class Runs:
    """The server's runs: at most ``parallel`` at once (the rest wait their turn), the last ``keep`` kept."""

    def __init__(self, *, parallel: int = 2, keep: int = 30) -> None:
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(parallel)
        self.keep = keep

    def start(self, request: RunRequest, folder: Path, label: str) -> Run:
        """Start a run on a request whose files are in ``folder`` (removed when the run ends)."""
        run = Run(id=uuid.uuid4().hex[:12], label=label, folder=folder)
        with self._lock:
            self._runs[run.id] = run
            while len(self._runs) > self.keep:
                oldest = next((k for k, r in self._runs.items() if r.state in ("done", "error")), None)
                if oldest is None:
                    break
                del self._runs[oldest]
        threading.Thread(target=self._work, args=(run, request), name=f"run-{run.id}", daemon=True).start()
        return run

    def get(self, run_id: str) -> Run | None:
        """The run of this id, if still kept."""
        with self._lock:
            return self._runs.get(run_id)

    def _work(self, run: Run, request: RunRequest) -> None:
        state = "error"
        try:
            with self._slots:
                run.state = "running"
                run.started = time.monotonic()
                _diagnose(run, request)
                state = "done"
        except InputError as exc:
            run.error = "error: " + cli.one_line(run.clean(str(exc)))
        except (Exception, SystemExit, MemoryError) as exc:  # noqa: BLE001 - one line on the page, the traceback in the log
            traceback.print_exc(file=sys.stderr)
            run.error = "error: internal error, please report it: " + cli.one_line(run.clean(f"{type(exc).__name__}: {exc}"))
        finally:
            run.seconds = time.monotonic() - run.started
            shutil.rmtree(run.folder, ignore_errors=True)
            run.state = state  # last: a page that sees the run ended finds its folder gone


def _diagnose(run: Run, request: RunRequest) -> None:
    """The CLI's run and writing, into the run's folder; the outputs read back into memory."""
    out_dir = run.folder / "out"
    out_dir.mkdir()
    args = cli.parse_args(request.argv(out_dir))
    progress = _Progress(run)
    final = cli.run_graph(args.results, args, progress)
    rows = with_issue_rows(final["summary"])  # hparam_summary.json's form
    final["summary"] = json.loads(run.clean(json.dumps(rows, ensure_ascii=False, allow_nan=False)))
    final["report"], final["report_html"] = run.clean(final["report"]), run.clean(final["report_html"])
    summary_text = cli.summary_json(final["summary"])
    cli.save_outputs(final, summary_text, out_dir, html=True)
    run.files = {name: (out_dir / name).read_bytes() for name in OUTPUT_FILES}
    run.figures = {p["path"].rsplit("/", 1)[-1]: (out_dir / p["path"]).read_bytes() for p in final["pictures"]}
    run.view = build_view(final, final["pictures"])
