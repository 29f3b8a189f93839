"""Polite, safe HTTP for source syncs (httpx): robots.txt, one request at a time per host with a delay,
conditional GET, Retry-After, timeouts, a size cap, checked addresses and an honest User-Agent.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from assistant.errors import AssistantError, NotConfiguredError
from assistant.settings import Settings
from assistant.sources.net import Network, Resolver, allowed_networks, checked_address, system_resolver
from assistant.sources.registry import atomic_write
from assistant.sources.robots import ROBOTS_AGENT, Robots

_MAX_REDIRECTS = 5
_MAX_TRIES = 3  # a 429 or 503 is retried twice after waiting
# RFC 9309, 2.4: a robots.txt may be cached, for no more than 24 hours; so a sync of an unchanged feed
# within a day of the last costs one request. Only files read, or missing (4xx), are kept: a failure is not.
ROBOTS_CACHE_SECONDS = 24 * 3600
NO_CONTACT = (
    "Set ASSISTANT_SOURCES_CONTACT to an e-mail address or URL where site operators can reach you; "
    "syncs send it in the User-Agent and do not fetch without it."
)


class FetchError(AssistantError):
    """A URL could not be fetched (status, size, robots.txt, network); the message says which and why."""


class RetryLater(FetchError):
    """The host asked to wait longer than ASSISTANT_SOURCES_MAX_WAIT: the source's sync stops until the next."""


