"""The processes that draw the pictures: one forked early by the command line, one forked for half of a plan.

Matplotlib's import is about 0.35 s of CPU that every run with pictures pays, and a thread
cannot overlap it with the reading and the statistics (they hold the interpreter lock).
:func:`start` forks a process that pays it on the second core while this one reads and
diagnoses the sweep (and draws a throwaway figure there, :func:`graph.report.pictures.warm_up`,
so that its first picture does not load the fonts); :func:`draw` sends it the bounded inputs of the pictures
(:meth:`graph.report.plot_data.PicturePlan.for_sending`) and gets the PNGs back. It draws
them as :func:`graph.report.pictures.draw_plan` does here: about half of them in a process
it forks for that (:func:`draw_share`, the same mechanism with the job in hand), so the
bytes are the same. If a process cannot draw (it died, or its answer is not there), its
pictures are drawn by the process that asked: a forked process never costs a picture.

Only the command line starts one early (offline, with pictures, on Linux with two usable
cores, from its only thread, before it opens the output directory), and pictures split a
plan in two only where :func:`may_start`: a process with other threads is never forked.
A drawing process ignores Ctrl-C (the process that asked ends it), writes to no stream of
its parent, runs none of its parent's exit handlers, freezes what it inherited and imported
out of the garbage collector's way (it lives for one job), and leaves with ``os._exit``.
"""

from __future__ import annotations

import atexit
import gc
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.curves import CurveTable
    from core.records import Diagnosis
    from core.table import TrialTable
    from graph.report.plot_data import PicturePlan

_worker: _Worker | None = None


class _Worker:
    """A forked drawing process: its id, the pipe its job goes down (None: it has its job), the pipe its answer comes on."""

    def __init__(self, pid: int, jobs: int | None, results: int) -> None:
        self.pid, self.jobs, self.results = pid, jobs, results

    def draw(self, job: Any = None) -> Any:
        """Its answer to ``job`` (sent first, when it waits for one), or None when the process could not answer."""
        try:
            if self.jobs is not None:
                try:
                    with os.fdopen(self.jobs, "wb") as out:
                        out.write(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
                except BrokenPipeError:  # it died before reading its job: its end of the results is closed too
                    pass
            with os.fdopen(self.results, "rb") as inp:
                data = inp.read()
        except BaseException:  # Ctrl-C while it draws: end it now rather than wait for the pictures nobody will see
            self.kill()
            raise
        finally:
            status = _reap(self.pid)
        return pickle.loads(data) if status == 0 and data else None

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)  # it leaves through its exit handlers
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        """End the process without a job (the run failed or drew nothing), now."""
        for fd in (self.jobs, self.results):
            try:
                if fd is not None:
                    os.close(fd)
            except OSError:
                pass
        self.kill()
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


def _fork(work: Callable[[Any], Any], job_in_hand: bool) -> _Worker:
    """Fork a process that answers with ``work(job)``: the job it was forked with, or the one it reads from its pipe."""
    jobs_in, jobs_out = os.pipe() if not job_in_hand else (None, None)
    results_in, results_out = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
        os.close(results_in)
        if jobs_out is not None:
            os.close(jobs_out)
        _serve(work, jobs_in, results_out)
    os.close(results_out)
    if jobs_in is not None:
        os.close(jobs_in)
    return _Worker(pid, jobs_out, results_in)


def _serve(work: Callable[[Any], Any], jobs: int | None, results: int) -> None:  # pragma: no cover - runs in the child
    """A drawing process: ``work`` on its job, the answer pickled down ``results``, then ``os._exit``.

    Its standard streams go nowhere (never the parent's pipes or terminal); Ctrl-C is left to
    the parent, which ends it (SIGTERM); a parent that dies closes the job pipe, and it leaves
    then. The exit handlers it inherited are the parent's (they run there); its own (Matplotlib
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
        job = None
        if jobs is not None:
            from graph.report import pictures  # Matplotlib's import, while the parent reads the sweep

            pictures.warm_up()  # and its first drawing's fonts
            gc.freeze()  # what it inherited and imported lives until it leaves: full collections skip it
            gc.enable()  # the command line forks it while it runs without the collector (graph.run._freeze_imports)
            with os.fdopen(jobs, "rb") as inp:
                data = inp.read()  # until the parent has written the whole job and closed its end
            if not data:
                status = 0
                return
            job = pickle.loads(data)
        gc.freeze()
        answer = work(job)
        with os.fdopen(results, "wb") as out:
            out.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        status = 0
    finally:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            atexit._run_exitfuncs()
        finally:
            os._exit(status)


def _leave(_signum: int, _frame: object) -> None:  # pragma: no cover - runs in the child
    raise SystemExit(1)


def _draw_whole(plan: PicturePlan) -> list[tuple[dict[str, str], bytes]]:  # pragma: no cover - runs in the child
    from graph.report import pictures

    return pictures.draw_plan(plan)


def start() -> None:
    """Fork the drawing process now, if :func:`may_start` (once per process; :func:`stop` ends it)."""
    global _worker
    if _worker is None and may_start():
        _worker = _fork(_draw_whole, job_in_hand=False)


def draw_share(share: Callable[[], Any]) -> _Worker:
    """A process forked now that answers with ``share()`` (:meth:`_Worker.draw` waits for it); see :func:`may_start`."""
    return _fork(lambda _: share(), job_in_hand=True)


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
