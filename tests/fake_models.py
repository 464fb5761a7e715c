"""Fake chat models for the agent tests (langchain-core's fakes, routed by prompt).

``ScriptedChatModel`` answers the analyst, its repair round and the writer from three
separate scripts, so a test states what each role says regardless of call order. A
script item is a string (the reply), an exception (raised), or a callable
``prompt -> str``. The last item of a script repeats. Every call is logged as
``(role, prompt text)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

Item = str | Exception | Callable[[str], str]


def role_of(messages: list[BaseMessage]) -> str:
    """Which prompt of the graph this is: analyst, repair or writer."""
    first, last = str(messages[0].content), str(messages[-1].content)
    if "could not be used" in last:
        return "repair"
    return "analyst" if first.startswith("You are the analyst") else "writer"


def data_block(prompt: str) -> dict[str, Any]:
    """The JSON between <data> and </data> of a prompt."""
    return json.loads(prompt.split("<data>\n", 1)[1].split("\n</data>", 1)[0])


class ScriptedChatModel(FakeListChatModel):
    """A fake chat model whose replies depend on the prompt's role."""

    responses: list[str] = ["unused"]
    analyst: list[Any] = ['{"patterns": []}']
    repair: list[Any] = ['{"patterns": []}']
    writer: list[Any] = [""]
    log: list[tuple[str, str]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        role = role_of(messages)
        prompt = str(messages[-1].content) if role != "repair" else str(messages[0].content)
        n = sum(1 for r, _ in self.log if r == role)
        self.log.append((role, prompt))
        script = getattr(self, role)
        item = script[min(n, len(script) - 1)]
        if isinstance(item, Exception):
            raise item
        text = item(prompt) if callable(item) else item
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def roles(self) -> list[str]:
        """The roles called so far, in order."""
        return [r for r, _ in self.log]


def analyst_json(*patterns: dict[str, Any]) -> str:
    """An analyst reply with the given pattern drafts (defaults filled in)."""
    base = {"title": "", "issue_type": "", "condition": "", "evidence": [], "explanation": "",
            "recommendation": "", "hypothesis": False}
    return json.dumps({"patterns": [base | p for p in patterns]})
