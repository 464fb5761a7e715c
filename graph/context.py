"""Run settings, given through LangGraph's context (never stored in state)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

from pydantic.json_schema import SkipJsonSchema

from core.detectors import Thresholds

DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"

_ENV = {
    "model": "MODEL",
    "endpoint_url": "LLM_ENDPOINT_URL",
    "offline": "HPATH_OFFLINE",
    "max_revisions": "HPATH_MAX_REVISIONS",
    "n_classes": "HPATH_CLASSES",
    "llm_timeout": "HPATH_LLM_TIMEOUT",
    "llm_budget": "HPATH_LLM_BUDGET",
    "llm_max_reply_bytes": "HPATH_LLM_MAX_REPLY_BYTES",
    "prompt_token_budget": "HPATH_PROMPT_TOKENS",
}


@dataclass(kw_only=True)
class Context:
    """Settings of one run. Unset fields fall back to environment variables."""

    model: str = field(
        default="",
        metadata={"description": "The model setting (env MODEL); empty: no model (a token alone never calls one). "
                                 "A Hugging Face repo id, or 'hf:REPO' ('hf:' alone: " + DEFAULT_MODEL + ") "
                                 "(HF router, needs HF_TOKEN); 'openai:URL' or 'openai:NAME@URL' or a bare "
                                 "http(s) URL (any OpenAI-compatible server: TGI, vLLM, llama.cpp, Ollama /v1); "
                                 "'none' (deterministic). With endpoint_url set, the served model's name."},
    )
    endpoint_url: str = field(
        default="",
        metadata={"description": "URL of an OpenAI-compatible server (TGI, vLLM, llama.cpp, "
                                 "Ollama /v1) to use instead of the HF router (env LLM_ENDPOINT_URL)."},
    )
    chat_model: SkipJsonSchema[Any] = field(
        default=None,
        metadata={"description": "A LangChain chat model object passed in by code; used instead of "
                                 "the model setting (not settable from the environment, and not shown "
                                 "in Studio's form, which cannot hold an object)."},
    )
    offline: bool = field(
        default=False,
        metadata={"description": "Never call a model: deterministic analyst and writer "
                                 "(env HPATH_OFFLINE=1)."},
    )
    pictures: bool = field(
        default=True,
        metadata={"description": "Draw the report's pictures (heatmap, isolation plots, curves); "
                                 "the CLI's --no-plots turns them off."},
    )
    max_revisions: int = field(
        default=2,
        metadata={"description": "How often the writer may send the analysis back because the "
                                 "draft cited unknown trial ids (env HPATH_MAX_REVISIONS)."},
    )
    llm_timeout: float = field(
        default=60.0,
        metadata={"description": "Seconds before one model call is abandoned (env HPATH_LLM_TIMEOUT)."},
    )
    llm_budget: float = field(
        default=120.0,
        metadata={"description": "Seconds the model may take in all in one run (analyst, writer, retries, "
                                 "waits and revisions), counted from its first call; after that the deterministic "
                                 "path is used (env HPATH_LLM_BUDGET)."},
    )
    llm_max_reply_bytes: int = field(
        default=1_000_000,
        metadata={"description": "Most bytes of one model reply; a longer reply is cut off while it arrives and "
                                 "the deterministic path is used (env HPATH_LLM_MAX_REPLY_BYTES)."},
    )
    prompt_token_budget: int = field(
        default=6000,
        metadata={"description": "Most tokens (estimated: ASCII chars / 3 + other chars) of a prompt, "
                                 "whatever the sweep's size (env HPATH_PROMPT_TOKENS)."},
    )
    alpha: float = field(
        default=0.05,
        metadata={"description": "Largest Benjamini-Hochberg q for an association to be a pattern."},
    )
    min_support: int = field(
        default=3,
        metadata={"description": "Fewest affected trials in a region for it to be a pattern."},
    )
    overfit_ratio: float = field(
        default=Thresholds.overfit_ratio,
        metadata={"description": "Held-out / training loss ratio at which a trial overfits."},
    )
    overfit_min_epochs: float = field(
        default=Thresholds.overfit_min_epochs,
        metadata={"description": "Trials with fewer epochs are not judged for overfitting."},
    )
    diverge_factor: float = field(
        default=Thresholds.diverge_factor,
        metadata={"description": "A loss this many times the sweep median has diverged."},
    )
    diverge_abs: float = field(
        default=Thresholds.diverge_abs,
        metadata={"description": "A finite loss at or above this value has diverged."},
    )
    short_run_fraction: float = field(
        default=Thresholds.short_run_fraction,
        metadata={"description": "A run with fewer epochs than this fraction of the median is short."},
    )
    n_classes: int = field(
        default=0,
        metadata={"description": "Number of classes, for the chance-level rules (no_learning, divergence "
                                 "against ln(classes)); 0 infers it from trials sitting exactly at chance "
                                 "(env HPATH_CLASSES)."},
    )
    accuracy_gap: float = field(
        default=Thresholds.accuracy_gap,
        metadata={"description": "Training minus held-out accuracy at which a trial overfits (0.07 above "
                                 "0.9 training accuracy)."},
    )
    short_runtime_fraction: float = field(
        default=Thresholds.short_runtime_fraction,
        metadata={"description": "Without epochs: a run under this fraction of the median runtime is short."},
    )

    def __post_init__(self) -> None:
        """Fill fields left at their default from the environment."""
        for f in fields(self):
            env = _ENV.get(f.name)
            value = os.environ.get(env, "") if env else ""
            if not value or getattr(self, f.name) != f.default:
                continue
            if f.type in (bool, "bool"):
                setattr(self, f.name, value.strip().lower() in {"1", "true", "yes", "on"})
            elif f.type in (int, "int"):
                setattr(self, f.name, int(value))
            elif f.type in (float, "float"):
                setattr(self, f.name, float(value))
            else:
                setattr(self, f.name, value)

    def thresholds(self) -> Thresholds:
        """The detector thresholds of this run.

        Every Context field named like a field of :class:`~core.detectors.Thresholds`
        is passed on (``n_classes`` 0 means "infer"); the others keep their defaults.
        """
        given = {f.name: getattr(self, f.name) for f in fields(Thresholds) if hasattr(self, f.name)}
        given["n_classes"] = given.get("n_classes") or None
        return Thresholds(**given)


def context_of(runtime: Any) -> Context:
    """The run's :class:`Context`: the one given, built from a dict of its fields, or the defaults.

    ``graph.invoke(inputs)`` without ``context=`` gives the nodes ``runtime.context is
    None``; the defaults (and their environment variables) apply then.
    """
    given = getattr(runtime, "context", None)
    if isinstance(given, Context):
        return given
    if given is None:
        return Context()
    if isinstance(given, dict):
        names = {f.name for f in fields(Context)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise TypeError(f"unknown context field(s) {', '.join(unknown)}; fields: {', '.join(sorted(names))}")
        return Context(**given)
    raise TypeError(f"context must be a graph.context.Context or a dict of its fields, not {type(given).__name__}")
