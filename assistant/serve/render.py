"""HTML for the web chat: answers with clickable [n] markers, the sources panel, upload results.

Every text that comes from a document, a question or an answer is escaped here, so markup in a
document is shown as text and never runs. Chat messages are one line of HTML: Markdown passes a
one-line HTML block through unparsed, so no Markdown syntax in a document (an image link, say)
can turn into markup either.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from assistant.types import Answer, ChunkInfo, Citation

if TYPE_CHECKING:
    from assistant.ingest.upload import StoredUpload

ABSTENTION_LABEL = "Not in the corpus"
# Characters of the passage shown on each side of the quote: enough to judge it, short enough to scan.
CONTEXT_CHARS = 240
NEAREST_LABEL = "The closest sentences found; the assistant did not take them for an answer:"
NO_SOURCES_YET = "Sources of the latest answer appear here. Click a [n] in an answer to bring its source into view."

_MARKER = re.compile(r"\[(\d{1,3})\]")
# Every line break str.splitlines knows, so that no raw line break reaches the Markdown renderer.
_LINE_BREAK = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def _text(text: str) -> str:
    """Text as HTML: escaped, line breaks kept, all on one line."""
    return "<br>".join(html.escape(line) for line in _LINE_BREAK.split(text))


def source_id(turn: int, n: int) -> str:
    """The element id of source n of a turn; the [n] links of that turn's answer point to it."""
    return f"source-{turn}-{n}"


def question_html(question: str) -> str:
    """A user's question as a chat message."""
    return f'<div class="question">{_text(question)}</div>'


def answer_html(text: str, turn: int, cited: Collection[int] | None = None) -> str:
    """An answer as a chat message: the text escaped, each [n] a link to source n of the turn.

    cited: the citation numbers that exist; None while streaming, when every marker is linked.
    """
    parts: list[str] = []
    position = 0
    for marker in _MARKER.finditer(text):
        parts.append(_text(text[position : marker.start()]))
        n = int(marker.group(1))
        if cited is None or n in cited:
            parts.append(f'<a class="cite" href="#{source_id(turn, n)}" data-n="{n}">&#91;{n}&#93;</a>')
        else:
            parts.append(html.escape(marker.group(0)))
        position = marker.end()
    parts.append(_text(text[position:]))
    return f'<div class="answer">{"".join(parts)}</div>'


def abstention_html(text: str) -> str:
    """The abstention reply, labelled and styled apart from answers."""
    label = f'<strong class="abstention-label">{ABSTENTION_LABEL}</strong>'
    return f'<div class="abstention">{label}<br><em>{_text(text)}</em></div>'


def final_answer_html(answer: Answer, turn: int) -> str:
    """The finished answer as a chat message: an abstention, or the text with its markers linked."""
    if answer.abstained:
        return abstention_html(answer.text)
    return answer_html(answer.text, turn, {citation.n for citation in answer.citations})


def passage_html(citation: Citation, chunk: ChunkInfo | None) -> str:
    """The passage a citation quotes around the quote, escaped, with the quoted sentence in <mark>."""
    if chunk is None:
        return f"<mark>{_text(citation.quote)}</mark>"
    text = chunk.text
    # Citation offsets are into the document; the chunk starts at chunk.start in the same text.
    start, end = citation.start - chunk.start, citation.end - chunk.start
    if not 0 <= start < end <= len(text):
        found = text.find(citation.quote) if citation.quote else -1
        if found < 0:
            return f"<mark>{_text(citation.quote)}</mark><br>{_text(text)}"
        start, end = found, found + len(citation.quote)
    before, after = _clip_before(text[:start]), _clip_after(text[end:])
    return f"{_text(before)}<mark>{_text(text[start:end])}</mark>{_text(after)}"


def _clip_before(text: str) -> str:
    """The end of the text before a quote, at most CONTEXT_CHARS, cut at a word."""
    if len(text) <= CONTEXT_CHARS:
        return text
    cut = text.find(" ", len(text) - CONTEXT_CHARS)
    return "…" + text[cut + 1 if cut >= 0 else len(text) - CONTEXT_CHARS :]


def _clip_after(text: str) -> str:
    """The start of the text after a quote, at most CONTEXT_CHARS, cut at a word."""
    if len(text) <= CONTEXT_CHARS:
        return text
    cut = text.rfind(" ", 0, CONTEXT_CHARS)
    return text[: cut if cut > 0 else CONTEXT_CHARS] + "…"


