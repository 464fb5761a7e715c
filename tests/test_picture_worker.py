"""The command line's drawing process (graph/report/worker.py): forked early, fed the bounded plan, same PNGs."""

from __future__ import annotations

import os
import pickle
import signal
import time

import pytest

import graph.report.pictures as pictures
from core.records import Diagnosis
from graph.report import worker
from graph.report.plot_data import picture_plan
from tests.test_plots import CIFAR, CURVES, SLICE, _inputs


@pytest.fixture
def may_fork(monkeypatch):
    """The worker may be forked from this test process (the command line forks only from its only thread)."""
    monkeypatch.setattr(worker, "may_start", lambda: True)
    yield
    worker.stop()


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # reaped: no zombie left behind
    return False


@pytest.mark.parametrize("path, curves", [(CIFAR, None), (SLICE, CURVES)], ids=["isolation plots", "curves"])
def test_the_worker_draws_the_same_pictures_from_the_plan_it_is_sent(may_fork, monkeypatch, path, curves):
    summary, table, curve_table = _inputs(path, curves)
    diagnosis = Diagnosis.of(summary)
    here = pictures.draw_pictures(diagnosis, table=table, curves=curve_table)
    assert len(here) >= 2 and any(link.get("hyperparameter") for link, _ in here)
    worker.start()
    pid = worker._worker.pid
    monkeypatch.setattr(pictures, "draw_pictures", lambda *a, **k: pytest.fail("drawn here, not by the worker"))
    assert worker.draw(diagnosis, table, curve_table) == here  # links and bytes, in order
    assert _gone(pid) and worker._worker is None  # one job, then it leaves and is reaped


def test_the_plan_sent_is_bounded_and_keeps_what_the_pictures_read():
    summary, table, _ = _inputs(CIFAR)
    plan = picture_plan(summary, table=table)
    sent = plan.for_sending()
    assert sent.hyperparameters == plan.hyperparameters == ["learning_rate"]
    assert len(sent.diagnosis.issues) == 0 < len(plan.diagnosis.issues)  # the plots read each trial's kind instead
    assert list(sent.kinds) == list(plan.kinds)
    regions = {a.id for a in plan.diagnosis.associations if a.rule in ("bucket", "value")}
    named = {p.association_id for p in plan.diagnosis.patterns}
    assert {a.id for a in sent.diagnosis.associations} == regions | named
    assert len(sent.diagnosis.associations) < len(plan.diagnosis.associations)
    # the plotted hyperparameter, the categorical a pattern names (it colours the points), the main metric
    assert set(sent.table.hyperparameters.columns) == {"learning_rate", "optimizer"}
    assert list(sent.table.metrics.columns) == list(sent.table.missing.columns) == ["val_loss"]
    assert len(pickle.dumps(sent)) < len(pickle.dumps(plan))


def test_a_worker_that_died_costs_no_picture(may_fork):
    summary, table, _ = _inputs(CIFAR)
    here = pictures.draw_pictures(summary, table=table)
    worker.start()
    pid = worker._worker.pid
    os.kill(pid, signal.SIGKILL)
    assert worker.draw(Diagnosis.of(summary), table, None) == here  # drawn here instead
    assert _gone(pid)


def test_a_worker_without_a_job_is_ended_at_once(may_fork):
    worker.start()
    pid = worker._worker.pid
    started = time.perf_counter()
    worker.stop()
    assert _gone(pid) and worker._worker is None
    assert time.perf_counter() - started < 5  # it did not wait for the worker to finish importing


def test_the_worker_is_forked_only_from_a_process_with_one_thread(monkeypatch):
    import threading

    monkeypatch.setattr(worker.os, "sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.setattr(worker.sys, "platform", "linux")
    with monkeypatch.context() as alone:
        alone.setattr(threading, "active_count", lambda: 1)
        assert worker.may_start()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="a kernel's heartbeat")
    other.start()
    try:
        assert not worker.may_start()
        worker.start()
        assert worker._worker is None
    finally:
        stop.set()
        other.join()


def test_ctrl_c_while_the_worker_draws_ends_it_at_once(may_fork, monkeypatch):
    """Ctrl-C during the drawing: the worker is ended, not waited for (it would draw pictures nobody sees)."""
    summary, table, _ = _inputs(CIFAR)
    monkeypatch.setattr(pictures, "draw_plan", lambda plan: time.sleep(60))  # the forked worker inherits it: it sleeps
    worker.start()
    pid = worker._worker.pid

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    started = time.perf_counter()
    try:
        signal.alarm(2)
        with pytest.raises(KeyboardInterrupt):
            worker.draw(Diagnosis.of(summary), table, None)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert _gone(pid) and time.perf_counter() - started < 20


def test_ctrl_c_while_half_of_a_plan_is_drawn_here_ends_the_second_process(monkeypatch):
    """The process drawing the other half of a plan (worker.draw_share) is ended and reaped, not left drawing."""
    summary, table, curves = _inputs(SLICE, CURVES)
    started, real_share = [], worker.draw_share
    monkeypatch.setattr(worker, "may_start", lambda: True)
    monkeypatch.setattr(worker, "draw_share", lambda share: started.append(real_share(share)) or started[-1])
    parent, real_drawn = os.getpid(), pictures._drawn

    def interrupted_here(build):
        if os.getpid() == parent:
            raise KeyboardInterrupt
        time.sleep(60)  # the second process would still be drawing
        return real_drawn(build)

    monkeypatch.setattr(pictures, "_drawn", interrupted_here)
    begun = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        pictures.draw_pictures(summary, table=table, curves=curves)
    assert len(started) == 1 and _gone(started[0].pid)
    assert time.perf_counter() - begun < 20
