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

from graph.context import DEFAULT_MODEL, Context, context_of
from graph.report.markdown import strip_control

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


class ModelReplyTooLarge(Exception):
    """A model reply went past ``Context.llm_max_reply_bytes``; the rest was not read."""


_LIMITS: contextvars.ContextVar[tuple[float, int] | None] = contextvars.ContextVar("model_call_limits", default=None)
"""``(deadline, most bytes)`` of the model call running in this context, for :class:`graph.http_limits.LimitedTransport`."""


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


@dataclass(frozen=True)
class _Retry:
    initial_interval: float = 0.5
    backoff_factor: float = 2.0
    max_interval: float = 8.0
    max_attempts: int = 4


_RETRY = _Retry()


def __getattr__(name: str) -> Any:
    """``MODEL_RETRY``: the retry policy of the nodes that call a model (LangGraph's ``RetryPolicy``).

    The nodes only let a :class:`TransientModelError` escape while the time budget allows
    another attempt, so the policy never gives up by raising: the node falls back first.
    Built on first use, so the offline path does not import LangGraph.
    """
    if name != "MODEL_RETRY":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from langgraph.types import RetryPolicy

    policy = RetryPolicy(initial_interval=_RETRY.initial_interval, backoff_factor=_RETRY.backoff_factor,
                         max_interval=_RETRY.max_interval, max_attempts=_RETRY.max_attempts, jitter=True,
                         retry_on=is_transient)
    globals()["MODEL_RETRY"] = policy
    return policy
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


_SECRET_PATTERNS = (
    (re.compile(r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*['\"]?)(?:(?:bearer|basic|token)\s+)?[^\s'\",}]+"),
     r"\1***"),
    (re.compile(r"(?i)(bearer\s+)[^\s'\",}]+"), r"\1***"),
    (re.compile(r"(?i)\b((?:api[_-]?key|access[_-]?token|token|password|passwd|secret)"
                r"(?:['\"]?\s*[:=]\s*['\"]?))[^\s'\"&,;}]+"), r"\1***"),
    (re.compile(r"\bhf_[A-Za-z0-9]{8,}"), "hf_***"),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), "sk-***"),
    (re.compile(r"(//)[^/\s@?#]+@(?=[^\s@/]*(?:[/\s?#]|$))"), r"\1***@"),
)
"""What :func:`redact` masks: Authorization headers, bearer tokens, ``api_key=``-like
parameters, ``hf_``/``sk-`` tokens and a URL's user information (``user:pass@`` or a
bare ``token@``)."""


def redact(text: str) -> str:
    """Text with every secret masked and terminal control sequences removed.

    Masks the Hugging Face tokens of the environment, ``Authorization`` headers, bearer
    tokens, ``api_key=``/``token=`` parameters, ``hf_...``/``sk-...`` tokens and URL
    user information (``http://user:pw@host``, ``http://tok@host``); strips ESC/OSC
    sequences and other control characters, which a server's reason phrase could carry
    to a terminal.
    """
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACEHUB_API_TOKEN", "OPENAI_API_KEY"):
        secret = os.environ.get(name)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = strip_control(text)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


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
        at = re.search(r"@(?=https?://)", rest, re.IGNORECASE)  # the first "@" before the URL, not one inside it
        name, url = (rest[: at.start()], rest[at.end():]) if at else ("", rest)
        return ModelChoice("openai", name=name, url=url)
    if re.match(r"https?://", spec, re.IGNORECASE):
        return ModelChoice("openai", url=spec)
    hf = spec.lower().startswith(("hf:", "huggingface:"))
    repo = spec.split(":", 1)[1] if hf else spec
    if context.endpoint_url:  # the served model's name only if one was given
        return ModelChoice("openai", name=repo, url=context.endpoint_url)
    if not spec:  # nothing asked for: HF_TOKEN alone (set globally by many) never sends the sweep anywhere
        return ModelChoice("none", why="no model asked for (MODEL, --model or --endpoint-url)")
    if not os.environ.get("HF_TOKEN"):
        return ModelChoice("none", why="no HF_TOKEN")
    return ModelChoice("huggingface", name=repo or DEFAULT_MODEL)


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

    from graph.http_limits import install_http_limits

    install_http_limits()
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
        # (no name given: "default", which single-model servers such as llama.cpp and TGI accept)
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
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # a port that is no number
        return redact(url.split("?", 1)[0].split("#", 1)[0])
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def model_label(context: Context, model: Any) -> str:
    """The name a report gives the model that phrased it."""
    choice = choose_provider(context)
    if choice.provider in ("huggingface", "openai") and choice.name:
        return choice.name
    if choice.provider == "openai":  # no name was given, so none was sent: say where it ran
        return f"the model served at {safe_url(choice.url)}"
    return _model_name(model)


