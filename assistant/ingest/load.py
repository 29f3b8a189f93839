"""Corpus files -> Documents. One loader a file type; a file that cannot be read becomes a LoadFailure.

FILE_TYPES at the end is the one list of supported file types: loading, ingest, uploads, the web chat
and the error messages all read it, so a new type is one loader and one entry there.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from assistant.ingest.dates import DateUnreadable, read_date
from assistant.ingest.html import HtmlError, read_html
from assistant.types import Document, LoadFailure, LoadWarning

MAX_FILE_BYTES = 50 * 1024 * 1024
_TITLE_MAX_CHARS = 200
_DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|\Z)", re.DOTALL)
# Front matter holds a title, a date, a source and some tags: a few hundred bytes. 64 kB is a hundred times
# that, and small enough that a value written out in full can cost nothing worth bounding.
FRONT_MATTER_MAX_BYTES = 64 * 1024
_FRONT_MATTER_MAX_DEPTH = 20  # nested lists or mappings; tags are one level

_Loaded = tuple[list[Document], list[LoadFailure]]
_log = logging.getLogger(__name__)


class _Unreadable(Exception):
    """Why a file (or one record of it) could not be loaded."""


@dataclass(frozen=True)
class CorpusFile:
    """A file in the corpus folder and the hash of its bytes."""

    path: Path
    relative: str  # POSIX path relative to the corpus folder
    sha256: str


def scan_corpus(corpus_dir: Path) -> list[CorpusFile]:
    """Every file below the corpus folder, hidden ones excepted, in a stable order."""
    files = []
    for path in sorted(corpus_dir.rglob("*")):
        relative = path.relative_to(corpus_dir).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in relative.split("/")):
            continue
        files.append(CorpusFile(path, relative, hashlib.sha256(path.read_bytes()).hexdigest()))
    return files


def load_file(file: CorpusFile) -> tuple[list[Document], list[LoadFailure]]:
    """The documents in one corpus file, and the failures (the whole file, or single JSONL lines)."""
    suffix = file.path.suffix.lower()
    loader = _READERS.get(suffix)
    if loader is None:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        return [], [
            LoadFailure(file.relative, f"unsupported file type '{suffix or file.path.name}' (supported: {supported})")
        ]
    try:
        if file.path.stat().st_size > MAX_FILE_BYTES:
            raise _Unreadable(f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        documents, failures = loader(file)
    except _Unreadable as exc:
        return [], [LoadFailure(file.relative, str(exc))]
    except Exception as exc:  # a parser's own failure on a broken file: report it, go on
        return [], [LoadFailure(file.relative, f"could not be parsed ({type(exc).__name__}: {exc})")]
    if not documents and not failures:
        failures = [LoadFailure(file.relative, "holds no text")]
    return [doc for doc in documents if doc.text.strip()], failures


def load_corpus(corpus_dir: Path) -> tuple[list[Document], list[LoadFailure]]:
    """All documents of a corpus folder, and the files that could not be read."""
    documents: list[Document] = []
    failures: list[LoadFailure] = []
    for file in scan_corpus(corpus_dir):
        loaded, failed = load_file(file)
        documents.extend(loaded)
        failures.extend(failed)
    return documents, failures


def doc_id_for(relative: str) -> str:
    """A document's id: its path relative to the corpus folder, without the extension."""
    stem, _, suffix = relative.rpartition(".")
    return stem if stem and "/" not in suffix else relative


def _read_text(file: CorpusFile) -> str:
    raw = file.path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise _Unreadable("is binary, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _date_from_name(relative: str) -> str | None:
    match = _DATE_IN_NAME.search(Path(relative).name)
    try:
        return read_date("-".join(match.groups())) if match else None
    except DateUnreadable:  # a name like 2025-13-45-notes: no date, and nothing the name promised
        return None


def _dated(stated: Sequence[tuple[str, Any]], relative: str, where: str) -> tuple[str | None, tuple[LoadWarning, ...]]:
    """A document's date: the first of the dates its metadata states, as (where, value), that reads as a day
    (dates.py), else its file name's; a warning when it states some and none reads."""
    unread: list[str] = []
    for place, value in stated:
        try:
            date = read_date(value)
        except DateUnreadable as exc:
            unread.append(f"its {place} date {exc}")
            continue
        if date:
            return date, ()
    named = _date_from_name(relative)
    if not unread:
        return named, ()
    done = f"is dated {named} from its file name" if named else "is indexed without a date"
    return named, (LoadWarning(where, f"{done}: {unread[0]}"),)


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list | tuple):
        return tuple(str(tag).strip() for tag in value if str(tag).strip())
    return ()


