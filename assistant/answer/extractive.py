"""Retrieved chunks -> an Answer: the extractive answerer, abstention, and citations.

The extractive answerer needs no language model. It scores every sentence of the retrieved chunks
against the question (embedding similarity, plus the share of the question's words the sentence
holds), quotes the best few verbatim with an [n] citation each, and abstains when the evidence does
not answer the question. Every claim is a quote, so every claim is supported by construction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.answer.base import ABSTENTION_REPLY, pieces
from assistant.answer.question_kind import expected_type, has_type
from assistant.index.embed import SentenceEmbeddings
from assistant.index.lexical import tokenize
from assistant.index.snapshot import Snapshot
from assistant.retrieval.query import ALIAS_WEIGHT, CONTEXT_WEIGHT, Query, QueryTerm, query_terms
from assistant.settings import Settings
from assistant.types import Answer, Citation, ScoredChunk

# Sentence score = similarity + COVERAGE_WEIGHT * coverage
# + SUBJECT_WEIGHT when the sentence is about a name of the question (it opens with it)
# + TYPE_WEIGHT when it holds the kind of answer asked for (a number for "how many").
# The passage's rank adds nothing: measured, it only pulled answers towards the top chunk's weaker sentences.
COVERAGE_WEIGHT = 0.35
SUBJECT_WEIGHT = 0.06
TYPE_WEIGHT = 0.08
_SUBJECT_WORDS = 3
_MIN_WORDS = 4  # shorter "sentences" are headings and captions ("Starbucks"), not claims
# A further sentence joins the answer when its score is within this margin of the best one.
ANSWER_MARGIN = 0.12
# Two sentences that share this much of their words say the same thing; the answer keeps one.
REDUNDANT_OVERLAP = 0.6
# The abstention model: answerability = sigmoid(bias + sum of weight * signal) over the signals of the
# best sentence. Fitted on labelled answerable and unanswerable questions by eval/fit_abstention.py;
# eval/README.md records the data and the result.
ABSTENTION_MODEL: dict[str, float] = {
    "bias": -3.634,
    "similarity": 1.587,
    "coverage": 3.060,
    "names_found": 1.712,
}


@dataclass(frozen=True)
class Evidence:
    """A sentence of a retrieved chunk, scored as an answer to the question."""

    passage: ScoredChunk
    sentence: int  # row in the snapshot's sentence table; neighbours in a document are adjacent rows
    start: int  # offsets in the document text
    end: int
    text: str
    similarity: float
    coverage: float
    type_match: bool
    score: float


@dataclass(frozen=True)
class Selection:
    """The sentences chosen to answer, and how sure the abstention model is that they do."""

    sentences: list[Evidence]
    answerability: float
    signals: dict[str, float]  # what the abstention model saw


class ExtractiveAnswerer:
    """Quotes the sentences of the passages that answer the question, each with its [n]; or abstains."""

    name = "extractive"

    def __init__(self, embeddings: SentenceEmbeddings, max_sentences: int = 3, abstain_below: float = 0.5) -> None:
        self.embeddings = embeddings
        self.max_sentences = max_sentences
        self.abstain_below = abstain_below

    @classmethod
    def from_settings(cls, settings: Settings, embeddings: SentenceEmbeddings) -> ExtractiveAnswerer:
        """The answerer with the settings' sentence limit and abstention threshold."""
        return cls(embeddings, settings.max_answer_sentences, settings.abstain_below)

    def stream(
        self,
        query: Query,
        passages: Sequence[ScoredChunk],
        snapshot: Snapshot,
        query_vector: np.ndarray | None = None,
    ) -> Iterator[str | Answer]:
        """The answer a few words at a time, then the Answer (see the Answerer protocol in base.py)."""
        passages = list(passages)
        if query_vector is None:
            query_vector = self.embeddings.encode_query(query.text)
        # A follow-up's sentences are judged half on its own words, half with the earlier turn: "What did
        # they achieve?" needs the turn before, "And what does Ukraine want?" must not drift back to Russia.
        sentence_vector = query_vector
        if query.context:
            sentence_vector = (self.embeddings.encode_query(query.question) + query_vector) / 2
        selection = select(query, sentence_vector, passages, snapshot, self.max_sentences)
        abstained = not selection.sentences or selection.answerability < self.abstain_below
        text, citations = (ABSTENTION_REPLY, ()) if abstained else cite(selection.sentences)
        yield from pieces(text)
        yield Answer(
            query.question,
            text,
            citations,
            abstained,
            tuple(passages),
            confidence=selection.answerability,
            signals=selection.signals,
        )