def _link(url: str | None, label: str) -> str:
    """The title, linked to the document's URL only when that is a plain http(s) address."""
    if url and urlparse(url).scheme in ("http", "https"):
        return f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">{label}</a>'
    return label


def sources_html(answer: Answer, turn: int) -> str:
    """The sources of one answer: each cited passage with its number, title, date and the quote marked."""
    question = html.escape(answer.question)
    heading = f'<p class="sources-for">For “{question}”</p>'
    if answer.time_frame is not None:
        heading += f'<p class="sources-time">{html.escape(answer.time_frame.described())}.</p>'
    chunks = {scored.chunk.chunk_id: scored.chunk for scored in answer.retrieved}
    if answer.abstained:
        nearest = ""
        if answer.nearest:
            shown = "".join(_source_html(citation, chunks, turn, numbered=False) for citation in answer.nearest)
            nearest = f'<p class="sources-nearest">{NEAREST_LABEL}</p><ul class="source-list nearest">{shown}</ul>'
        return (
            f'<section class="turn-sources">{heading}'
            f'<p class="sources-empty">No source answers this question, so nothing is cited.</p>{nearest}</section>'
        )
    items = [_source_html(citation, chunks, turn) for citation in answer.citations]
    return f'<section class="turn-sources">{heading}<ol class="source-list">{"".join(items)}</ol></section>'


def _source_html(citation: Citation, chunks: dict[str, ChunkInfo], turn: int, numbered: bool = True) -> str:
    """One source: its [n] (when it is cited), title, date and source, and the passage with the quote marked."""
    parts = (citation.date, citation.attribution(), citation.publisher, citation.source, citation.license)
    meta = " · ".join(html.escape(part) for part in parts if part)
    number = f'<span class="source-n">[{citation.n}]</span> ' if numbered else ""
    anchor = f' id="{source_id(turn, citation.n)}"' if numbered else ""
    return (
        f'<li class="source"{anchor}>'
        f'<div class="source-head">{number}'
        f'<span class="source-title">{_link(citation.url, html.escape(citation.title))}</span></div>'
        f'<div class="source-meta">{meta}</div>'
        f'<blockquote class="source-passage">{passage_html(citation, chunks.get(citation.chunk_id))}</blockquote>'
        "</li>"
    )


def sources_panel(sections: Sequence[tuple[str, str]]) -> str:
    """The panel: the latest answer's sources, then earlier answers' sources folded away.

    sections: (question, sources_html) for each turn, oldest first.
    """
    if not sections:
        return f'<div class="sources-panel"><p class="sources-empty">{html.escape(NO_SOURCES_YET)}</p></div>'
    latest = sections[-1][1]
    earlier = "".join(
        f'<details class="earlier"><summary>Earlier: {html.escape(question)}</summary>{section}</details>'
        for question, section in reversed(sections[:-1])
    )
    return f'<div class="sources-panel">{latest}{earlier}</div>'


def pending_sources(question: str) -> str:
    """The panel while an answer is being composed."""
    waiting = f"Finding sources for “{html.escape(question)}”…"
    return f'<div class="sources-panel"><p class="sources-empty">{waiting}</p></div>'


def upload_added(stored: StoredUpload) -> str:
    """The result of an upload that was indexed: where it was saved, and whether it replaced or was renumbered."""
    documents = ", ".join(html.escape(doc_id) for doc_id in stored.doc_ids)
    report = stored.report
    verb = "Updated" if report.updated and not report.added else "Added"
    chunks = report.chunks_added
    note = ""
    if stored.replaced:
        note = f" It replaced {html.escape(', '.join(stored.replaced))}."
    elif stored.name_taken:
        note = (
            f" An earlier upload has that name, so it was saved under the new name {html.escape(stored.source)}"
            " (tick Replace to replace the earlier one instead)."
        )
    mine = [w.reason for w in report.warnings if w.source.split(":", 1)[0] == stored.source]
    if mine:  # a date it states that could not be read: the document answers for every date until it is fixed
        note += f" Note: it {html.escape(mine[0])}."
    return (
        f'<p class="upload-result upload-added">{verb} <strong>{html.escape(stored.filename)}</strong> as {documents}: '
        f"{chunks} chunk{'s' if chunks != 1 else ''} added; {report.chunks_total} in the index. "
        f"You can ask about it now.{note}</p>"
    )


def upload_refused(message: str) -> str:
    """The result of an upload that was refused, with the reason."""
    return f'<p class="upload-result upload-refused">{html.escape(message)}</p>'
