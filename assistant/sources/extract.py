"""A news page's main text, title and publication date: trafilatura and htmldate, imported here only."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from assistant.errors import AssistantError

_MIN_TEXT_CHARS = 200  # less is a teaser, an index page or a bot wall, not an article


class ExtractError(AssistantError):
    """A page whose main text could not be found."""


@dataclass(frozen=True)
class Page:
    title: str
    text: str
    date: str | None  # YYYY-MM-DD, the page's publication date when it states one


def extract_page(html: bytes, url: str) -> Page:
    """The main text, title and publication date of a news page; ExtractError when it has no article."""
    import htmldate
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # it logs each page it finds no text in
    markup = html.decode("utf-8", errors="replace")
    try:
        extracted = trafilatura.bare_extraction(
            markup, url=url, with_metadata=True, include_comments=False, include_tables=False, favor_precision=True
        )
    except Exception as exc:  # the library's own failure on a broken page
        raise ExtractError(f"{url} could not be parsed ({type(exc).__name__}).") from None
    text = (getattr(extracted, "text", None) or "").strip()
    if len(text) < _MIN_TEXT_CHARS:
        raise ExtractError(f"{url} has no article text that could be found ({len(text)} characters).")
    title = (getattr(extracted, "title", None) or "").strip()
    first, _, rest = text.partition("\n")
    if title and first.strip() == title:  # the headline opens the text too; the title keeps it
        text = rest.strip()
    # Publication (original_date), not last-modified; no guessing from dates in the running text.
    date = htmldate.find_date(markup, url=url, original_date=True, extensive_search=False)
    return Page(title=title, text=text, date=date)
