"""The web chat's Sources tab: the app builds with it, and its handlers add, sync, list and remove."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest

from assistant.pipeline import Assistant
from assistant.serve.sources_ui import COLUMNS, SourcesHandlers
from assistant.serve.ui import build_ui
from assistant.settings import Settings
from assistant.sources.schedule import Schedule
from tests.site import LocalSite, Reply


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as served:
        served.routes["/feed.xml"] = Reply(served.page("feed.xml"))
        served.routes["/news/grain"] = Reply(served.page("grain.html"))
        served.routes["/news/talks?utm_source=feed"] = Reply(served.page("talks.html"))
        served.routes["/republished/exchange"] = Reply(served.page("copy.html"))
        yield served


def assistant_for(tmp_path: Path, allow: str) -> Assistant:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "note.md").write_text("# Note\n\nA note that was in the corpus before any source.\n")
    return Assistant(
        Settings(
            corpus_dir=corpus, index_dir=tmp_path / "index", sources_contact="ops@example.org", sources_delay=0.0,
            sources_allow_networks=allow,
        )
    )  # fmt: skip


def test_the_app_has_a_sources_tab(tmp_path: Path, fake_embeddings: str) -> None:
    blocks = build_ui(assistant_for(tmp_path, ""))
    tabs = [block.label for block in blocks.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Chat", "Sources"]
    [table] = [block for block in blocks.blocks.values() if getattr(block, "elem_id", None) == "sources-table"]
    assert list(table.headers) == COLUMNS  # type: ignore[attr-defined]


def test_add_sync_and_remove_from_the_tab(site: LocalSite, tmp_path: Path, fake_embeddings: str) -> None:
    handlers = SourcesHandlers(assistant_for(tmp_path, "127.0.0.1/32"))
    rows, message = handlers.add("ministry", f"{site.base}/feed.xml", "feed", "Examplia: government", "CC BY 4.0")
    assert message.startswith("Added ministry")
    assert rows[0][:6] == ["ministry", "feed", f"{site.base}/feed.xml", "CC BY 4.0", "Examplia: government", "1d"]
    assert rows[0][6:] == ["never", 0, "", "due now", ""]

    rows, message = handlers.sync("ministry")
    assert message == "ministry: 2 added, 0 updated, 1 duplicates, 0 skipped."
    assert rows[0][7] == 2 and rows[0][6] != "never" and rows[0][9] > rows[0][6]  # next sync: a day later
    answer = handlers.assistant.retrieve("grain convoy Kelmar", k=1)
    assert answer[0].chunk.doc_id.startswith("sources/ministry/")

    rows, message = handlers.remove("ministry")
    assert rows == [] and "documents stay" in message


def test_the_tab_says_what_was_wrong_in_one_line(site: LocalSite, tmp_path: Path, fake_embeddings: str) -> None:
    handlers = SourcesHandlers(assistant_for(tmp_path, ""))
    assert "loopback address" in handlers.add("local", f"{site.base}/feed.xml", "", "", "")[1]
    assert "not in the catalogue" in handlers.add("nowhere", "", "", "", "")[1]
    assert handlers.sync("")[1].startswith("Not synced: There are no sources")
    assert handlers.remove("nothing")[1].startswith("Not removed: No source named")
    assert site.seen == []


def test_the_tab_shows_the_next_sync_and_what_the_schedule_does(
    site: LocalSite, tmp_path: Path, fake_embeddings: str
) -> None:
    assistant = assistant_for(tmp_path, "127.0.0.1/32")
    schedule = Schedule(assistant.settings.model_copy(update={"sources_schedule": True}), assistant.ingest)
    handlers = SourcesHandlers(assistant, schedule)
    assert "background sync fetches it now" in handlers.add("ministry", f"{site.base}/feed.xml", "", "", "")[1]
    [report] = schedule.run_once()  # the pass the server's thread makes
    rows, note = handlers.refresh()
    assert len(report.added) == 2 and rows[0][7] == 2
    assert rows[0][9] > rows[0][6] and rows[0][10] == ""  # next sync after the last; none running
    assert note.startswith(f"Background sync: on: next ministry at {rows[0][9]}")
    off = SourcesHandlers(assistant, Schedule(assistant.settings, assistant.ingest))  # tests turn it off
    assert off.rows()[0][9] == "schedule off" and "ASSISTANT_SOURCES_SCHEDULE=0" in off.note()
