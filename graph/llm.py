"""The one seam between the graph and a chat model: which model, and how it is called.

- :func:`choose_provider` reads the one setting string (``Context.model``) and says
  which provider a run uses; :func:`get_chat_model` builds it. No LLM client is
  imported until a model is actually needed, so the offline path never loads
  ``langchain_huggingface``. Tests replace :func:`get_chat_model` or pass a model in
  ``Context.chat_model``.
- :class:`ModelCalls` runs every model call with a timeout, inside the time budget of
  one node attempt, and decides after a failure whether LangGraph's node retry policy
  (:data:`MODEL_RETRY`) should try again (:class:`TransientModelError`) or the node
  should fall back to the deterministic path.
- ``HF_TOKEN`` is sent to Hugging Face hosts only, and :func:`redact` keeps it (and
  any bearer token or URL password) out of every message the graph writes.
"""

from __future__ import annotations

import contextvars
import email.utils
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from langgraph.types import RetryPolicy

from graph.context import Context

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langgraph.runtime import Runtime

T = TypeVar("T")
Provider = Literal["none", "code", "huggingface", "openai"]

MAX_NEW_TOKENS = 1024
TEMPERATURE = 0.2
HF_HOST_SUFFIXES = ("huggingface.co", "huggingface.cloud")
"""Hosts (and their subdomains) that may receive ``HF_TOKEN``: the Hub, its router and
Inference Endpoints. Not ``*.hf.space``: anyone can own a Space and run code there."""
_OFF = {"none", "off", "offline", "deterministic"}
_TRANSIENT_NAMES = {
    "TimeoutException", "ReadTimeout", "WriteTimeout", "ConnectTimeout", "PoolTimeout", "Timeout",
    "RemoteProtocolError", "ReadError", "WriteError", "ChunkedEncodingError", "ServerDisconnectedError",
    "APITimeoutError", "RateLimitError", "InternalServerError", "ServiceUnavailableError",
}


class TransientModelError(Exception):
    """A model call failed in a way worth retrying; raised for the node retry policy.

    Its message is already redacted and its cause is dropped, so LangGraph's retry log
    cannot carry a secret.
    """


class ModelTimeout(TimeoutError):
    """A model call did not answer within its timeout (or the budget ran out)."""


def is_transient(exc: BaseException) -> bool:
    """Whether an error is worth retrying: timeouts, 429, 5xx, connection resets."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (TransientModelError, TimeoutError, ConnectionResetError, ConnectionAbortedError,
                            BrokenPipeError)):
            return True
        if {c.__name__ for c in type(exc).__mro__} & _TRANSIENT_NAMES:
            return True
        status = http_status(exc)
        if status is not None:
            return status == 429 or status == 408 or 500 <= status <= 599
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


MODEL_RETRY = RetryPolicy(
    initial_interval=0.5, backoff_factor=2.0, max_interval=8.0, max_attempts=4, jitter=True, retry_on=is_transient
)
"""Retry policy of the nodes that call a model. The nodes only let a
:class:`TransientModelError` escape while the time budget allows another attempt, so
the policy never gives up by raising: the node falls back first."""
_JITTER = 1.0  # LangGraph adds up to one second of jitter to every wait


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of an error from httpx, requests, huggingface_hub or openai, if any."""
    for owner in (exc, getattr(exc, "response", None)):
        status = getattr(owner, "status_code", None) or getattr(owner, "status", None)
        if isinstance(status, int):
            return status
    return None


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``: seconds or an HTTP date)."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or getattr(exc, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value.strip() else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def redact(text: str) -> str:
    """Text with ``HF_TOKEN``, bearer tokens, ``hf_...`` tokens and URL passwords masked."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACEHUB_API_TOKEN"):
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "***")
    text = re.sub(r"(?i)(bearer\s+)[^\s'\"]+", r"\1***", text)
    text = re.sub(r"\bhf_[A-Za-z0-9]{8,}", "hf_***", text)
    return re.sub(r"(//)[^/\s:@]+:[^/\s@]+@", r"\1***@", text)


def reason(exc: BaseException) -> str:
    """A one-line, redacted reason for a failure: ``Type: first line``."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    return redact(text)[:200].rstrip(": ")


@dataclass(frozen=True)
class ModelChoice:
    """Which provider the setting string selects."""

    provider: Provider
    name: str = ""
    """Repo id (Hugging Face), served model name (OpenAI-compatible), or ""."""
    url: str = ""
    """Server URL for ``openai``."""
    why: str = ""
    """For ``none``: why no model is used."""


