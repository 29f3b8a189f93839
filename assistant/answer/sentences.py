"""The sentences that could answer a question, each described by signals that mean the same on any corpus.

The extractive answerer picks among the sentences of the retrieved passages. Each candidate carries
the signals below (similarities, shares and flags in [0, 1] or small ranges, none of them counts that
grow with the corpus), so that the models weighing them (models.py), fitted on one labelled corpus,
carry over to another.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.index.lexical import tokenize
from assistant.index.snapshot import Snapshot
from assistant.retrieval.query import CONTEXT_WEIGHT, Query, QueryTerm, coverage
from assistant.retrieval.question_kind import holds_new, new_items
from assistant.retrieval.timeframe import recency
from assistant.types import ScoredChunk

# Source of these four: not measured on their own; the sentence model (models.json) was fitted on the signals
# they shape, so changing one means refitting it (eval/fit_models.py).
_SUBJECT_WORDS = 3  # a sentence "opens with" a name within its first this many content words
_MIN_WORDS = 4  # shorter "sentences" are headings and captions ("Starbucks"), not claims
_LEDE_SENTENCES = 3  # a news story's first sentences say what happened
# A document this many days older than the newest one weighs 1/e as much for the sentence's recency signal:
# longer than retrieval's (settings.recency_days, 90) because the signal compares sentences of documents
# already retrieved, over a corpus's whole span.
RECENCY_DAYS = 365.0

# The signals of a candidate sentence, in the order the models list their weights.
SIGNALS = (
    "similarity",  # cosine between the sentence's and the question's embeddings
    "coverage",  # IDF-weighted share of the question's words the sentence holds (an alias counts half)
    "focus",  # the same share for the asking part of a question that opens with background ("... Who won?")
    "names",  # share of the question's names (capitalised words, acronyms) the sentence holds
    "opens_with_name",  # 1 when the sentence opens with one of those names: it is about them
    "kind",  # +1 holds a new answer of the kind asked for (a number for "how many"), -1 lacks one, 0 none asked
    "new_name",  # 1 when it holds a name (a capitalised word) the question does not
    "new_number",  # 1 when it holds a number the question does not
    "novelty",  # share of the sentence's words the question does not have: an answer adds something
    "passage",  # its passage's retrieval score relative to the best passage's
    "lede",  # 1 when it is among the first sentences of its document
    "length",  # log of its number of words
    "recency",  # exp(-age / RECENCY_DAYS), age in days before the newest document dated by as_of; 0.5 undated
    #             among dated ones, 1 when no document is dated
    "in_frame",  # 1 when its document is dated within the time the question names ("this week")
    "similarity_gap",  # its similarity minus the best similarity among the candidates (0 for the best)
    "coverage_gap",  # its coverage minus the best coverage among the candidates
)


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, with the signals the answerer weighs."""

    passage: ScoredChunk
    sentence: int  # row in the snapshot's sentence table; neighbours in a document are adjacent rows
    start: int  # offsets in the document text
    end: int
    text: str
    signals: dict[str, float] = field(default_factory=dict)
    answers: frozenset[str] = frozenset()  # what in it could answer (numbers, names ... of the kind asked) and is new
    score: float = 0.0  # the sentence model's score: higher is likelier to hold the answer

    @property
    def similarity(self) -> float:
        return self.signals["similarity"]

    @property
    def coverage(self) -> float:
        return self.signals["coverage"]


