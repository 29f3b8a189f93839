"""The scores of one question: retrieval against its evidence, the answer against its answers and key
facts, citations against the index. evaluation/metrics.py declares how they add up to a run's metrics.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Protocol

from assistant.evaluation.questions import EvalQuestion
from assistant.index.catalog import Catalog
from assistant.types import Answer, Citation, ScoredChunk, voice_keys

RETRIEVAL_DEPTH = 10  # ranks the retrieval metrics look at

CHUNKS_FOR_DOCUMENTS = 40  # chunks fetched to fill RETRIEVAL_DEPTH distinct documents

_MARKER = re.compile(r"\s*\[\d+\]")
_DATELINE = re.compile(r"\(\d{4}-\d{2}-\d{2}\)\s*")  # "(2025-07-01) " before a quote: its document's date

_ARTICLES = re.compile(r"\b(a|an|the)\b")

PRESENCE_MAX_WORDS = 80  # answer_presence_80: a longer answer does not count, however much it holds

_THOUSANDS = re.compile(r"(?<=\d)[,\u00a0\u202f](?=\d{3}(?!\d))")  # 1,000 and 1 000 -> 1000
_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
_UNITS += "seventeen eighteen nineteen"
_NUMBER_WORDS = {word: value for value, word in enumerate(_UNITS.split())}
_TENS = {word: 10 * n for n, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}


def strip_markers(text: str) -> str:
    """An answer's words: without its [n] markers and the dates that precede its quotes."""
    return _DATELINE.sub("", _MARKER.sub("", text))


def normalise_answer(text: str) -> str:
    """Lower case, no punctuation (curly quotes and dashes too), no articles, single spaces."""
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def presence_form(text: str) -> str:
    """normalise_answer, with number words as digits ("six" -> "6", "twenty-five" -> "25") and no thousands
    separators ("1,000" -> "1000"): quiz answers say "6" where articles say "six"."""
    words = normalise_answer(_THOUSANDS.sub("", text)).split()
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in _TENS:
            value = _TENS[word]
            unit = _NUMBER_WORDS.get(words[i + 1], 0) if i + 1 < len(words) else 0
            if 0 < unit < 10:  # "twenty five" (from "twenty-five") -> 25
                value += unit
                i += 1
            out.append(str(value))
        else:
            out.append(str(_NUMBER_WORDS[word]) if word in _NUMBER_WORDS else word)
        i += 1
    return " ".join(out)


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


def retrieval_metrics(question: EvalQuestion, ranked: Sequence[ScoredChunk]) -> dict[str, float]:
    """hit@k, recall@k (k = 1, 5, 10), MRR@10 and nDCG@10 against evidence strings, else evidence documents.

    With evidence strings the ranked units are chunks, and a chunk is relevant when it holds an evidence
    string not found higher up; with evidence_doc_ids only, the units are distinct documents in rank order.
    """
    found_at: list[int] = []  # how many targets each ranked unit finds first
    if question.evidence:
        targets = [_squash(e) for e in question.evidence]
        found: set[int] = set()
        for result in ranked[:RETRIEVAL_DEPTH]:
            text = _squash(result.chunk.text)
            new = {i for i, target in enumerate(targets) if i not in found and target in text}
            found |= new
            found_at.append(len(new))
        total = len(targets)
    elif question.evidence_doc_ids:
        wanted = set(question.evidence_doc_ids)
        documents = list(dict.fromkeys(result.chunk.doc_id for result in ranked))[:RETRIEVAL_DEPTH]
        found_at = [1 if doc_id in wanted else 0 for doc_id in documents]
        total = len(wanted)
    else:
        return {}
    gains = [1.0 if n else 0.0 for n in found_at]
    metrics: dict[str, float] = {}
    for k in (1, 5, 10):
        metrics[f"hit@{k}"] = 1.0 if any(gains[:k]) else 0.0
        metrics[f"recall@{k}"] = min(1.0, sum(found_at[:k]) / total)
    first = next((rank for rank, gain in enumerate(gains, start=1) if gain), None)
    metrics["mrr@10"] = 1.0 / first if first else 0.0
    dcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(total, RETRIEVAL_DEPTH) + 1))
    metrics["ndcg@10"] = dcg / ideal if ideal else 0.0
    return metrics


