"""What the edges call (CLI, REST, web chat): list, add, remove and sync the corpus's sources."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from assistant.errors import NotConfiguredError, NotFoundError, UsageError
from assistant.settings import Settings
from assistant.sources.catalogue import CATALOGUE
from assistant.sources.fetch import Fetcher, FetchPolicy
from assistant.sources.net import Resolver, allowed_networks, checked_address, system_resolver
from assistant.sources.records import DEFAULT_EVERY, Source, SyncReport, make_source, next_sync
from assistant.sources.registry import (
    add_source,
    find_source,
    load_sources,
    load_state,
    remove_source,
    robots_path,
    source_dir,
)
from assistant.sources.sync import SyncBusy, running, sync_source


@dataclass(frozen=True)
class SourceStatus:
    """A source and how its syncs have gone: what `sources list`, REST and the web chat show."""

    source: Source
    last_sync: str | None
    last_error: str | None
    documents: int
    next_sync: str | None  # when a server's schedule syncs it next (its last sync plus `every`); None: due now
    syncing: dict[str, str] | None  # a sync in progress in any process sharing the corpus: {"since", "by"}

    def to_json(self) -> dict[str, Any]:
        return {**self.source.to_json(), **{k: v for k, v in asdict(self).items() if k != "source"}}


def source_statuses(corpus_dir: Path) -> list[SourceStatus]:
    """Every source of the corpus with its last sync, last error, stored documents (counted as a sync in
    progress stores them), next scheduled sync and the sync in progress, if any."""
    statuses = []
    for source in load_sources(corpus_dir):
        state = load_state(corpus_dir, source.name)
        folder = source_dir(corpus_dir, source.name)
        documents = sum(1 for _ in folder.glob("*.md")) if folder.is_dir() else 0
        due = next_sync(source, state)
        syncing = running(corpus_dir, source.name)
        statuses.append(
            SourceStatus(
                source, state.last_sync, state.last_error, documents, due.isoformat() if due else None, syncing
            )
        )
    return statuses


def new_source(
    corpus_dir: Path,
    name: str,
    url: str | None = None,
    kind: str | None = None,
    voice: str | None = None,
    license: str | None = None,
    every: str | None = None,
    *,
    remote: bool = False,
    settings: Settings | None = None,
    resolve: Resolver = system_resolver,
) -> Source:
    """Add a source: a catalogue entry by name (options override its fields), or any URL.

    remote: added over REST or the web chat; then its host must resolve to public addresses only
    (or to a range in ASSISTANT_SOURCES_ALLOW_NETWORKS), checked now and again on every fetch.
    """
    known = CATALOGUE.get(name)
    if url is None and known is None:
        names = ", ".join(CATALOGUE)
        raise NotFoundError(f"'{name}' is not in the catalogue ({names}); give its URL too: sources add NAME URL.")
    base = known if known is not None and url in (None, known.url) else None
    source = make_source(
        name,
        url or (base.url if base else ""),
        kind or (base.kind if base else "feed"),
        voice if voice is not None else (base.voice if base else ""),
        license if license is not None else (base.license if base else ""),
        base.publisher if base else (urlsplit(url or "").hostname or ""),
        base.attribution if base else "",
        every or (base.every if base else DEFAULT_EVERY),
    )
    if remote:
        networks = allowed_networks(settings.sources_allow_networks if settings else "")
        parts = urlsplit(source.url)
        checked_address(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), networks, resolve)
    add_source(corpus_dir, source)
    return source


def drop_source(corpus_dir: Path, name: str) -> Path:
    """Remove a source from the sources file; its documents stay (the folder returned) until deleted."""
    remove_source(corpus_dir, name)
    return source_dir(corpus_dir, name)


def sync(
    settings: Settings,
    names: list[str] | None = None,
    since: dt.date | None = None,
    max_new: int | None = None,
    resolve: Resolver = system_resolver,
) -> list[SyncReport]:
    """Sync the named sources (all when none are named), one after another; each report says what it did."""
    policy = FetchPolicy.from_settings(settings)
    if max_new is not None and max_new < 1:
        raise UsageError(f"--max {max_new} is not valid; give a whole number of documents, 1 or more.")
    chosen = [find_source(settings.corpus_dir, name) for name in names] if names else load_sources(settings.corpus_dir)
    if not chosen:
        raise NotConfiguredError("There are no sources to sync; add one with `assistant sources add NAME [URL]`.")
    fetcher = Fetcher(policy, resolve=resolve, robots_file=robots_path(settings.corpus_dir))
    reports = []
    try:
        for source in chosen:
            try:
                reports.append(sync_source(settings.corpus_dir, source, fetcher, since, max_new))
            except SyncBusy as exc:  # a server's schedule, or another command, is syncing it: the others go on
                reports.append(SyncReport(source.name, error=str(exc)))
    finally:
        fetcher.close()
    return reports
