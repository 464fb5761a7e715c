"""Prompt templates, one markdown file each, installed with the package."""

from __future__ import annotations

from importlib.resources import files


def load_prompt(name: str) -> str:
    """The text of ``prompts/<name>.md``."""
    return (files(__name__) / f"{name}.md").read_text(encoding="utf-8")
