"""One sync: fetch a source's new articles, keep one copy of each, store them as corpus documents.

A sync never loses what is stored: each document and the state are written whole (atomically), and
the state is saved after every document, so an interrupted sync goes on from where it stopped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from assistant.errors import AssistantError, UsageError
from assistant.sources import mediawiki
from assistant.sources.dedup import canonical_url, copies_of, signature, tells_apart
from assistant.sources.extract import extract_page
from assistant.sources.feeds import Entry, feed_entries, sitemap_entries
from assistant.sources.fetch import Fetcher, RetryLater
from assistant.sources.records import Source, SourceState, SyncReport, is_due
from assistant.sources.registry import atomic_write, load_sources, load_state, save_state, source_dir
from assistant.sources.store import Article, article_path, article_text, write_article

_MAX_CHILD_SITEMAPS = 20
_LOCK_TRIES = 5  # a listing probes the lock for an instant: a sync starting then tries again, 0.1 s apart
_LOCK_FILE, _RUNNING_FILE = ".lock", ".running.json"


class SyncBusy(UsageError):
    """Another process is syncing this source right now."""


def sync_source(
    corpus_dir: Path, source: Source, fetcher: Fetcher, since: dt.date | None = None, max_new: int | None = None
) -> SyncReport:
    """Fetch what is new at one source into corpus/sources/<name>/; a failure ends up in report.error."""
    with _exclusive(corpus_dir, source.name):
        return _sync_locked(corpus_dir, source, fetcher, since, max_new)


def sync_if_due(
    corpus_dir: Path, source: Source, fetcher: Fetcher, now: dt.datetime, stored: Callable[[], None] | None = None
) -> SyncReport | None:
    """Sync a source that is due at `now` (a server's schedule); None when it is not, or another process
    is syncing it. Whether it is due is decided under the lock, so that of several servers that found it
    due at once only the first fetches it. stored: called after each document written (and saved in the
    state), e.g. to ingest what a long sync has brought so far."""
    try:
        with _exclusive(corpus_dir, source.name):
            if not is_due(source, load_state(corpus_dir, source.name), now):
                return None
            return _sync_locked(corpus_dir, source, fetcher, stored=stored)
    except SyncBusy:
        return None


def running(corpus_dir: Path, name: str) -> dict[str, str] | None:
    """The sync of a source in progress, in any process ({"since", "by"}), or None.

    The record a sync writes is trusted only while its lock is held: the kernel releases the lock of a
    process that dies, so a killed sync never shows as running, nor keeps others from syncing."""
    folder = source_dir(corpus_dir, name)
    record = folder / _RUNNING_FILE
    if not record.exists():
        return None
    try:
        with (folder / _LOCK_FILE).open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                held = json.loads(record.read_text(encoding="utf-8"))
                return {"since": str(held.get("since", "")), "by": str(held.get("by", ""))}
            fcntl.flock(handle, fcntl.LOCK_UN)
    except (OSError, ValueError):  # the record went as it was read: the sync has just ended
        return None
    return None


def _sync_locked(
    corpus_dir: Path,
    source: Source,
    fetcher: Fetcher,
    since: dt.date | None = None,
    max_new: int | None = None,
    stored: Callable[[], None] | None = None,
) -> SyncReport:
    report = SyncReport(source.name)
    before = fetcher.requests
    state = load_state(corpus_dir, source.name)
    stored = stored or (lambda: None)
    try:
        if source.kind == "mediawiki":
            _sync_wiki(corpus_dir, source, fetcher, state, report, max_new, stored)
        elif source.kind == "page":
            _sync_page(corpus_dir, source, fetcher, state, report)
        else:
            entries = _entries(source, fetcher, state, report)
            _take_entries(corpus_dir, source, fetcher, state, report, entries, since, max_new, stored)
    except AssistantError as exc:  # the listing failed, or the host asked to come back later
        report.error = str(exc)
    finally:
        state.last_sync = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        state.last_error = report.error
        report.requests = fetcher.requests - before
        save_state(corpus_dir, source.name, state)
    return report


def _entries(source: Source, fetcher: Fetcher, state: SourceState, report: SyncReport) -> list[Entry]:
    """The feed's or sitemap's entries; none when it answered 304 Not Modified."""
    fetched = fetcher.get(source.url, state.validators.get(source.url))
    if fetched.status == 304:
        report.unchanged += 1
        return []
    if source.kind == "feed":
        entries = feed_entries(fetched.body, source.url)
    else:
        entries, children = sitemap_entries(fetched.body, source.url)
        for child in children[:_MAX_CHILD_SITEMAPS]:
            entries.extend(sitemap_entries(fetcher.get(child).body, child)[0])
        entries.sort(key=lambda entry: entry.date or "", reverse=True)  # newest first, as feeds list them
    # Remembered only once the listing was read, so that a failed sync is repeated in full.
    state.validators[source.url] = fetched.validators()
    return entries


def _take_entries(
    corpus_dir: Path,
    source: Source,
    fetcher: Fetcher,
    state: SourceState,
    report: SyncReport,
    entries: list[Entry],
    since: dt.date | None,
    max_new: int | None,
    stored_one: Callable[[], None],
) -> None:
    seen, signatures = _all_seen(corpus_dir, source.name, state)
    for entry in entries:
        if max_new is not None and len(report.added) >= max_new:
            break
        key = canonical_url(entry.url)
        if key in seen:
            report.unchanged += 1
            continue
        if since and entry.date and entry.date < since.isoformat():
            continue
        try:
            fetched = fetcher.get(entry.url)
            page = extract_page(fetched.body, fetched.url)
        except RetryLater:
            raise
        except AssistantError as exc:  # this page only: reported, skipped, tried again next sync
            report.skipped.append((entry.url, str(exc)))
            continue
        date = page.date or entry.date
        if since and date and date < since.isoformat():
            continue
        keys = {key, canonical_url(fetched.url)}
        fingerprint = signature(page.text)
        copy = seen.get(canonical_url(fetched.url)) or next(
            (name for name in copies_of(fingerprint, signatures)
             if not tells_apart(page.text, article_text(corpus_dir, name))),
            None,
        )  # fmt: skip
        if copy:
            report.duplicates += 1
            stored = copy
        else:
            article = Article(fetched.url, page.title or entry.title or "Untitled", page.text, date)
            stored = article_path(source, article, key)
            write_article(corpus_dir, stored, source, article)
            state.signatures[stored] = fingerprint
            signatures[stored] = fingerprint
            report.added.append(stored)
        for each in keys:
            state.seen[each] = stored
            seen[each] = stored
        save_state(corpus_dir, source.name, state)
        if not copy:
            stored_one()


def _sync_page(corpus_dir: Path, source: Source, fetcher: Fetcher, state: SourceState, report: SyncReport) -> None:
    """A single page, fetched again only when it changed (conditional GET), and kept under one file."""
    fetched = fetcher.get(source.url, state.validators.get(source.url))
    if fetched.status == 304:
        report.unchanged += 1
        return
    page = extract_page(fetched.body, fetched.url)
    key = canonical_url(source.url)
    article = Article(fetched.url, page.title or source.name, page.text, page.date)
    stored = state.seen.get(key) or article_path(source, article, key)
    fingerprint = signature(page.text)
    if state.signatures.get(stored) == fingerprint and (corpus_dir / stored).exists():
        report.unchanged += 1
    else:
        (report.updated if stored in state.signatures else report.added).append(stored)
        write_article(corpus_dir, stored, source, article)
    state.seen[key] = stored
    state.signatures[stored] = fingerprint
    state.validators[source.url] = fetched.validators()


def _sync_wiki(
    corpus_dir: Path,
    source: Source,
    fetcher: Fetcher,
    state: SourceState,
    report: SyncReport,
    max_new: int | None,
    stored_one: Callable[[], None],
) -> None:
    for title in mediawiki.search_titles(fetcher, source.url):
        if max_new is not None and len(report.added) + len(report.updated) >= max_new:
            break
        page = mediawiki.fetch_page(fetcher, source.url, title)
        if page is None:
            report.skipped.append((title, "the wiki has no text for this page"))
            continue
        key = canonical_url(page.url or title)
        if state.revisions.get(key) == page.revision:
            report.unchanged += 1
            continue
        article = Article(page.url, page.title, page.text, page.date)
        stored = state.seen.get(key) or article_path(source, article, key)
        (report.updated if key in state.seen else report.added).append(stored)
        write_article(corpus_dir, stored, source, article)
        state.seen[key] = stored
        state.revisions[key] = page.revision
        save_state(corpus_dir, source.name, state)
        stored_one()


def _all_seen(corpus_dir: Path, name: str, state: SourceState) -> tuple[dict[str, str], dict[str, list[int]]]:
    """URLs and fingerprints of every source's stored documents: an article is stored once in the corpus."""
    seen, signatures = dict(state.seen), dict(state.signatures)
    for other in load_sources(corpus_dir):
        if other.name != name:
            other_state = load_state(corpus_dir, other.name)
            seen.update(other_state.seen)
            signatures.update(other_state.signatures)
    live = {stored: fingerprint for stored, fingerprint in signatures.items() if (corpus_dir / stored).exists()}
    return {key: stored for key, stored in seen.items() if stored in live or (corpus_dir / stored).exists()}, live


@contextlib.contextmanager
def _exclusive(corpus_dir: Path, name: str) -> Iterator[None]:
    """One sync of a source at a time, across processes that share the corpus folder (flock on a file
    beside its state); while it is held, a record says since when and by which process."""
    folder = source_dir(corpus_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / _LOCK_FILE).open("a") as handle:
        for attempt in range(_LOCK_TRIES):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt + 1 == _LOCK_TRIES:
                    raise SyncBusy(
                        f"The source '{name}' is being synced by another process; try again when it is done."
                    ) from None
                time.sleep(0.1)
        record = folder / _RUNNING_FILE
        since = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        atomic_write(record, json.dumps({"since": since, "by": f"{socket.gethostname()}:{os.getpid()}"}).encode())
        try:
            yield
        finally:
            record.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)