def candidates(
    query: Query, query_vector: np.ndarray, passages: Sequence[ScoredChunk], snapshot: Snapshot
) -> list[Candidate]:
    """Every claim-like sentence of the passages (each once, under its best-ranked passage), with its signals."""
    terms = list(query.terms)
    own = {t.term for t in terms}
    context_terms = [t for t in query.context_terms if t.term not in own]
    weights = {t.term: snapshot.bm25.term_idf(t.term) for t in terms}
    # A follow-up's earlier question counts less, as in retrieval; it matters most when the follow-up
    # itself says little ("What did they achieve?").
    weights.update({t.term: CONTEXT_WEIGHT * snapshot.bm25.term_idf(t.term) for t in context_terms})

    def weight(term: QueryTerm) -> float:
        return weights[term.term]

    names = query.names
    asked = own | {alias for t in terms for alias in t.aliases}
    kind = query.kind
    top_score = max((p.score for p in passages), default=0.0) or 1.0
    # Age counts from the newest document the question could see, not from as_of itself, so a corpus that
    # ends a year before today scores its latest news as recent: the signal means the same on every corpus.
    newest = snapshot.latest_date(query.as_of) if query.as_of is not None else None
    seen: set[int] = set()
    found: list[Candidate] = []
    for passage in passages:
        row = snapshot.row_of.get(passage.chunk.chunk_id)
        if row is None:
            continue
        recency = _recency(passage.chunk.date, newest)
        in_frame = float(_in_frame(passage.chunk.date, query))
        doc_first = snapshot.first_sentence_of(passage.chunk.doc_id)
        first, stop = (int(x) for x in snapshot.chunk_sentences[row])
        similarities = np.asarray(snapshot.sentence_vectors[first:stop], dtype=np.float32) @ query_vector
        for sentence in range(first, stop):
            if sentence in seen:
                continue
            seen.add(sentence)
            text = snapshot.sentence_text(row, sentence)
            if not is_claim(text, passage.chunk.title):
                continue
            start, end = (int(x) for x in snapshot.sentence_spans[sentence])
            tokens = tokenize(text)
            token_set = set(tokens)
            signals = {
                "similarity": float(similarities[sentence - first]),
                "coverage": coverage(terms + context_terms, token_set, weight),
                "focus": coverage(query.focus_terms, token_set, weight),
                "names": sum(n.found_in(token_set) for n in names) / len(names) if names else 1.0,
                "opens_with_name": float(bool(names) and _opens_with(tokens, names)),
                "kind": 0.0 if kind is None else (1.0 if holds_new(text, kind, query.question) else -1.0),
                "new_name": float(holds_new(text, "name", query.question)),
                "new_number": float(holds_new(text, "number", query.question)),
                "novelty": len(token_set - asked) / len(token_set) if token_set else 0.0,
                "passage": max(0.0, passage.score) / top_score,
                "lede": float(sentence - doc_first < _LEDE_SENTENCES),
                "length": math.log(len(text.split())),
                "recency": recency,
                "in_frame": in_frame,
            }
            answers = frozenset(new_items(text, kind, query.question)) if kind else frozenset()
            found.append(Candidate(passage, sentence, start, end, text, signals, answers))
    for name in ("similarity", "coverage"):
        best = max((c.signals[name] for c in found), default=0.0)
        for candidate in found:
            candidate.signals[f"{name}_gap"] = candidate.signals[name] - best
    return found


def is_claim(text: str, title: str) -> bool:
    """Whether a sentence can answer: not the headline, not a question, not a label of a few words."""
    stripped = text.strip()
    return (
        stripped != title.strip() and not stripped.rstrip("\"”’'").endswith("?") and len(stripped.split()) >= _MIN_WORDS
    )


def _recency(date: str | None, newest: dt.date | None) -> float:
    if newest is None:
        return 1.0  # no document the question can see is dated: all count as current, none is older
    if not date:
        return 0.5
    return recency(_day(date), newest, RECENCY_DAYS)


def _in_frame(date: str | None, query: Query) -> bool:
    return bool(date and query.frame and query.frame.contains(_day(date)))


def _day(date: str) -> dt.date:
    return dt.date.fromisoformat(date[:10])


def _opens_with(tokens: list[str], names: list[QueryTerm]) -> bool:
    opening = set(tokens[:_SUBJECT_WORDS])
    return any(name.found_in(opening) for name in names)


def names_found(query: Query, passages: Sequence[ScoredChunk]) -> float:
    """The share of the question's names (China, Wadephul, NATO) that the passages mention."""
    names = query.names
    if not names:
        return 1.0
    tokens: set[str] = set()
    for passage in passages:
        tokens.update(tokenize(f"{passage.chunk.title} {passage.chunk.text}"))
    return sum(1.0 for name in names if name.found_in(tokens)) / len(names)


_PRONOUN_START = re.compile(r"^[\"“']?(he|she|they|it|this|these|those|that|his|her|their|its|such)\b", re.IGNORECASE)


def leans_back(text: str) -> bool:
    """Whether a sentence starts by pointing back ("He", "This") and is unclear alone."""
    return bool(_PRONOUN_START.match(text))
