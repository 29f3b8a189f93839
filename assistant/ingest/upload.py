"""Uploaded documents: checked before anything is written, saved in the corpus's uploads folder, indexed at once."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path, PurePosixPath

from assistant.errors import UsageError
from assistant.index.chroma import VectorStore
from assistant.index.embed import SentenceEmbeddings
from assistant.ingest.load import UPLOAD_SUFFIXES, CorpusFile, file_type_names, load_file
from assistant.ingest.sync import ingest
from assistant.settings import Settings
from assistant.types import IngestReport


def upload_name(filename: str) -> str:
    """A safe file name for an uploaded document: no folders, no odd characters, a supported type."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-_")[:120]
    suffix = PurePosixPath(name).suffix.lower()
    if not name or not PurePosixPath(name).stem:
        raise UsageError(f"'{filename}' is not a usable file name; name the file like report.txt.")
    if suffix not in UPLOAD_SUFFIXES:
        raise UsageError(f"'{filename}' is not a supported type; upload a {file_type_names(uploads=True)} file.")
    return name


def add_document(
    settings: Settings,
    filename: str,
    data: bytes,
    embeddings: SentenceEmbeddings | None = None,
    store: VectorStore | None = None,
) -> tuple[list[str], IngestReport]:
    """Put an uploaded file into the corpus's uploads folder and index it; returns its document ids.

    The file is checked before anything is written: one that is too large or cannot be read is refused
    with the reason, and the corpus is left as it was.
    """
    limit = int(settings.max_upload_mb * 1024 * 1024)
    if len(data) > limit:
        raise UsageError(f"'{filename}' is {len(data) / 1048576:.1f} MB; the limit is {settings.max_upload_mb:g} MB.")
    name = upload_name(filename)
    folder = settings.corpus_dir / settings.uploads_subdir
    target = folder / name
    if not target.resolve().is_relative_to(settings.corpus_dir.resolve()):
        raise UsageError(f"'{filename}' would be written outside the corpus folder; rename it.")
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / name
        probe.write_bytes(data)
        relative = f"{settings.uploads_subdir}/{name}"
        documents, failures = load_file(CorpusFile(probe, relative, hashlib.sha256(data).hexdigest()))
    if failures or not documents:
        reason = failures[0].reason if failures else "holds no text"
        raise UsageError(f"'{filename}' was not added: it {reason}.")
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{name}.partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    report = ingest(settings, embeddings, None, store)
    return [document.doc_id for document in documents], report
