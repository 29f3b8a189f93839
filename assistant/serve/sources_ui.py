"""The web chat's Sources tab: each source with its licence, voice, last sync, documents and last error;
add, remove, sync now. `SourcesHandlers` holds the handlers, callable directly from tests."""

from __future__ import annotations

import logging

import gradio as gr

from assistant.errors import AssistantError
from assistant.pipeline import Assistant
from assistant.sources.catalogue import CATALOGUE
from assistant.sources.records import KINDS
from assistant.sources.service import drop_source, new_source, source_statuses

COLUMNS = ["name", "kind", "url", "licence", "voice", "every", "last sync", "documents", "last error"]
_log = logging.getLogger(__name__)

Rows = list[list[object]]


class SourcesHandlers:
    """Add, remove and sync sources from the web chat; errors become one-line messages."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def rows(self) -> Rows:
        """The table: one row a source."""
        return [
            [s.source.name, s.source.kind, s.source.url, s.source.license, s.source.voice, s.source.every,
             s.last_sync or "never", s.documents, s.last_error or ""]
            for s in source_statuses(self.assistant.settings.corpus_dir)
        ]  # fmt: skip

    def add(self, name: str, url: str, kind: str, voice: str, license: str) -> tuple[Rows, str]:
        """Add a source (a catalogue name alone, or a name and URL); its host must be public."""
        try:
            source = new_source(
                self.assistant.settings.corpus_dir, name.strip(), url.strip() or None, kind or None,
                voice.strip() or None, license.strip() or None, remote=True, settings=self.assistant.settings,
            )  # fmt: skip
        except AssistantError as exc:
            return self.rows(), f"Not added: {exc}"
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


def sources_tab(assistant: Assistant) -> SourcesHandlers:
    """The tab's components and events, inside the Blocks being built."""
    handlers = SourcesHandlers(assistant)
    table = gr.Dataframe(
        value=handlers.rows, headers=COLUMNS, interactive=False, wrap=True, elem_id="sources-table", label="Sources"
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
    message = gr.Markdown(elem_id="source-message")
    gr.Markdown(f"Catalogue (add by name): {', '.join(CATALOGUE)}.")
    add.click(handlers.add, [name, url, kind, voice, license], [table, message], api_visibility="private")
    remove.click(handlers.remove, [name], [table, message], api_visibility="private")
    sync.click(handlers.sync, [name], [table, message], api_visibility="private")
    return handlers