def score_sentences(
    query: Query, query_vector: np.ndarray, passages: list[ScoredChunk], snapshot: Snapshot
) -> list[Evidence]:
    """Every sentence of the passages (each once, under its best-ranked passage), scored."""
    terms = query_terms(query.question)
    context_terms = [t for t in query_terms(query.context) if t.term not in {q.term for q in terms}]
    weights = {t.term: snapshot.bm25.term_idf(t.term) for t in terms}
    # A follow-up's earlier question counts less, as in retrieval; it matters most when the follow-up
    # itself says little ("What did they achieve?").
    weights.update({t.term: CONTEXT_WEIGHT * snapshot.bm25.term_idf(t.term) for t in context_terms})
    names = [t for t in terms if t.is_name]
    kind = expected_type(query.question)
    seen: set[int] = set()
    scored: list[Evidence] = []
    for passage in passages:
        row = snapshot.row_of.get(passage.chunk.chunk_id)
        if row is None:
            continue
        first, stop = (int(x) for x in snapshot.chunk_sentences[row])
        for sentence in range(first, stop):
            if sentence in seen:
                continue
            seen.add(sentence)
            text = snapshot.sentence_text(row, sentence)
            if not _is_claim(text, passage.chunk.title):
                continue
            start, end = (int(x) for x in snapshot.sentence_spans[sentence])
            similarity = float(np.asarray(snapshot.sentence_vectors[sentence], dtype=np.float32) @ query_vector)
            tokens = set(tokenize(text))
            coverage = _coverage(terms + context_terms, tokens, weights)
            type_match = has_type(text, kind, query.question)
            score = similarity + COVERAGE_WEIGHT * coverage
            if names and _opens_with(text, names):
                score += SUBJECT_WEIGHT
            if kind and type_match:
                score += TYPE_WEIGHT
            scored.append(Evidence(passage, sentence, start, end, text, similarity, coverage, type_match, score))
    return scored


def _is_claim(text: str, title: str) -> bool:
    """Whether a sentence can answer: not the headline, not a question, not a label of a few words."""
    stripped = text.strip()
    return (
        stripped != title.strip() and not stripped.rstrip("\"”’'").endswith("?") and len(stripped.split()) >= _MIN_WORDS
    )


def _coverage(terms: list[QueryTerm], tokens: set[str], weights: dict[str, float]) -> float:
    """The IDF-weighted share of terms a sentence holds; an alias counts ALIAS_WEIGHT."""
    total = sum(weights[t.term] for t in terms)
    if not total:
        return 0.0
    found = sum(weights[t.term] * _match(t, tokens) for t in terms)
    return found / total


def _opens_with(text: str, names: list[QueryTerm]) -> bool:
    opening = set(tokenize(text)[:_SUBJECT_WORDS])
    return any(_match(name, opening) for name in names)


def _match(term: QueryTerm, tokens: set[str]) -> float:
    if term.term in tokens:
        return 1.0
    return ALIAS_WEIGHT if term.aliases & tokens else 0.0


