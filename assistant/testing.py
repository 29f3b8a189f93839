"""Fakes that implement the real interfaces, for testing code built on the assistant: no model, no server.

    from assistant import Assistant
    from assistant.testing import FakeEmbeddings, scripted_chat_model
    assistant = Assistant(settings, chat_model=scripted_chat_model(["Talks were held in Istanbul [1]."]))
    assistant = Assistant(settings, embeddings=FakeEmbeddings())   # or ASSISTANT_EMBEDDING_MODEL=fake

The chat-model fakes are LangChain chat models and FakeEmbeddings is a LangChain Embeddings, so they
also drop into any LangChain chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from assistant.answer.base import ABSTENTION_REPLY
from assistant.index.embed_fake import FAKE_MODEL, FakeEmbeddings
from assistant.index.lexical import tokenize
from assistant.ingest.chunk import split_sentences

__test__ = False  # pytest: these are helpers, not tests
__all__ = [
    "FAKE_MODEL",
    "FailingChatModel",
    "FakeEmbeddings",
    "MisattributingChatModel",
    "QuotingChatModel",
    "quote_reply",
    "scripted_chat_model",
]

# A passage of the user message (prompts.PASSAGE_TEMPLATE): its fence, its Title line and the other lines of its
# head (Date, Publisher, Voice, Speakers), a blank line, its text.
_PASSAGE = re.compile(r'<passage n="(\d+)">\nTitle: [^\n]*\n(?:\w+: [^\n]*\n)*\n(.*?)\n</passage>', re.S)
_QUESTION = re.compile(r"\nQuestion: (.*)\Z", re.S)


def scripted_chat_model(replies: list[str]) -> BaseChatModel:
    """A chat model that gives these replies, one a call, streaming each word by word (spaces kept)."""
    return GenericFakeChatModel(messages=iter(replies))


class QuotingChatModel(BaseChatModel):
    """A faithful fake: it replies with the passage sentence that shares most words with the question,
    followed by that passage's [n], or with the abstention reply when no sentence shares a word."""

    @property
    def _llm_type(self) -> str:
        return "quoting-fake"

    def _reply(self, messages: list[BaseMessage]) -> str:
        return quote_reply(messages)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._reply(messages)))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for token in re.split(r"(\s)", self._reply(messages)):
            if token:
                if run_manager:
                    run_manager.on_llm_new_token(token)
                yield ChatGenerationChunk(message=AIMessageChunk(content=token))


def quote_reply(messages: list[BaseMessage]) -> str:
    """What QuotingChatModel says to a conversation whose last message lists passages and a question."""
    prompt = str(messages[-1].text) if messages else ""
    question = _QUESTION.search(prompt)
    wanted = set(tokenize(question.group(1))) if question else set()
    best: tuple[int, str, str] = (0, "", "")
    for match in _PASSAGE.finditer(prompt):
        number, text = match.group(1), match.group(2)
        for span in split_sentences(text):
            sentence = text[span.start : span.end]
            shared = len(wanted & set(tokenize(sentence)))
            if shared > best[0]:
                best = (shared, sentence, number)
    return f"{best[1]} [{best[2]}]" if best[0] else ABSTENTION_REPLY


class MisattributingChatModel(QuotingChatModel):
    """An unfaithful fake: it quotes as QuotingChatModel does, but puts the sentence in `speaker`'s mouth
    ("Zelensky said: <sentence> [n]"), whoever said it; for testing that such a sentence is not shown."""

    speaker: str

    @property
    def _llm_type(self) -> str:
        return "misattributing-fake"

    def _reply(self, messages: list[BaseMessage]) -> str:
        reply = quote_reply(messages)
        return reply if reply == ABSTENTION_REPLY else f"{self.speaker} said: {reply}"


class FailingChatModel(BaseChatModel):
    """A chat model whose every call raises `error`, e.g. ConnectionRefusedError(): for testing error paths."""

    error: Exception

    @property
    def _llm_type(self) -> str:
        return "failing-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise self.error