@dataclass(frozen=True)
class FetchPolicy:
    """How syncs fetch: from the settings, one home for every politeness rule's number."""

    user_agent: str
    delay: float
    timeout: float
    max_bytes: int
    max_wait: float
    networks: tuple[Network, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        contact = (settings.sources_contact or "").strip()
        if not contact:
            raise NotConfiguredError(NO_CONTACT)
        return cls(
            user_agent=f"{ROBOTS_AGENT}/0.1 (+{contact})",
            delay=settings.sources_delay,
            timeout=settings.sources_timeout,
            max_bytes=int(settings.sources_max_mb * 1024 * 1024),
            max_wait=settings.sources_max_wait,
            networks=tuple(allowed_networks(settings.sources_allow_networks)),
        )


@dataclass(frozen=True)
class Fetched:
    """A response: 200 with its body, or 304 (the stored copy is current) with none."""

    url: str  # after redirects
    status: int
    body: bytes
    etag: str | None
    last_modified: str | None
    content_type: str

    def validators(self) -> dict[str, str]:
        kept = {"etag": self.etag, "last_modified": self.last_modified}
        return {key: value for key, value in kept.items() if value}


@dataclass(frozen=True)
class _Reply:
    status: int
    reason: str
    headers: httpx.Headers
    body: bytes


class _Host:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_at = 0.0


# Process-wide, so that syncs running side by side (a server's schedule, a "sync now") still send one
# request at a time to a host.
_HOSTS: dict[str, _Host] = {}
_HOSTS_LOCK = threading.Lock()


def _host(origin: str) -> _Host:
    with _HOSTS_LOCK:
        return _HOSTS.setdefault(origin, _Host())


class Fetcher:
    """Fetches URLs for one sync; counts its requests (`requests`) and remembers robots.txt per site."""

    def __init__(
        self,
        policy: FetchPolicy,
        resolve: Resolver = system_resolver,
        sleep: Callable[[float], None] = time.sleep,
        robots_file: Path | None = None,
    ) -> None:
        """robots_file: where robots.txt files read are kept for ROBOTS_CACHE_SECONDS, across syncs and
        processes; None: each Fetcher reads a site's file again."""
        self.policy = policy
        self.requests = 0
        self._resolve = resolve
        self._sleep = sleep
        self._robots: dict[str, Robots] = {}
        self._robots_file = robots_file
        self._client = httpx.Client(
            timeout=policy.timeout, follow_redirects=False, headers={"User-Agent": policy.user_agent}, trust_env=False
        )

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, validators: dict[str, str] | None = None, obey_robots: bool = True) -> Fetched:
        """GET url, following redirects (each hop checked); 304 when validators show the copy is current."""
        headers = {}
        if validators and validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators and validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        for _ in range(_MAX_REDIRECTS + 1):
            if obey_robots and not self._robots_for(url).allows(url):
                raise FetchError(f"{url} is disallowed by its site's robots.txt; it is not fetched.")
            response = self._request(url, headers)
            if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status == 304:
                return Fetched(url, 304, b"", None, None, "")
            if response.status != 200:
                raise FetchError(f"{url} answered {response.status} {response.reason}.")
            return Fetched(
                url,
                200,
                response.body,
                response.headers.get("etag"),
                response.headers.get("last-modified"),
                response.headers.get("content-type", ""),
            )
        raise FetchError(f"{url} redirects more than {_MAX_REDIRECTS} times; it is not followed further.")

    def _robots_for(self, url: str) -> Robots:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            kept = self._kept_robots().get(origin)
            if kept is not None and 0 <= time.time() - float(kept.get("at", 0)) < ROBOTS_CACHE_SECONDS:
                text = kept.get("text")
                self._robots[origin] = Robots(text if isinstance(text, str) else None, allow_all=text is None)
                return self._robots[origin]
            try:
                response = self._request(f"{origin}/robots.txt", {}, retry=False)
                status = response.status
                if status == 200:
                    text = response.body.decode("utf-8", errors="replace")
                    robots = Robots(text)
                    self._keep_robots(origin, text)
                else:  # no file (4xx) allows everything; a failing server (5xx) allows nothing, for now
                    robots = Robots(None, allow_all=400 <= status < 500)
                    if 400 <= status < 500:
                        self._keep_robots(origin, None)
            except FetchError:  # unreachable: nothing is allowed until a later sync reads the file
                robots = Robots(None)
            self._robots[origin] = robots
        return self._robots[origin]

    def _kept_robots(self) -> dict[str, Any]:
        """The robots.txt files kept in robots_file: origin -> {"at": epoch seconds, "text": file or None}."""
        if self._robots_file is None or not self._robots_file.exists():
            return {}
        try:
            kept = json.loads(self._robots_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # a cache only: a broken one costs a request
            return {}
        return {origin: entry for origin, entry in kept.items() if isinstance(entry, dict)}

    def _keep_robots(self, origin: str, text: str | None) -> None:
        if self._robots_file is not None:
            kept = {**self._kept_robots(), origin: {"at": time.time(), "text": text}}
            atomic_write(self._robots_file, json.dumps(kept, ensure_ascii=False).encode())

    def _request(self, url: str, headers: dict[str, str], retry: bool = True) -> _Reply:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"{url} is not an http(s) URL; it is not fetched.")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = checked_address(parts.hostname, port, list(self.policy.networks), self._resolve)
        host = _host(f"{parts.scheme}://{parts.netloc}")
        for attempt in range(_MAX_TRIES):
            with host.lock:
                robots = self._robots.get(f"{parts.scheme}://{parts.netloc}")
                pause = host.next_at - time.monotonic()
                if pause > 0:
                    self._sleep(pause)
                try:
                    response = self._send(url, address, headers)
                finally:
                    delay = max(self.policy.delay, robots.crawl_delay() if robots else 0.0)
                    host.next_at = time.monotonic() + delay
            if response.status not in (429, 503) or not retry:
                return response
            wait = _retry_after(response.headers.get("retry-after"), default=max(self.policy.delay, 1.0) * 2**attempt)
            if wait > self.policy.max_wait:
                raise RetryLater(
                    f"{url} answered {response.status} and asks to wait {wait:.0f} s; the next sync tries again."
                )
            if attempt + 1 < _MAX_TRIES:
                host.next_at = max(host.next_at, time.monotonic() + wait)
        raise FetchError(f"{url} answered {response.status} {_MAX_TRIES} times; the next sync tries again.")

    def _send(self, url: str, address: str, headers: dict[str, str]) -> _Reply:
        """One request to the checked address (not a second lookup), its body read up to the size cap."""
        parts = urlsplit(url)
        target = httpx.URL(url).copy_with(host=address)
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        request = self._client.build_request(
            "GET", target, headers={**headers, "Host": parts.netloc}, extensions=extensions
        )
        self.requests += 1
        try:
            response = self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise FetchError(f"{url} did not answer within {self.policy.timeout:g} s.") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{url} could not be fetched ({type(exc).__name__}: {exc}).") from None
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.policy.max_bytes:
                raise FetchError(f"{url} is {int(declared):,} bytes, over the {self.policy.max_bytes:,}-byte cap.")
            body = bytearray()
            for piece in response.iter_bytes():
                body.extend(piece)
                if len(body) > self.policy.max_bytes:
                    raise FetchError(f"{url} sends more than the {self.policy.max_bytes:,}-byte cap.")
        except httpx.HTTPError as exc:
            raise FetchError(f"{url} broke off ({type(exc).__name__}).") from None
        finally:
            response.close()
        return _Reply(response.status_code, response.reason_phrase, response.headers, bytes(body))


def _retry_after(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), else the default."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())
