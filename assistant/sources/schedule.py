"""The servers' background syncs: each source when its `every` says, while the server answers.

One thread a server. Each pass reads the sources file (so hand edits count), syncs the sources that
are due, and ingests what each brought, so the server answers from it at once. Whether a source is due
is decided under its lock (sync.py): of several servers sharing the corpus folder (as app servers on
one Chroma server do, the index being named after the folder) only the first fetches it; the others
find it synced. Nothing here sleeps through a stop: the thread waits on an event.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from assistant.errors import AssistantError
from assistant.settings import Settings
from assistant.sources.fetch import Fetcher, FetchPolicy
from assistant.sources.records import SyncReport, is_due, next_sync
from assistant.sources.registry import load_sources, load_state, robots_path
from assistant.sources.sync import sync_if_due

# The longest wait between two passes: a source added or edited by hand is picked up within it.
CHECK_SECONDS = 60.0
_BUSY_SECONDS = 5.0
# During a long sync (a new source's first), what it has stored is ingested once the sync has run this
# long, and again whenever as long has passed as the last ingest took (at least this long): its newest
# documents are answered from long before the last is fetched, and ingests take at most about half the
# sync's time (bench/README.md, "Source sync"). A sync shorter than this is ingested once, at its end.
INGEST_EVERY_SECONDS = 10.0
SCHEDULE_OFF = "off (ASSISTANT_SOURCES_SCHEDULE=0): sources are fetched only by `sources sync` and Sync now"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleStatus:
    """What the schedule is doing: shown beside the sources list (REST and web chat)."""

    on: bool
    note: str  # in words: waiting for the next due source, syncing one, or why it is paused
    checked: str | None  # when the last pass ended (ISO time), None before the first

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Schedule:
    """Syncs a corpus's sources in a background thread when they are due; ingest runs after each change."""

    def __init__(self, settings: Settings, ingest: Callable[[], object]) -> None:
        self.settings = settings
        self._ingest = ingest
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._note = "starting" if settings.sources_schedule else SCHEDULE_OFF
        self._checked: str | None = None

    def status(self) -> ScheduleStatus:
        return ScheduleStatus(self.settings.sources_schedule, self._note, self._checked)

    def start(self) -> None:
        """Start the thread (when ASSISTANT_SOURCES_SCHEDULE is on); its first pass runs at once."""
        if self.settings.sources_schedule and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sources-schedule", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the sync in progress, waiting at most timeout (the process may end it sooner: a
        sync's documents and state are written atomically, and the kernel releases its lock)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Look at the sources now (one was added), not at the next pass."""
        self._wake.set()

    def run_once(self, now: dt.datetime | None = None) -> list[SyncReport]:
        """One pass: sync each source due at now, ingesting after each that changed; the syncs this
        process made (none for a source another process was syncing or has just synced)."""
        reports = self._pass(now or dt.datetime.now(dt.UTC))
        self._note = self._waiting()
        return reports

    def _pass(self, now: dt.datetime) -> list[SyncReport]:
        corpus = self.settings.corpus_dir
        due = [source for source in load_sources(corpus) if is_due(source, load_state(corpus, source.name), now)]
        if not due:
            return []
        policy = FetchPolicy.from_settings(self.settings)  # no contact address: NotConfiguredError
        fetcher = Fetcher(policy, robots_file=robots_path(corpus))
        reports = []
        try:
            for source in due:
                if self._stop.is_set():
                    break
                self._note = f"syncing {source.name}"
                report = sync_if_due(corpus, source, fetcher, now, self._ingest_every(source.name))
                if report is None:
                    continue
                reports.append(report)
                _log.info("scheduled sync of %s: %s", source.name, report.to_json())
                if report.error:
                    _log.warning("scheduled sync of %s stopped: %s", source.name, report.error)
                if report.added or report.updated:
                    self._note = f"indexing what {source.name} brought"
                    self._ingest()
        finally:
            fetcher.close()
        return reports

    def _ingest_every(self, name: str) -> Callable[[], None]:
        """What a sync calls after each document it stores: an ingest when it is time (INGEST_EVERY_SECONDS)."""
        last, took = time.monotonic(), 0.0

        def stored() -> None:
            nonlocal last, took
            if time.monotonic() - last >= max(INGEST_EVERY_SECONDS, took):
                self._note = f"indexing what {name} has brought so far"
                began = time.monotonic()
                try:
                    self._ingest()
                except AssistantError as exc:  # not the source's error: the ingest after the sync tries again
                    _log.warning("indexing during the sync of %s failed: %s", name, exc)
                self._note = f"syncing {name}"
                last = time.monotonic()
                took = last - began

        return stored

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except AssistantError as exc:  # a bad sources file, no contact address, an ingest that failed
                self._note = f"paused: {exc}"
                _log.warning("the sources schedule is paused: %s", exc)
            except Exception:
                _log.exception("a pass of the sources schedule failed")
                self._note = "a pass failed; the server log has the details (the next pass tries again)"
            self._checked = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
            self._wake.wait(self._seconds_to_next())
            self._wake.clear()

    def _upcoming(self) -> tuple[str, dt.datetime] | None:
        """The source due soonest and when."""
        corpus = self.settings.corpus_dir
        times = []
        for source in load_sources(corpus):
            due = next_sync(source, load_state(corpus, source.name))
            times.append((source.name, due or dt.datetime.now(dt.UTC)))
        return min(times, key=lambda pair: pair[1]) if times else None

    def _waiting(self) -> str:
        upcoming = self._upcoming()
        if upcoming is None:
            return "on: no sources yet"
        name, due = upcoming
        return f"on: next {name} at {due.replace(microsecond=0).isoformat()}"

    def _seconds_to_next(self) -> float:
        try:
            upcoming = self._upcoming()
        except AssistantError:
            return CHECK_SECONDS
        if upcoming is None:
            return CHECK_SECONDS
        left = (upcoming[1] - dt.datetime.now(dt.UTC)).total_seconds()
        # A source that stays due (another process is syncing it) is looked at again only every few seconds.
        return min(CHECK_SECONDS, max(_BUSY_SECONDS, left))