def names_found(query: Query, passages: list[ScoredChunk]) -> float:
    """The share of the question's names (China, Wadephul, NATO) that the passages mention."""
    names = [t for t in query_terms(query.question) if t.is_name]
    if not names:
        return 1.0
    tokens: set[str] = set()
    for passage in passages:
        tokens.update(tokenize(f"{passage.chunk.title} {passage.chunk.text}"))
    return sum(1.0 for name in names if name.term in tokens or name.aliases & tokens) / len(names)


def answerability(signals: dict[str, float], model: dict[str, float] | None = None) -> float:
    """The abstention model's probability that the best sentence answers the question."""
    model = model or ABSTENTION_MODEL
    z = model["bias"] + sum(weight * signals[name] for name, weight in model.items() if name != "bias")
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def select(
    query: Query, query_vector: np.ndarray, passages: list[ScoredChunk], snapshot: Snapshot, max_sentences: int
) -> Selection:
    """The sentences to answer with: the best one with the sentences it leans on or that carry it on,
    then others close to it in score that add something new."""
    candidates = score_sentences(query, query_vector, passages, snapshot)
    names = names_found(query, passages)
    if not candidates:
        return Selection([], 0.0, {"names_found": names})
    by_row = {evidence.sentence: evidence for evidence in candidates}
    ranked = sorted(candidates, key=lambda e: -e.score)
    best = ranked[0]
    group = [best]
    previous = by_row.get(best.sentence - 1)
    if previous and _same_passage(previous, best) and _leans_back(best.text):
        group.insert(0, previous)  # "He also questions ..." needs the sentence that says who he is
    following = by_row.get(best.sentence + 1)
    if (
        following
        and _same_passage(best, following)
        and following.score >= best.score - 2 * ANSWER_MARGIN
        and _carries_on(best, following)
    ):
        group.append(following)
    chosen = group[:max_sentences]
    for candidate in ranked[1:]:
        if len(chosen) >= max_sentences or candidate.score < best.score - ANSWER_MARGIN:
            break
        if candidate in chosen or any(_redundant(candidate, other) for other in chosen):
            continue
        chosen.append(candidate)
    signals = {
        "similarity": best.similarity,
        "coverage": best.coverage,
        "names_found": names,
        "type_match": float(best.type_match),
    }
    return Selection(chosen, answerability(signals), signals)


_PRONOUN_START = re.compile(r"^[\"“']?(he|she|they|it|this|these|those|that|his|her|their|its|such)\b", re.IGNORECASE)
_FIRST_NAME = re.compile(r"[\"“']?([A-Z][\w'’-]+)")


def _same_passage(a: Evidence, b: Evidence) -> bool:
    return a.passage.chunk.doc_id == b.passage.chunk.doc_id


def _leans_back(text: str) -> bool:
    """Whether a sentence starts by pointing back ("He", "This") and is unclear alone."""
    return bool(_PRONOUN_START.match(text))


def _carries_on(first: Evidence, second: Evidence) -> bool:
    """Whether the second sentence goes on about the first one's subject ("Putin ... Putin continues ...")."""
    if _leans_back(second.text):
        return True
    subject = _FIRST_NAME.match(second.text)
    if not subject:
        return False
    term = query_terms(subject.group(1))
    earlier = set(tokenize(first.text))
    return bool(term) and (term[0].term in earlier or bool(term[0].aliases & earlier))


def _redundant(a: Evidence, b: Evidence) -> bool:
    return _overlap(set(tokenize(a.text)), set(tokenize(b.text))) >= REDUNDANT_OVERLAP


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, min(len(a), len(b)))


def cite(sentences: list[Evidence]) -> tuple[str, tuple[Citation, ...]]:
    """The answer text, each sentence followed by its [n], and the citations the markers point to."""
    parts: list[str] = []
    citations: list[Citation] = []
    for n, evidence in enumerate(sentences, start=1):
        citations.append(Citation.from_chunk(n, evidence.passage.chunk, evidence.text, evidence.start, evidence.end))
        parts.append(f"{evidence.text} [{n}]")
    return " ".join(parts), tuple(citations)
