"""A real source sync, from a feed on loopback to answers: how soon, how fast, and what a re-sync costs.

    python bench/sync.py --dataset path/to/kremlin-ua-2022 [--limit N] [--keep DIR]

The dataset's releases (Markdown with front matter, one a file) are served by a local HTTP server on
127.0.0.1 as one Atom feed, newest first, and one HTML page a release, made on the fly from each record
(title, date, paragraphs); robots.txt allows all, and the feed answers 304 to its ETag. --limit N serves
only the newest N releases. A fresh corpus folder with one source (`every` 1d) is then synced as a
server's background schedule syncs it (assistant/sources/schedule.py: the sync, then the incremental
ingest), with ASSISTANT_SOURCES_DELAY=0, while another thread asks a question answered by the newest
release every half second (as a user of the server would), until the answer cites it. Then the same
source is synced again with nothing changed. Prints the timings and the requests the server received;
nothing from the dataset is written outside the scratch folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import html
import json
import re
import resource
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

from assistant.errors import IndexMissingError
from assistant.pipeline import Assistant
from assistant.settings import Settings
from assistant.sources.schedule import Schedule
from assistant.sources.service import new_source, sync

# Answered by the dataset's newest release (2022-06-24; president-ua-2022-06-24-d764d0968a, a joint article
# on capping the price of Russian oil), the first entry of the feed and so of the sync.
QUESTION = "What limit did Oleg Ustenko and German Galushchenko propose to put on Russian oil?"


@dataclass(frozen=True)
class Release:
    slug: str
    title: str
    date: str
    paragraphs: list[str]


def releases(folder: Path, limit: int | None) -> list[Release]:
    """The dataset's releases, newest first (date, then file name, descending), as the feed lists them."""
    found = []
    for path in sorted((folder / "corpus").glob("*.md")):
        _, head, body = path.read_text(encoding="utf-8").split("---", 2)
        meta = yaml.safe_load(head)
        paragraphs = [part.strip() for part in re.split(r"\n\s*\n", body) if part.strip()]
        found.append(Release(path.stem, str(meta["title"]), str(meta["date"]), paragraphs))
    found.sort(key=lambda release: (release.date, release.slug), reverse=True)
    return found[:limit] if limit else found


def page(release: Release) -> bytes:
    paragraphs = "\n".join(f"<p>{html.escape(text)}</p>" for text in release.paragraphs)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(release.title)}</title>'
        f'<meta property="article:published_time" content="{release.date}"></head><body>'
        f'<nav><a href="/">Home</a> <a href="/feed.xml">News</a></nav><main><article>'
        f'<h1>{html.escape(release.title)}</h1><time datetime="{release.date}">{release.date}</time>\n'
        f"{paragraphs}</article></main><footer>All content is available under CC BY 4.0.</footer></body></html>"
    ).encode()


def feed(base: str, items: list[Release]) -> bytes:
    entries = "".join(
        f'<entry><title>{escape(item.title)}</title><link href="{base}/news/{item.slug}"/>'
        f"<id>{base}/news/{item.slug}</id><updated>{item.date}T12:00:00Z</updated></entry>\n"
        for item in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Press releases</title><id>{base}/feed.xml</id><updated>{items[0].date}T12:00:00Z</updated>\n"
        f"{entries}</feed>"
    ).encode()


