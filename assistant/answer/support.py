"""When a quote supports a claim: the one rule that the chat answerer's citation check and the evaluation's
citation_support both apply.

A quote supports a claim when the claim is in it word for word, or when every name and number of the
claim occurs in the cited passage (its title, date and text) and the quote holds at least
SUPPORT_THRESHOLD of the claim's content words, each weighted by its IDF in the index, an alias
(Kremlin for Russia) counting ALIAS_WEIGHT. Lexical on purpose: it needs no model, and a claim whose
words are not in the passage fails.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.index.lexical import tokenize
from assistant.index.snapshot import Snapshot
from assistant.retrieval.query import coverage as weighted_coverage
from assistant.retrieval.query import query_terms, word_term
from assistant.types import Citation

SUPPORT_RULE = "verbatim, or lexical: the claim's names and numbers in the passage, 60% of its IDF-weighted words"
# Source: not measured (set by hand with the chat answerer's citation check; eval/README.md's citation_support
# row states the rule it is part of).
SUPPORT_THRESHOLD = 0.6

Weights = Callable[[str], float]  # a term's IDF in the index


def citation_supports(claim: str, citation: Citation, snapshot: Snapshot) -> bool:
    """Whether a citation's quote supports a claim, its chunk (with its title and date) as the passage and the
    index's IDF as the weights: what the evaluation's citation_support applies."""
    row = snapshot.row_of.get(citation.chunk_id)
    passage = f"{citation.title} {citation.date or ''} {snapshot.chunks[row].text if row is not None else ''}"
    return supports(claim, citation.quote, passage, snapshot.bm25.term_idf)


def supports(claim: str, quote: str, passage: str = "", idf: Weights | None = None) -> bool:
    """Whether a quote supports a claim (see the module's docstring); passage: the text around the quote,
    with its title and date, where the claim's names and numbers may also be found."""
    if _squashed(claim) and _squashed(claim) in _squashed(quote):
        return True
    return names_and_numbers_found(claim, f"{passage} {quote}") and coverage(claim, quote, idf) >= SUPPORT_THRESHOLD


def names_and_numbers_found(claim: str, passage: str) -> bool:
    """Whether every name and number of a claim occurs in the passage (an alias of a name will do)."""
    words = set(tokenize(passage))
    required = {t.term for t in query_terms(claim) if t.is_name} | {w for w in tokenize(claim) if w.isdigit()}
    return all(word_term(term).found_in(words) > 0.0 for term in required)


def coverage(claim: str, text: str, idf: Weights | None = None) -> float:
    """The IDF-weighted share of a claim's content words that a text holds (0 for a claim without any)."""
    terms = [word_term(word) for word in set(tokenize(claim))]
    return weighted_coverage(terms, set(tokenize(text)), lambda term: idf(term.term) if idf else 1.0)


def _squashed(text: str) -> str:
    return " ".join(text.lower().split())
