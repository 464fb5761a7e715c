"""The HTTP side of a model call: replies cut at the call's deadline and size cap (httpx).

Its own module so that a run without a model never imports httpx: :func:`graph.llm.get_chat_model`
installs it when it builds a client.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from graph.llm import _LIMITS, ModelReplyTooLarge, ModelTimeout, is_hf_host


class _LimitedStream(httpx.SyncByteStream):
    """A response body read only up to a deadline and a size: a trickle or an endless body is cut off."""

    def __init__(self, stream: httpx.SyncByteStream, deadline: float, max_bytes: int) -> None:
        self.stream, self.deadline, self.max_bytes = stream, deadline, max_bytes

    def __iter__(self) -> Any:
        total = 0
        for chunk in self.stream:
            total += len(chunk)
            if total > self.max_bytes:
                raise ModelReplyTooLarge(f"reply longer than {self.max_bytes} bytes; the rest was not read")
            if time.time() > self.deadline:
                raise ModelTimeout(f"reply still arriving at the deadline ({total} bytes read)")
            yield chunk

    def close(self) -> None:
        self.stream.close()


class LimitedTransport(httpx.BaseTransport):
    """An HTTP transport whose replies stop at the running model call's deadline and size cap.

    The limits come from :data:`_LIMITS`, set by :meth:`ModelCalls.run` for the call it
    runs; a request made outside a model call is passed through untouched. httpx's own
    timeouts bound each read, not a whole reply, so a server trickling one byte a second
    would otherwise keep a worker thread (and interpreter exit) waiting for hours.
    """

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request; wrap the reply's body in the running call's limits, if any."""
        limits = _LIMITS.get()
        if limits is not None and time.time() > limits[0]:
            raise ModelTimeout("the model call's deadline passed before the request was sent")
        response = self.inner.handle_request(request)
        if limits is None:
            return response
        stream = response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        return httpx.Response(status_code=response.status_code, headers=response.headers,
                              stream=_LimitedStream(stream, *limits), extensions=response.extensions)

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()


_INSTALLED = threading.Lock()
_installed = False


def install_http_limits() -> None:
    """Make huggingface_hub's shared HTTP client use :class:`LimitedTransport` (once per process)."""
    global _installed
    with _INSTALLED:
        if _installed:
            return
        import huggingface_hub
        from huggingface_hub.utils._http import default_client_factory

        def factory() -> httpx.Client:
            base = default_client_factory()  # its event hooks: offline switch, request id
            hooks = {"request": [_hub_only(hook) for hook in base.event_hooks.get("request", [])],
                     "response": list(base.event_hooks.get("response", []))}
            return httpx.Client(transport=LimitedTransport(), event_hooks=hooks, follow_redirects=True, timeout=None)

        huggingface_hub.set_client_factory(factory)
        _installed = True


def _hub_only(hook: Any) -> Any:
    """huggingface_hub's request hook (its ``HF_HUB_OFFLINE`` switch, request ids) for Hugging Face hosts only.

    ``HF_HUB_OFFLINE=1`` is the Hub's switch (air-gapped clusters set it globally); an
    endpoint the user named explicitly (``--endpoint-url http://127.0.0.1:8080/v1``) is
    called whatever it says, while the Hub and its router stay blocked.
    """
    def checked(request: httpx.Request) -> None:
        if is_hf_host(str(request.url)):
            hook(request)

    return checked