class FeedSite:
    """The releases on 127.0.0.1: /robots.txt, /feed.xml (ETag, Last-Modified, 304) and /news/<slug>."""

    def __init__(self, items: list[Release]) -> None:
        self.by_slug = {item.slug: item for item in items}
        self.requests: Counter[str] = Counter()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                kind = self.path.split("/")[1].split(".")[0] or "/"
                site.requests[kind] += 1
                headers = {"Content-Type": "text/html; charset=utf-8"}
                status, body = 200, b""
                if self.path == "/robots.txt":
                    headers["Content-Type"] = "text/plain"
                    body = b"User-agent: *\nAllow: /\n"
                elif self.path == "/feed.xml":
                    headers.update({"Content-Type": "application/atom+xml", "ETag": site.etag,
                                    "Last-Modified": site.modified})  # fmt: skip
                    if self.headers.get("If-None-Match") == site.etag:
                        status = 304
                    else:
                        body = site.feed
                elif self.path.startswith("/news/") and self.path[6:] in site.by_slug:
                    body = page(site.by_slug[self.path[6:]])
                else:
                    status, body = 404, b"not found"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.feed = feed(self.base, items)
        self.etag = '"' + hashlib.sha256(self.feed).hexdigest()[:16] + '"'
        self.modified = format_datetime(dt.datetime.fromisoformat(items[0].date + "T12:00:00+00:00"), usegmt=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Asker(threading.Thread):
    """Asks QUESTION every half second, as a user would; notes when the answer first cites the target page."""

    def __init__(self, assistant: Assistant, started: float, target: str) -> None:
        super().__init__(daemon=True)
        self.assistant, self.started, self.target = assistant, started, target
        self.answered_at: float | None = None
        self.answer = ""
        self.asks = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                answer = self.assistant.ask(QUESTION)
            except IndexMissingError:
                continue
            self.asks += 1
            if not answer.abstained and any(citation.url == self.target for citation in answer.citations):
                self.answered_at, self.answer = time.perf_counter() - self.started, answer.text
                return


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="the kremlin-ua-2022 folder")
    parser.add_argument("--limit", type=int, help="serve only the newest N releases")
    parser.add_argument("--keep", type=Path, help="scratch folder to use and keep (default: a temporary one)")
    args = parser.parse_args()
    items = releases(args.dataset, args.limit)
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as temporary:
        print(json.dumps(run(items, args.keep or Path(temporary)), indent=1))


def run(items: list[Release], scratch: Path) -> dict[str, Any]:
    """Serve the releases, sync them into scratch as a server's schedule does, ask until answered, re-sync."""
    site = FeedSite(items)
    settings = Settings(
        corpus_dir=scratch / "corpus", index_dir=scratch / "index", sources_contact="bench@example.org",
        sources_delay=0.0, sources_allow_networks="127.0.0.1/32", sources_schedule=True,
    )  # fmt: skip
    new_source(settings.corpus_dir, "releases", f"{site.base}/feed.xml", voice="", license="CC BY 4.0")
    assistant = Assistant(settings)
    assistant.embeddings.encode_query("warm up")  # a server loads the model before it serves
    ingests: list[float] = []

    def ingest() -> object:
        began = time.perf_counter()
        report = assistant.ingest()
        ingests.append(time.perf_counter() - began)
        return report

    schedule = Schedule(settings, ingest)
    cpu, started = cpu_seconds(), time.perf_counter()
    asker = Asker(assistant, started, f"{site.base}/news/{items[0].slug}")
    asker.start()
    [report] = schedule.run_once()
    total = time.perf_counter() - started
    asker.join(30)
    asker.stop.set()
    first_cpu = cpu_seconds() - cpu
    first_requests = dict(site.requests)

    site.requests.clear()
    began = time.perf_counter()
    [again] = sync(settings)
    resync = time.perf_counter() - began
    site.server.shutdown()
    stored = len(report.added)
    sync_seconds = total - sum(ingests)
    return {
        "releases served": len(items),
        "documents stored": stored,
        "duplicates": report.duplicates,
        "skipped": len(report.skipped),
        "skipped reasons": Counter(reason.split(" ", 1)[1][:60] for _, reason in report.skipped).most_common(3),
        "error": report.error,
        "requests (first sync)": first_requests,
        "first answerable (s)": round(asker.answered_at, 1) if asker.answered_at else None,
        "asks until then": asker.asks,
        "fetch, extract and store (s)": round(sync_seconds, 1),
        "documents / s (fetch, extract, store)": round(stored / sync_seconds, 1),
        "ingest (s)": [round(seconds, 1) for seconds in ingests],
        "total (s)": round(total, 1),
        "documents / s (all answerable)": round(stored / total, 2),
        "CPU (s)": round(first_cpu, 1),
        "re-sync requests": dict(site.requests),
        "re-sync report": {"added": len(again.added), "unchanged": again.unchanged, "requests": again.requests},
        "re-sync (s)": round(resync, 3),
        "answer": asker.answer[:160],
    }


if __name__ == "__main__":
    main()
