"""When an answer sentence names who said something rightly: the one rule that the chat answerer's citation
check and the evaluation's misattribution_rate both apply.

A sentence names a speaker when the speaker table (speakers.py) finds one in it ("Peskov said ...",
"According to Kyiv, ..."). The cited passage supports that attribution when:
- the quote reports a speaker (any of its sentences): a person named must be that speaker, or an
  institution of the same voice whose passage also names the person; an institution or a capital named
  ("the Kremlin", "Kyiv") must be of the quote's speaker's voice. "Kyiv said" of a Zelensky quote stands;
  "the Kremlin said" of it, or "Zelensky said" of Kuleba's words, does not;
- the quote reports no one: the document's voice, when it has one, must be the named speaker's, and a
  person must be named in the passage (its title, publisher or text); an institution of a document
  without a voice must have a name of its voice there.
A sentence that names no speaker makes no attribution to check.
"""

from __future__ import annotations

from assistant.answer.speakers import Speaker, SpeakerTable
from assistant.index.snapshot import Snapshot
from assistant.types import Citation, voice_keys

ATTRIBUTION_RULE = (
    "a person named must be the quote's speaker (or, where that is an institution of their voice, be named in the "
    "passage); an institution must be of the voice of the quote's speaker, else of its document"
)


def attribution_stands(
    named: Speaker, quote: str, passage: str, document_voice: str | None, table: SpeakerTable
) -> bool:
    """Whether a passage supports a sentence's naming `named` as the one who said what the quote says.

    passage: the text around the quote with its title and publisher; document_voice: its document's voice."""
    in_passage = set(table.named(f"{passage} {quote}"))
    reported = table.speakers_of(quote)
    if reported:
        if named in reported:
            return True
        same_voice = [s for s in reported if same_voice_of(named.voice, s.voice)]
        if not named.is_person:
            return bool(same_voice)
        return any(not s.is_person for s in same_voice) and named in in_passage
    if document_voice and not same_voice_of(named.voice, document_voice):
        return False
    if named.is_person:
        return named in in_passage
    return bool(document_voice) or any(same_voice_of(named.voice, s.voice) for s in in_passage)


def same_voice_of(one: str | None, other: str | None) -> bool:
    """Whether two voices are one ("Russia" and "Russia: government" are; two Russian voices are not)."""
    a, b = voice_keys(one), voice_keys(other)
    return bool(a and b) and (a[0] in b or b[0] in a)


def citation_attributes(claim: str, citation: Citation, snapshot: Snapshot, table: SpeakerTable) -> bool:
    """Whether a citation's passage supports whom a claim names as speaking (True when it names no one), its
    chunk with its title and publisher as the passage: what the evaluation's misattribution_rate applies."""
    named = table.speaker_of(claim)
    if named is None:
        return True
    row = snapshot.row_of.get(citation.chunk_id)
    chunk = snapshot.chunks[row] if row is not None else None
    passage = f"{citation.title} {citation.publisher or ''} {chunk.text if chunk is not None else ''}"
    voice = chunk.voice if chunk is not None else citation.voice  # the citation's is its speaker's, when known
    return attribution_stands(named, citation.quote, passage, voice, table)