def choose_provider(context: Context) -> ModelChoice:
    """Read the model setting (see ``Context.model`` and the README's "Models").

    ``offline`` -> no model; a chat model passed in the context -> that model; a model
    setting of ``none`` -> no model; ``openai:[NAME@]URL`` or a bare ``http(s)://`` URL (or
    ``endpoint_url``) -> that OpenAI-compatible server; ``hf:REPO`` or a bare repo id
    -> the Hugging Face router, which needs ``HF_TOKEN``.
    """
    spec = (context.model or "").strip()
    if context.offline:
        return ModelChoice("none", why="offline")
    if context.chat_model is not None:  # passed by code: wins over the model setting
        return ModelChoice("code", name=_model_name(context.chat_model))
    if spec.lower() in _OFF:
        return ModelChoice("none", why="offline")
    if spec.lower().startswith("openai:"):
        rest = spec.split(":", 1)[1]
        name, _, url = rest.rpartition("@") if re.search(r"@https?://", rest) else ("", "", rest)
        return ModelChoice("openai", name=name, url=url)
    if re.match(r"https?://", spec, re.IGNORECASE):
        return ModelChoice("openai", url=spec)
    repo = spec.split(":", 1)[1] if spec.lower().startswith(("hf:", "huggingface:")) else spec
    if context.endpoint_url:
        return ModelChoice("openai", name=repo, url=context.endpoint_url)
    if not os.environ.get("HF_TOKEN"):
        return ModelChoice("none", why="no HF_TOKEN")
    return ModelChoice("huggingface", name=repo or context.model)


def describe_model(context: Context) -> str | None:
    """Which model a run will use, in words, or None for the deterministic path."""
    choice = choose_provider(context)
    if choice.provider == "none":
        return None
    if choice.provider == "openai":
        where = f"OpenAI-compatible server at {safe_url(choice.url)}"
        return f"{choice.name} ({where})" if choice.name else where
    return choice.name


def get_chat_model(context: Context) -> BaseChatModel | None:
    """The chat model for this run, or None when the deterministic path applies."""
    choice = choose_provider(context)
    if choice.provider == "none":
        return None
    if choice.provider == "code":
        return context.chat_model  # type: ignore[no-any-return]
    from langchain_huggingface import ChatHuggingFace, HuggingFaceEndpoint

    common: dict[str, Any] = {"max_new_tokens": MAX_NEW_TOKENS, "temperature": TEMPERATURE,
                              "timeout": max(1, int(context.llm_timeout))}
    if choice.provider == "openai":
        if not is_hf_host(choice.url):
            # huggingface_hub adds "authorization: Bearer <HF_TOKEN or stored login token>"
            # for ANY url; a None-valued header of ours replaces it and is then dropped, so
            # nothing is sent. The key must be lower-case (tests/test_llm_http.py guards it).
            common["server_kwargs"] = {"headers": {"authorization": None}}
        chat = ChatHuggingFace(llm=HuggingFaceEndpoint(endpoint_url=choice.url, **common))
        chat.model_id = choice.name or "default"  # the request's "model"; vLLM and Ollama check it
        return chat
    endpoint = HuggingFaceEndpoint(repo_id=choice.name, provider="auto",
                                   huggingfacehub_api_token=os.environ["HF_TOKEN"], **common)
    return ChatHuggingFace(llm=endpoint)


def is_hf_host(url: str) -> bool:
    """Whether a URL points at a Hugging Face host (which may receive ``HF_TOKEN``)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == s or host.endswith("." + s) for s in HF_HOST_SUFFIXES)


def safe_url(url: str) -> str:
    """A URL without user, password, query or fragment (for messages and reports)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def model_label(context: Context, model: Any) -> str:
    """The name a report gives the model that phrased it."""
    choice = choose_provider(context)
    if choice.provider in ("huggingface", "openai") and choice.name:
        return choice.name
    return _model_name(model)


def _model_name(model: Any) -> str:
    name = getattr(model, "model_id", None) or getattr(model, "model_name", None) or getattr(model, "model", None)
    return str(name) if isinstance(name, str) and name else type(model).__name__


