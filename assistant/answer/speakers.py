"""Who a sentence reports as speaking ("Peskov said ...", "according to Kyiv ...", "Zelensky: ..."), and the
voice that speaker states.

A table of people and institutions (speakers.tsv beside this module, extended by `.speakers.tsv` in the
corpus folder) maps names to voices. A sentence's speaker is the earliest name of the table that is the
subject of a reporting verb, follows "according to", or opens a transcript line ("Name: ..."). Where a
document's voice and a sentence's speaker differ (a Ukrainian release quoting a Russian demand), the
speaker decides whose claim the sentence is. It runs at answer time, on the few sentences an answer
quotes, so a new table takes effect without indexing again. Precision and recall are in eval/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from assistant.errors import UsageError
from assistant.ingest.chunk import split_sentences
from assistant.types import Answer, Citation

BUNDLED_TABLE = Path(__file__).with_name("speakers.tsv")
USER_TABLE = ".speakers.tsv"  # in the corpus folder; hidden, so ingest does not take it for a document

# Verbs that report what someone says, thinks or holds ("said", "accused", "demands"), as a regex.
_REPORTING = (
    r"(?:said|says|say|told|tells|stated|states|added|adds|noted|notes|stressed|stresses|emphasi[sz]ed|"
    r"emphasi[sz]es|underlined|warned|warns|claimed|claims|accused|accuses|rejected|rejects|denied|denies|"
    r"demanded|demands|called|calls|announced|announces|insisted|insists|answered|replied|responded|urged|"
    r"urges|argued|argues|declared|declares|confirmed|confirms|reported|reports|explained|explains|pointed out|"
    r"asserted|maintained|vowed|vows|pledged|promised|proposed|proposes|described|describes|condemned|condemns|"
    r"blamed|blames|believes|believed|thinks|considers|questioned|reiterated|recalled|wrote|alleged|alleges|"
    r"acknowledged|admitted|asked|suggested|expressed|assured|assures|informed|commented|welcomed|hopes|"
    r"regrets|dismissed|dismisses|threatened|threatens|wants|wanted|insisting|saying)"
)
# Between a name and its verb: a possessive office ("Zelensky's office"), an appositive between commas
# (", the Kremlin's spokesman,"), and up to three words ("has repeatedly", "continues to").
_BETWEEN = (
    r"(?:['’]s\s+(?:office|spokes\w+|press\s+(?:service|secretary|office)|administration|ministry|aide|adviser)s?)?"
    r"(?:\s*,[^,.;:!?]{1,60},)?(?:\s+[\w’'-]+){0,3}?\s+"
)


@dataclass(frozen=True)
class Speaker:
    """A speaker as citations show it, and the voice its words state."""

    name: str
    voice: str

    @property
    def is_person(self) -> bool:
        """A person ("Dmitry Peskov") speaks only for themself; a speaker named in one word or with "the"
        (an institution or a capital: "the Kremlin", "Kyiv", "Russia") speaks for its whole voice."""
        return " " in self.name.strip() and not self.name.lower().startswith("the ")


class SpeakerTable:
    """Names of speakers -> Speaker; finds the speaker a sentence reports."""

    def __init__(self, rows: list[tuple[str, str, tuple[str, ...]]]) -> None:
        """rows: (voice, speaker, other names); for a name in two rows, the first row wins."""
        self.by_name: dict[str, Speaker] = {}
        for voice, name, others in rows:
            for alias in (name, *others):
                self.by_name.setdefault(_bare(alias), Speaker(name, voice))
        # Longest first, so "Russian Foreign Ministry" wins over "Russia"; case kept: names are proper nouns.
        names = "|".join(re.escape(n) for n in sorted(self.by_name, key=len, reverse=True) if n)
        name = rf"(?<![\w-])(?:[Tt]he\s+)?(?P<name>{names})(?![\w-])"
        self._names = re.compile(name)
        self._patterns = (
            re.compile(rf"{name}\s*:\s"),  # "Zelensky: ...", a transcript's "President of Russia Vladimir Putin: ..."
            re.compile(rf"\b[Aa]ccording\s+to\s+{name}"),
            re.compile(rf"{name}{_BETWEEN}{_REPORTING}\b"),
        )

    def speaker_of(self, sentence: str) -> Speaker | None:
        """The speaker a sentence reports, or None when it names none of the table."""
        found = [match for pattern in self._patterns for match in pattern.finditer(sentence)]
        if not found:
            return None
        first = min(found, key=lambda m: m.start("name"))
        return self.by_name[_bare(first.group("name"))]

    def speakers_of(self, text: str) -> list[Speaker]:
        """The speaker each sentence of a text reports, in order, each once."""
        found = (self.speaker_of(text[span.start : span.end]) for span in split_sentences(text))
        return list(dict.fromkeys(speaker for speaker in found if speaker is not None))

    def named(self, text: str) -> list[Speaker]:
        """The table's speakers a text mentions anywhere, in order, by any of their names."""
        return [self.by_name[_bare(m.group("name"))] for m in self._names.finditer(text)]

    def voices_named(self, text: str) -> list[str]:
        """The voices of the table's names a text mentions anywhere, in order ("What does Russia want?")."""
        return [speaker.voice for speaker in self.named(text)]

    def voices(self) -> list[str]:
        """Every voice of the table, in its order."""
        return list(dict.fromkeys(speaker.voice for speaker in self.by_name.values()))


def _bare(name: str) -> str:
    """A name without a leading article and with single spaces: "the  Kremlin" -> "Kremlin"."""
    return re.sub(r"^(?:the|The)\s+", "", " ".join(name.split()))


def read_table(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    """The rows of a speakers file; UsageError naming the line when one is not voice<TAB>speaker[<TAB>names]."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) not in (2, 3) or not fields[0] or not fields[1]:
            raise UsageError(
                f"{path} line {number} is not 'voice<TAB>speaker<TAB>other names'; fix or remove that line."
            )
        others = tuple(n.strip() for n in fields[2].split(",") if n.strip()) if len(fields) == 3 else ()
        rows.append((fields[0], fields[1], others))
    return rows


def speaker_table(corpus_dir: Path | None = None) -> SpeakerTable:
    """The bundled table, after the corpus folder's own `.speakers.tsv` when it has one (its lines win)."""
    user = corpus_dir / USER_TABLE if corpus_dir is not None else None
    stamp = user.stat().st_mtime_ns if user is not None and user.is_file() else None
    return _table(str(user) if stamp is not None else None, stamp)


@lru_cache(maxsize=8)
def _table(user: str | None, stamp: int | None) -> SpeakerTable:
    rows = read_table(Path(user)) if user is not None else []
    return SpeakerTable(rows + read_table(BUNDLED_TABLE))


def claim_voice(document_voice: str | None, speaker: Speaker | None) -> str | None:
    """Whose claim a sentence is: its speaker's voice when it reports one, else its document's."""
    return speaker.voice if speaker is not None else document_voice


def attribute(citation: Citation, table: SpeakerTable) -> Citation:
    """The citation with its quote's speaker, and the voice that speaker (else its document) states."""
    speaker = table.speaker_of(citation.quote)
    if speaker is None:
        return citation
    return replace(citation, speaker=speaker.name, voice=claim_voice(citation.voice, speaker))


def attribute_answer(answer: Answer, table: SpeakerTable) -> Answer:
    """The answer with every citation (and nearest sentence) attributed."""
    return replace(
        answer,
        citations=tuple(attribute(c, table) for c in answer.citations),
        nearest=tuple(attribute(c, table) for c in answer.nearest),
    )
