"""robots.txt rules, read with protego (the one module that imports it)."""

from __future__ import annotations

from protego import Protego

ROBOTS_AGENT = "conflict-corpus-assistant"  # the token robots.txt rules name this fetcher by


class Robots:
    """One site's robots.txt: what this fetcher may fetch, and how long to wait between requests."""

    def __init__(self, text: str | None, allow_all: bool = False) -> None:
        """text: the file; None with allow_all False: the file could not be read, so nothing is allowed."""
        self._rules = Protego.parse(text) if text is not None else None
        self._allow_all = allow_all

    def allows(self, url: str) -> bool:
        if self._rules is None:
            return self._allow_all
        return bool(self._rules.can_fetch(url, ROBOTS_AGENT))

    def crawl_delay(self) -> float:
        if self._rules is None:
            return 0.0
        delay = self._rules.crawl_delay(ROBOTS_AGENT)
        return float(delay) if delay else 0.0
