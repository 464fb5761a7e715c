"""A local, OpenAI-compatible chat-completions server for tests.

`ChatCompletionsStub` runs a stdlib `ThreadingHTTPServer` on 127.0.0.1 (a free
port) in a daemon thread and answers like an OpenAI / TGI chat endpoint::

    with ChatCompletionsStub(replies=["first", StubReply(status=500)]) as stub:
        llm = HuggingFaceEndpoint(endpoint_url=stub.url, ...)  # stub.url ends in /v1
        ...
        assert stub.requests[0].body["max_tokens"] == 64

Routes
    ``POST /v1/chat/completions`` (also ``/chat/completions``, with or without a
    trailing slash): answers with the next scripted reply, either as a
    ``chat.completion`` JSON object or, when the request body has
    ``"stream": true``, as Server-Sent Events (``data: {chunk}`` lines with
    ``chat.completion.chunk`` objects, then ``data: [DONE]``).
    ``GET /v1/models`` (or ``/models``): a one-model list.
    Anything else: 404 with an OpenAI-style JSON error.

Replies
    ``replies`` is consumed in order, one item per chat-completions request; each
    item is either the assistant content (``str``) or a `StubReply` (error
    status, raw body, extra headers such as ``Retry-After``, a delay before
    answering). Once the list is exhausted the LAST item is repeated for every
    further request, so ``replies=["ok"]`` answers "ok" forever and
    ``replies=["ok", StubReply(status=503)]`` fails from the second call on.

Recording
    Every request (any path, including 404s) is appended to `requests` as a
    `RecordedRequest` with lower-cased header names and the JSON body as a dict
    (``{}`` when there is none). Access is thread-safe; `requests` returns a
    snapshot list.

What langchain-huggingface 1.2.3 / huggingface_hub 1.33 actually send
    (observed with ``HuggingFaceEndpoint(endpoint_url=stub.url, ...)`` +
    ``ChatHuggingFace(llm=llm, model_id="local-test")``, see test_openai_stub.py)

    * Path ``/v1/chat/completions``: huggingface_hub appends ``/chat/completions``
      to the endpoint URL.
    * Headers: ``host``, ``accept: */*``, ``accept-encoding``, ``connection``,
      ``user-agent: unknown/None; hf_hub/1.33.0; python/3.11.x``,
      ``content-type: application/json``, ``content-length``,
      ``x-amzn-trace-id`` (a random UUID per request) and, if a token is
      available, ``authorization: Bearer <token>``.
    * The Hugging Face token LEAKS to any endpoint_url. langchain-huggingface
      deliberately passes ``api_key=None`` for non-HF hosts, but huggingface_hub's
      ``HFInferenceTask._prepare_api_key`` (used for every URL model) falls back
      to ``get_token()``, i.e. ``HF_TOKEN`` / ``HUGGING_FACE_HUB_TOKEN`` or the
      token stored by ``hf auth login`` (``$HF_HOME/token``), and
      ``build_hf_headers`` turns it into ``authorization: Bearer ...``.
      ``HF_HUB_DISABLE_IMPLICIT_TOKEN=1`` does NOT help, because the token is
      passed explicitly by then. Sending ``headers={"authorization": None}``
      through ``server_kwargs`` suppresses it (huggingface_hub drops
      ``None``-valued headers after merging user headers over its own).
    * Body: ``{"model": "dummy", "messages": [...], "max_tokens": <max_new_tokens>,
      "temperature": ..., "stream": false}``. ``model`` is ``"dummy"``, not
      the ``model_id`` given to ChatHuggingFace: ChatHuggingFace overwrites
      ``model_id`` with ``llm.model`` (the endpoint URL), and huggingface_hub
      replaces a URL model with ``"dummy"``. Streaming adds ``"stream": true``.

Offline behaviour
    Constructing ``HuggingFaceEndpoint(endpoint_url=...)`` and
    ``ChatHuggingFace(llm=...)`` makes no network call at all: no tokenizer and
    no Hub lookup are needed for an endpoint LLM (``model_id`` is simply taken
    from the endpoint URL). But ``HF_HUB_OFFLINE=1`` (read once, when
    huggingface_hub is imported) makes every InferenceClient request fail with
    ``OfflineModeIsEnabled``, even to 127.0.0.1, so it must NOT be set in a
    process that is supposed to talk to this stub.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["ChatCompletionsStub", "RecordedRequest", "StubReply"]

CHAT_COMPLETIONS_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
MODELS_PATHS = frozenset({"/v1/models", "/models"})
STUB_MODEL = "stub-model"
DEFAULT_CONTENT = "Hello from the stub."


@dataclass(frozen=True)
class StubReply:
    """One scripted answer to a chat-completions request.

    Attributes:
        content: Assistant message content of the canned completion (used when
            `body` is None and `status` is 200).
        status: HTTP status code.
        body: Raw response body sent verbatim instead of the canned completion:
            a str, or a mapping serialised as JSON. When None and `status` is not
            200, an OpenAI-style ``{"error": {...}}`` JSON body is sent.
        headers: Extra response headers (e.g. ``{"Retry-After": "1"}``); they
            override the defaults such as Content-Type.
        delay: Seconds to wait before answering (the wait is cut short when the
            stub shuts down).
        drop: Close the connection without answering (the client sees the
            connection reset / "server disconnected").
        trickle: Seconds between bytes: the body (canned completion or `body`)
            is sent one byte at a time (a server that never quite stops).
        endless: Send a 200 with no Content-Length and `body` (or ``{"a": "``)
            repeated until the client hangs up or the stub shuts down.
        reason: The HTTP reason phrase sent with the status (default: the
            standard one); lets a test plant control characters in it.
    """

    content: str = DEFAULT_CONTENT
    status: int = 200
    body: str | Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    trickle: float = 0.0
    endless: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """A request received by the stub.

    Attributes:
        path: Request path as sent (including any query string).
        headers: Request headers, names lower-cased.
        body: JSON body parsed into a dict; ``{}`` if empty or not a JSON object.
        received_at: ``time.monotonic()`` when the request was read.
    """

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)


class ChatCompletionsStub:
    """OpenAI-compatible chat-completions server on 127.0.0.1, for tests.

    Use as a context manager: entering starts the server on a free port,
    leaving shuts it down and joins the serving thread. See the module
    docstring for routes, reply scripting and recorded headers.
    """

    def __init__(self, replies: Sequence[str | StubReply] = (DEFAULT_CONTENT,)) -> None:
        """Script the replies.

        Args:
            replies: Replies for successive chat-completions requests; the last
                one is repeated once the list is exhausted. Must not be empty.

        Raises:
            ValueError: If `replies` is empty.
        """
        if not replies:
            msg = "replies must contain at least one item"
            raise ValueError(msg)
        self._replies = [r if isinstance(r, StubReply) else StubReply(content=r) for r in replies]
        self._next_reply = 0
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        """Start serving on 127.0.0.1 (port chosen by the OS) in a daemon thread."""
        self._closing.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # makes shutdown() return quickly
            name="openai-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving: wake delayed replies, shut down, close the socket, join."""
        if self._server is None or self._thread is None:
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        """Base URL ``http://127.0.0.1:PORT/v1`` (use it as endpoint_url / base_url)."""
        if self._server is None:
            msg = "ChatCompletionsStub is not running; use it as a context manager"
            raise RuntimeError(msg)
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of all requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _take_reply(self) -> StubReply:
        """Return the next scripted reply, repeating the last one when exhausted."""
        with self._lock:
            reply = self._replies[min(self._next_reply, len(self._replies) - 1)]
            self._next_reply += 1
            return reply


def _make_handler(stub: ChatCompletionsStub) -> type[BaseHTTPRequestHandler]:
    """Build a request-handler class bound to `stub`."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "openai-stub/1.0"

        def do_GET(self) -> None:
            self._record(body={})
            if _route(self.path) in MODELS_PATHS:
                model = {
                    "id": STUB_MODEL,
                    "object": "model",
                    "created": 0,
                    "owned_by": "stub",
                }
                self._send(200, {"object": "list", "data": [model]})
            else:
                self._send_not_found()

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                parsed = json.loads(raw) if raw else {}
            except (UnicodeDecodeError, json.JSONDecodeError):
                parsed = None
            body = parsed if isinstance(parsed, dict) else {}
            self._record(body=body)
            if _route(self.path) not in CHAT_COMPLETIONS_PATHS:
                self._send_not_found()
            elif parsed is None:
                self._send(400, _error_body(400, "request body is not valid JSON"))
            else:
                self._answer_chat(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: tests should not print access logs to stderr."""

        def _record(self, *, body: dict[str, Any]) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            stub._record(RecordedRequest(path=self.path, headers=headers, body=body))

        def _answer_chat(self, request: dict[str, Any]) -> None:
            reply = stub._take_reply()
            if reply.delay > 0:
                stub._closing.wait(reply.delay)  # cut short when the stub shuts down
            try:
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._reply = reply
                if reply.endless:
                    self._send_endless(reply)
                elif reply.body is not None:
                    self._send(reply.status, reply.body, reply.headers)
                elif reply.status != 200:
                    self._send(reply.status, _error_body(reply.status), reply.headers)
                elif request.get("stream") is True:
                    self._send_sse(_completion_chunks(reply.content, request), reply.headers)
                else:
                    self._send(200, _completion(reply.content, request), reply.headers)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass  # the client gave up (e.g. its timeout fired during `delay`)

        def _send_not_found(self) -> None:
            self._send(404, _error_body(404, f"no route for {self.command} {self.path}"))

        def _send(
            self,
            status: int,
            body: str | Mapping[str, Any],
            headers: Mapping[str, str] | None = None,
        ) -> None:
            """Send `body` (str as text, mapping as JSON) with a Content-Length."""
            if isinstance(body, str):
                data, content_type = body.encode(), "text/plain; charset=utf-8"
            else:
                data, content_type = json.dumps(body).encode(), "application/json"
            merged = {
                "Content-Type": content_type,
                "Content-Length": str(len(data)),
                **(headers or {}),
            }
            self._start(status, merged)
            reply = getattr(self, "_reply", None)
            if reply is not None and reply.trickle > 0:
                for i in range(len(data)):
                    if stub._closing.wait(reply.trickle):
                        return
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                return
            self.wfile.write(data)

        def _send_endless(self, reply: StubReply) -> None:
            piece = (reply.body if isinstance(reply.body, str) else '{"a": "').encode() * 4096
            self.close_connection = True
            self._start(200, {"Content-Type": "application/json", **reply.headers})
            while not stub._closing.is_set():
                self.wfile.write(piece)

        def _send_sse(self, chunks: list[dict[str, Any]], headers: Mapping[str, str]) -> None:
            # HTTP/1.0 (the handler default): the body ends when the connection closes.
            self._start(
                200,
                {
                    "Content-Type": "text/event-stream",
                    "Cache-Control": "no-cache",
                    **headers,
                },
            )
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

        def _start(self, status: int, headers: Mapping[str, str]) -> None:
            reply = getattr(self, "_reply", None)
            self.send_response(status, reply.reason if reply is not None else None)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

    return Handler


def _route(path: str) -> str:
    """Normalise a request path for routing: drop the query and trailing slashes."""
    return path.split("?", 1)[0].rstrip("/") or "/"


def _error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Build an OpenAI-style error object."""
    return {
        "error": {
            "message": message or f"stub error {status}",
            "type": "stub_error",
            "code": status,
        }
    }


def _usage(request: Mapping[str, Any], content: str) -> dict[str, int]:
    """Count tokens roughly (whitespace words) so that usage fields are plausible."""
    prompt = sum(
        len(str(message.get("content", "")).split())
        for message in request.get("messages", [])
        if isinstance(message, Mapping)
    )
    completion = len(content.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(content: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Build a non-streaming ``chat.completion`` object."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or STUB_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(request, content),
    }


def _completion_chunks(content: str, request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Build ``chat.completion.chunk`` objects streaming `content` word by word.

    The first chunk carries the assistant role, the last one ``finish_reason``
    "stop"; with ``stream_options.include_usage`` a final chunk with empty
    ``choices`` and the usage follows, as OpenAI does.
    """
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.get("model") or STUB_MODEL,
    }

    def chunk(delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        return {**base, "choices": [choice]}

    pieces = re.findall(r"\s*\S+\s*", content) or [content]
    chunks = [chunk({"role": "assistant", "content": pieces[0]})]
    chunks += [chunk({"content": piece}) for piece in pieces[1:]]
    chunks.append(chunk({}, finish_reason="stop"))
    stream_options = request.get("stream_options")
    if isinstance(stream_options, Mapping) and stream_options.get("include_usage"):
        chunks.append({**base, "choices": [], "usage": _usage(request, content)})
    return chunks
