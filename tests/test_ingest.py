from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.errors import CorpusError
from assistant.index.embed import SentenceEmbeddings
from assistant.index.snapshot import open_snapshot
from assistant.pipeline import Assistant
from assistant.settings import Settings
from assistant.testing import FakeEmbeddings
from assistant.types import make_filters

# What is synced, and when, does not depend on the model: these tests embed with the fake.
pytestmark = pytest.mark.usefixtures("fake_embeddings")


class CountingEmbeddings(FakeEmbeddings):
    """Fake embeddings that remember every text they were asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return super().encode(texts)


def _assistant(corpus: Path, index: Path, embeddings: SentenceEmbeddings | None = None) -> Assistant:
    return Assistant(Settings(corpus_dir=corpus, index_dir=index), embeddings=embeddings)


def _ids_everywhere(assistant: Assistant) -> tuple[list[str], list[str]]:
    """Chunk ids in Chroma and in the query-time snapshot."""
    in_chroma = sorted(assistant.store.doc_hashes())
    in_snapshot = sorted(chunk.chunk_id for chunk in open_snapshot(assistant.settings.index_path()).chunks)
    return in_chroma, in_snapshot


def test_first_run_adds_everything_and_second_run_does_nothing(corpus_copy: Path, tmp_path: Path) -> None:
    embeddings = CountingEmbeddings()
    assistant = _assistant(corpus_copy, tmp_path / "ix", embeddings)
    first = assistant.ingest()
    assert sorted(first.added) == ["canada-wheat-harvest", "cup-final", "florida-storm", "kremlin-signals-talks"]
    assert first.chunks_added == first.chunks_total > 0
    embeddings.texts.clear()
    second = assistant.ingest()
    assert (second.added, second.updated, second.removed, second.unchanged) == ([], [], [], 4)
    assert second.chunks_added == 0 and second.chunks_total == first.chunks_total
    assert embeddings.texts == []


def test_editing_one_file_re_embeds_only_that_document(corpus_copy: Path, tmp_path: Path) -> None:
    embeddings = CountingEmbeddings()
    assistant = _assistant(corpus_copy, tmp_path / "ix", embeddings)
    assistant.ingest()
    before_chroma, _ = _ids_everywhere(assistant)
    cup = corpus_copy / "cup-final.txt"
    cup.write_text(cup.read_text(encoding="utf-8").replace("Sevilla", "Real Betis"), encoding="utf-8")
    embeddings.texts.clear()
    report = assistant.ingest()
    assert report.updated == ["cup-final"] and report.added == [] and report.unchanged == 3
    new_text = cup.read_text(encoding="utf-8")
    title = new_text.split("\n", 1)[0]
    assert embeddings.texts  # every text embedded is a passage or sentence of the edited file, and only those
    assert all(text.removeprefix(title + "\n") in new_text for text in embeddings.texts)
    in_chroma, in_snapshot = _ids_everywhere(assistant)
    assert in_chroma == in_snapshot and len(in_chroma) == len(before_chroma)
    assert not any("Sevilla" in c.chunk.text for c in assistant.retrieve("Valencia cup final penalties", k=4))
    assert any("Real Betis" in c.chunk.text for c in assistant.retrieve("Valencia cup final penalties", k=4))


def test_deleting_a_file_removes_its_chunks_everywhere(corpus_copy: Path, tmp_path: Path) -> None:
    assistant = _assistant(corpus_copy, tmp_path / "ix")
    assistant.ingest()
    (corpus_copy / "florida-storm.html").unlink()
    report = assistant.ingest()
    assert report.removed == ["florida-storm"] and report.chunks_removed > 0
    in_chroma, in_snapshot = _ids_everywhere(assistant)
    assert in_chroma == in_snapshot
    assert not any(chunk_id.startswith("florida-storm#") for chunk_id in in_chroma)
    assert all(c.chunk.doc_id != "florida-storm" for c in assistant.retrieve("storm floods Miami", k=5))


def test_no_duplicates_after_repeated_edits(corpus_copy: Path, tmp_path: Path) -> None:
    assistant = _assistant(corpus_copy, tmp_path / "ix")
    kremlin = corpus_copy / "kremlin-signals-talks.txt"
    original = kremlin.read_text(encoding="utf-8")
    for version in range(3):
        kremlin.write_text(original + f"\nUpdate {version}: Peskov spoke again.\n", encoding="utf-8")
        assistant.ingest()
    in_chroma, in_snapshot = _ids_everywhere(assistant)
    assert in_chroma == in_snapshot
    assert len(in_chroma) == len(set(in_chroma)) == assistant.store.count()
    assert sum(1 for chunk_id in in_chroma if chunk_id.startswith("kremlin-signals-talks#")) == sum(
        1 for c in open_snapshot(assistant.settings.index_path()).chunks if c.doc_id == "kremlin-signals-talks"
    )


def test_a_wiped_chroma_store_is_refilled_without_embedding_again(corpus_copy: Path, tmp_path: Path) -> None:
    embeddings = CountingEmbeddings()
    assistant = _assistant(corpus_copy, tmp_path / "ix", embeddings)
    first = assistant.ingest()
    assistant.store.delete(list(assistant.store.doc_hashes()))
    assert assistant.store.count() == 0
    embeddings.texts.clear()
    refill = assistant.ingest()
    assert assistant.store.count() == first.chunks_total
    assert embeddings.texts == []
    assert (refill.chunks_added, refill.chunks_synced) == (0, first.chunks_total)


def test_unreadable_files_are_reported_and_the_rest_is_indexed(corpus_copy: Path, tmp_path: Path) -> None:
    (corpus_copy / "scan.pdf").write_bytes(b"%PDF-1.7 garbage")
    report = _assistant(corpus_copy, tmp_path / "ix").ingest()
    assert len(report.added) == 4
    assert [f.source for f in report.skipped] == ["scan.pdf"]
    assert report.to_json()["documents"]["skipped"] == 1


def test_empty_or_missing_corpus_gives_a_clear_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="has no files"):
        _assistant(empty, tmp_path / "ix").ingest()
    with pytest.raises(CorpusError, match="does not exist"):
        _assistant(tmp_path / "nowhere", tmp_path / "ix").ingest()


def test_vector_shaping_settings_name_a_separate_index(tmp_path: Path) -> None:
    base = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "ix")
    assert base.index_name() == Settings(corpus_dir=tmp_path, index_dir=tmp_path / "ix").index_name()
    assert base.index_name() != Settings(corpus_dir=tmp_path, index_dir=tmp_path / "ix", chunk_size=500).index_name()
    assert (
        base.index_name()
        != Settings(corpus_dir=tmp_path, index_dir=tmp_path / "ix", embedding_model="other").index_name()
    )
    assert base.index_name() != Settings(corpus_dir=tmp_path / "other", index_dir=tmp_path / "ix").index_name()


class _Interrupting(CountingEmbeddings):
    """Stops the run (as Ctrl+C would) when asked to embed its third group of texts."""

    def encode(self, texts: list[str]) -> np.ndarray:
        if len(self.calls) == 4:  # two documents done: each takes one call for chunks, one for sentences
            raise KeyboardInterrupt
        self.calls.append(len(texts))
        return super().encode(texts)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []


def test_an_interrupted_ingest_keeps_its_work_and_the_next_run_finishes_it(
    corpus_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("assistant.ingest.sync._DOCUMENTS_PER_PASS", 1)
    with pytest.raises(KeyboardInterrupt):
        _assistant(corpus_copy, tmp_path / "ix", _Interrupting()).ingest()
    embeddings = CountingEmbeddings()
    assistant = _assistant(corpus_copy, tmp_path / "ix", embeddings)
    report = assistant.ingest()
    assert report.unchanged == 2 and len(report.added) == 2  # only the two not yet embedded
    in_chroma, in_snapshot = _ids_everywhere(assistant)
    assert in_chroma == in_snapshot and len({chunk_id.split("#")[0] for chunk_id in in_snapshot}) == 4


@pytest.mark.parametrize("first_alone", [True, False], ids=["md-then-txt", "both-at-once"])
def test_two_files_with_one_document_id_are_reported_and_the_second_recovers(
    corpus_copy: Path, tmp_path: Path, first_alone: bool
) -> None:
    """same.md and same.txt both give the id `same`: the first in path order is indexed, the other is reported
    as skipped, and once the first is gone the other is indexed (it used to be lost for good)."""
    (corpus_copy / "same.md").write_text("# Kherson ferry\n\nThe Kherson ferry resumed crossings.\n", encoding="utf-8")
    assistant = _assistant(corpus_copy, tmp_path / "ix")
    if first_alone:
        assistant.ingest()
    (corpus_copy / "same.txt").write_text("Odesa lighthouse\n\nThe Odesa lighthouse was repainted.\n", "utf-8")
    report = assistant.ingest()
    clash = [failure for failure in report.skipped if failure.source == "same.txt"]
    assert len(clash) == 1 and "'same'" in clash[0].reason and "same.md" in clash[0].reason
    assert assistant.retrieve("Kherson ferry", k=1)[0].chunk.source == "same.md"
    again = assistant.ingest()
    assert [failure.source for failure in again.skipped] == ["same.txt"], "the clash is reported until it is fixed"

    (corpus_copy / "same.md").unlink()
    recovered = assistant.ingest()
    assert recovered.skipped == [] and recovered.updated == ["same"]
    [found] = assistant.retrieve("Odesa lighthouse repainted", k=1, filters=make_filters(["same"]))
    assert found.chunk.source == "same.txt" and "lighthouse" in found.chunk.text
    assert assistant.ingest().unchanged == 5
