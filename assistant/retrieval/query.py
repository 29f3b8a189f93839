"""A question, parsed once: its words and their aliases, the earlier turn a follow-up leans on, its time frame,
the kind of answer it asks for, whether it asks about change, and the part of it that asks.

The rule for whether a text holds a query's term (an alias counting ALIAS_WEIGHT) and the IDF-weighted
coverage built on it live here, beside QueryTerm, so that retrieval, sentence choice and the citation
support check apply one rule.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assistant.index.lexical import content_words, normalise, tokenize
from assistant.retrieval.aliases import alias_table
from assistant.retrieval.question_kind import asking_part, asks_about_change, expected_type
from assistant.retrieval.timeframe import resolve_as_of, timeframe
from assistant.types import TimeFrame

# An alias counts half as much as the word the user typed. Source: not measured (set by hand with the alias
# table; eval/README.md's Results are all measured with it).
ALIAS_WEIGHT = 0.5


@functools.cache
def aliases() -> dict[str, frozenset[str]]:
    return alias_table(normalise)


@dataclass(frozen=True)
class QueryTerm:
    """A word of a query in index form, the other names it goes by, and whether it is a name."""

    term: str
    aliases: frozenset[str]
    is_name: bool

    def found_in(self, tokens: set[str] | frozenset[str]) -> float:
        """1 when the tokens hold the term, ALIAS_WEIGHT when they hold only one of its aliases, else 0."""
        if self.term in tokens:
            return 1.0
        return ALIAS_WEIGHT if self.aliases & tokens else 0.0


def word_term(term: str) -> QueryTerm:
    """A word already in index form as a query term, with its aliases (not marked as a name)."""
    return QueryTerm(term, aliases().get(term, frozenset()), False)


def coverage(terms: Sequence[QueryTerm], tokens: set[str], weight: Callable[[QueryTerm], float]) -> float:
    """The weighted share of the terms that the tokens hold, an alias counting ALIAS_WEIGHT (0 when the
    terms weigh nothing)."""
    weights = [weight(t) for t in terms]
    total = sum(weights)
    if not total:
        return 0.0
    return sum(w * t.found_in(tokens) for w, t in zip(weights, terms, strict=True)) / total


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


def _weighted(terms: Sequence[QueryTerm]) -> dict[str, float]:
    """Terms with weights: the words themselves at 1, their aliases at ALIAS_WEIGHT."""
    weights: dict[str, float] = {}
    for term in terms:
        weights[term.term] = 1.0
    for term in terms:
        for alias in term.aliases:
            weights.setdefault(alias, ALIAS_WEIGHT)
    return weights


# Words carried over from earlier turns count less than the question's own, in retrieval and in the sentence
# signals. Source: not measured (set by hand; the follow-up row of eval/README.md's "What moved the numbers"
# tried what the context holds, not this weight).
CONTEXT_WEIGHT = 0.3


_FOLLOW_UP_START = re.compile(r"^\s*(and|but|also|so|then|what about|how about|and what about)\b", re.IGNORECASE)


_ANAPHORA = re.compile(
    r"\b(he|she|it|its|they|them|their|theirs|his|her|this|that|these|those|there|the same)\b", re.IGNORECASE
)


History = list[tuple[str, str]]  # earlier turns as (user, assistant), oldest first


@dataclass(frozen=True)
class Query:
    """A question as retrieval and the answerers see it: its own words, for a follow-up the earlier question's
    words, the date it is asked from (documents dated later are not used) and the stretch of time it speaks of;
    and, parsed from these once when the Query is made, its terms, the kind of answer it asks for, whether it
    asks how something changed, and the part of it that asks."""

    question: str
    context: str = ""
    as_of: dt.date | None = None  # None: no cutoff
    frame: TimeFrame | None = None
    terms: tuple[QueryTerm, ...] = field(init=False)  # the question's content words, first occurrence first
    context_terms: tuple[QueryTerm, ...] = field(init=False)  # the context's
    asking: str = field(init=False)  # the part that asks, without the background some open with
    focus_terms: tuple[QueryTerm, ...] = field(init=False)  # the asking part's terms
    kind: str | None = field(init=False)  # 'number', 'time', 'place', 'name', or None when it does not say
    about_change: bool = field(init=False)  # "How have the conditions changed?"

    def __post_init__(self) -> None:
        # frozen: the parse is set once here, the one place a question is parsed
        asking = asking_part(self.question)
        parsed = {
            "terms": tuple(query_terms(self.question)),
            "context_terms": tuple(query_terms(self.context)),
            "asking": asking,
            "focus_terms": tuple(query_terms(asking)),
            "kind": expected_type(self.question),
            "about_change": asks_about_change(self.question),
        }
        for name, value in parsed.items():
            object.__setattr__(self, name, value)

    @property
    def text(self) -> str:
        return f"{self.question} {self.context}".strip()

    @property
    def names(self) -> list[QueryTerm]:
        """The question's names (capitalised words, acronyms)."""
        return [t for t in self.terms if t.is_name]

    def term_weights(self) -> dict[str, float]:
        """Weighted lexical terms: the question's, its aliases', then the context's."""
        weights = _weighted(self.terms)
        for term, weight in _weighted(self.context_terms).items():
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
