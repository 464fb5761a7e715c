"""Shared fixtures: a clean, offline environment and paths to test data."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "examples"
SAMPLE = EXAMPLES / "sample_results.csv"


@pytest.fixture(autouse=True)
def offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, no model settings, no Hub access, whatever the developer's shell has."""
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "LLM_ENDPOINT_URL", "MODEL", "HPATH_OFFLINE",
                "HPATH_MAX_REVISIONS", "HPATH_RESULTS_CSV"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write text to a CSV file in tmp_path and return its path."""

    def _write(text: str, name: str = "results.csv", encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding=encoding)
        return path

    return _write


TOKEN_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACEHUB_API_TOKEN")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})


@pytest.fixture
def hf_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Isolate huggingface_hub from the machine and the network.

    * No token in the environment; the "stored login token" file lives in
      tmp_path (absent unless a test writes it). huggingface_hub reads these
      paths from `constants` at call time, so patching them is enough.
    * Offline mode forced OFF: it is read at import time and, when on, blocks
      even requests to 127.0.0.1 from a bare huggingface_hub client (graph.llm's client applies it to
      Hugging Face hosts only: test_hf_hub_offline_blocks_the_hub_but_not_an_explicit_endpoint).
    * TCP connections to anything but loopback fail loudly, so an unexpected
      Hub lookup cannot go unnoticed.

    Returns:
        The path where huggingface_hub looks for the stored token.
    """
    from huggingface_hub import constants as hf_constants

    for name in (*TOKEN_ENV_VARS, "HF_INFERENCE_ENDPOINT", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    token_path = tmp_path / "hf_home" / "token"
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(token_path))
    monkeypatch.setattr(
        hf_constants,
        "HF_STORED_TOKENS_PATH",
        str(token_path.with_name("stored_tokens")),
    )
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)

    real_connect = socket.socket.connect

    def loopback_connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK_HOSTS:
            msg = f"unexpected network access to {address!r}"
            raise AssertionError(msg)
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_connect)
    return token_path
