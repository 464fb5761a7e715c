"""Real servers for the live-source tests: an MLflow tracking server and a PostgreSQL (pgserver).

Each runs in its own process group (or its own data directory), on a free 127.0.0.1
port or a socket in a temporary directory, and is stopped when the context ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph_server import free_port


@contextmanager
def mlflow_server(root: Path, timeout_s: float = 180.0) -> Iterator[str]:
    """``mlflow server`` with an SQLite backend under ``root``; yields its URL."""
    port = free_port()
    log = (root / "mlflow_server.log").open("wb")
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
               "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1"]
    env = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                               cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {process.returncode}: "
                                   f"{(root / 'mlflow_server.log').read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not ready after {timeout_s:.0f} s")
            time.sleep(0.3)
        yield url
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def postgres(root: Path) -> Iterator[object]:
    """A PostgreSQL server from the ``pgserver`` package, data and socket under ``root``; yields the server.

    ``server.get_uri()`` is a ``postgresql://`` URI over the Unix socket.
    """
    import pgserver

    server = pgserver.get_server(root / "pgdata", cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()
