"""Uploaded documents: checked before anything is written, saved in the corpus's uploads folder, indexed at once.

A file name keeps its letters in any script (NFC-normalised) and loses what could do harm: folders, control
and format characters, leading dots, excess length. An upload never silently takes the place of another: a
name (or document id) already in the uploads folder gets a numbered name (`report-2.txt`) unless the caller
asks to replace it, and the result says which happened. An upload is committed whole or not at all
(pending.py): one that fails to be indexed, or whose process dies, leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from assistant.errors import StorageError, UsageError, storage_error
from assistant.index.chroma import VectorStore
from assistant.index.embed import SentenceEmbeddings
from assistant.index.publish import catalog_path, open_catalog
from assistant.ingest.load import (
    SUPPORTED_SUFFIXES,
    UPLOAD_SUFFIXES,
    CorpusFile,
    doc_id_for,
    file_type_names,
    load_file,
)
from assistant.ingest.pending import UploadJournal, recover_uploads
from assistant.ingest.sync import ingest
from assistant.settings import Settings
from assistant.types import IngestReport

# File systems allow 255 bytes a name; the numbered suffix (-2) and the temporary prefix need a little room.
MAX_NAME_BYTES = 200
_KEPT_PUNCTUATION = "._-"
_DASHES = re.compile(r"-{2,}")


@dataclass(frozen=True)
class StoredUpload:
    """Where an uploaded document was saved, the documents it holds, and what indexing it changed."""

    filename: str  # as given by the uploader
    source: str  # where it was saved, relative to the corpus folder: uploads/report-2.txt
    doc_ids: list[str]
    replaced: list[str]  # earlier uploads (relative paths) it replaced, when replacing was asked for
    name_taken: bool  # its name was taken by an earlier upload, so it was saved under a numbered one
    report: IngestReport

    @property
    def renamed(self) -> bool:
        """Whether it was saved under another name than the one given (made safe, or already taken)."""
        return PurePosixPath(self.source).name != PurePosixPath(self.filename.replace("\\", "/")).name

    def to_json(self) -> dict[str, Any]:
        """The reply of POST /v1/documents."""
        return {
            "doc_ids": self.doc_ids,
            "stored_as": self.source,
            "renamed": self.renamed,
            "name_taken": self.name_taken,
            "replaced": self.replaced,
            "chunks_added": self.report.chunks_added,
            "ingest": self.report.to_json(),
        }


def upload_name(filename: str) -> str:
    """A safe file name for an uploaded document: no folders or invisible characters, a supported type."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = _DASHES.sub("-", "".join(_safe_char(ch) for ch in name)).strip("._- ")
    path = PurePosixPath(name)
    stem, suffix = path.stem.rstrip("._-"), path.suffix.lower()
    if not suffix and name.lower().lstrip("-") in (s.lstrip(".") for s in UPLOAD_SUFFIXES):
        stem, suffix = "", f".{name.lower().lstrip('-')}"  # all but the type was dropped, as in ".txt" or "?.txt"
    if not suffix:
        raise UsageError(f"'{_shown(filename)}' has no type; name the file like report.txt.")
    stem = stem or "upload"  # nothing of the name was usable
    if suffix not in UPLOAD_SUFFIXES:
        raise UsageError(
            f"'{_shown(filename)}' is not a supported type; upload a {file_type_names(uploads=True)} file."
        )
    while len(f"{stem}{suffix}".encode()) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return f"{stem.rstrip('._-')}{suffix}"


def _safe_char(ch: str) -> str:
    """A character of a file name as kept: letters, marks and digits of any script, '.', '_' and '-'."""
    kind = unicodedata.category(ch)[0]
    return ch if kind in "LMN" or ch in _KEPT_PUNCTUATION else "-"


