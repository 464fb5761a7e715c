"""Self-tests for `tests/openai_stub.py`, driven the way the app uses the LLM.

The app builds ``ChatHuggingFace(llm=HuggingFaceEndpoint(endpoint_url=...))``;
these tests pin down what that client sends to a non-Hugging-Face endpoint
(including the HF token leak) and check the stub's raw HTTP behaviour with
urllib.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from langchain_huggingface import ChatHuggingFace, HuggingFaceEndpoint
from openai_stub import ChatCompletionsStub, StubReply


def make_chat(url: str, **endpoint_kwargs: Any) -> ChatHuggingFace:
    """Build the chat model exactly as the app does."""
    llm = HuggingFaceEndpoint(
        endpoint_url=url,
        max_new_tokens=64,
        temperature=0.1,
        timeout=10,
        **endpoint_kwargs,
    )
    return ChatHuggingFace(llm=llm, model_id="local-test")


def make_token_free_chat(url: str) -> ChatHuggingFace:
    """Build the chat model the recommended way for a non-HF endpoint: no token sent.

    huggingface_hub falls back to HF_TOKEN / the stored login token for every
    URL model; a user header overrides its ``authorization`` header and
    ``None``-valued headers are dropped. The key must be lower-case.
    """
    chat = make_chat(url, server_kwargs={"headers": {"authorization": None}})
    chat.model_id = "local-test"  # otherwise the request body says "model": "dummy"
    return chat


def post_json(url: str, payload: dict[str, Any]) -> urllib.request.Request:
    """Build a JSON POST request for urllib."""
    return urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )


def read_json(request: urllib.request.Request | str) -> Any:
    """Perform a request and decode its JSON body."""
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_chat_construction_needs_no_hub(hf_sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with ChatCompletionsStub() as stub:
        chat = make_chat(stub.url)
        # ChatHuggingFace overwrites the given model_id with the endpoint URL.
        assert chat.model_id == stub.url
        assert stub.requests == []


def test_invoke_returns_canned_reply(hf_sandbox: Path) -> None:
    with ChatCompletionsStub(replies=["canned answer"]) as stub:
        assert make_chat(stub.url).invoke("hi").content == "canned answer"

    [request] = stub.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]
    assert request.body["max_tokens"] == 64
    assert request.body["temperature"] == 0.1
    assert request.body["model"] == "dummy"
    assert request.body["stream"] is False
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("unknown/None; hf_hub/")
    assert "authorization" not in request.headers


def test_ainvoke_returns_canned_reply(hf_sandbox: Path) -> None:
    with ChatCompletionsStub(replies=["async answer"]) as stub:
        reply = asyncio.run(make_chat(stub.url).ainvoke("hi"))
    assert reply.content == "async answer"
    assert len(stub.requests) == 1


def test_server_error_raises_without_retry(hf_sandbox: Path) -> None:
    with ChatCompletionsStub(replies=[StubReply(status=500), "recovered"]) as stub:
        chat = make_chat(stub.url)
        with pytest.raises(HfHubHTTPError) as excinfo:
            chat.invoke("hi")
        assert excinfo.value.response.status_code == 500
        assert len(stub.requests) == 1  # huggingface_hub does not retry
        assert chat.invoke("again").content == "recovered"


def test_slow_reply_hits_client_timeout(hf_sandbox: Path) -> None:
    # The client timeout surfaces as httpx.ReadTimeout, not InferenceTimeoutError.
    with ChatCompletionsStub(replies=[StubReply(delay=5)]) as stub:
        llm = HuggingFaceEndpoint(endpoint_url=stub.url, max_new_tokens=8, timeout=1)
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            ChatHuggingFace(llm=llm).invoke("hi")
        assert time.monotonic() - started < 4
        closing = time.monotonic()
    assert time.monotonic() - closing < 2  # leaving the stub cuts the delay short


def test_stream_yields_word_chunks(hf_sandbox: Path) -> None:
    with ChatCompletionsStub(replies=["one two three"]) as stub:
        chunks = list(make_chat(stub.url).stream("hi"))
    texts = [chunk.content for chunk in chunks]
    assert "".join(texts) == "one two three"
    assert texts[:3] == ["one ", "two ", "three"]
    assert stub.requests[0].body["stream"] is True


def test_stream_usage_chunk(hf_sandbox: Path) -> None:
    with ChatCompletionsStub(replies=["one two three"]) as stub:
        chunks = list(make_chat(stub.url).stream("hi", stream_usage=True))
    usage = [chunk.usage_metadata for chunk in chunks if chunk.usage_metadata]
    assert usage == [{"input_tokens": 1, "output_tokens": 3, "total_tokens": 4}]
    assert stub.requests[0].body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("source", ["env", "stored-login"])
def test_hf_token_leak_is_observable(hf_sandbox: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """Documents current library behaviour: the HF token goes to ANY endpoint_url.

    langchain-huggingface passes ``api_key=None`` for non-HF hosts, but
    huggingface_hub's hf-inference helper falls back to ``get_token()``.
    If this test starts failing, the leak was fixed upstream.
    """
    if source == "env":
        monkeypatch.setenv("HF_TOKEN", "hf_test_secret")
    else:
        hf_sandbox.parent.mkdir(parents=True)
        hf_sandbox.write_text("hf_test_secret")
    with ChatCompletionsStub(replies=["leaky"]) as stub:
        assert make_chat(stub.url).invoke("hi").content == "leaky"
    assert stub.requests[0].headers["authorization"] == "Bearer hf_test_secret"


def test_hf_hub_disable_implicit_token_does_not_stop_the_leak(
    hf_sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test_secret")
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)
    with ChatCompletionsStub() as stub:
        make_chat(stub.url).invoke("hi")
    assert stub.requests[0].headers["authorization"] == "Bearer hf_test_secret"


def test_token_free_construction_sends_no_authorization(
    hf_sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test_secret")
    hf_sandbox.parent.mkdir(parents=True)
    hf_sandbox.write_text("hf_stored_secret")
    with ChatCompletionsStub(replies=["safe"]) as stub:
        chat = make_token_free_chat(stub.url)
        assert chat.invoke("hi").content == "safe"
        assert asyncio.run(chat.ainvoke("hi")).content == "safe"
        assert "".join(str(chunk.content) for chunk in chat.stream("hi")) == "safe"
    assert len(stub.requests) == 3
    assert all("authorization" not in request.headers for request in stub.requests)
    assert {request.body["model"] for request in stub.requests} == {"local-test"}


def test_hf_hub_offline_blocks_the_hub_but_not_an_explicit_endpoint(hf_sandbox: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE=1 (huggingface_hub's own switch) would break calls to ANY endpoint_url, even 127.0.0.1;
    the app's client (graph.llm) applies it to Hugging Face hosts only."""
    from graph.context import Context
    from graph.llm import get_chat_model

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with ChatCompletionsStub(replies=["local answer"]) as stub:
        chat = get_chat_model(Context(endpoint_url=stub.url, model="served"))
        assert chat.invoke("hi").content == "local answer" and len(stub.requests) == 1
    hub = get_chat_model(Context(endpoint_url="https://router.huggingface.co/v1", model="m"))
    with pytest.raises(OfflineModeIsEnabled):
        hub.invoke("hi")


