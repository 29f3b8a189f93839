"""An upload is committed whole or not at all: a journal in the uploads folder until the upload is indexed.

An upload puts its file into the corpus, then indexes the corpus; indexing can fail (a Chroma server down,
a full disk, the encoder) and the process can be killed in between. Left alone, the file would stay: the
next ingest would index a document its uploader was told was not added, and a retry would be saved beside
it as report-2.txt. So until the ingest that indexes it has finished, an upload has a journal: a hidden file
beside it that names the file, the hash of its bytes and the earlier uploads it replaces (moved aside under
hidden names, not deleted yet), locked (flock) by the process doing the upload.
- The upload is indexed: the files moved aside and the journal are deleted.
- It fails: the file is removed and the earlier ones put back before the error reaches the caller.
- Its process dies: the lock dies with it. The next upload or ingest in that corpus folder finds the journal
  unlocked and undoes the upload the same way, before it reads the folder; a retry gets its name back.
Hidden files are not documents (load.scan_corpus), so journals and files moved aside are never indexed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import IO, Any

_SUFFIX = ".upload-journal"
_log = logging.getLogger(__name__)


class UploadJournal:
    """The journal of one upload into folder; use as a context manager around writing and indexing the file,
    and call commit() once it is indexed: leaving the block without it undoes the upload."""

    def __init__(self, folder: Path, data: bytes) -> None:
        self.folder = folder
        self.token = secrets.token_hex(8)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.partial = folder / f".{self.token}.partial"
        self.name: str | None = None
        self.aside: dict[str, str] = {}  # hidden name -> the earlier upload's name
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> UploadJournal:
        # Written and locked under a temporary name, then renamed: a journal found under its own name is
        # always complete and, while its upload runs, locked.
        writing = self.folder / f".{self.token}.journal-new"
        self._handle = writing.open("w+b")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX)
            self._write()
            os.replace(writing, self.path)
        except BaseException:  # a full disk: nothing may stay behind
            self._close(delete=True)
            raise
        return self

    @property
    def path(self) -> Path:
        return self.folder / f".{self.token}{_SUFFIX}"

    def move_aside(self, name: str) -> None:
        """Take an earlier upload out of the corpus, to be deleted on commit or put back on failure."""
        hidden = f".{self.token}.{len(self.aside)}.replaced"
        self.aside[hidden] = name
        self._write()  # before the move: a journal may name a file not moved yet, never the other way round
        os.replace(self.folder / name, self.folder / hidden)

    def placed(self, name: str) -> None:
        """Record the name the upload's file is about to be, or was, saved under."""
        self.name = name
        self._write()

    def commit(self) -> None:
        """The upload is indexed: forget what it replaced, and the journal."""
        for hidden in self.aside:
            (self.folder / hidden).unlink(missing_ok=True)
        self.aside = {}
        self._close(delete=True)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._handle is not None:  # not committed
            try:
                _undo(self.folder, self._record())
            except OSError:  # the journal stays, unlocked: the next upload or ingest undoes it
                _log.exception("undoing the upload of %s failed", self.name)
                self._close(delete=False)
            else:
                self._close(delete=True)

    def _record(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "partial": self.partial.name, "aside": self.aside}

    def _write(self) -> None:
        assert self._handle is not None
        payload = json.dumps(self._record()).encode()
        self._handle.seek(0)
        self._handle.truncate()
        os.write(self._handle.fileno(), payload)  # one small write: complete or, if the disk is full, an error
        os.fsync(self._handle.fileno())

    def _close(self, delete: bool) -> None:
        if self._handle is None:
            return
        if delete:
            self.path.unlink(missing_ok=True)
            (self.folder / f".{self.token}.journal-new").unlink(missing_ok=True)
        self._handle.close()  # releases the lock
        self._handle = None


def recover_uploads(folder: Path) -> list[str]:
    """Undo the uploads into folder whose process died before they were indexed; returns their names."""
    undone: list[str] = []
    for path in sorted(folder.glob(f".*{_SUFFIX}")) if folder.is_dir() else []:
        try:
            handle = path.open("rb")
        except FileNotFoundError:  # finished meanwhile
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its upload is running
                continue
            try:
                if os.fstat(handle.fileno()).st_ino != path.stat().st_ino:
                    continue  # committed and gone since it was opened (a new journal cannot reuse the name)
            except FileNotFoundError:
                continue
            try:
                record = json.loads(handle.read() or b"{}")
            except ValueError:
                record = {}
            name = _undo(folder, record)
            path.unlink(missing_ok=True)
            if name:
                undone.append(name)
                _log.warning("undid the upload of %s, whose process stopped before it was indexed", name)
    return undone


def _undo(folder: Path, record: dict[str, Any]) -> str | None:
    """Remove an upload's file (only if it still holds the upload's bytes) and put back what it moved aside."""
    name = Path(str(record.get("name") or "")).name or None  # a bare name: never a path out of the folder
    if name:
        target = folder / name
        try:
            if hashlib.sha256(target.read_bytes()).hexdigest() == record.get("sha256"):
                target.unlink()
        except FileNotFoundError:
            pass
    partial = Path(str(record.get("partial") or "")).name
    if partial.startswith("."):
        (folder / partial).unlink(missing_ok=True)
    for hidden, original in dict(record.get("aside") or {}).items():
        moved, back = folder / Path(str(hidden)).name, folder / Path(str(original)).name
        if moved.exists() and not back.exists():
            os.replace(moved, back)
        elif moved.exists():
            _log.warning("kept %s: %s, which it replaced, is taken again", moved, original)
    return name
