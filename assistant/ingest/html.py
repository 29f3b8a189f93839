"""An HTML file's main text, title and date, read with lxml's C parser.

BeautifulSoup builds its tree in Python at about 6 s a megabyte here, and the loader that marked block
boundaries by inserting into that tree cost time quadratic in the nesting depth (a 2.2 MB page of
nested <div>s: over 17 minutes of CPU). lxml parses in C, linear in the file's size (a 9 MB page in
0.6 s), and libxml2 stops at a nesting depth of MAX_DEPTH; a page that reaches it is refused rather than
read in part. The text is then gathered in one walk over the tree.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import Any

MAX_DEPTH = 256  # libxml2's limit for HTML without XML_PARSE_HUGE; real pages nest a few dozen levels
_DROPPED = frozenset("script style noscript template svg nav header footer aside form head title iframe object".split())
_BLOCKS = frozenset(
    (
        "p div section article main header footer aside nav h1 h2 h3 h4 h5 h6 li ul ol "
        "blockquote pre table tr td th figcaption dt dd hr"
    ).split()
)
# Where pages state their publication date, most specific first: Open Graph's article, schema.org, Dublin
# Core, the citation and analytics tags news sites write, then plain names. Dates of last change are not here.
_DATE_META = (
    "article:published_time", "og:article:published_time", "og:published_time", "datepublished",
    "dcterms.issued", "dc.date.issued", "dcterms.date", "dc.date", "dcterms.created", "dc.date.created",
    "citation_publication_date", "citation_date", "parsely-pub-date", "sailthru.date", "publish-date",
    "publish_date", "publishdate", "pubdate", "date",
)  # fmt: skip
_MAX_JSON_LD_CHARS = 100_000  # a page's structured data is a few kB; a larger block is not read


class HtmlError(ValueError):
    """Why a page cannot be read; its message completes "the file ..."."""


@dataclass(frozen=True)
class HtmlPage:
    """What a page says: its main text, its title (or None) and the publication dates its markup gives, as written
    (ingest/dates.py reads them)."""

    text: str
    title: str | None
    dates: tuple[tuple[str, str], ...] = ()  # (where, as written): the publication dates it states, best first


def read_html(text: str) -> HtmlPage:
    """The main text (`<article>` or `<main>`, else `<body>`) without markup, scripts or navigation, its title
    (`<title>`, else the first `<h1>`) and its publication dates; HtmlError when it nests deeper than MAX_DEPTH."""
    import lxml.html
    from lxml import etree

    parser = lxml.html.HTMLParser(encoding="utf-8")
    try:
        root = lxml.html.document_fromstring(text.encode("utf-8", "surrogatepass"), parser=parser)
    except etree.ParserError:  # nothing but white space or comments
        return HtmlPage("", None)
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        raise HtmlError(
            f"is HTML nested more than {MAX_DEPTH} elements deep, which no web page needs; save the page again "
            "from a browser, or as text"
        )
    title = _clean(_first_text(root, "title") or _first_text(root, "h1")) or None
    main = next((found for tag in ("article", "main", "body") for found in root.iter(tag)), root)
    parts: list[str] = []
    _gather(main, parts, top=True)
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(parts).split("\n")]
    return HtmlPage(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip(), title, _dates(root, main))


def _dates(root: Any, main: Any) -> tuple[tuple[str, str], ...]:
    """The publication dates a page states, as (where, value), best first: <meta> tags in _DATE_META's order,
    schema.org's datePublished in JSON-LD, a <time> marked as the publication's, then the main text's first
    <time datetime>."""
    found: dict[str, tuple[str, str]] = {}
    for meta in root.iter("meta"):
        content = (meta.get("content") or "").strip()
        for attribute in ("property", "name", "itemprop"):
            key = (meta.get(attribute) or "").strip().lower()
            if key in _DATE_META and content and key not in found:
                found[key] = (f'<meta {attribute}="{meta.get(attribute).strip()}">', content)
    dates = [found[key] for key in _DATE_META if key in found]
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json":
            dates += [("JSON-LD datePublished", value) for value in _json_ld_dates(script.text or "")]
    marked = [
        time for time in root.iter("time") if time.get("pubdate") is not None or time.get("itemprop") == "datePublished"
    ]
    for time in [*marked, *islice(main.iter("time"), 1)]:
        value = (time.get("datetime") or time.text_content()).strip()
        if value:
            dates.append(("<time>", value))
    return tuple(dict.fromkeys(dates))


def _json_ld_dates(block: str) -> list[str]:
    """Every datePublished in a JSON-LD block (an object, a list of them, or an @graph), in document order."""
    if len(block) > _MAX_JSON_LD_CHARS:
        return []
    try:
        data = json.loads(block)
    except ValueError:
        return []
    dates: list[str] = []
    pending = deque([data])
    while pending:
        item = pending.popleft()
        if isinstance(item, dict):
            value = item.get("datePublished")
            if isinstance(value, str) and value.strip():
                dates.append(value.strip())
            pending.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            pending.extend(item)
    return dates


def _first_text(root: object, tag: str) -> str:
    element = next(root.iter(tag), None)  # type: ignore[attr-defined]
    return element.text_content() if element is not None else ""


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _gather(element: object, parts: list[str], top: bool = False) -> None:
    """Append element's text to parts: blank lines around blocks, a line break for <br>; recursion is bounded by
    MAX_DEPTH."""
    tag = getattr(element, "tag", None)
    if isinstance(tag, str) and tag not in _DROPPED:  # comments and processing instructions have no str tag
        if tag == "br":
            parts.append("\n")
        block = tag in _BLOCKS
        if block:
            parts.append("\n\n")
        parts.append(getattr(element, "text", None) or "")
        for child in element:  # type: ignore[attr-defined]
            _gather(child, parts)
        if block:
            parts.append("\n\n")
    if not top:
        parts.append(getattr(element, "tail", None) or "")