def _model_name(model: Any) -> str:
    name = getattr(model, "model_id", None) or getattr(model, "model_name", None) or getattr(model, "model", None)
    return str(name) if isinstance(name, str) and name else type(model).__name__


class ModelCalls:
    """The model calls of one node attempt: each with a timeout, all within the run's budget.

    The budget (``Context.llm_budget`` seconds) is ONE budget per run: it runs from the
    first attempt of the first node that called a model in this run (``run_started``,
    kept in the graph state as ``model_started``; otherwise LangGraph's
    ``execution_info.node_first_attempt_time``), so the analyst, the writer, their
    retries and revisions together stay within it. Every call runs in a daemon thread
    joined with a timeout of ``min(llm_timeout, time left)``, and its HTTP reply is cut
    off at that deadline and at ``Context.llm_max_reply_bytes`` (:class:`graph.http_limits.LimitedTransport`):
    a model that never answers, trickles or never stops cannot hang the run or its exit.
    """

    def __init__(self, runtime: Runtime[Context], model: BaseChatModel, run_started: float | None = None) -> None:
        """Read the attempt number and start time of this node execution (and of the run's model use)."""
        self.model = model
        self.context = context_of(runtime)
        info = getattr(runtime, "execution_info", None)
        self.attempt = int(getattr(info, "node_attempt", 1) or 1)
        first = getattr(info, "node_first_attempt_time", None)
        self.retryable = info is not None and first is not None
        started = float(first) if first else time.time()
        self.started = min(started, float(run_started)) if run_started else started
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
        limits = (time.time() + limit, int(self.context.llm_max_reply_bytes))

        def limited() -> T:
            _LIMITS.set(limits)
            return call()

        def target() -> None:
            try:
                box["value"] = ctx.run(limited)
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

        Asks with the request that ``with_structured_output(schema, method="json_schema")``
        builds (the form ``ChatHuggingFace`` supports, see NOTES.md) but invokes only its
        first step, the model bound to ``response_format``, and parses the text here: the
        ``include_raw=True`` form runs the call in a non-daemon thread pool worker, which
        interpreter exit would wait for. A model without structured output, or a server
        that rejects ``response_format`` (400/422), gets the plain prompt.
        """
        try:
            structured = self.model.with_structured_output(schema, method="json_schema")
        except (NotImplementedError, TypeError, ValueError, AttributeError):
            structured = None
        bound = getattr(structured, "first", None)  # RunnableSequence(model.bind(response_format) | parser)
        if bound is not None:
            try:
                raw = message_text(self.run(lambda: bound.invoke(messages)))
            except Exception as exc:
                if http_status(exc) not in (400, 422):
                    raise
            else:
                return parse_json(raw), raw
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
        if self.attempt >= _RETRY.max_attempts:
            return f"{why}; gave up after {self.attempt} attempts"
        interval = min(_RETRY.max_interval, _RETRY.initial_interval * _RETRY.backoff_factor ** (self.attempt - 1))
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


MAX_JSON_DEPTH = 64
"""Deepest nesting :func:`parse_json` accepts (a reply is two or three levels deep)."""
_JSON_TOKENS = re.compile(r'[{}\[\]"\\]')
_RESCANS = 3


def parse_json(text: str) -> Any:
    """The first JSON object in a reply, tolerating code fences and chatter around it; None if none.

    Linear in the reply's length: one scan finds the balanced ``{...}`` spans outside
    string literals, and only those are decoded, each once; the scan goes on after a
    span that is no JSON. A stray ``{`` in the chatter that never closes costs one more
    scan from just after it (at most a few). Nesting deeper than :data:`MAX_JSON_DEPTH`
    is not JSON we asked for.
    """
    text = re.sub(r"```(?:json)?", "", text or "")
    begin = 0
    for _ in range(_RESCANS + 1):
        found, unclosed = _scan_json(text, begin)
        if found is not None or unclosed is None:
            return found
        begin = unclosed + 1
    return None


def _scan_json(text: str, begin: int) -> tuple[Any, int | None]:
    """``(first JSON object from begin on, None)``, or ``(None, start of an unclosed span or None)``."""
    start, depth, in_string, skip_to = -1, 0, False, -1
    for match in _JSON_TOKENS.finditer(text, begin):
        char, at = match.group(), match.start()
        if at < skip_to:
            continue
        if in_string:
            if char == "\\":
                skip_to = at + 2  # the escaped character, whatever it is
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = depth > 0
        elif char == "{" or (char == "[" and depth):
            start = at if not depth else start
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return None, None
        elif char in "}]" and depth:
            depth -= 1
            if not depth:
                try:
                    return json.loads(text[start : at + 1]), None
                except (ValueError, RecursionError):
                    continue
    return None, (start if depth else None)
