"""Wiki pages found by a title search through the MediaWiki API (action=query: list=search, then
prop=extracts|info|revisions for each title). The API is for programs, under the wiki's API etiquette
(a descriptive User-Agent, one request at a time, maxlag), so robots.txt, which is about crawling
pages, is not asked about it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from assistant.sources.feeds import FeedError
from assistant.sources.fetch import Fetcher

_SEARCH_LIMIT = 10
_MAXLAG = "5"  # seconds of replication lag above which the wiki asks clients to come back later


@dataclass(frozen=True)
class WikiPage:
    title: str
    url: str
    text: str
    date: str | None  # the last revision's day
    revision: str


def search_titles(fetcher: Fetcher, search_url: str) -> list[str]:
    """The titles a search URL (api.php?action=query&list=search&srsearch=...) finds, best first."""
    params = dict(parse_qsl(urlsplit(search_url).query))
    params.update({"format": "json", "formatversion": "2", "maxlag": _MAXLAG})
    params.setdefault("srlimit", str(_SEARCH_LIMIT))
    reply = _json(fetcher, _with_query(search_url, params))
    results = reply.get("query", {}).get("search", [])
    return [str(item["title"]) for item in results if isinstance(item, dict) and item.get("title")]


def fetch_page(fetcher: Fetcher, search_url: str, title: str) -> WikiPage | None:
    """A page's plain text, address and last revision; None when the wiki has no such page."""
    params = {
        "action": "query",
        "prop": "extracts|info|revisions",
        "explaintext": "1",
        "inprop": "url",
        "rvprop": "ids|timestamp",
        "titles": title,
        "format": "json",
        "formatversion": "2",
        "maxlag": _MAXLAG,
    }
    pages = _json(fetcher, _with_query(search_url, params)).get("query", {}).get("pages", [])
    if not pages or pages[0].get("missing") or not pages[0].get("extract"):
        return None
    page = pages[0]
    revision = (page.get("revisions") or [{}])[0]
    return WikiPage(
        title=str(page.get("title") or title),
        url=str(page.get("fullurl") or ""),
        text=str(page["extract"]),
        date=str(revision.get("timestamp") or "")[:10] or None,
        revision=str(revision.get("revid") or ""),
    )


def _json(fetcher: Fetcher, url: str) -> dict:  # type: ignore[type-arg]
    fetched = fetcher.get(url, obey_robots=False)
    try:
        reply = json.loads(fetched.body)
    except ValueError:
        raise FeedError(f"{url} did not answer with JSON; is it a MediaWiki api.php address?") from None
    if not isinstance(reply, dict):
        raise FeedError(f"{url} did not answer with a JSON object.")
    if "error" in reply:
        error = reply["error"]
        raise FeedError(f"The wiki refused {url}: {error.get('info') or error.get('code')}.")
    return reply


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))
