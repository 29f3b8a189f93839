"""The chat-model answerer: a LangChain chat model writes the answer, then its citations are checked.

The model sees the retrieved passages numbered [1]..[k] and must end every sentence with the [n] of
the passages that support it. Its tokens stream out as they come; then every sentence is checked
against the passages it cites (answer/support.py). A citation stands only when a sentence (or two
adjacent sentences) of the cited passage supports the claim, and that passage text becomes the
citation's verbatim quote. Sentences left without a standing citation are dropped, so the final
Answer's text can differ from the streamed text: UIs replace what they streamed with Answer.text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from langchain_core.exceptions import ModelConnectionError, ModelTimeoutError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from assistant.answer.base import ABSTENTION_REPLY
from assistant.answer.support import coverage, supports
from assistant.errors import AssistantError, BackendError, UsageError
from assistant.index.snapshot import Snapshot
from assistant.ingest.chunk import split_sentences
from assistant.retrieval.query import Query
from assistant.settings import Settings
from assistant.types import Answer, Citation, ScoredChunk

if TYPE_CHECKING:
    import numpy as np

SYSTEM_PROMPT = f"""You answer questions about news reports on the Russia-Ukraine war.
Answer ONLY from the numbered passages the user gives you; use no other knowledge.
- End every sentence with the number of the passage(s) that support it, like [1] or [1][3].
- Quote the passages or paraphrase them closely; keep names, numbers and dates as written.
- Attribute contested claims to their source ("Russian-appointed officials claim ...", "Kyiv says ...").
- Be brief: a few sentences.
If the passages do not answer the question, reply exactly with: {ABSTENTION_REPLY}"""
PASSAGE_TEMPLATE = "[{n}] {title}{date}\n{text}"
EARLIER_TURN_TEMPLATE = "This question follows up on an earlier one: {context}\n"
USER_TEMPLATE = "Passages:\n\n{passages}\n\n{earlier}Question: {question}"

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+")
_GLUED_MARKER = re.compile(r"([.!?])(\[\d)")  # "Istanbul.[1] Next" -> "Istanbul. [1] Next"
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?])")
_THINKING = re.compile(r"<think>.*?</think>", re.S)  # reasoning models (qwen3, deepseek-r1) think aloud first
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


def build_messages(query: Query, passages: list[ScoredChunk]) -> list[BaseMessage]:
    """The system prompt and the user message: the numbered passages, then the question."""
    blocks = [
        PASSAGE_TEMPLATE.format(
            n=n, title=p.chunk.title, date=f" ({p.chunk.date})" if p.chunk.date else "", text=p.chunk.text.strip()
        )
        for n, p in enumerate(passages, start=1)
    ]
    earlier = EARLIER_TURN_TEMPLATE.format(context=query.context) if query.context else ""
    user = USER_TEMPLATE.format(passages="\n\n".join(blocks), earlier=earlier, question=query.question)
    return [SystemMessage(SYSTEM_PROMPT), HumanMessage(user)]


class ChatAnswerer:
    """Answers with a LangChain chat model; only citations that the passages support are shown."""

    def __init__(self, model: BaseChatModel, name: str | None = None) -> None:
        self.model = model
        label = getattr(model, "model_name", None) or getattr(model, "model", None)  # ChatOpenAI / ChatOllama
        self.name = name or str(label or type(model).__name__)

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatAnswerer:
        """The answerer for the chat model ASSISTANT_LLM names."""
        return cls(chat_model(settings.llm), name=settings.llm)

    def stream(
        self,
        query: Query,
        passages: Sequence[ScoredChunk],
        snapshot: Snapshot,
        query_vector: np.ndarray | None = None,
    ) -> Iterator[str | Answer]:
        """The model's text as it comes (str pieces), then the checked Answer, whose text is authoritative."""
        question, passages = query.question, list(passages)
        if not passages:  # nothing to answer from: no need to ask the model
            yield ABSTENTION_REPLY
            yield Answer(question, ABSTENTION_REPLY, (), True, ())
            return
        pieces: list[str] = []
        try:
            for chunk in self.model.stream(build_messages(query, passages)):
                if piece := str(chunk.text):
                    pieces.append(piece)
                    yield piece
        except AssistantError:
            raise
        except Exception as exc:  # whatever the provider's client raises, the user needs one clear line
            raise self._backend_error(exc) from exc
        yield check_citations(question, "".join(pieces), passages, snapshot)

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