def _shown(filename: str) -> str:
    """A file name fit for a one-line message: control characters made visible, length capped."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in filename)
    return shown if len(shown) <= 120 else shown[:117] + "..."


def add_document(
    settings: Settings,
    filename: str,
    data: bytes,
    embeddings: SentenceEmbeddings | None = None,
    store: VectorStore | None = None,
    replace: bool = False,
    indexed_sources: Collection[str] | Callable[[], Collection[str]] = (),
    lock: AbstractContextManager[object] | None = None,
) -> StoredUpload:
    """Put an uploaded file into the corpus's uploads folder and index it.

    The file is checked before anything is written: one that is too large or cannot be read is refused
    with the reason, and the corpus is left as it was. A name already taken gets a number (report-2.txt),
    unless replace is set: then the earlier upload with that name (or that document id) is replaced.

    indexed_sources: the files the index holds documents of (or a function that gives them), with a Chroma
    server. Indexing makes the server hold this machine's documents only, so an upload is refused when that
    would remove files that another machine indexed and this one neither has nor ever indexed.

    lock: held while the corpus and the index change, not while the file is checked: a document that is slow
    to read holds up no other upload or ingest.

    An upload is added whole or not at all: when writing or indexing it fails, nothing of it is left behind
    (StorageError when the disk is full or the folder cannot be written).
    """
    name = _checked(settings, filename, data)
    with lock or nullcontext():
        _check_not_foreign(settings, filename, indexed_sources() if callable(indexed_sources) else indexed_sources)
        try:
            return _store(settings, filename, data, name, embeddings, store, replace)
        except (OSError, StorageError) as exc:  # the journal has removed whatever was written
            where = settings.corpus_dir / settings.uploads_subdir
            problem = exc if isinstance(exc, StorageError) else storage_error(exc, where)
            if problem is None:
                raise
            raise StorageError(f"'{_shown(filename)}' was not added. {problem}") from exc


def _check_not_foreign(settings: Settings, filename: str, indexed_sources: Collection[str]) -> None:
    foreign = files_indexed_elsewhere(settings, indexed_sources)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise UsageError(
            f"'{_shown(filename)}' was not added: this server's corpus folder lacks {len(foreign)} file(s) the "
            f"index holds ({shown}), and indexing here would remove them from the Chroma server. Upload where "
            "`assistant ingest` runs, or give this server the same corpus folder."
        )


def _checked(settings: Settings, filename: str, data: bytes) -> str:
    """The safe name of an upload, once its size, type and text are checked; UsageError saying what is wrong."""
    limit = int(settings.max_upload_mb * 1024 * 1024)
    if len(data) > limit:
        raise UsageError(
            f"'{_shown(filename)}' is {len(data) / 1048576:.1f} MB; the limit is {settings.max_upload_mb:g} MB."
        )
    name = upload_name(filename)
    folder = settings.corpus_dir / settings.uploads_subdir
    if not (folder / name).resolve().is_relative_to(settings.corpus_dir.resolve()):
        raise UsageError(f"'{_shown(filename)}' would be written outside the corpus folder; rename it.")
    with tempfile.TemporaryDirectory() as scratch:  # every upload type holds one document: only its text is checked
        probe = Path(scratch) / name
        probe.write_bytes(data)
        relative = f"{settings.uploads_subdir}/{name}"
        documents, failures = load_file(CorpusFile(probe, relative, hashlib.sha256(data).hexdigest()))
    if failures or not documents:
        reason = failures[0].reason if failures else "holds no text"
        raise UsageError(f"'{_shown(filename)}' was not added: it {reason}.")
    return name


def _store(
    settings: Settings,
    filename: str,
    data: bytes,
    name: str,
    embeddings: SentenceEmbeddings | None,
    store: VectorStore | None,
    replace: bool,
) -> StoredUpload:
    """Write a checked upload into the uploads folder under a free name (or in place of its namesake) and index it."""
    folder = settings.corpus_dir / settings.uploads_subdir
    folder.mkdir(parents=True, exist_ok=True)
    recover_uploads(folder)  # an upload whose process died is undone first: its name is free again
    safe_name = name
    replaced = _same_document(folder, name) if replace else []
    if not replace:
        name = _free_name(folder, name)
    with UploadJournal(folder, data) as journal:
        journal.partial.write_bytes(data)
        for other in replaced:
            journal.move_aside(other)
        if replace:
            journal.placed(name)
            os.replace(journal.partial, folder / name)
        else:
            name = _link_free(journal, folder, name)
        source = f"{settings.uploads_subdir}/{name}"
        report = ingest(settings, embeddings, None, store)
        refused = [failure.reason for failure in report.skipped if failure.source.split(":", 1)[0] == source]
        if refused:  # read differently than the probe (a parse cut short): never left where every ingest reads it
            raise UsageError(f"'{_shown(filename)}' was not added: it {refused[0]}.")
        journal.commit()
    return StoredUpload(
        filename,
        source,
        [doc_id_for(source)],  # the name may have changed since the probe: another upload took it meanwhile
        [f"{settings.uploads_subdir}/{other}" for other in replaced],
        name != safe_name,
        report,
    )


def files_indexed_elsewhere(settings: Settings, indexed_sources: Collection[str]) -> list[str]:
    """The indexed files that this machine's corpus folder lacks and its catalog never held: another machine
    indexed them (one it did index and that is gone since is a removal an ingest here would make anyway)."""
    unknown = [source for source in indexed_sources if not (settings.corpus_dir / source).is_file()]
    if not unknown:
        return []
    catalog_file = catalog_path(settings)
    known: set[str] = set()
    if catalog_file.exists():
        with closing(open_catalog(settings)) as catalog:
            known = set(catalog.file_hashes())
    return sorted(source for source in unknown if source not in known)


def _same_document(folder: Path, name: str) -> list[str]:
    """Files in the folder that give the same document id as name (report.txt, report.md): what replacing replaces."""
    stem = PurePosixPath(name).stem
    return sorted(
        path.name for path in folder.glob("*") if path.is_file() and path.stem == stem and _is_document(path.name)
    )


def _is_document(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in SUPPORTED_SUFFIXES


def _free_name(folder: Path, name: str) -> str:
    """name, or name with the first free number (report-2.txt) when a file there already gives its document id."""
    stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
    number = 1
    candidate = name
    while folder.is_dir() and _same_document(folder, candidate):
        number += 1
        candidate = f"{stem}-{number}{suffix}"
    return candidate


def _link_free(journal: UploadJournal, folder: Path, name: str) -> str:
    """Move the journal's partial file to a free name in folder, never replacing a file (another process's
    upload may have taken name)."""
    while True:
        journal.placed(name)
        try:
            os.link(journal.partial, folder / name)  # fails when the name exists, unlike a rename
        except FileExistsError:
            name = _free_name(folder, name)
            continue
        journal.partial.unlink()
        return name
