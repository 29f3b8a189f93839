"""A full disk and a read-only folder: said as what they are, with what to do, and never as a damaged index.

The real cases run on a small tmpfs of their own, filled up or remounted read-only; mounting one needs root
(or CAP_SYS_ADMIN), so elsewhere they are skipped and only the rule's own tests run. (chmod is no test here:
root writes through it.)
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.cli import cli
from assistant.errors import BackendError, StorageError, storage_error
from assistant.pipeline import Assistant
from assistant.serve.api import create_app
from assistant.settings import Settings

from .conftest import DATA
from .servers import ASSISTANT

pytestmark = pytest.mark.usefixtures("fake_embeddings")
KEY = "a-key-for-the-storage-tests"
NEW = "Grid repairs\n\nEngineers restored power to the Kharkiv grid after the strike on Sunday.\n"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB file system of its own (tmpfs), to fill up or remount read-only."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = shutil.which("mount")
    done = subprocess.run([mount or "mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True)
    if mount is None or done.returncode != 0:
        pytest.skip(f"a small file system cannot be mounted here (needs root): {done.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no space left; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def remount(disk: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], check=True, capture_output=True)


def test_the_rule_reads_errnos_sqlite_codes_and_chroma_s_words() -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/data/index/catalog.sqlite")
    assert str(storage_error(full, "/data")).startswith(
        "The disk that holds /data/index/catalog.sqlite is full (No space left on device); the index is not damaged."
    )
    sqlite_full = sqlite3.OperationalError("database or disk is full")
    assert "is full" in str(storage_error(sqlite_full, "/data/index"))
    chroma = BackendError("Chroma failed")
    chroma.__cause__ = RuntimeError("error returned from database: (code: 8) attempt to write a readonly database")
    assert str(storage_error(chroma, "/data/index/chroma")).startswith("/data/index/chroma cannot be written (")
    assert "cannot be written (Read-only file system)" in str(
        storage_error(OSError(errno.EROFS, "Read-only file system"), "/x")
    )
    assert storage_error(sqlite3.DatabaseError("file is not a database"), "/x") is None
    assert storage_error(OSError(errno.ENOENT, "No such file or directory"), "/x") is None


def test_ingest_on_a_full_disk_says_so_keeps_what_it_had_and_goes_on_once_there_is_space(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "dated", corpus)
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(small_disk / "index"))
    assert cli(["ingest", "--corpus", str(corpus)]) == 0
    (corpus / "grid.txt").write_text(NEW * 50, encoding="utf-8")
    filler = fill(small_disk)
    capsys.readouterr()
    assert cli(["ingest", "--corpus", str(corpus)]) == 1
    error = capsys.readouterr().err
    assert f"The disk that holds {small_disk / 'index'}" in error and "is full" in error, error
    assert "not damaged" in error and "Free some space" in error and "delete" not in error
    filler.unlink()
    assert cli(["ingest", "--corpus", str(corpus), "--json"]) == 0
    report = capsys.readouterr().out
    assert '"added": 1' in report and '"unchanged": 3' in report  # the earlier documents were not embedded again


def test_ingest_into_a_read_only_folder_says_so_and_goes_on_once_it_is_writable(
    small_disk: Path, tmp_path: Path, fake_embeddings: str
) -> None:
    """The command in a process of its own, as users run it: this one would keep the store's files open, and a
    file system with files open for writing cannot be remounted read-only."""
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "dated", corpus)
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(small_disk / "index"), "ASSISTANT_CORPUS_DIR": str(corpus)}

    def ingest() -> subprocess.CompletedProcess[str]:
        return subprocess.run([ASSISTANT, "ingest"], env=env, capture_output=True, text=True, timeout=300)

    assert ingest().returncode == 0
    (corpus / "grid.txt").write_text(NEW, encoding="utf-8")
    remount(small_disk, "ro")
    try:
        refused = ingest()
        assert refused.returncode == 1
        assert "cannot be written" in refused.stderr and "read-only" in refused.stderr, refused.stderr
        assert "not damaged" in refused.stderr and "delete" not in refused.stderr
    finally:
        remount(small_disk, "rw")
    again = ingest()
    assert again.returncode == 0 and "1 added" in again.stdout, again.stderr


def test_an_upload_on_a_full_disk_is_a_507_that_leaves_nothing_and_works_once_there_is_space(
    small_disk: Path, tmp_path: Path
) -> None:
    corpus = small_disk / "corpus"
    shutil.copytree(DATA / "dated", corpus)
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", api_key=KEY))
    assistant.ingest()
    client = TestClient(create_app(assistant), headers={"Authorization": f"Bearer {KEY}"})
    filler = fill(small_disk)
    response = client.post("/v1/documents", files={"file": ("grid.txt", NEW.encode() * 20, "text/plain")})
    assert response.status_code == 507, response.text
    error = response.json()["error"]
    assert error["type"] == "StorageError"
    assert error["message"].startswith(f"'grid.txt' was not added. The disk that holds {corpus / 'uploads'}")
    uploads = corpus / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []  # no .partial file, no journal
    filler.unlink()
    response = client.post("/v1/documents", files={"file": ("grid.txt", NEW.encode() * 20, "text/plain")})
    assert response.status_code == 201 and response.json()["stored_as"] == "uploads/grid.txt"


def test_storage_error_is_part_of_the_public_api() -> None:
    import assistant

    assert assistant.StorageError is StorageError
