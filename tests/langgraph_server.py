"""Run ``langgraph dev`` (the in-memory LangGraph API server) for tests.

Usage::

    with langgraph_dev(project_dir) as url:
        client = langgraph_sdk.get_sync_client(url=url, api_key=None)
        ...

`langgraph_dev` starts ``langgraph dev --no-browser --no-reload --host 127.0.0.1
--port PORT`` with the current interpreter's installation, in its own process
group, waits until ``GET {url}/ok`` answers 200 and yields the base URL. On
exit it sends SIGTERM to the process group, waits up to 5 s, then SIGKILLs.

Details worth knowing:

* Port: a free port found by binding 127.0.0.1:0, never 2024 (the
  ``langgraph dev`` default, so a developer's own server is never hit).
* Executable: the ``langgraph`` console script next to `sys.executable` (the
  venv's bin), else ``sys.executable -m langgraph_cli``. ``shutil.which`` is
  deliberately not used: it may find a ``langgraph`` of another environment
  that lacks the project's dependencies.
* Environment: the caller's, plus ``LANGGRAPH_CLI_NO_ANALYTICS=1``,
  ``LANGGRAPH_NO_VERSION_CHECK=true`` (no PyPI request), ``HF_HUB_OFFLINE=1``,
  ``PYTHONUNBUFFERED=1`` and ``LOG_COLOR=false`` (a readable, live log), minus
  ``HF_TOKEN`` and its legacy alias ``HUGGING_FACE_HUB_TOKEN``. The `env`
  argument overrides any of these; a ``None`` value removes a variable.
  CAUTION: ``HF_HUB_OFFLINE=1`` makes huggingface_hub's InferenceClient refuse
  EVERY request, even to a local endpoint such as tests/openai_stub.py. A graph
  that calls ``HuggingFaceEndpoint`` inside the server therefore needs
  ``env={"HF_HUB_OFFLINE": None}``.
* Working directory: `project_dir`, the directory holding ``langgraph.json``.
  The server persists threads, runs and checkpoints in
  ``<project_dir>/.langgraph_api/`` (pickle files). This helper neither clears
  nor deletes that directory: state from earlier runs is reloaded, and it is
  the caller's data. Point `project_dir` at a temporary copy to start clean.
* Log: server stdout and stderr go to `log_file` (default: a file in a
  temporary directory that is removed on exit). Startup failures raise
  `LangGraphServerError` with the last 40 log lines.
* Timing (two-node graph, this venv): ready (first 200 from /ok) after
  1.8-2.1 s, about 3 s on a cold first start; SIGTERM shutdown 0.2-2 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["LangGraphServerError", "free_port", "langgraph_command", "langgraph_dev"]

DEFAULT_LANGGRAPH_PORT = 2024
LOG_TAIL_LINES = 40
STOP_GRACE_SECONDS = 5.0
POLL_INTERVAL_SECONDS = 0.1

SERVER_ENV: Mapping[str, str | None] = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "HF_HUB_OFFLINE": "1",
    "PYTHONUNBUFFERED": "1",
    "LOG_COLOR": "false",
    "HF_TOKEN": None,
    "HUGGING_FACE_HUB_TOKEN": None,
}
"""Environment changes applied to the server process (None removes a variable)."""

# Requests to the local server must never go through an HTTP(S)_PROXY.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LangGraphServerError(RuntimeError):
    """``langgraph dev`` exited or did not become ready in time."""


def free_port() -> int:
    """Return a currently free TCP port on 127.0.0.1, never the default 2024."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port != DEFAULT_LANGGRAPH_PORT:
            return port


def langgraph_command() -> list[str]:
    """Return the command that runs the LangGraph CLI of the current interpreter."""
    script = Path(sys.executable).with_name("langgraph")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "langgraph_cli"]


@contextlib.contextmanager
def langgraph_dev(
    project_dir: Path,
    timeout: float = 60,
    *,
    env: Mapping[str, str | None] | None = None,
    log_file: Path | None = None,
) -> Iterator[str]:
    """Run ``langgraph dev`` for `project_dir` and yield its base URL.

    Args:
        project_dir: Directory containing ``langgraph.json``; used as cwd.
        timeout: Seconds to wait for ``GET /ok`` to answer 200.
        env: Extra environment changes, applied after `SERVER_ENV`; a None
            value removes the variable.
        log_file: Where to write the server's stdout and stderr. By default a
            file in a temporary directory, deleted on exit.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:41234``.

    Raises:
        LangGraphServerError: If the server exits or is not ready within
            `timeout`; the message ends with the last 40 lines of its log.
    """
    with contextlib.ExitStack() as stack:
        if log_file is None:
            log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="langgraph-dev-"))
            log_file = Path(log_dir) / "langgraph-dev.log"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            *langgraph_command(),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        log = stack.enter_context(log_file.open("wb"))
        process = subprocess.Popen(
            command,
            cwd=project_dir,
            env=_server_environment(env or {}),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until_ready(process, url, timeout, log_file)
            yield url
        finally:
            _stop(process)


def _server_environment(overrides: Mapping[str, str | None]) -> dict[str, str]:
    """Build the server's environment from ours, `SERVER_ENV` and `overrides`."""
    environment = dict(os.environ)
    for name, value in {**SERVER_ENV, **overrides}.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, timeout: float, log_file: Path) -> None:
    """Poll ``GET {url}/ok`` until it answers 200.

    Raises:
        LangGraphServerError: If `process` exits first or `timeout` elapses.
    """
    deadline = time.monotonic() + timeout
    while not _answers_ok(f"{url}/ok"):
        if process.poll() is not None:
            msg = f"langgraph dev exited with code {process.returncode} before it was ready"
            raise LangGraphServerError(f"{msg}\n{_log_tail(log_file)}")
        if time.monotonic() >= deadline:
            msg = f"langgraph dev was not ready at {url}/ok within {timeout:g} s"
            raise LangGraphServerError(f"{msg}\n{_log_tail(log_file)}")
        time.sleep(POLL_INTERVAL_SECONDS)


def _answers_ok(url: str) -> bool:
    """Return True if a GET to `url` answers 200 within a second."""
    try:
        with _DIRECT.open(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:  # refused, reset, timed out, or an HTTP error status
        return False


def _log_tail(log_file: Path) -> str:
    """Return the last `LOG_TAIL_LINES` lines of the server log."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(could not read {log_file}: {error})"
    tail = "\n".join(lines[-LOG_TAIL_LINES:])
    return f"--- last {LOG_TAIL_LINES} lines of {log_file} ---\n{tail}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group: SIGTERM, then SIGKILL after a grace period."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
