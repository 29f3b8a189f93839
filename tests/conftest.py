from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.pipeline import Assistant
from assistant.settings import Settings
from assistant.testing import FAKE_MODEL

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
BUNDLED_CORPUS = ROOT / "corpus"
TIMELINE = DATA / "timeline"
VOICES = DATA / "voices"


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One per-user model cache for the session (exports, the measured encoder choice), never the user's own."""
    folder = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ASSISTANT_MODEL_CACHE_DIR", str(folder))
        patch.delenv("ASSISTANT_EMBED_PRECISION", raising=False)
        yield folder


@pytest.fixture(autouse=True)
def isolated_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its index under its own tmp_path, never into the project's .index."""
    index = tmp_path / "index"
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(index))
    # Servers started in a test sync no source on their own unless the test asks (tests/test_sources_schedule.py).
    monkeypatch.setenv("ASSISTANT_SOURCES_SCHEDULE", "0")
    for name in (
        "ASSISTANT_CORPUS_DIR",
        "ASSISTANT_CHROMA_URL",
        "ASSISTANT_LLM",
        "ASSISTANT_K",
        "ASSISTANT_EMBEDDING_MODEL",
    ):
        monkeypatch.delenv(name, raising=False)
    return index


@pytest.fixture
def fake_embeddings(monkeypatch: pytest.MonkeyPatch) -> str:
    """Index and ask with assistant.testing.FakeEmbeddings instead of MiniLM: for tests of plumbing (sync,
    stores, commands), not of retrieval or answer quality, which keep the real model."""
    monkeypatch.setenv("ASSISTANT_EMBEDDING_MODEL", FAKE_MODEL)
    return FAKE_MODEL


def _ingested(corpus: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Assistant:
    """The assistant over a corpus, ingested into an index folder of its own."""
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path_factory.mktemp(name)))
    assistant.ingest()
    return assistant


@pytest.fixture(scope="session")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """The assistant over the bundled corpus, ingested once for the session."""
    return _ingested(BUNDLED_CORPUS, tmp_path_factory, "bundled-index")


@pytest.fixture(scope="session")
def alias_corpus(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """The assistant over tests/data/aliases: one Kremlin story among unrelated ones."""
    return _ingested(DATA / "aliases", tmp_path_factory, "alias-index")


@pytest.fixture(scope="session")
def dated_corpus(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """The assistant over tests/data/dated: documents with dates and tags, and one without."""
    return _ingested(DATA / "dated", tmp_path_factory, "dated-index")


@pytest.fixture(scope="session")
def timeline(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """The assistant over tests/data/timeline: dated news from 2022 to 2026 and an undated note."""
    return _ingested(TIMELINE, tmp_path_factory, "timeline-index")


@pytest.fixture(scope="session")
def periods(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """The assistant over tests/data/periods: four undated encyclopedia-style pages, several periods each."""
    return _ingested(DATA / "periods", tmp_path_factory, "periods-index")


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of tests/data/aliases."""
    target = tmp_path / "corpus"
    shutil.copytree(DATA / "aliases", target)
    return target


def change_dated_corpus(corpus: Path) -> None:
    """In a copy of tests/data/dated: edit one document (Two -> Three workers), remove one, add one (Kyiv)."""
    drone = corpus / "2025-06-20-drone-attack.md"
    drone.write_text(drone.read_text(encoding="utf-8").replace("Two workers", "Three workers"), encoding="utf-8")
    (corpus / "undated-profile.txt").unlink()
    (corpus / "2025-07-05-kyiv.md").write_text(
        "---\ntitle: Missiles hit Kyiv\ndate: 2025-07-05\ntags: [war-and-conflicts]\n---\n"
        "Missiles struck Kyiv overnight and air defences shot most of them down.\n",
        encoding="utf-8",
    )


@pytest.fixture(scope="session")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """The assistant over tests/data/voices: Kremlin, Ukrainian, UN and wire statements with their voices."""
    return _ingested(VOICES, tmp_path_factory, "voices-index")