class ModelCalls:
    """The model calls of one node attempt: each with a timeout, all within a budget.

    The budget (``Context.llm_budget`` seconds) runs from the node's FIRST attempt
    (LangGraph's ``execution_info.node_first_attempt_time``), so retries, waits and
    calls together stay within it. Every call runs in a daemon thread joined with a
    timeout of ``min(llm_timeout, time left)``: a model that never answers (an HTTP
    client without a timeout, a local pipeline that hangs) cannot hang the run.
    """

    def __init__(self, runtime: Runtime[Context], model: BaseChatModel) -> None:
        """Read the attempt number and start time of this node execution."""
        self.model = model
        self.context = runtime.context
        info = getattr(runtime, "execution_info", None)
        self.attempt = int(getattr(info, "node_attempt", 1) or 1)
        first = getattr(info, "node_first_attempt_time", None)
        self.retryable = info is not None and first is not None
        self.started = float(first) if first else time.time()
        self.deadline = self.started + self.context.llm_budget

    def remaining(self) -> float:
        """Seconds left in the budget."""
        return self.deadline - time.time()

    def run(self, call: Callable[[], T]) -> T:
        """Run one model call with the timeout; raise :class:`ModelTimeout` if it does not return."""
        limit = min(self.context.llm_timeout, self.remaining())
        if limit <= 0:
            raise ModelTimeout("the model time budget is spent")
        box: dict[str, Any] = {}
        ctx = contextvars.copy_context()  # keeps LangGraph's callbacks (streaming, tracing)

        def target() -> None:
            try:
                box["value"] = ctx.run(call)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = exc

        thread = threading.Thread(target=target, name="model-call", daemon=True)
        thread.start()
        thread.join(limit)
        if thread.is_alive():
            raise ModelTimeout(f"no reply within {limit:.1f} s")
        if "error" in box:
            raise box["error"]
        return box["value"]  # type: ignore[no-any-return]

    def invoke(self, messages: Any) -> str:
        """The text of the model's reply."""
        return message_text(self.run(lambda: self.model.invoke(messages)))

    def invoke_json(self, messages: Any, schema: type) -> tuple[Any, str]:
        """A structured reply: ``(parsed JSON or None, raw text)``; validation is the caller's.

        Uses ``with_structured_output(schema, method="json_schema", include_raw=True)``
        (the form ``ChatHuggingFace`` supports, see NOTES.md); a model without
        structured output, or a server that rejects ``response_format`` (400/422),
        gets the plain prompt and its reply is parsed as JSON.
        """
        try:
            structured = self.model.with_structured_output(schema, method="json_schema", include_raw=True)
        except (NotImplementedError, TypeError, ValueError, AttributeError):
            structured = None
        if structured is not None:
            try:
                out = self.run(lambda: structured.invoke(messages))
            except Exception as exc:
                if http_status(exc) not in (400, 422):
                    raise
            else:
                raw = message_text(out.get("raw")) if isinstance(out, dict) else message_text(out)
                parsed = out.get("parsed") if isinstance(out, dict) else out
                if hasattr(parsed, "model_dump"):
                    parsed = parsed.model_dump()
                return (parsed if parsed is not None else parse_json(raw)), raw
        raw = self.invoke(messages)
        return parse_json(raw), raw

    def give_up_or_retry(self, exc: BaseException) -> str:
        """After a failed call: raise :class:`TransientModelError` to retry, or return why not.

        Retries only a transient error, and only while the policy has attempts left and
        the budget covers the wait (the server's ``Retry-After`` included, honoured by
        sleeping here first) plus one more second of calling.
        """
        why = reason(exc)
        if not is_transient(exc):
            return why
        if not self.retryable:
            return why
        if self.attempt >= MODEL_RETRY.max_attempts:
            return f"{why}; gave up after {self.attempt} attempts"
        interval = min(MODEL_RETRY.max_interval,
                       MODEL_RETRY.initial_interval * MODEL_RETRY.backoff_factor ** (self.attempt - 1))
        asked = retry_after(exc) or 0.0
        extra = max(0.0, asked - interval)
        budget = self.context.llm_budget
        if asked and time.time() + asked > self.deadline:
            return f"{why}; the server asked to wait {asked:g} s, beyond the time budget of {budget:g} s"
        if time.time() + extra + interval + _JITTER + 1.0 > self.deadline:
            spent = time.time() - self.started
            return f"{why}; time budget of {budget:g} s spent after {self.attempt} attempt(s) in {spent:.1f} s"
        if extra:
            time.sleep(extra)
        raise TransientModelError(why) from None


def message_text(message: Any) -> str:
    """The text of a chat message (or of a plain string)."""
    content = getattr(message, "content", message)
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def parse_json(text: str) -> Any:
    """The first JSON object in a reply, tolerating code fences and chatter around it; None if none."""
    text = re.sub(r"```(?:json)?", "", text or "")
    start = text.find("{")
    while start >= 0:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[start:])
            return obj
        except ValueError:
            start = text.find("{", start + 1)
    return None