def _title_from_name(relative: str) -> str:
    stem = Path(relative).stem
    stem = _DATE_IN_NAME.sub("", stem).strip("-_ ")
    return (stem or Path(relative).stem).replace("-", " ").replace("_", " ").strip().capitalize()


def _first_line_title(text: str) -> str | None:
    """The first line, when it is short and followed by a blank line."""
    first, sep, rest = text.partition("\n")
    if sep and first.strip() and len(first.strip()) <= _TITLE_MAX_CHARS and rest.startswith(("\n", " \n")):
        return first.strip()
    return None


def _document(
    file: CorpusFile,
    text: str,
    meta: dict[str, Any],
    title: str | None,
    doc_id: str | None = None,
    dates: Sequence[tuple[str, Any]] | None = None,
    where: str | None = None,
) -> Document:
    """A document from its file, its text and metadata; dates: the dates it states, as (where, value), when they
    are not metadata's "date" field (where: the file, or its line, for a warning)."""
    stated = dates if dates is not None else [("front matter", meta.get("date"))]
    date, warnings = _dated(stated, file.relative, where or file.relative)
    return Document(
        doc_id=doc_id or doc_id_for(file.relative),
        text=text,
        title=str(meta.get("title") or title or _title_from_name(file.relative)).strip(),
        source=file.relative,
        date=date,
        tags=_tags(meta.get("tags")),
        url=str(meta.get("url") or meta.get("source") or "") or None,
        voice=_text_field(meta.get("voice")),
        publisher=_text_field(meta.get("publisher")),
        license=_text_field(meta.get("license") or meta.get("licence")),
        warnings=warnings,
    )


def _text_field(value: Any) -> str | None:
    """A metadata value kept as one line of text (a voice, a publisher); None when absent or empty."""
    text = " ".join(str(value).split()) if isinstance(value, str | int | float) else ""
    return text or None


def _load_txt(file: CorpusFile) -> Document:
    text = _read_text(file)
    return _document(file, text, {}, _first_line_title(text))


