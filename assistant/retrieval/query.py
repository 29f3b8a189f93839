"""A question as retrieval sees it: its words, their aliases, and the earlier turn a follow-up leans on."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from assistant.index.lexical import content_words, normalise, tokenize
from assistant.retrieval.aliases import alias_table

ALIAS_WEIGHT = 0.5  # an alias counts half as much as the word the user typed


@functools.cache
def aliases() -> dict[str, frozenset[str]]:
    return alias_table(normalise)


@dataclass(frozen=True)
class QueryTerm:
    """A word of a query in index form, the other names it goes by, and whether it is a name."""

    term: str
    aliases: frozenset[str]
    is_name: bool


def query_terms(text: str) -> list[QueryTerm]:
    """The distinct content words of a query, first occurrence first."""
    terms: dict[str, QueryTerm] = {}
    for position, (word, term) in enumerate(content_words(text)):
        if term in terms:
            continue
        acronym = word.isupper() and len(word) > 1
        capitalised = word[:1].isupper() and (position > 0 or not text.lstrip().startswith(word))
        terms[term] = QueryTerm(term, aliases().get(term, frozenset()), acronym or capitalised)
    return list(terms.values())


def expand_query(text: str) -> dict[str, float]:
    """Query terms with weights: the words of the query at 1, their aliases at ALIAS_WEIGHT."""
    weights: dict[str, float] = {}
    terms = query_terms(text)
    for term in terms:
        weights[term.term] = 1.0
    for term in terms:
        for alias in term.aliases:
            weights.setdefault(alias, ALIAS_WEIGHT)
    return weights


CONTEXT_WEIGHT = 0.3  # words carried over from earlier turns count less than the question's own


_FOLLOW_UP_START = re.compile(r"^\s*(and|but|also|so|then|what about|how about|and what about)\b", re.IGNORECASE)


_ANAPHORA = re.compile(
    r"\b(he|she|it|its|they|them|their|theirs|his|her|this|that|these|those|there|the same)\b", re.IGNORECASE
)


History = list[tuple[str, str]]  # earlier turns as (user, assistant), oldest first


@dataclass(frozen=True)
class Query:
    """A question as retrieval sees it: its own words and, for a follow-up, the earlier question's words."""

    question: str
    context: str = ""

    @property
    def text(self) -> str:
        return f"{self.question} {self.context}".strip()

    def term_weights(self) -> dict[str, float]:
        """Weighted lexical terms: the question's, its aliases', then the context's."""
        weights = expand_query(self.question)
        for term, weight in expand_query(self.context).items():
            weights.setdefault(term, weight * CONTEXT_WEIGHT)
        return weights


def make_query(question: str, history: History | None = None) -> Query:
    """The query for a question; a follow-up ("And what does Ukraine want?") takes the last question as context."""
    if not history:
        return Query(question)
    previous = next((user for user, _ in reversed(history) if user.strip()), "")
    is_follow_up = bool(_FOLLOW_UP_START.search(question) or _ANAPHORA.search(question)) or len(tokenize(question)) <= 2
    return Query(question, previous if is_follow_up else "")
