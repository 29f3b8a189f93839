"""Retrieved chunks -> an Answer: the extractive answerer, abstention, and citations.

The extractive answerer needs no language model. It describes every sentence of the retrieved chunks
by signals (sentences.py: embedding similarity, the share of the question's words and names it
holds, whether it holds the kind of answer asked for, how recent its document is, ...) and weighs them
with a fitted model (models.py); the trained reader (reader.py) then reads the best of them together
with the question, and a second fitted model weighs both scores with whether the sentence speaks of the
time the question names (periods.py). It quotes the best sentence verbatim with its [n] citation and its
document's date; another sentence joins only when it carries what the best one lacks. It abstains when
the abstention model doubts the evidence answers, and when every sentence speaks of another time than
the one asked about. Every claim is a quote, so every claim is supported by construction.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from assistant.answer.base import ABSTENTION_REPLY, NEAREST_SHOWN, pieces
from assistant.answer.models import ABSTENTION_MODEL, READER_MODEL, SENTENCE_MODEL
from assistant.answer.periods import fits
from assistant.answer.reader import Reader, default_reader
from assistant.answer.sentences import Candidate, candidates, leans_back, names_found
from assistant.answer.speakers import speaker_table
from assistant.answer.voices import voiced
from assistant.index.embed import SentenceEmbeddings
from assistant.index.lexical import normalise, tokenize
from assistant.index.snapshot import Snapshot
from assistant.retrieval.query import Query, aliases
from assistant.settings import Settings
from assistant.types import Answer, Citation, ScoredChunk

# A further sentence joins the answer only when its score is within this margin of the best's (a margin
# of log 2: at least half as likely to hold the answer) and it carries what the best one lacks: the kind
# of answer asked for, or a name of the question. Source: eval/README.md, "What moved the numbers", the
# second-sentence row (chosen on the fitting halves with the word budget and the carry-on margin).
SECOND_MARGIN = 0.7
# The story's next sentence, when it carries on the best one's subject, may trail further behind. The
# fitting halves of all three sets score the same from 1.4 to 2.8 (eval/README.md); this is the middle.
CARRY_ON_MARGIN = 2.1
# ... and only while the whole answer stays within this many words (chosen on the fitting halves: it keeps
# every answer within the 80 words of answer_presence_80 and loses no presence).
WORD_BUDGET = 80
# Two sentences that share this much of their words say the same thing; the answer keeps one.
# Source: not measured (set by hand with the first extractive answerer).
REDUNDANT_OVERLAP = 0.6
# A question about a time it names ("this week", "last year", "since 2023") is not answered from a story dated
# more than this long before that time: the storm that "pummelled Britain this week" is not the one of a 2014
# article. On the fitting halves, every answer quoted from a story more than 218 days older than the time
# named was wrong, and the right ones were at most 132 days older; half a year lies between.
OLDER_THAN_ASKED = dt.timedelta(days=183)
# The reader reads this many of the sentence model's best candidates; the others count as the least of
# them. Source: eval/README.md, "The trained reader ...": on the fitting halves a sentence holding the answer
# is among the sentence model's first 12 candidates for 0.94 of the questions where any candidate holds one.
READ = 12


@dataclass(frozen=True)
class Selection:
    """The sentences chosen to answer, and how sure the abstention model is that they do."""

    sentences: list[Candidate]
    answerability: float
    signals: dict[str, float]  # what the abstention model saw
    nearest: list[Candidate] = field(default_factory=list)  # the best-scoring sentences, best first
    ranked: list[Candidate] = field(default_factory=list)  # every candidate, best first


class ExtractiveAnswerer:
    """Quotes the sentences of the passages that answer the question, each with its [n]; or abstains."""

    name = "extractive"

    def __init__(
        self,
        embeddings: SentenceEmbeddings,
        max_sentences: int = 3,
        abstain_below: float = 0.5,
        reader: Reader | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.max_sentences = max_sentences
        self.abstain_below = abstain_below
        self.speakers = speaker_table()
        self.reader = reader or default_reader()

    @classmethod
    def from_settings(cls, settings: Settings, embeddings: SentenceEmbeddings) -> ExtractiveAnswerer:
        """The answerer with the settings' sentence limit, abstention threshold and way of running the reader."""
        reader = default_reader(settings.model_cache_path(), settings.reader_precision)
        answerer = cls(embeddings, settings.max_answer_sentences, settings.abstain_below, reader)
        answerer.speakers = speaker_table(settings.corpus_dir)
        return answerer

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
        selection = select(query, sentence_vector, passages, snapshot, self.max_sentences, self.reader)
        abstained = not selection.sentences or selection.answerability < self.abstain_below
        text, citations = (ABSTENTION_REPLY, ()) if abstained else cite(selection.sentences)
        if not abstained:  # whose view: one side's own statements, or each side's (voices.py)
            corpus_voices = [doc.voice for doc in snapshot.documents]
            found = voiced(query.question, selection.sentences, selection.ranked, self.speakers, corpus_voices)
            text, citations = found or (text, citations)
        nearest = cite(selection.nearest)[1] if abstained else ()
        yield from pieces(text)
        yield Answer(
            query.question,
            text,
            citations,
            abstained,
            tuple(passages),
            confidence=selection.answerability,
            signals=selection.signals,
            nearest=nearest,
        )


