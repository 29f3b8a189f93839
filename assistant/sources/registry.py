"""The sources file (corpus/sources.toml) and each source's state file: read, change, write atomically.

The sources file is for people: TOML, one table a source, edited by hand or by `assistant sources add`
and `remove` (tomlkit keeps the comments a person wrote). The state files are for syncs: JSON under
corpus/sources/<name>/.state.json, hidden, so ingest never reads them as documents.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from assistant.errors import NotFoundError, UsageError
from assistant.ingest.sync import SOURCES_FILE
from assistant.sources.records import Source, SourceState, make_source

SOURCES_DIR = "sources"  # corpus/sources/<name>/ holds each source's documents
_HEADER = (
    "Sources that `assistant sources sync` fetches documents from into corpus/sources/<name>/.\n"
    "Edit by hand or with `assistant sources add` / `remove`. Keys: url, kind (feed, sitemap, mediawiki,\n"
    "page), voice, license, publisher, attribution, every (30m, 6h, 1d, 1w)."
)


def sources_path(corpus_dir: Path) -> Path:
    return corpus_dir / SOURCES_FILE


def source_dir(corpus_dir: Path, name: str) -> Path:
    return corpus_dir / SOURCES_DIR / name


def robots_path(corpus_dir: Path) -> Path:
    """The robots.txt files syncs have read, kept for a day (fetch.py); hidden, so ingest never reads it."""
    return corpus_dir / SOURCES_DIR / ".robots.json"


def load_sources(corpus_dir: Path) -> list[Source]:
    """The sources the corpus follows, in the file's order; a bad file or entry is a UsageError naming it."""
    document = _read(sources_path(corpus_dir))
    sources = []
    for name, table in document.items():
        if not isinstance(table, dict):
            raise UsageError(f"{sources_path(corpus_dir)}: '{name}' is not a table; write it as [{name}] with keys.")
        fields = {key: str(value) for key, value in table.items()}
        unknown = set(fields) - set(Source.__dataclass_fields__) - {"name"}
        if unknown:
            raise UsageError(f"{sources_path(corpus_dir)}: [{name}] has unknown keys {sorted(unknown)}; remove them.")
        if "url" not in fields:
            raise UsageError(f'{sources_path(corpus_dir)}: [{name}] has no url; add url = "https://...".')
        fields.pop("name", None)
        try:
            sources.append(make_source(name, **fields))
        except UsageError as exc:
            raise UsageError(f"{sources_path(corpus_dir)}: [{name}]: {exc}") from None
    return sources


def find_source(corpus_dir: Path, name: str) -> Source:
    for source in load_sources(corpus_dir):
        if source.name == name:
            return source
    raise NotFoundError(f"No source named '{name}'; `assistant sources list` shows the sources.")


def add_source(corpus_dir: Path, source: Source) -> None:
    """Append a source to the sources file; a name in use is a UsageError."""
    path = sources_path(corpus_dir)
    document = _read(path)
    if source.name in document:
        raise UsageError(f"A source named '{source.name}' exists already; remove it first or choose another name.")
    if not document.body:
        for line in _HEADER.splitlines():
            document.add(tomlkit.comment(line))
    table = tomlkit.table()
    for key, value in source.to_json().items():
        if key != "name" and value:
            table.add(key, value)
    document.add(source.name, table)
    atomic_write(path, tomlkit.dumps(document).encode())


def remove_source(corpus_dir: Path, name: str) -> None:
    path = sources_path(corpus_dir)
    document = _read(path)
    if name not in document:
        raise NotFoundError(f"No source named '{name}'; `assistant sources list` shows the sources.")
    document.remove(name)
    atomic_write(path, tomlkit.dumps(document).encode())


def load_state(corpus_dir: Path, name: str) -> SourceState:
    path = source_dir(corpus_dir, name) / ".state.json"
    if not path.exists():
        return SourceState()
    try:
        return SourceState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        # Only a cache of validators and fingerprints: a broken one costs a full re-fetch, not documents.
        return SourceState()


def save_state(corpus_dir: Path, name: str, state: SourceState) -> None:
    path = source_dir(corpus_dir, name) / ".state.json"
    atomic_write(path, json.dumps(state.to_json(), indent=1, ensure_ascii=False).encode())


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a crash midway leaves the old file, never half of the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read(path: Path) -> Any:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (TOMLKitError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML ({str(exc).splitlines()[0]}); fix or remove the line.") from None
