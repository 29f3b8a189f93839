"""A question as retrieval sees it: its words, their aliases, and the earlier turn a follow-up leans on."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from assistant.index.lexical import content_words, normalise, tokenize
from assistant.retrieval.aliases import alias_table
from assistant.retrieval.timeframe import TimeFrame, resolve_as_of, timeframe

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
    """A question as retrieval sees it: its own words, for a follow-up the earlier question's words, the date
    it is asked from (documents dated later are not used) and the stretch of time it speaks of."""

    question: str
    context: str = ""
    as_of: dt.date | None = None  # None: no cutoff
    frame: TimeFrame | None = None

    @property
    def text(self) -> str:
        return f"{self.question} {self.context}".strip()

    def term_weights(self) -> dict[str, float]:
        """Weighted lexical terms: the question's, its aliases', then the context's."""
        weights = expand_query(self.question)
        for term, weight in expand_query(self.context).items():
            weights.setdefault(term, weight * CONTEXT_WEIGHT)
        return weights


def make_query(question: str, history: History | None = None, as_of: str | dt.date | None = None) -> Query:
    """The query for a question asked on as_of (default today); a follow-up ("And what does Ukraine want?")
    takes the last question as context, and its time frame when it names none of its own."""
    day = resolve_as_of(as_of)
    context = ""
    if history:
        previous = next((user for user, _ in reversed(history) if user.strip()), "")
        follows_up = bool(_FOLLOW_UP_START.search(question) or _ANAPHORA.search(question))
        context = previous if follows_up or len(tokenize(question)) <= 2 else ""
    frame = timeframe(question, day) or (timeframe(context, day) if context else None)
    return Query(question, context, day, frame)
