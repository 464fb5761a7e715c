"""The one seam between the graph and a chat model.

No LLM client is imported until a model is actually needed, so the offline path
never loads ``langchain_huggingface``. Tests replace :func:`get_chat_model`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from graph.context import Context

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def describe_model(context: Context) -> str | None:
    """Which model a run will use, in words, or None for the deterministic path."""
    if context.offline:
        return None
    if context.endpoint_url:
        return f"OpenAI-compatible server at {context.endpoint_url}"
    if os.environ.get("HF_TOKEN"):
        return context.model
    return None


def get_chat_model(context: Context) -> BaseChatModel | None:
    """The chat model for this run, or None when the deterministic path applies.

    - ``offline``: None.
    - ``endpoint_url`` set: that OpenAI-compatible server; ``HF_TOKEN`` is never
      sent to it.
    - ``HF_TOKEN`` set: ``context.model`` through the Hugging Face router.
    - otherwise None.
    """
    if describe_model(context) is None:
        return None
    from langchain_huggingface import ChatHuggingFace, HuggingFaceEndpoint

    if context.endpoint_url:
        endpoint = HuggingFaceEndpoint(
            endpoint_url=context.endpoint_url,
            max_new_tokens=1024,
            temperature=0.2,
            timeout=int(context.llm_timeout),
            # huggingface_hub adds "authorization: Bearer <HF_TOKEN or stored login token>"
            # for ANY url; a None-valued header of ours replaces it and is then dropped, so
            # nothing is sent. The key must be lower-case (tests/test_llm_http.py guards it).
            server_kwargs={"headers": {"authorization": None}},
        )
        chat = ChatHuggingFace(llm=endpoint)
        chat.model_id = context.model  # the request's "model" (else "dummy"); vLLM checks it
        return chat
    endpoint = HuggingFaceEndpoint(
        repo_id=context.model,
        provider="auto",
        huggingfacehub_api_token=os.environ["HF_TOKEN"],
        max_new_tokens=1024,
        temperature=0.2,
        timeout=int(context.llm_timeout),
    )
    return ChatHuggingFace(llm=endpoint)
