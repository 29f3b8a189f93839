"""Uploads through Assistant.add_document: what is refused leaves nothing behind, what is added is added whole."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import UsageError
from assistant.ingest import upload
from assistant.ingest.load import CorpusFile, load_file
from assistant.pipeline import Assistant
from assistant.settings import Settings
from assistant.testing import FakeEmbeddings
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


GECKO = b"Gecko drones\n\nA Gecko drone was shot down over the harbour on Friday.\n"


class FailingEmbeddings(FakeEmbeddings):
    """The fake embeddings, failing while `failing` is set, as an encoder out of memory would."""

    failing = True

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.failing:
            raise RuntimeError("the encoder ran out of memory")
        return super().encode(texts)


def everything_in(folder: Path) -> list[str]:
    """Every file in the uploads folder, hidden ones (journals, partial files) included."""
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def test_an_upload_whose_indexing_fails_leaves_nothing_and_its_retry_keeps_its_name(app: Assistant) -> None:
    flaky = FailingEmbeddings()
    failing = Assistant(app.settings, embeddings=flaky)
    folder = app.settings.corpus_dir / app.settings.uploads_subdir
    with pytest.raises(RuntimeError, match="out of memory"):
        failing.add_document("gecko.txt", GECKO)
    assert everything_in(folder) == []
    assert app.ingest().added == []  # a later ingest does not index what the uploader was told failed
    flaky.failing = False
    stored = failing.add_document("gecko.txt", GECKO)
    assert (stored.source, stored.name_taken) == ("uploads/gecko.txt", False)
    assert everything_in(folder) == ["gecko.txt"]


def test_a_failed_replacing_upload_puts_the_earlier_one_back(app: Assistant) -> None:
    app.add_document("gecko.txt", GECKO)
    folder = app.settings.corpus_dir / app.settings.uploads_subdir
    failing = Assistant(app.settings, embeddings=FailingEmbeddings())
    with pytest.raises(RuntimeError):
        failing.add_document("gecko.md", b"# Gecko\n\nThe Gecko drone was a decoy.\n", replace=True)
    assert everything_in(folder) == ["gecko.txt"] and (folder / "gecko.txt").read_bytes() == GECKO
    assert [r.chunk.doc_id for r in app.retrieve("Gecko drone shot down harbour", k=1)] == ["uploads/gecko"]


_KILLED_UPLOAD = """
import sys, time
from pathlib import Path
from assistant.pipeline import Assistant
from assistant.settings import Settings
from assistant.testing import FakeEmbeddings

class Stuck(FakeEmbeddings):
    def encode(self, texts):
        if any("Gecko" in text for text in texts):
            print("indexing", flush=True)
            time.sleep(600)
        return super().encode(texts)

Assistant(Settings(corpus_dir=Path(sys.argv[1])), embeddings=Stuck()).add_document("gecko.txt", sys.argv[2].encode())
"""


def test_an_upload_whose_process_is_killed_is_undone_and_its_retry_keeps_its_name(app: Assistant) -> None:
    folder = app.settings.corpus_dir / app.settings.uploads_subdir
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_UPLOAD, str(app.settings.corpus_dir), GECKO.decode()], stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == b"indexing\n"
        assert "gecko.txt" in everything_in(folder)  # saved, and being indexed
    finally:
        process.kill()  # SIGKILL: no clean-up of its own runs
        process.wait(30)
    report = app.ingest()
    assert report.added == [] and everything_in(folder) == []
    stored = app.add_document("gecko.txt", GECKO)
    assert (stored.source, stored.name_taken) == ("uploads/gecko.txt", False)
    assert everything_in(folder) == ["gecko.txt"]
    assert [r.chunk.doc_id for r in app.retrieve("Gecko drone shot down harbour", k=1)] == ["uploads/gecko"]
