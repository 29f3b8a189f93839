"""The records of the sources stage: a Source (what to follow), its sync state, and a sync's report."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast, get_args
from urllib.parse import urlsplit

from assistant.errors import UsageError

Kind = Literal["feed", "sitemap", "mediawiki", "page"]
KINDS: tuple[str, ...] = get_args(Kind)
DEFAULT_EVERY = "1d"

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_DURATION = re.compile(r"(\d+)\s*([mhdw])")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_MIN_EVERY_SECONDS = 15 * 60  # more often than this is not polite to any publisher


@dataclass(frozen=True)
class Source:
    """A publisher's feed, sitemap, wiki search or page that syncs fetch documents from."""

    name: str  # also the folder its documents go to: corpus/sources/<name>/
    url: str
    kind: Kind = "feed"
    voice: str = ""  # whose position its documents state: "Russia: government", "UN", ...
    license: str = ""
    publisher: str = ""
    attribution: str = ""  # the text a quote from it is shown with
    every: str = DEFAULT_EVERY  # how often a server syncs it: 30m, 6h, 1d, 1w

    def to_json(self) -> dict[str, Any]:
        """The source as plain JSON values."""
        return asdict(self)


def make_source(
    name: str,
    url: str,
    kind: str = "feed",
    voice: str = "",
    license: str = "",
    publisher: str = "",
    attribution: str = "",
    every: str = DEFAULT_EVERY,
) -> Source:
    """A checked Source; a bad field is a UsageError that says what to write instead."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"Source name '{name[:70]}' is not valid; use lower-case letters, digits and '-' (at most 63), "
            "e.g. 'kremlin-en'."
        )
    if kind not in KINDS:
        raise UsageError(f"Source kind '{kind[:30]}' is not known; use one of {', '.join(KINDS)}.")
    check_url(url)
    every_seconds(every)
    fields = (voice, license, publisher, attribution, every)
    return Source(name, url.strip(), cast(Kind, kind), *(value.strip() for value in fields))


def check_url(url: str) -> None:
    """Refuse anything but an absolute http(s) URL with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"Source URL '{url[:100]}' is not an http:// or https:// address; give the full URL.")
    if parts.username or parts.password:
        raise UsageError("Source URLs may not carry a user name or password; give the public address.")


def every_seconds(every: str) -> int:
    """A duration such as '30m', '6h', '1d' or '2w' in seconds; at least 15 minutes."""
    match = _DURATION.fullmatch(every.strip())
    if not match:
        raise UsageError(f"Duration '{every[:30]}' is not valid; write a number and a unit: 30m, 6h, 1d or 1w.")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < _MIN_EVERY_SECONDS:
        raise UsageError(f"Syncing every {every} is too often for a publisher's site; use 15m or longer.")
    return seconds


@dataclass
class SourceState:
    """What syncs remember of one source: validators per URL, the documents stored, the last outcome."""

    last_sync: str | None = None  # ISO time of the last sync that finished
    last_error: str | None = None
    validators: dict[str, dict[str, str]] = field(default_factory=dict)  # url -> {"etag", "last_modified"}
    seen: dict[str, str] = field(default_factory=dict)  # canonical URL -> stored file (relative to the corpus)
    signatures: dict[str, list[int]] = field(default_factory=dict)  # stored file -> MinHash signature
    revisions: dict[str, str] = field(default_factory=dict)  # wiki page -> last stored revision id

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> SourceState:
        known = {name: record[name] for name in cls.__dataclass_fields__ if name in record}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def next_sync(source: Source, state: SourceState) -> dt.datetime | None:
    """When a server's schedule syncs the source next: its last sync plus `every`; None when it never
    synced (it is due now)."""
    try:
        last = dt.datetime.fromisoformat(state.last_sync or "")
    except ValueError:
        return None
    return (last if last.tzinfo else last.replace(tzinfo=dt.UTC)) + dt.timedelta(seconds=every_seconds(source.every))


def is_due(source: Source, state: SourceState, now: dt.datetime) -> bool:
    due = next_sync(source, state)
    return due is None or due <= now


@dataclass
class SyncReport:
    """What one source's sync did."""

    name: str
    added: list[str] = field(default_factory=list)  # stored files, relative to the corpus folder
    updated: list[str] = field(default_factory=list)
    duplicates: int = 0  # entries that were an already stored article under another URL or a copy of one
    unchanged: int = 0  # entries already stored, or a feed that answered 304 Not Modified
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, why): could not fetch or parse
    requests: int = 0
    error: str | None = None  # what ended the sync early, if anything

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["skipped"] = [{"url": url, "reason": why} for url, why in self.skipped]
        return record
