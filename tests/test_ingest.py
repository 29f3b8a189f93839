from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.errors import CorpusError
from assistant.index.embed import SentenceEmbeddings
from assistant.index.publish import open_catalog
from assistant.index.snapshot import open_snapshot
from assistant.index.windows import TokenEncoder
from assistant.pipeline import Assistant
from assistant.settings import Settings
from assistant.types import make_filters

# What is synced, and when, does not depend on the model: these tests embed with the fake.
pytestmark = pytest.mark.usefixtures("fake_embeddings")


class CountingEmbeddings(SentenceEmbeddings):
    """The real model and its int8 export, remembering every token window ingest had it read, as text."""

    def __init__(self, cache_dir: Path) -> None:
        super().__init__(cache_dir=cache_dir, precision="int8")
        self.texts: list[str] = []

    def token_encoder(self) -> TokenEncoder | None:
        inner = super().token_encoder()
        assert inner is not None
        texts = self.texts

        class Counting:
            tokenizer, max_length = inner.tokenizer, inner.max_length

            def hidden(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
                texts.extend(inner.tokenizer.decode(ids) for ids in batch)
                return inner.hidden(batch)

        return Counting()


def _assistant(
    corpus: Path, index: Path, embeddings: SentenceEmbeddings | None = None, embed_batch_size: int = 32
) -> Assistant:
    settings = Settings(corpus_dir=corpus, index_dir=index, embed_batch_size=embed_batch_size)
    return Assistant(settings, embeddings=embeddings)


def _ids_everywhere(assistant: Assistant) -> tuple[list[str], list[str]]:
    """Chunk ids in Chroma and in the query-time snapshot."""
    in_chroma = sorted(assistant.store.doc_hashes())
    in_snapshot = sorted(chunk.chunk_id for chunk in open_snapshot(assistant.settings.index_path()).chunks)
    return in_chroma, in_snapshot


def test_first_run_adds_everything_and_second_run_does_nothing(corpus_copy: Path, tmp_path: Path) -> None:
    embeddings = CountingEmbeddings(tmp_path / "models")
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
    embeddings = CountingEmbeddings(tmp_path / "models")
    assistant = _assistant(corpus_copy, tmp_path / "ix", embeddings)
    assistant.ingest()
    before_chroma, _ = _ids_everywhere(assistant)
    cup = corpus_copy / "cup-final.txt"
    cup.write_text(cup.read_text(encoding="utf-8").replace("Sevilla", "Real Betis"), encoding="utf-8")
    embeddings.texts.clear()
    report = assistant.ingest()
    assert report.updated == ["cup-final"] and report.added == [] and report.unchanged == 3
    title = cup.read_text(encoding="utf-8").split("\n", 1)[0].lower()
    assert embeddings.texts  # every window embedded opens with the edited file's title: only it was read again
    assert all(text.startswith(title) for text in embeddings.texts)
    assert any("real betis" in text for text in embeddings.texts)
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
    embeddings = CountingEmbeddings(tmp_path / "models")
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
    """Stops the run (as Ctrl+C would) when asked for its n-th batch of token windows."""

    def __init__(self, cache_dir: Path, stop_at: int) -> None:
        super().__init__(cache_dir)
        self.stop_at = stop_at
        self.batches = 0

    def token_encoder(self) -> TokenEncoder | None:
        inner = super().token_encoder()
        assert inner is not None
        run = self

        class Interrupting:
            tokenizer, max_length = inner.tokenizer, inner.max_length

            def hidden(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
                run.batches += 1
                if run.batches == run.stop_at:
                    raise KeyboardInterrupt
                return inner.hidden(batch)

        return Interrupting()


def test_an_interrupted_ingest_keeps_its_work_and_the_next_run_finishes_it(
    corpus_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("assistant.ingest.sync.DOCUMENTS_PER_PASS", 1)  # each document one batch of windows
    with pytest.raises(KeyboardInterrupt):
        _assistant(corpus_copy, tmp_path / "ix", _Interrupting(tmp_path / "models", stop_at=3)).ingest()
    embeddings = CountingEmbeddings(tmp_path / "models")
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


def _long_report() -> str:
    """A long, plain news-like text: 60 paragraphs of three sentences, each naming its own numbers."""
    towns = ["Kharkiv", "Odesa", "Dnipro", "Zaporizhzhia", "Sumy", "Mykolaiv"]
    paragraphs = [
        f"Day {day}: officials in {towns[day % 6]} reported {day * 3} drones over the region overnight. "
        f"Air defences shot down {day * 2} of them, the regional governor said on Telegram. "
        f"Repairs to the power grid in {towns[(day + 1) % 6]} were expected to take {day % 5 + 1} days."
        for day in range(1, 61)
    ]
    return "Air war diary\n\n" + "\n\n".join(paragraphs) + "\n"


def test_a_long_file_shows_progress_within_it_and_resumes_from_its_last_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "diary.txt").write_text(_long_report(), encoding="utf-8")
    monkeypatch.setattr("assistant.ingest.sync.WINDOWS_PER_COMMIT", 2)
    whole = CountingEmbeddings(tmp_path / "models")
    seen: list[tuple[int, int]] = []
    reference = _assistant(corpus, tmp_path / "whole", whole, embed_batch_size=1)
    reference.ingest(progress=lambda done, total, _: seen.append((done, total)))
    windows = len(whole.texts)
    assert windows >= 6
    assert len(seen) > windows and [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1][0] == seen[-1][1] > 10_000

    stopping = _Interrupting(tmp_path / "models", stop_at=6)
    with pytest.raises(KeyboardInterrupt):
        _assistant(corpus, tmp_path / "ix", stopping, embed_batch_size=1).ingest()
    resumed = CountingEmbeddings(tmp_path / "models")
    assistant = _assistant(corpus, tmp_path / "ix", resumed, embed_batch_size=1)
    assistant.ingest()
    assert len(resumed.texts) == windows - 4  # the four windows committed in pairs before the stop are kept
    assert _chunk_vectors(assistant).keys() == _chunk_vectors(reference).keys()
    assert all(
        np.allclose(vector, _chunk_vectors(reference)[chunk_id], atol=1e-5)
        for chunk_id, vector in _chunk_vectors(assistant).items()
    )


def _chunk_vectors(assistant: Assistant) -> dict[str, np.ndarray]:
    catalog = open_catalog(assistant.settings)
    try:
        return {stored.info.chunk_id: stored.vector for stored in catalog.iter_chunks()}
    finally:
        catalog.close()
