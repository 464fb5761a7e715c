"""The process that draws the command line's pictures: started before the sweep is read, fed once it is diagnosed.

Matplotlib's import is about 0.35 s of CPU that every run with pictures pays, and a thread
cannot overlap it with the reading and the statistics (they hold the interpreter lock).
:func:`start` forks a process that pays it on the second core while this one reads and
diagnoses the sweep; :func:`draw` sends it the bounded inputs of the pictures
(:meth:`graph.report.plot_data.PicturePlan.for_sending`) and gets the PNGs back. It draws
them as :func:`graph.report.pictures.draw_plan` does here (half of them in a child of its
own), so the bytes are the same. If it cannot (it died, or its answer is not there), the
pictures are drawn in this process: a worker never costs a picture.

Only the command line starts one (offline, with pictures, on Linux with two usable cores,
from its only thread, before it opens the output directory): a process with other threads
is never forked.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.curves import CurveTable
    from core.records import Diagnosis
    from core.table import TrialTable

_worker: _Worker | None = None


class _Worker:
    """A started drawing process: its id, the pipe its one job goes down, the pipe the PNGs come back on."""

    def __init__(self, pid: int, jobs: int, results: int) -> None:
        self.pid, self.jobs, self.results = pid, jobs, results

    def draw(self, plan: Any) -> list[tuple[dict[str, str], bytes]] | None:
        """The pictures of ``plan`` drawn there, or None when the process could not draw them."""
        try:
            try:
                with os.fdopen(self.jobs, "wb") as out:
                    out.write(pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
            except BrokenPipeError:  # it died before reading its job: its end of the results is closed too
                pass
            with os.fdopen(self.results, "rb") as inp:
                data = inp.read()
        except BaseException:  # Ctrl-C while it draws: end it now rather than wait for the pictures nobody will see
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            raise
        finally:
            status = _reap(self.pid)
        return pickle.loads(data) if status == 0 and data else None

    def stop(self) -> None:
        """End the process without a job (the run failed or drew nothing), now."""
        for fd in (self.jobs, self.results):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGTERM)  # it leaves through its exit handlers
        except ProcessLookupError:
            pass
        _reap(self.pid)


def _reap(pid: int) -> int:
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return -1


def may_start() -> bool:
    """Whether a drawing process may be forked now: Linux, two usable cores, and no thread but this one."""
    return (sys.platform == "linux" and threading.current_thread() is threading.main_thread()
            and threading.active_count() == 1 and len(os.sched_getaffinity(0)) >= 2)


def start() -> None:
    """Fork the drawing process now, if :func:`may_start` (once per process; :func:`stop` ends it)."""
    global _worker
    if _worker is not None or not may_start():
        return
    jobs_in, jobs_out = os.pipe()
    results_in, results_out = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
        os.close(jobs_out)
        os.close(results_in)
        _serve(jobs_in, results_out)
    os.close(jobs_in)
    os.close(results_out)
    _worker = _Worker(pid, jobs_out, results_in)


def _serve(jobs: int, results: int) -> None:  # pragma: no cover - runs in the child
    """The drawing process: import Matplotlib, wait for the one job, send back its PNGs, leave with ``os._exit``.

    Its standard streams go nowhere (never the parent's pipes or terminal); Ctrl-C is left to
    the parent, which ends it (SIGTERM); a parent that dies closes the job pipe, and it leaves then.
    The exit handlers it inherited are the parent's (they run there); its own (Matplotlib
    removes the temporary config folder it may have made) run before it leaves.
    """
    status = 1
    atexit._clear()
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, _leave)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        from graph.report import pictures
        with os.fdopen(jobs, "rb") as inp:
            data = inp.read()  # until the parent has written the whole job and closed its end
        if data:
            pngs = pictures.draw_plan(pickle.loads(data))
            with os.fdopen(results, "wb") as out:
                out.write(pickle.dumps(pngs, protocol=pickle.HIGHEST_PROTOCOL))
        status = 0
    finally:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            atexit._run_exitfuncs()
        finally:
            os._exit(status)


def _leave(_signum: int, _frame: object) -> None:  # pragma: no cover - runs in the child
    raise SystemExit(1)


def draw(diagnosis: Diagnosis, table: TrialTable | None, curves: CurveTable | None) -> list[tuple[dict[str, str], bytes]]:
    """The report's pictures (:func:`graph.report.pictures.draw_pictures`): in the drawing process if one was started."""
    global _worker
    worker, _worker = _worker, None
    if worker is not None:
        from graph.report.plot_data import picture_plan

        try:
            plan = picture_plan(diagnosis, table=table, curves=curves).for_sending()
        except BaseException:
            worker.stop()
            raise
        pngs = worker.draw(plan)
        if pngs is not None:
            return pngs
    from graph.report.pictures import draw_pictures

    return draw_pictures(diagnosis, table=table, curves=curves)


def stop() -> None:
    """End a drawing process that got no job (an error, an interrupt, pictures not needed)."""
    global _worker
    worker, _worker = _worker, None
    if worker is not None:
        worker.stop()
