"""The chat-model answerer: a LangChain chat model writes the answer from the retrieved passages.

The model sees the passages fenced as untrusted data and numbered [1]..[k], each with its date, voice and
speakers (prompts.py), and must end every sentence with the [n] of the passages that support it. Its reply
is checked sentence by sentence as it streams (citation_check.py): only a sentence whose cited passage
supports it, and whom it names as speaking, is shown, with the passage text it rests on as the citation's
verbatim quote; a sentence without one never appears. A reply that holds the abstention phrase ends as
the abstention, even after sentences were shown: UIs replace what they streamed with the final Answer's
text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from langchain_core.exceptions import ModelConnectionError, ModelTimeoutError
from langchain_core.language_models import BaseChatModel

from assistant.answer.base import ABSTENTION_REPLY
from assistant.answer.citation_check import CitationCheck
from assistant.answer.prompts import build_messages
from assistant.answer.speakers import SpeakerTable, speaker_table
from assistant.errors import AssistantError, BackendError, UsageError
from assistant.index.snapshot import Snapshot
from assistant.retrieval.query import Query
from assistant.settings import Settings
from assistant.types import Answer, ScoredChunk

if TYPE_CHECKING:
    import numpy as np

_CONNECTION_ERRORS = (ConnectionError, TimeoutError, httpx.TransportError, ModelConnectionError, ModelTimeoutError)
_START_HINTS = {
    "ollama": "start Ollama (`ollama serve`)",
    "openai": "check OPENAI_BASE_URL and that the server is running",
}


def chat_model(spec: str, **kwargs: Any) -> BaseChatModel:
    """The LangChain chat model a 'provider:model' string names (as init_chat_model resolves it).

    kwargs go to the model's class (e.g. temperature=0, timeout=30, max_retries=0).
    """
    provider, _, model = (part.strip() for part in spec.partition(":"))
    if not provider or not model:
        raise UsageError(
            f"The chat model '{spec}' is not of the form provider:model; set ASSISTANT_LLM to e.g. "
            "ollama:llama3.2 or openai:gpt-4o-mini, or to extractive."
        )
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(model, model_provider=provider, **kwargs)
    except ImportError as exc:
        found = re.search(r"requires the (\S+) package", str(exc))
        package = found.group(1) if found else f"langchain-{provider}"
        raise UsageError(
            f"The chat model '{spec}' needs the package {package}; run `pip install {package}` "
            "(`pip install 'conflict-corpus-assistant[llm]'` adds Ollama and OpenAI)."
        ) from exc
    except ValueError as exc:
        if str(exc).startswith("Unsupported provider"):
            supported = str(exc).rsplit(":", 1)[-1].strip()
            raise UsageError(f"Unknown chat-model provider '{provider}' in '{spec}'; use one of: {supported}.") from exc
        raise UsageError(f"Cannot set up the chat model '{spec}' ({_reason(exc)}); check ASSISTANT_LLM.") from exc
    except Exception as exc:  # e.g. the OpenAI client refuses to start without an API key
        raise UsageError(
            f"Cannot set up the chat model '{spec}' ({_reason(exc)}); check the provider's settings "
            "(e.g. OPENAI_API_KEY, OPENAI_BASE_URL) or set ASSISTANT_LLM=extractive."
        ) from exc


class ChatAnswerer:
    """Answers with a LangChain chat model; only citations that the passages support are shown."""

    def __init__(self, model: BaseChatModel, name: str | None = None, speakers: SpeakerTable | None = None) -> None:
        """speakers: the table of who speaks for whom that the prompt and the check use (default: the bundled one;
        Assistant passes its corpus's)."""
        self.model = model
        label = getattr(model, "model_name", None) or getattr(model, "model", None)  # ChatOpenAI / ChatOllama
        self.name = name or str(label or type(model).__name__)
        self.speakers = speakers or speaker_table()

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatAnswerer:
        """The answerer for the chat model ASSISTANT_LLM names, with the corpus's speaker table."""
        return cls(chat_model(settings.llm), name=settings.llm, speakers=speaker_table(settings.corpus_dir))

    def stream(
        self,
        query: Query,
        passages: Sequence[ScoredChunk],
        snapshot: Snapshot,
        query_vector: np.ndarray | None = None,
    ) -> Iterator[str | Answer]:
        """The sentences of the model's reply that pass the citation check, each as soon as it is complete,
        then the checked Answer, whose text is authoritative."""
        question, passages = query.question, list(passages)
        if not passages:  # nothing to answer from: no need to ask the model
            yield ABSTENTION_REPLY
            yield Answer(question, ABSTENTION_REPLY, (), True, (), supported_share=0.0)
            return
        check = CitationCheck(passages, snapshot, self.speakers)
        try:
            for chunk in self.model.stream(build_messages(query, passages, self.speakers)):
                if piece := str(chunk.text):
                    yield from check.feed(piece)  # the sentences this piece completed that stand, if any
        except AssistantError:
            raise
        except Exception as exc:  # whatever the provider's client raises, the user needs one clear line
            raise self._backend_error(exc) from exc
        yield from check.finish()
        answer = check.answer(question)
        if answer.abstained and not check.kept:
            yield ABSTENTION_REPLY
        yield answer

    def _backend_error(self, exc: Exception) -> BackendError:
        if _is_connection_error(exc):
            hint = _START_HINTS.get(self.name.split(":", 1)[0], "check that its server is running and reachable")
            return BackendError(
                f"The chat model {self.name} is unreachable ({_reason(exc)}); {hint} or set ASSISTANT_LLM=extractive."
            )
        return BackendError(
            f"The chat model {self.name} failed ({_reason(exc)}); check the model name and credentials "
            "or set ASSISTANT_LLM=extractive."
        )


def _is_connection_error(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:  # the cause chain: clients wrap the socket error they got
        if isinstance(exc, _CONNECTION_ERRORS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