def _load_markdown(file: CorpusFile) -> Document:
    text = _read_text(file)
    meta: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        meta = _front_matter(match.group(1) or "")
        text = text[match.end() :]
    heading = re.match(r"\s*#\s+(.+)", text)
    return _document(file, text, meta, heading.group(1).strip() if heading else _first_line_title(text))


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader without anchors and aliases, and with nesting bounded.

    An alias is a reference: nine nested lists of nine aliases are a few hundred bytes that stand for 9^9
    strings, which any reader of the values (a title, tags) writes out in full: gigabytes (an "alias bomb").
    Front matter has no use for them, so they are refused before anything is built.
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Unreadable(
                "has front matter with a YAML anchor or alias (&name, *name), which front matter does not "
                "allow; write each value out"
            )
        self._depth += 1
        try:
            if self._depth > _FRONT_MATTER_MAX_DEPTH:
                raise _Unreadable(f"has front matter nested more than {_FRONT_MATTER_MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _front_matter(block: str) -> dict[str, Any]:
    """The metadata of a Markdown file's front matter; _Unreadable when it is too large, not YAML, or not a mapping."""
    size = len(block.encode())
    if size > FRONT_MATTER_MAX_BYTES:
        raise _Unreadable(
            f"has front matter of {size // 1024} kB; the limit is {FRONT_MATTER_MAX_BYTES // 1024} kB (title, "
            "date, source, tags): move the rest into the text"
        )
    try:
        meta = yaml.load(block, Loader=_FrontMatterLoader) or {}  # noqa: S506 (a safe loader, made stricter)
    except yaml.YAMLError as exc:
        raise _Unreadable(f"has front matter that is not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(meta, dict):
        raise _Unreadable("has front matter that is not a mapping of keys to values")
    return meta


def _load_html(file: CorpusFile) -> Document:
    try:
        page = read_html(_read_text(file))
    except HtmlError as exc:
        raise _Unreadable(str(exc)) from exc
    return _document(file, page.text, {}, page.title, dates=page.dates)


class _PdfWarnings(logging.Handler):
    """pypdf's warnings (a repaired cross-reference table, a bad font) to our log, with the file they are about.

    Left alone they would reach stderr raw, in the middle of a progress bar or a server's output.
    """

    def emit(self, record: logging.LogRecord) -> None:
        _log.info("%s: pypdf: %s", _pdf_file.get("a PDF"), record.getMessage())


_pdf_file: contextvars.ContextVar[str] = contextvars.ContextVar("pdf_file")
_PYPDF_LOG = logging.getLogger("pypdf")
if not any(isinstance(handler, _PdfWarnings) for handler in _PYPDF_LOG.handlers):
    _PYPDF_LOG.addHandler(_PdfWarnings())
    _PYPDF_LOG.propagate = False


def _load_pdf(file: CorpusFile) -> Document:
    token = _pdf_file.set(file.relative)
    try:
        return _read_pdf(file)
    finally:
        _pdf_file.reset(token)


def _read_pdf(file: CorpusFile) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(file.path)
        if reader.is_encrypted:
            raise _Unreadable("is an encrypted PDF; save an unencrypted copy")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        info: dict[str, Any] = dict(reader.metadata or {})
    except PdfReadError as exc:
        raise _Unreadable(f"is not a readable PDF ({exc})") from exc
    text = "\n\n".join(page for page in pages if page)
    if not text.strip():
        raise _Unreadable("has no extractable text (a scanned PDF needs OCR first)")
    title = str(info.get("/Title") or "").strip() or None
    dates = [("PDF CreationDate", _pdf_date(str(info.get("/CreationDate") or "")))]
    return _document(file, text, {}, title or _first_line_title(text), dates=dates)


def _pdf_date(value: str) -> str | None:
    match = re.match(r"D:(\d{4})(\d{2})(\d{2})", value)
    return "-".join(match.groups()) if match else None


def _load_jsonl(file: CorpusFile) -> _Loaded:
    """One document a line: {"text": ..., "id"?, "title"?, "date"?, "url"?, "tags"?, and voice, publisher, license}."""
    documents: list[Document] = []
    failures: list[LoadFailure] = []
    seen: set[str] = set()
    base = doc_id_for(file.relative)
    for number, line in enumerate(_read_text(file).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{file.relative}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            failures.append(LoadFailure(where, f"is not valid JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
            failures.append(LoadFailure(where, 'needs a "text" field with the document text'))
            continue
        local_id = str(record.get("id") or record.get("doc_id") or number)
        doc_id = f"{base}/{local_id}"
        if doc_id in seen:
            failures.append(LoadFailure(where, f'repeats the id "{local_id}" of an earlier line'))
            continue
        seen.add(doc_id)
        text = record["text"].replace("\r\n", "\n")
        dates = [('"date" field', record.get("date"))]
        documents.append(
            _document(file, text, record, _first_line_title(text), doc_id=doc_id, dates=dates, where=where)
        )
    return documents, failures


def _one(load: Callable[[CorpusFile], Document]) -> Callable[[CorpusFile], _Loaded]:
    def load_one(file: CorpusFile) -> _Loaded:
        document = load(file)
        return ([document] if document.text.strip() else []), []

    return load_one


@dataclass(frozen=True)
class FileType:
    """A kind of corpus file: its suffixes (the first is its name), how it is read, and whether users may upload it."""

    suffixes: tuple[str, ...]
    read: Callable[[CorpusFile], _Loaded]
    how: str  # how its text, title and metadata are read (README.md shows it)
    uploadable: bool = True


FILE_TYPES: tuple[FileType, ...] = (
    FileType((".txt",), _one(_load_txt), "the text; a short first line followed by a blank line is the title"),
    FileType(
        (".md", ".markdown"),
        _one(_load_markdown),
        "YAML front matter (`title`, `date`, `source`, `tags`, `voice`, `publisher`, `license`) and the body",
    ),
    FileType(
        (".html", ".htm"),
        _one(_load_html),
        "the main text (`<article>` or `<main>`, else `<body>`), without markup, scripts, navigation",
    ),
    FileType(
        (".pdf",), _one(_load_pdf), "the text of each page (a scanned PDF without text is skipped: it needs OCR first)"
    ),
    # Not uploadable: an upload is one document, a JSONL file holds many.
    FileType(
        (".jsonl",),
        _load_jsonl,
        'one document a line: `{"text": ..., "id"?, "title"?, "date"?, "url"?, "tags"?, "voice"?, "publisher"?, '
        '"license"?}`',
        uploadable=False,
    ),
)
_READERS = {suffix: file_type.read for file_type in FILE_TYPES for suffix in file_type.suffixes}
SUPPORTED_SUFFIXES = tuple(_READERS)
UPLOAD_SUFFIXES = tuple(suffix for t in FILE_TYPES if t.uploadable for suffix in t.suffixes)


def file_type_names(uploads: bool = False) -> str:
    """The supported types for a message, by their main suffix: '.txt, .md, .html, .pdf or .jsonl'."""
    names = [t.suffixes[0] for t in FILE_TYPES if t.uploadable or not uploads]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