def select(
    query: Query,
    query_vector: np.ndarray,
    passages: list[ScoredChunk],
    snapshot: Snapshot,
    max_sentences: int,
    reader: Reader | None = None,
) -> Selection:
    """The sentences to answer with: the best one (with the sentence before when it starts "He ..."), and
    another only when it carries what the best lacks; for a question about change, dated quotes in time order.
    None when every sentence speaks of another time than the one the question names."""
    scored = read(query, candidates(query, query_vector, passages, snapshot), reader or default_reader())
    found = names_found(query, passages)
    if not scored:
        return Selection([], 0.0, {"names_found": found})
    ranked = sorted(scored, key=lambda c: -c.score)
    best = ranked[0]
    in_period = [c for c in ranked if _of_the_time_asked(c, query)]
    if query.about_change:
        chosen = _over_time(ranked, max_sentences)
    elif not in_period or _long_before(in_period[0], query):
        chosen = []  # the closest sentences are still shown, with their dates, as the nearest
    else:
        best = in_period[0]
        chosen = _short_answer(in_period, [c for c in scored if _of_the_time_asked(c, query)], max_sentences)
    signals = {
        "best": best.score,
        "reader": best.signals["reader"],
        "similarity": best.similarity,
        "coverage": best.coverage,
        "names_found": found,
    }
    probability = ABSTENTION_MODEL.probability(signals)
    return Selection(chosen[:max_sentences], probability, signals, ranked[:NEAREST_SHOWN], ranked)


def read(query: Query, found: list[Candidate], reader: Reader) -> list[Candidate]:
    """The candidates scored: the sentence model's READ best are read by the trained reader (the others
    count as the least of those), and READER_MODEL weighs the two scores with the sentence's time."""
    if not found:
        return []
    first = [SENTENCE_MODEL.score(c.signals) for c in found]
    order = sorted(range(len(found)), key=lambda i: -first[i])[:READ]
    logits = reader.scores(query.text, [found[i].text for i in order])
    reading = {i: float(logit) for i, logit in zip(order, logits, strict=True)}
    floor = min(reading.values())
    scored = []
    for i, candidate in enumerate(found):
        signals = {
            **candidate.signals,
            "sentence": first[i],
            "reader": reading.get(i, floor),
            "period": float(fits(query.frame, candidate.text, candidate.passage.chunk.date)),
        }
        scored.append(replace(candidate, signals=signals, score=READER_MODEL.score(signals)))
    return scored


def _of_the_time_asked(candidate: Candidate, query: Query) -> bool:
    """Whether a sentence may answer for the time the question names (any may, when it names none): it speaks
    of that time, or its story is dated (the half-year rule judges that date). A sentence of an undated page
    that names no time could be about any: "X is a football club" does not say who coached it in 2015-2020."""
    if query.frame is None:
        return True
    period = candidate.signals["period"]
    return period > 0 or (period == 0 and candidate.passage.chunk.date is not None)


def _long_before(best: Candidate, query: Query) -> bool:
    """Whether the best sentence's story is dated more than OLDER_THAN_ASKED before the time the question names."""
    day = best.passage.chunk.date
    if query.frame is None or day is None:
        return False
    if query.frame.start - dt.date.min < OLDER_THAN_ASKED:
        return False  # "before 1937": the time named has no beginning
    return dt.date.fromisoformat(day) < query.frame.start - OLDER_THAN_ASKED


