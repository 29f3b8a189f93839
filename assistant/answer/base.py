"""What every answerer is: retrieved passages in, answer text as it is composed, then the finished Answer.

The Assistant retrieves, then hands the passages to one answerer (extractive.py quotes the corpus,
chat.py asks a chat model). A new way of answering is one new module with a class that has `name`
and `stream`; pass an instance as `Assistant(settings, answerer=...)`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from assistant.index.snapshot import Snapshot
    from assistant.retrieval.query import Query
    from assistant.types import Answer, ScoredChunk

# The reply when the corpus does not answer; code and tests compare answers with it.
ABSTENTION_REPLY = "The corpus does not answer this question: none of the passages I found says."
# After an abstention, an answerer that scores sentences gives this many that came closest (Answer.nearest),
# so that a reader can judge whether one of them says it in other words.
NEAREST_SHOWN = 3


class Answerer(Protocol):
    """Answers a question from the passages retrieved for it."""

    name: str  # what results and the UI call this answerer: "extractive", or the chat model's name

    def stream(
        self,
        query: Query,
        passages: Sequence[ScoredChunk],
        snapshot: Snapshot,
        query_vector: np.ndarray | None = None,
    ) -> Iterator[str | Answer]:
        """The answer's text in pieces as it is composed, then the Answer, whose text is authoritative.

        passages: the retrieved chunks, best first, numbered [1].. in that order; snapshot: the index they
        came from (sentence offsets, vectors, term statistics); query_vector: the question's embedding
        when retrieval has computed it already. Timings are the Assistant's to fill in.
        """
        ...


def pieces(text: str, words: int = 4) -> Iterator[str]:
    """A finished text a few words at a time, as a chat shows it being written."""
    split = text.split(" ")
    for start in range(0, len(split), words):
        yield " ".join(split[start : start + words]) + (" " if start + words < len(split) else "")
