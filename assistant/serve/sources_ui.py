"""The web chat's Sources tab: each source with its licence, voice, last sync, documents, last error, next
scheduled sync and the sync in progress; add, remove, sync now, refresh; and what the background schedule
is doing. `SourcesHandlers` holds the handlers, callable directly from tests."""

from __future__ import annotations

import logging

import gradio as gr

from assistant.errors import AssistantError
from assistant.pipeline import Assistant
from assistant.sources.catalogue import CATALOGUE
from assistant.sources.records import KINDS
from assistant.sources.schedule import Schedule
from assistant.sources.service import drop_source, new_source, source_statuses

COLUMNS = [
    "name", "kind", "url", "licence", "voice", "every", "last sync", "documents", "last error", "next sync",
    "syncing now",
]  # fmt: skip
# Shares of the table's width: a long URL wraps instead of squeezing the short columns into a letter a line.
_WIDTHS: list[str | int] = ["9%", "6%", "18%", "8%", "10%", "6%", "9%", "8%", "10%", "7%", "9%"]
_log = logging.getLogger(__name__)

Rows = list[list[object]]


class SourcesHandlers:
    """Add, remove and sync sources from the web chat; errors become one-line messages."""

    def __init__(self, assistant: Assistant, schedule: Schedule | None = None) -> None:
        self.assistant = assistant
        self.schedule = schedule  # the server's background syncs; None: this app has none

    def rows(self) -> Rows:
        """The table: one row a source."""
        off = self.schedule is not None and not self.schedule.status().on
        return [
            [s.source.name, s.source.kind, s.source.url, s.source.license, s.source.voice, s.source.every,
             s.last_sync or "never", s.documents, s.last_error or "",
             "schedule off" if off else s.next_sync or "due now",
             f"since {s.syncing['since']} ({s.syncing['by']})" if s.syncing else ""]
            for s in source_statuses(self.assistant.settings.corpus_dir)
        ]  # fmt: skip

    def note(self) -> str:
        """What the background schedule is doing, in a line."""
        if self.schedule is None:
            return "Background sync: not running in this app."
        status = self.schedule.status()
        checked = f" (last looked at {status.checked})" if status.checked else ""
        return f"Background sync: {status.note}{checked}."

    def refresh(self) -> tuple[Rows, str]:
        return self.rows(), self.note()

    def add(self, name: str, url: str, kind: str, voice: str, license: str) -> tuple[Rows, str]:
        """Add a source (a catalogue name alone, or a name and URL); its host must be public."""
        try:
            source = new_source(
                self.assistant.settings.corpus_dir, name.strip(), url.strip() or None, kind or None,
                voice.strip() or None, license.strip() or None, remote=True, settings=self.assistant.settings,
            )  # fmt: skip
        except AssistantError as exc:
            return self.rows(), f"Not added: {exc}"
        if self.schedule is not None and self.schedule.status().on:
            self.schedule.wake()
            return self.rows(), f"Added {source.name}; the background sync fetches it now (or press Sync now)."
        return self.rows(), f"Added {source.name}; press Sync now to fetch it."

    def remove(self, name: str) -> tuple[Rows, str]:
        try:
            folder = drop_source(self.assistant.settings.corpus_dir, name.strip())
        except AssistantError as exc:
            return self.rows(), f"Not removed: {exc}"
        return self.rows(), f"Removed {name.strip()}; its documents stay in {folder.name}/ until deleted."

    def sync(self, name: str) -> tuple[Rows, str]:
        """Sync one source (or all when no name is given), then ingest what it brought."""
        try:
            reports, _ = self.assistant.sync_sources([name.strip()] if name.strip() else None)
        except AssistantError as exc:
            return self.rows(), f"Not synced: {exc}"
        except Exception:
            _log.exception("syncing sources failed")
            return self.rows(), "Something went wrong on the server; the server log has the details."
        lines = [
            f"{r.name}: {len(r.added)} added, {len(r.updated)} updated, {r.duplicates} duplicates, "
            f"{len(r.skipped)} skipped" + (f"; stopped: {r.error}" if r.error else ".")
            for r in reports
        ]
        return self.rows(), " ".join(lines)


def sources_tab(assistant: Assistant, schedule: Schedule | None = None) -> SourcesHandlers:
    """The tab's components and events, inside the Blocks being built."""
    handlers = SourcesHandlers(assistant, schedule)
    table = gr.Dataframe(
        value=handlers.rows,
        headers=COLUMNS,
        column_widths=_WIDTHS,
        interactive=False,
        wrap=True,
        elem_id="sources-table",
        label="Sources",
    )
    with gr.Row():
        name = gr.Textbox(label="Name", placeholder=f"e.g. {next(iter(CATALOGUE))}", elem_id="source-name")
        url = gr.Textbox(label="URL", placeholder="empty for a catalogue name", elem_id="source-url")
        kind = gr.Dropdown(list(KINDS), value=None, label="Kind", elem_id="source-kind")
        voice = gr.Textbox(label="Voice", placeholder="whose position, e.g. UN", elem_id="source-voice")
        license = gr.Textbox(label="Licence", placeholder="e.g. CC BY 4.0", elem_id="source-license")
    with gr.Row():
        add = gr.Button("Add", elem_id="source-add")
        remove = gr.Button("Remove", elem_id="source-remove")
        sync = gr.Button("Sync now", variant="primary", elem_id="source-sync")
        refresh = gr.Button("Refresh", elem_id="source-refresh")
    message = gr.Markdown(elem_id="source-message")
    note = gr.Markdown(handlers.note, elem_id="source-schedule")
    gr.Markdown(f"Catalogue (add by name): {', '.join(CATALOGUE)}.")
    add.click(handlers.add, [name, url, kind, voice, license], [table, message], api_visibility="private")
    remove.click(handlers.remove, [name], [table, message], api_visibility="private")
    sync.click(handlers.sync, [name], [table, message], api_visibility="private")
    refresh.click(handlers.refresh, None, [table, note], api_visibility="private")
    return handlers
