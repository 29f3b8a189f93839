"""Uploads through Assistant.add_document: what is refused leaves nothing behind, what is added is added whole."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from assistant.errors import UsageError
from assistant.ingest import upload
from assistant.ingest.load import CorpusFile, load_file
from assistant.pipeline import Assistant
from assistant.settings import Settings
from assistant.types import Document, LoadFailure

from .conftest import BUNDLED_CORPUS

pytestmark = pytest.mark.usefixtures("fake_embeddings")


def alias_bomb(key: str = "other") -> bytes:
    """Markdown whose few hundred bytes of front matter stand for 9^9 strings once its aliases are expanded."""
    names = "abcdefghi"
    lines = ["---", 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [
        f"{name}: &{name} [{', '.join([f'*{before}'] * 9)}]" for before, name in zip(names, names[1:], strict=False)
    ]
    lines += [f"{key}: *i", "---", "Body text.", ""]
    return "\n".join(lines).encode()


@pytest.fixture
def app(tmp_path: Path) -> Assistant:
    corpus = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    assistant = Assistant(Settings(corpus_dir=corpus))
    assistant.ingest()
    return assistant


def uploads(app: Assistant) -> list[str]:
    folder = app.settings.corpus_dir / app.settings.uploads_subdir
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("key", ["title", "tags", "other"])
def test_front_matter_with_aliases_is_refused_at_once(tmp_path: Path, key: str) -> None:
    path = tmp_path / "bomb.md"
    path.write_bytes(alias_bomb(key))
    assert len(path.read_bytes()) < 500
    documents, [failure] = load_file(CorpusFile(path, "bomb.md", ""))
    assert documents == []
    assert "anchor or alias" in failure.reason and "write each value out" in failure.reason


def test_an_alias_bomb_upload_is_refused_and_leaves_nothing_in_uploads(app: Assistant) -> None:
    with pytest.raises(UsageError, match=r"^'bomb.md' was not added: it has front matter with a YAML anchor"):
        app.add_document("bomb.md", alias_bomb())
    assert uploads(app) == []
    assert app.ingest().skipped == []  # nothing left for a later ingest to read again


def test_front_matter_over_its_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_text("---\ntitle: t\nnotes: " + "x" * 70_000 + "\n---\nBody.\n")
    _, [failure] = load_file(CorpusFile(path, "big.md", ""))
    assert failure.reason.startswith("has front matter of 68 kB; the limit is 64 kB")


def test_ordinary_front_matter_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.md"
    path.write_text("---\ntitle: Talks\ndate: 2025-07-01\ntags: [a, b]\n---\nBody.\n")
    [document], failures = load_file(CorpusFile(path, "ok.md", ""))
    assert failures == [] and (document.title, document.date, document.tags) == ("Talks", "2025-07-01", ("a", "b"))


def test_a_document_slow_to_read_holds_up_no_other_upload(app: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    reading = threading.Event()

    def slow_load(file: CorpusFile) -> tuple[list[Document], list[LoadFailure]]:
        if file.path.name == "slow.txt":
            reading.set()
            time.sleep(3)
        return load_file(file)

    monkeypatch.setattr(upload, "load_file", slow_load)
    finished: list[str] = []
    slow = threading.Thread(target=lambda: finished.append(app.add_document("slow.txt", b"Slow text.").source))
    slow.start()
    assert reading.wait(10)
    finished.append(app.add_document("quick.txt", b"Quick text.").source)
    slow.join()
    assert finished == ["uploads/quick.txt", "uploads/slow.txt"]