def _short_answer(ranked: list[Candidate], scored: list[Candidate], max_sentences: int) -> list[Candidate]:
    """The best sentence, and at most one more: the story's next sentence when it goes on about the same
    subject ("Putin emphasizes ... Putin continues to reject ..."), which may trail further behind, else a
    close one that carries what the best lacks; always within WORD_BUDGET words."""
    best = ranked[0]
    chosen = _with_context(best, scored)

    def fits(candidate: Candidate) -> bool:
        words = sum(len(c.text.split()) for c in chosen) + len(candidate.text.split())
        return len(chosen) < max_sentences and words <= WORD_BUDGET

    following = next((c for c in scored if c.sentence == best.sentence + 1 and _same_document(c, best)), None)
    if following and _carries_on(best, following) and following.score >= best.score - CARRY_ON_MARGIN:
        return chosen + [following] if fits(following) else chosen
    for candidate in ranked[1:]:
        if candidate.score < best.score - SECOND_MARGIN:
            break
        missing = _adds_what_is_missing(best, candidate)
        if fits(candidate) and missing and not any(_redundant(candidate, c) for c in chosen):
            return chosen + [candidate]
    return chosen


def _with_context(best: Candidate, scored: list[Candidate]) -> list[Candidate]:
    """The best sentence, after the one before it when it points back ("He also questions ...")."""
    if leans_back(best.text):
        previous = next((c for c in scored if c.sentence == best.sentence - 1 and _same_document(c, best)), None)
        if previous is not None:
            return [previous, best]
    return [best]


_FIRST_WORD = re.compile(r"[\"“']?([A-Z][\w'’-]+)")


def _carries_on(first: Candidate, second: Candidate) -> bool:
    """Whether a sentence goes on about the one before's subject ("Putin ... Putin continues ...", "He ...",
    "Ukraine insists ... Kyiv rejects ...")."""
    if leans_back(second.text):
        return True
    opening = _FIRST_WORD.match(second.text)
    if opening is None:
        return False
    subject = normalise(opening.group(1))
    return bool({subject, *aliases().get(subject, ())} & set(tokenize(first.text)))


def _adds_what_is_missing(best: Candidate, other: Candidate) -> bool:
    """Whether another sentence carries what the question asks for and the best does not: an answer of the
    kind asked for that the best lacks (another number, name or date), or more of the question's names."""
    other_answer = bool(other.answers - best.answers)
    names_missing = other.signals["names"] > best.signals["names"]
    return other_answer or names_missing


def _over_time(ranked: list[Candidate], max_sentences: int) -> list[Candidate]:
    """The best sentence of each of the best-matching dated documents, oldest first. A question about change
    wants the old stance as much as the new one, so here recency does not count (nor the passage's retrieval
    score, which holds recency too), and a quote may trail the best by twice the usual margin (as a sentence
    that carries on the best one may)."""
    timeless = sorted(((_timeless(c), c) for c in ranked), key=lambda pair: -pair[0])
    chosen: list[Candidate] = []
    for score, candidate in timeless:
        if len(chosen) >= max_sentences or score < timeless[0][0] - 2 * SECOND_MARGIN:
            break
        # Stances of different dates share most words ("conditions were ..." / "conditions are now ..."):
        # only a sentence from the same day repeats one.
        if any(_same_document(candidate, c) or (_same_day(candidate, c) and _redundant(candidate, c)) for c in chosen):
            continue
        chosen.append(candidate)
    return sorted(chosen, key=lambda c: (c.passage.chunk.date or "", c.start))


def _timeless(candidate: Candidate) -> float:
    """The sentence's score without what its recency and its passage's retrieval score (recency is part of
    it, and on a small corpus scaling makes the newest passage far ahead) add through the sentence model."""
    dated = SENTENCE_MODEL.score(candidate.signals, only=("recency", "passage"))
    return candidate.score - READER_MODEL.weights["sentence"] / READER_MODEL.scales["sentence"] * dated


def _same_day(a: Candidate, b: Candidate) -> bool:
    return a.passage.chunk.date == b.passage.chunk.date


def _same_document(a: Candidate, b: Candidate) -> bool:
    return a.passage.chunk.doc_id == b.passage.chunk.doc_id


def _redundant(a: Candidate, b: Candidate) -> bool:
    first, second = set(tokenize(a.text)), set(tokenize(b.text))
    return len(first & second) / max(1, min(len(first), len(second))) >= REDUNDANT_OVERLAP


def cite(sentences: list[Candidate]) -> tuple[str, tuple[Citation, ...]]:
    """The answer text, each quote after its document's date and before its [n]; the citations they point to."""
    parts: list[str] = []
    citations: list[Citation] = []
    for n, candidate in enumerate(sentences, start=1):
        chunk = candidate.passage.chunk
        citations.append(Citation.from_chunk(n, chunk, candidate.text, candidate.start, candidate.end))
        parts.append(f"{dateline(chunk.date)}{candidate.text} [{n}]")
    return " ".join(parts), tuple(citations)


def dateline(date: str | None) -> str:
    """What precedes a quote in an answer: its document's date in brackets, or nothing when undated."""
    return f"({date}) " if date else ""
