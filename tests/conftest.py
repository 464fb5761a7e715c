"""Shared fixtures: a clean, offline environment and paths to test data."""

from __future__ import annotations

from pathlib import Path

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
