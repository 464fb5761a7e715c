"""Presentation of a computed summary: the markdown report, its pictures and the HTML page, and saving them.

Nothing here computes a fact: the summary (``core``) holds them. Modules:
:mod:`~graph.report.markdown` (the markdown report, and the escaping of untrusted text),
:mod:`~graph.report.pictures` (matplotlib, Agg only), :mod:`~graph.report.html` (one
self-contained page), :mod:`~graph.report.output_set` (the output files written as one
unit) and :mod:`~graph.report.trackers` (``--log-to`` MLflow / W&B).
"""

from __future__ import annotations

import importlib
import threading

_preloading: threading.Thread | None = None


def preload_pictures() -> None:
    """Import :mod:`~graph.report.pictures` (Matplotlib, about 0.4 s) in a background thread, now.

    The command line calls this before it reads and diagnoses a sweep, so the import overlaps
    that work. A failure is left to the import that needs the module (the write node reports
    it as a note). :func:`join_preload` waits for the thread (pictures fork only when no other
    thread runs).
    """
    global _preloading
    if _preloading is None:
        _preloading = threading.Thread(target=_import_quietly, args=(f"{__name__}.pictures",), name="preload-pictures")
        _preloading.start()


def join_preload() -> None:
    """Wait for :func:`preload_pictures`' thread, if one was started (instant once the import is done)."""
    if _preloading is not None:
        _preloading.join()


def _import_quietly(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001, S110 - the write node imports it again and reports the failure as a note
        pass