@dataclass(frozen=True)
class _Quote:
    passage: ScoredChunk
    start: int  # offsets in the document text
    end: int
    text: str


def check_citations(question: str, reply: str, passages: list[ScoredChunk], snapshot: Snapshot) -> Answer:
    """The Answer a model's reply makes once every [n] is checked against passage n (see SUPPORT_CHECK).

    Sentences without a supported citation are dropped; citations are renumbered 1..N in order of
    first use, one per distinct quote; confidence is the share of the reply's sentences kept. A reply
    that holds the abstention phrase is an abstention, whatever else it says.
    """
    reply = _THINKING.sub("", reply)
    if _normalised(ABSTENTION_REPLY) in _normalised(reply):
        return Answer(question, ABSTENTION_REPLY, (), True, tuple(passages))
    sentences = _claims(reply)
    citations: dict[tuple[str, int, int], Citation] = {}
    kept: list[str] = []
    for claim, numbers in sentences:
        markers: list[int] = []
        for number in numbers:
            quote = _support(claim, passages[number - 1], snapshot) if 1 <= number <= len(passages) else None
            if quote is None:
                continue
            chunk = quote.passage.chunk
            key = (chunk.doc_id, quote.start, quote.end)
            if key not in citations:
                citations[key] = Citation.from_chunk(len(citations) + 1, chunk, quote.text, quote.start, quote.end)
            if citations[key].n not in markers:
                markers.append(citations[key].n)
        if markers:
            kept.append(claim + " " + "".join(f"[{n}]" for n in markers))
    if not kept:
        return Answer(question, ABSTENTION_REPLY, (), True, tuple(passages))
    confidence = len(kept) / len(sentences)
    return Answer(question, " ".join(kept), tuple(citations.values()), False, tuple(passages), confidence=confidence)


def _claims(reply: str) -> list[tuple[str, list[int]]]:
    """The reply's sentences, each as its text without markers and the passage numbers it cites."""
    text = _GLUED_MARKER.sub(r"\1 \2", reply)
    raw = [text[span.start : span.end] for span in split_sentences(text)]
    units: list[str] = []
    for sentence in raw:
        # A marker after the full stop ("Istanbul. [1] Both ...") opens the next span; it belongs to this one.
        leading = _LEADING_MARKERS.match(sentence)
        if leading and units:
            units[-1] += leading.group(0)
            sentence = sentence[leading.end() :]
        if sentence.strip():
            units.append(sentence)
    claims = []
    for unit in units:
        numbers = [int(n) for group in _MARKER.findall(unit) for n in re.split(r"\s*[,;]\s*", group)]
        claim = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(_MARKER.sub(" ", unit).split()))
        if claim.strip(" .,;:!?"):
            claims.append((claim, list(dict.fromkeys(numbers))))
    return claims


def _support(claim: str, passage: ScoredChunk, snapshot: Snapshot) -> _Quote | None:
    """The passage text that best supports a claim, or None when none does (answer/support.py)."""
    row = snapshot.row_of.get(passage.chunk.chunk_id)
    if row is None:
        return None
    chunk = passage.chunk
    context = f"{chunk.title} {chunk.date or ''} {chunk.text}"
    idf = snapshot.bm25.term_idf
    first, stop = (int(x) for x in snapshot.chunk_sentences[row])
    # A single sentence is the tighter quote; two adjacent ones serve when the claim joins them.
    for span in (1, 2):
        best: tuple[float, int, int] | None = None
        for low in range(first, stop - span + 1):
            start, end = int(snapshot.sentence_spans[low][0]), int(snapshot.sentence_spans[low + span - 1][1])
            score = coverage(claim, chunk.text[start - chunk.start : end - chunk.start], idf)
            if best is None or score > best[0]:
                best = (score, start, end)
        if best is not None:
            _, start, end = best
            quote = chunk.text[start - chunk.start : end - chunk.start]
            if supports(claim, quote, context, idf):
                return _Quote(passage, start, end, quote)
    return None


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


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
