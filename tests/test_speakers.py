"""The speaker tagger: who a sentence reports as speaking, and the voice that decides whose claim it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.answer.speakers import USER_TABLE, attribute, speaker_table
from assistant.errors import UsageError
from assistant.pipeline import Assistant
from assistant.types import Citation

from .conftest import DATA
from .test_voices import AS_OF

SAMPLE = DATA / "speaker_sentences.tsv"


def _labelled() -> list[tuple[str | None, str]]:
    rows = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            speaker, sentence = line.split("\t")
            rows.append((None if speaker == "-" else speaker, sentence))
    return rows


def test_precision_and_recall_on_the_hand_labelled_sentences() -> None:
    table = speaker_table()
    rows = _labelled()
    found = [(expected, table.speaker_of(sentence)) for expected, sentence in rows]
    right = sum(1 for expected, got in found if got is not None and got.name == expected)
    tagged = sum(1 for _, got in found if got is not None)
    speaking = sum(1 for expected, _ in rows if expected is not None)
    assert len(rows) >= 40 and speaking >= 30
    assert right / tagged >= 0.95, "precision"
    assert right / speaking >= 0.9, "recall"


def test_the_speaker_decides_whose_claim_a_quote_is() -> None:
    table = speaker_table()
    citation = Citation(1, "d", "T", "d.md", None, "d#0", "According to Moscow, Kyiv must disarm.", 0, 38)
    quoted = attribute(Citation(**{**citation.__dict__, "voice": "Ukraine: government"}), table)
    assert (quoted.speaker, quoted.voice) == ("Moscow", "Russia: government")
    unreported = Citation(1, "d", "T", "d.md", None, "d#0", "Shells hit Kharkiv.", 0, 19, voice="UN")
    assert attribute(unreported, table) == unreported


def test_a_corpus_table_extends_and_overrides_the_bundled_one(tmp_path: Path) -> None:
    (tmp_path / USER_TABLE).write_text("Moldova: government\tMaia Sandu\tSandu\nUN\tKuleba\n", encoding="utf-8")
    table = speaker_table(tmp_path)
    assert table.speaker_of("Sandu said the border was calm.").voice == "Moldova: government"  # type: ignore[union-attr]
    assert table.speaker_of("Kuleba said so.").voice == "UN"  # type: ignore[union-attr]
    (tmp_path / USER_TABLE).write_text("only one field\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"line 1 is not 'voice<TAB>speaker"):
        speaker_table(tmp_path)


def test_answers_carry_the_speaker_of_each_quote(voices: Assistant) -> None:
    answer = voices.ask("What does Moscow demand before a ceasefire?", as_of=AS_OF, voice="Ukraine")
    assert not answer.abstained
    moscow = [c for c in answer.citations if c.speaker == "Moscow"]
    assert moscow and moscow[0].voice == "Russia: government"  # in a Ukrainian release: the speaker decides