def answer_metrics(question: EvalQuestion, answer: Answer) -> dict[str, float]:
    """Fact recall, answer presence, token F1 and length of an answer (abstaining scores zero)."""
    text = "" if answer.abstained else strip_markers(answer.text)
    words = len(text.split())
    metrics: dict[str, float] = {"answer_words": float(words)}
    if not question.answerable:
        return metrics
    if question.key_facts:
        lowered = text.lower()
        met = sum(1 for group in question.key_facts if any(alt.lower() in lowered for alt in group))
        metrics["fact_recall"] = met / len(question.key_facts)
    if question.answers:
        found = f" {presence_form(text)} "
        present = any(form and f" {form} " in found for form in (presence_form(a) for a in question.answers))
        metrics["answer_presence"] = 1.0 if present else 0.0
        metrics["answer_presence_80"] = 1.0 if present and words <= PRESENCE_MAX_WORDS else 0.0
        metrics["token_f1"] = max(token_f1(text, gold) for gold in question.answers)
    return metrics


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between normalised texts."""
    predicted = normalise_answer(prediction).split()
    expected = normalise_answer(gold).split()
    if not predicted or not expected:
        return 0.0
    remaining = list(expected)
    common = 0
    for token in predicted:
        if token in remaining:
            remaining.remove(token)
            common += 1
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


class _Texts(Protocol):
    def chunk_text(self, chunk_id: str) -> str | None: ...
    def document_text(self, doc_id: str) -> str | None: ...


def citation_metrics(
    question: EvalQuestion, answer: Answer, texts: _Texts, supports: Callable[[str, Citation], bool]
) -> dict[str, float]:
    """Citation validity, answer-sentence support, and evidence precision of the cited documents.

    supports(claim, citation): whether a citation supports a sentence (Assistant.supports applies the rule
    of answer/support.py with the index's term weights)."""
    if answer.abstained or not answer.citations:
        return {}
    valid = 0
    for citation in answer.citations:
        chunk = texts.chunk_text(citation.chunk_id) or ""
        document = texts.document_text(citation.doc_id) or ""
        valid += int(
            bool(citation.quote)
            and citation.quote in chunk
            and document[citation.start : citation.end] == citation.quote
        )
    metrics = {"citation_validity": valid / len(answer.citations), "citations": float(len(answer.citations))}
    sentences = _cited_sentences(answer)
    supported = sum(1 for claim, cited in sentences if any(supports(claim, citation) for citation in cited))
    metrics["citation_support"] = supported / len(sentences) if sentences else 0.0
    if question.evidence_doc_ids:
        cited = {citation.doc_id for citation in answer.citations}
        metrics["evidence_precision"] = len(cited & set(question.evidence_doc_ids)) / len(cited)
    return metrics


def misattribution_metrics(answer: Answer, attributes: Callable[[str, Citation], bool]) -> dict[str, float]:
    """misattributed: 1 when a sentence of the answer names a speaker ("The Kremlin said ...") whom none of the
    passages it cites supports, else 0; nothing for an answer without citations.

    attributes(claim, citation): whether a citation's passage supports whom a claim names as speaking
    (Assistant.attributes applies the rule of answer/attribution.py)."""
    if answer.abstained or not answer.citations:
        return {}
    wrong = any(
        cited and not any(attributes(claim, citation) for citation in cited)
        for claim, cited in _cited_sentences(answer)
    )
    return {"misattributed": float(wrong)}


def _cited_sentences(answer: Answer) -> list[tuple[str, list[Citation]]]:
    """Each sentence of an answer (a run of text up to its markers) without its markers, and the citations it
    carries (none for a line without markers, like the note that a side has no statement)."""
    by_number = {citation.n: citation for citation in answer.citations}
    sentences = []
    for sentence in (s for s in re.split(r"(?<=\])\s+", answer.text.strip()) if s):
        numbers = [int(n) for n in re.findall(r"\[(\d+)\]", sentence)]
        cited = [by_number[n] for n in dict.fromkeys(numbers) if n in by_number]
        sentences.append((strip_markers(sentence).strip(), cited))
    return sentences


class IndexTexts:
    """Chunk and document texts of an index, as its catalog holds them, for checking citations."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def chunk_text(self, chunk_id: str) -> str | None:
        return next((stored.info.text for stored in self._catalog.iter_chunks([chunk_id])), None)

    def document_text(self, doc_id: str) -> str | None:
        return self._catalog.document_text(doc_id)


def voice_metrics(question: EvalQuestion, answer: Answer) -> dict[str, float]:
    """Attribution accuracy (the share of citations whose voice is the question's `voice`, a voice or a side)
    and both-sides coverage (the share of the question's `sides` that some citation states); nothing for a
    question without those fields or an answer without citations."""
    if answer.abstained or not answer.citations:
        return {}
    metrics: dict[str, float] = {}
    expected = question.extra.get("voice")
    if isinstance(expected, str) and expected.strip():
        wanted = voice_keys(expected)[0]
        matching = sum(1 for c in answer.citations if wanted in voice_keys(c.voice))
        metrics["attribution_accuracy"] = matching / len(answer.citations)
    sides = question.extra.get("sides")
    if isinstance(sides, list) and sides:
        cited = {key for c in answer.citations for key in voice_keys(c.voice)}
        metrics["both_sides_coverage"] = sum(1 for side in sides if voice_keys(str(side))[0] in cited) / len(sides)
    return metrics
