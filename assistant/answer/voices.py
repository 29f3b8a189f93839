"""Answers that say whose view they quote: one side's position from that side's own statements, and a
contested matter side by side.

The extractive answerer calls `voiced` after it has ranked the candidate sentences. A question about one
side's position ("What does Russia demand?") is answered from that side's own statements when one
scores close to the best ("The Kremlin said (2022-03-01): ..."); a contested question ("Who is to blame
for ...?", "What do both sides say about ...?") gets each side's best statement with its speaker and
date, and says so when the corpus holds none from a side. A sentence's side is its speaker's voice, else
its document's (speakers.py). Only corpora whose documents carry voices are answered so: elsewhere
nothing here changes an answer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from assistant.answer.sentences import Candidate
from assistant.answer.speakers import SpeakerTable, claim_voice
from assistant.types import Citation, voice_keys

# A side's own statement may trail the best sentence by this much in the sentence model's score (twice
# the margin of extractive.SECOND_MARGIN, as a quote in a question about change may) and still be preferred.
# Source: not measured (set by hand with voices.py; the gate's eval/voices-questions.jsonl passes at 1.0 with it).
VOICE_MARGIN = 1.4
# Words that ask for a side's position, and phrasings that ask about a contested matter.
_POSITION = re.compile(
    r"\b(demand\w*|want\w*|position\w*|stance|say|said|says|claim\w*|views?|insist\w*|answer\w*|respon\w*|"
    r"goals?|aims?|accus\w*|propos\w*|conditions?|terms|think|blame\w*|reject\w*|offer\w*|react\w*|"
    r"statements?|argu\w*|deny|denied|denies|explain\w*|justif\w*)\b",
    re.I,
)
_CONTESTED = re.compile(
    r"\b(who (is|was|are|were) (to blame|responsible)|responsib\w+ for|both sides|each side|either side|"
    r"two sides|who (started|caused)|what do (both|the two))\b",
    re.I,
)
_TOGETHER = re.compile(r"\b(and|or|versus|vs)\b", re.I)
# Said of the passages found, not of the corpus: a side's statement ranked below the k passages may exist
# (kremlin-ua-2022: the Kremlin's on Bucha); the voice filter searches one side's documents alone.
MISSING_SIDE = "The passages found hold no statement from {side} on this."


def side_of(voice: str | None) -> str | None:
    """The side a voice belongs to, in lower case: 'Russia: government' -> 'russia'."""
    keys = voice_keys(voice)
    return keys[-1] if keys else None


def asked_sides(question: str, table: SpeakerTable) -> list[str]:
    """The sides a question names ("Russia", "the Kremlin", "Zelensky" -> 'russia', 'ukraine'), in order."""
    sides = [side_of(voice) for voice in table.voices_named(question)]
    return list(dict.fromkeys(side for side in sides if side))


def candidate_side(candidate: Candidate, table: SpeakerTable) -> str | None:
    """Whose claim a candidate sentence is: its speaker's side, else its document's."""
    return side_of(claim_voice(candidate.passage.chunk.voice, table.speaker_of(candidate.text)))


def voiced(
    question: str,
    chosen: Sequence[Candidate],
    ranked: Sequence[Candidate],
    table: SpeakerTable,
    corpus_voices: Sequence[str | None] = (),
) -> tuple[str, tuple[Citation, ...]] | None:
    """The answer text and citations for a position or contested question; None to answer as usual.

    chosen: the sentences the answerer chose; ranked: every candidate, best first; corpus_voices: the voice
    of each document of the corpus (which two sides it mainly holds statements of).
    """
    if not chosen or not ranked or not any(c.passage.chunk.voice for c in ranked):
        return None
    window = [c for c in ranked if c.score >= ranked[0].score - VOICE_MARGIN]
    named = asked_sides(question, table)
    # Sides are those with statements of their own in the corpus: "Finland and Sweden joining NATO" names
    # NATO, which is a matter here, not a side, when no document states NATO's position.
    held = {side_of(voice) for voice in corpus_voices if voice}
    speaking = [side for side in named if not held or side in held]
    # Two sides named together ("What do Russia and Ukraine say ...?") ask for both; "What does Russia
    # demand from Ukraine?" asks for the first one's position.
    both = len(speaking) >= 2 and _POSITION.search(question) and _TOGETHER.search(question)
    if _CONTESTED.search(question) or both:
        sides = speaking if len(speaking) >= 2 else _main_sides(tuple(corpus_voices)) or named
        # A side's statement on the matter may score far below the other side's (the sentence model
        # favours the words of the question, which the accusing side tends to use): one that holds a
        # name of the question counts too (a question without names gives every sentence names 1.0).
        names = any(c.signals.get("names", 1.0) < 1.0 for c in ranked)
        on_matter = [c for c in ranked if c in window or (names and c.signals.get("names", 0.0) > 0)]
        return _side_by_side(on_matter, sides, table)
    if named and _POSITION.search(question):
        own = [c for c in window if candidate_side(c, table) == named[0]]
        return _compose(own[:1], table) if own else None
    return None


def _side_by_side(window: list[Candidate], sides: list[str], table: SpeakerTable) -> tuple[str, tuple[Citation, ...]]:
    """Each side's best statement in the window, in the order of the sides; a line for each side without one."""
    quotes, missing = [], []
    for side in sides:
        best = next((c for c in window if candidate_side(c, table) == side), None)
        if best is None:
            missing.append(side)
        else:
            quotes.append(best)
    text, citations = _compose(quotes, table)
    notes = [MISSING_SIDE.format(side=_display(side, window, table)) for side in missing]
    return " ".join(part for part in (text, *notes) if part), citations


def _compose(sentences: list[Candidate], table: SpeakerTable) -> tuple[str, tuple[Citation, ...]]:
    """Each quote after who said it and its date ("The Kremlin said (2022-03-01): ... [1]")."""
    parts, citations = [], []
    for n, candidate in enumerate(sentences, start=1):
        chunk = candidate.passage.chunk
        citation = Citation.from_chunk(n, chunk, candidate.text, candidate.start, candidate.end)
        speaker = table.speaker_of(candidate.text)
        who = speaker.name if speaker else chunk.publisher or chunk.voice or chunk.title
        dated = f" ({chunk.date})" if chunk.date else ""
        parts.append(f"{who[:1].upper()}{who[1:]} said{dated}: {candidate.text} [{n}]")
        citations.append(citation)
    return " ".join(parts), tuple(citations)


def _display(side: str, window: list[Candidate], table: SpeakerTable) -> str:
    """A side as the corpus writes it ('russia' -> 'Russia')."""
    for voice in [c.passage.chunk.voice for c in window] + table.voices():
        if side_of(voice) == side and voice:
            return voice.partition(":")[0].strip()
    return side.title() if len(side) > 3 else side.upper()


@lru_cache(maxsize=8)
def _main_sides(voices: tuple[str | None, ...]) -> list[str]:
    """The two sides most documents of the corpus state."""
    counts = Counter(side for side in map(side_of, voices) if side)
    return [side for side, _ in counts.most_common(2)]
