"""Choosing the model by one setting string, and keeping HF_TOKEN for Hugging Face hosts."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from graph import graph
from graph.context import Context
from graph.llm import choose_provider, describe_model, get_chat_model, is_hf_host, reason, redact
from tests.conftest import SAMPLE


@pytest.mark.parametrize(("settings", "token", "expected"), [
    ({}, False, ("none", "", "")),
    ({}, True, ("none", "", "")),  # a token alone asks for nothing: no sweep facts leave the machine
    ({"model": "hf:"}, True, ("huggingface", "meta-llama/Llama-3.1-8B-Instruct", "")),
    ({"endpoint_url": "http://127.0.0.1:8080/v1"}, True, ("openai", "", "http://127.0.0.1:8080/v1")),
    ({"model": "hf:Qwen/Qwen2.5-7B-Instruct"}, True, ("huggingface", "Qwen/Qwen2.5-7B-Instruct", "")),
    ({"model": "Qwen/Qwen2.5-7B-Instruct"}, False, ("none", "", "")),
    ({"model": "none"}, True, ("none", "", "")),
    ({"offline": True, "model": "openai:http://127.0.0.1:8000/v1"}, True, ("none", "", "")),
    ({"model": "openai:http://127.0.0.1:8000/v1"}, True, ("openai", "", "http://127.0.0.1:8000/v1")),
    ({"model": "openai:llama3.1:8b@http://127.0.0.1:11434/v1"}, False,
     ("openai", "llama3.1:8b", "http://127.0.0.1:11434/v1")),
    ({"model": "http://127.0.0.1:8080"}, False, ("openai", "", "http://127.0.0.1:8080")),
    ({"endpoint_url": "http://127.0.0.1:8080/v1", "model": "served"}, False,
     ("openai", "served", "http://127.0.0.1:8080/v1")),
])
def test_one_setting_string_chooses_the_provider(monkeypatch, settings, token, expected):
    if token:
        monkeypatch.setenv("HF_TOKEN", "hf_x")
    choice = choose_provider(Context(**settings))
    assert (choice.provider, choice.name, choice.url) == expected


def test_the_model_setting_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("MODEL", "openai:tiny@http://127.0.0.1:9/v1")
    monkeypatch.setenv("HPATH_LLM_TIMEOUT", "2.5")
    monkeypatch.setenv("HPATH_PROMPT_TOKENS", "3000")
    ctx = Context()
    assert (ctx.model, ctx.llm_timeout, ctx.prompt_token_budget) == ("openai:tiny@http://127.0.0.1:9/v1", 2.5, 3000)
    assert describe_model(ctx) == "tiny (OpenAI-compatible server at http://127.0.0.1:9/v1)"


def test_a_model_passed_in_code_is_used_as_is():
    model = GenericFakeChatModel(messages=iter([AIMessage(content='{"patterns": []}'),
                                                AIMessage(content="Trial 2 failed.")]))
    ctx = Context(chat_model=model)
    assert choose_provider(ctx).provider == "code" and get_chat_model(ctx) is model
    out = graph.invoke({"results_path": str(SAMPLE)}, context=ctx)
    assert "Trial 2 failed." in out["report"]
    assert out["summary"]["writer"]["author"] == "GenericFakeChatModel"


@pytest.mark.parametrize(("url", "hf"), [
    ("https://router.huggingface.co/v1", True), ("https://huggingface.co", True),
    ("https://abc.us-east-1.aws.endpoints.huggingface.cloud/v1", True), ("https://me-space.hf.space", False),
    ("http://127.0.0.1:8080/v1", False), ("https://huggingface.co.evil.example/v1", False),
    ("https://evil.example/huggingface.co", False), ("http://localhost:11434/v1", False),
])
def test_hf_hosts(url, hf):
    assert is_hf_host(url) is hf


def test_a_local_endpoint_never_gets_the_token_header(hf_sandbox: Path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123456")
    chat = get_chat_model(Context(model="openai:srv@http://127.0.0.1:9/v1"))
    assert chat.llm.server_kwargs == {"headers": {"authorization": None}}
    assert chat.model_id == "srv"


def test_the_hf_router_client_is_built_without_network(hf_sandbox: Path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123456")
    chat = get_chat_model(Context(model="hf:org/model"))
    assert chat.llm.repo_id == "org/model" and chat.llm.provider == "auto"
    assert "hf_secret_value_123456" not in repr(describe_model(Context(model="hf:org/model")))


def test_redaction(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnop")
    text = "failed hf_abcdefghijklmnop Bearer abc.def hf_zzzzzzzzzzzz http://user:pw@host:1/v1"
    assert redact(text) == "failed *** Bearer *** hf_*** http://***@host:1/v1"
    assert reason(RuntimeError("x hf_abcdefghijklmnop\nsecond line")) == "RuntimeError: x ***"
