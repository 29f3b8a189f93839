"""Entries of RSS/Atom feeds (feedparser, the one module that imports it) and of XML sitemaps."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

from assistant.errors import AssistantError

_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class FeedError(AssistantError):
    """A feed or sitemap that could not be read."""


@dataclass(frozen=True)
class Entry:
    """One article a feed or sitemap lists."""

    url: str
    title: str = ""
    date: str | None = None  # YYYY-MM-DD, when the feed gives one
    summary: str = ""


def feed_entries(body: bytes, url: str) -> list[Entry]:
    """The entries of an RSS or Atom feed, in the feed's order; FeedError when it is not a feed."""
    import feedparser

    parsed = feedparser.parse(body)
    if parsed.bozo and not parsed.entries:
        problem = str(getattr(parsed, "bozo_exception", "")).splitlines()[0:1]
        raise FeedError(f"{url} is not a readable RSS or Atom feed ({problem[0] if problem else 'no entries'}).")
    entries = []
    for item in parsed.entries:
        link = item.get("link") or ""
        if not link.startswith(("http://", "https://")):
            continue
        stamp = item.get("published_parsed") or item.get("updated_parsed")
        date = dt.date(stamp.tm_year, stamp.tm_mon, stamp.tm_mday).isoformat() if stamp else None
        entries.append(Entry(link, str(item.get("title") or "").strip(), date, str(item.get("summary") or "")))
    return entries


def sitemap_entries(body: bytes, url: str) -> tuple[list[Entry], list[str]]:
    """A sitemap's pages, and the sitemaps a sitemap index lists; FeedError when it is not a sitemap."""
    if b"<!DOCTYPE" in body[:2048].upper() or b"<!ENTITY" in body.upper():
        raise FeedError(f"{url} declares a DOCTYPE or entities, which sitemaps never need; it is not read.")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise FeedError(f"{url} is not a readable XML sitemap ({exc}).") from None
    pages, children = [], []
    for node in root:
        location = (node.findtext(f"{_SITEMAP_NS}loc") or "").strip()
        if not location.startswith(("http://", "https://")):
            continue
        if node.tag == f"{_SITEMAP_NS}sitemap":
            children.append(location)
        elif node.tag == f"{_SITEMAP_NS}url":
            modified = (node.findtext(f"{_SITEMAP_NS}lastmod") or "").strip()[:10]
            pages.append(Entry(location, date=modified if _is_date(modified) else None))
    if root.tag not in (f"{_SITEMAP_NS}urlset", f"{_SITEMAP_NS}sitemapindex"):
        raise FeedError(f"{url} is XML but not a sitemap (its root is {root.tag}).")
    return pages, children


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True
