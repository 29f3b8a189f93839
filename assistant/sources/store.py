"""Fetched articles -> Markdown files with front matter under corpus/sources/<name>/, written atomically."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from assistant.sources.records import Source
from assistant.sources.registry import SOURCES_DIR, atomic_write

_SLUG_CHARS = 60


@dataclass(frozen=True)
class Article:
    """What a sync stores of one page."""

    url: str
    title: str
    text: str
    date: str | None


def article_path(source: Source, article: Article, key: str) -> str:
    """Where an article goes, relative to the corpus: sources/<name>/<date>-<title words>-<hash of its URL>.md."""
    ascii_title = unicodedata.normalize("NFKD", article.title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:_SLUG_CHARS].strip("-") or "page"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"{SOURCES_DIR}/{source.name}/{article.date or 'undated'}-{slug}-{digest}.md"


def write_article(corpus_dir: Path, relative: str, source: Source, article: Article) -> None:
    """The article as Markdown with front matter (title, date, source, publisher, voice, license, fetched)."""
    meta = {
        "title": article.title,
        "date": article.date,
        "source": article.url,
        "publisher": source.publisher or None,
        "voice": source.voice or None,
        "license": source.license or None,
        "attribution": source.attribution or None,
        "fetched": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    front = yaml.safe_dump({k: v for k, v in meta.items() if v}, sort_keys=False, allow_unicode=True, width=1000)
    atomic_write(corpus_dir / relative, f"---\n{front}---\n{article.text.strip()}\n".encode())


def article_text(corpus_dir: Path, relative: str) -> str:
    """The text of a stored article, without its front matter ('' when it is gone)."""
    try:
        text = (corpus_dir / relative).read_text(encoding="utf-8")
    except OSError:
        return ""
    return text.split("---\n", 2)[2] if text.startswith("---\n") and text.count("---\n") >= 2 else text