def test_raw_sse_stream() -> None:
    with ChatCompletionsStub(replies=["streamed reply"]) as stub:
        request = post_json(
            f"{stub.url}/chat/completions",
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi there"}],
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            content_type = response.headers["Content-Type"]
            raw = response.read().decode()

    assert content_type == "text/event-stream"
    events = [block for block in raw.split("\n\n") if block]
    assert all(event.startswith("data: ") for event in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "streamed reply"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 2,
        "completion_tokens": 2,
        "total_tokens": 4,
    }


def test_raw_completion_shape_and_path_variants() -> None:
    with ChatCompletionsStub(replies=["a", "b", "c"]) as stub:
        paths = ["/chat/completions", "/chat/completions/", "/v1/chat/completions/"]
        base = stub.url.removesuffix("/v1")
        bodies = [read_json(post_json(base + path, {"messages": []})) for path in paths]

    assert [body["choices"][0]["message"]["content"] for body in bodies] == [
        "a",
        "b",
        "c",
    ]
    body = bodies[0]
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int)
    assert body["model"] == "stub-model"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert [request.path for request in stub.requests] == paths


def test_replies_in_order_then_last_repeats() -> None:
    replies = ["first", StubReply(content="second"), StubReply(status=503)]
    with ChatCompletionsStub(replies=replies) as stub:
        url = f"{stub.url}/chat/completions"
        for expected in ("first", "second"):
            body = read_json(post_json(url, {"messages": []}))
            assert body["choices"][0]["message"]["content"] == expected
        for _ in range(2):
            with pytest.raises(urllib.error.HTTPError) as excinfo:
                read_json(post_json(url, {"messages": []}))
            assert excinfo.value.code == 503
            assert json.load(excinfo.value)["error"]["code"] == 503


def test_error_reply_with_custom_body_and_headers() -> None:
    reply = StubReply(status=429, body={"error": "slow down"}, headers={"Retry-After": "7"})
    with ChatCompletionsStub(replies=[reply, StubReply(status=502, body="upstream down")]) as stub:
        url = f"{stub.url}/chat/completions"
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            read_json(post_json(url, {"messages": []}))
        assert excinfo.value.code == 429
        assert excinfo.value.headers["Retry-After"] == "7"
        assert json.load(excinfo.value) == {"error": "slow down"}

        with pytest.raises(urllib.error.HTTPError) as excinfo:
            read_json(post_json(url, {"messages": []}))
        assert excinfo.value.code == 502
        assert excinfo.value.read() == b"upstream down"


def test_delay_is_applied() -> None:
    with ChatCompletionsStub(replies=[StubReply(content="late", delay=0.3)]) as stub:
        started = time.monotonic()
        body = read_json(post_json(f"{stub.url}/chat/completions", {"messages": []}))
    assert time.monotonic() - started >= 0.3
    assert body["choices"][0]["message"]["content"] == "late"


def test_models_404_and_recording() -> None:
    with ChatCompletionsStub() as stub:
        models = read_json(f"{stub.url}/models")
        with pytest.raises(urllib.error.HTTPError) as get_404:
            read_json(f"{stub.url}/nope")
        with pytest.raises(urllib.error.HTTPError) as post_404:
            read_json(post_json(f"{stub.url}/completions", {"prompt": "x"}))
        with pytest.raises(urllib.error.HTTPError) as bad_json:
            read_json(urllib.request.Request(f"{stub.url}/chat/completions", data=b"{", method="POST"))

    assert models["object"] == "list"
    assert models["data"][0]["id"] == "stub-model"
    assert get_404.value.code == post_404.value.code == 404
    assert "error" in json.load(get_404.value)
    assert bad_json.value.code == 400
    assert [(r.path, r.body) for r in stub.requests] == [
        ("/v1/models", {}),
        ("/v1/nope", {}),
        ("/v1/completions", {"prompt": "x"}),
        ("/v1/chat/completions", {}),
    ]
    assert stub.requests[2].headers["content-type"] == "application/json"


def test_url_requires_running_stub_and_replies_must_not_be_empty() -> None:
    stub = ChatCompletionsStub()
    with pytest.raises(RuntimeError):
        _ = stub.url
    with pytest.raises(ValueError, match="at least one"):
        ChatCompletionsStub(replies=[])
