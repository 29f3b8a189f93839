"""`as_of` from every entry point, over tests/data/timeline: dated news from 2022 to 2026 and an undated note.

The same question has a different right answer on different dates: where the negotiators met (Istanbul in
2022, Geneva in 2026), what the Kremlin's conditions are, and how many missiles came "this week" in the last
days of 2023 and of 2024.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from assistant.cli import cli
from assistant.errors import UsageError
from assistant.pipeline import Assistant
from assistant.serve.ui import ChatHandlers
from assistant.settings import Settings
from assistant.types import make_filters

from .conftest import TIMELINE
from .servers import ASSISTANT, assistant_api, free_port

VENUE = "Where did Russian and Ukrainian negotiators meet?"
STRIKES = "How many missiles and drones did Russia fire this week?"


def test_the_answer_is_the_one_true_on_the_as_of_date(timeline: Assistant) -> None:
    early = timeline.ask(VENUE, as_of="2022-04-01")
    assert not early.abstained and "Istanbul" in early.text and "Geneva" not in early.text
    late = timeline.ask(VENUE, as_of=dt.date(2026, 3, 1))
    assert "Geneva" in late.text and "(2026-02-10)" in late.text, "each quote shows its document's date"
    conditions = timeline.ask("What are the Kremlin's conditions?", as_of="2025-07-01")
    assert "four regions" in conditions.text and "(2025-06-03)" in conditions.text


def test_documents_dated_after_as_of_are_not_used(timeline: Assistant) -> None:
    passages = timeline.retrieve("Russian and Ukrainian negotiators met in Geneva", k=10, as_of="2025-07-01")
    assert passages and all(p.chunk.date is None or p.chunk.date <= "2025-07-01" for p in passages)
    assert not any("Geneva" in p.chunk.text for p in passages)
    answer = timeline.ask("What did Moscow say about the talks in Geneva?", as_of="2025-07-01")
    assert all(c.date is None or c.date <= "2025-07-01" for c in answer.citations)
    assert "Geneva" not in answer.text


def test_documents_without_a_date_take_part_at_any_as_of(timeline: Assistant) -> None:
    for as_of in ("2022-01-01", "2026-03-01"):
        passages = timeline.retrieve("Was the Istanbul communique signed?", k=3, as_of=as_of)
        assert "background-glossary" in [p.chunk.doc_id for p in passages]


@pytest.mark.parametrize(("as_of", "count", "not_count"), [("2025-01-02", "70", "120"), ("2024-01-02", "120", "70")])
def test_this_week_is_read_from_the_as_of_date_across_a_year_end(
    timeline: Assistant, as_of: str, count: str, not_count: str
) -> None:
    answer = timeline.ask(STRIKES, as_of=as_of)
    assert count in answer.text and not_count not in answer.text


def test_a_question_about_a_time_is_not_answered_from_a_story_long_before_it(timeline: Assistant) -> None:
    # On 2025-09-01 the latest barrage in the corpus is eight months old: it is not "this week"'s.
    answer = timeline.ask(STRIKES, as_of="2025-09-01")
    assert answer.abstained and not answer.citations
    assert answer.nearest and "(2024-12-30)" not in answer.text
    assert any("70" in quote.quote and quote.date == "2024-12-30" for quote in answer.nearest)
    # Within half a year of the week the question names, the same story still answers.
    assert "70" in timeline.ask(STRIKES, as_of="2025-03-01").text


def test_a_time_the_question_names_never_brings_in_what_the_filters_leave_out(timeline: Assistant) -> None:
    filters = make_filters(date_to="2024-06-01")
    passages = timeline.retrieve(STRIKES, k=10, filters=filters, as_of="2025-01-02")
    assert passages and all(p.chunk.date and p.chunk.date <= "2024-06-01" for p in passages)


def test_a_question_about_change_is_answered_with_dated_quotes_in_time_order(timeline: Assistant) -> None:
    answer = timeline.ask("How have the Kremlin's conditions changed?", as_of="2026-03-01")
    assert "neutral" in answer.text and "four regions" in answer.text
    assert answer.text.index("(2022-03-29)") < answer.text.index("(2025-06-03)")


STANCES = {
    "2024-03-01": "The Kremlin's conditions for talks are that Ukraine stay neutral and outside NATO.",
    "2025-04-01": "The Kremlin's conditions for talks now include that Ukraine give up four regions.",
    "2025-11-01": "The Kremlin's conditions for talks now also include an end to Western arms deliveries.",
}


def test_a_question_about_change_quotes_every_stance_however_small_the_corpus(tmp_path: Path) -> None:
    # Three one-sentence stories: the newest ranks first as a passage, but a question about change wants the
    # old stances as much as the new one.
    corpus = tmp_path / "stances"
    corpus.mkdir()
    for day, stance in STANCES.items():
        (corpus / f"{day}.md").write_text(f"---\ntitle: Kremlin conditions\ndate: {day}\n---\n{stance}\n", "utf-8")
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"))
    assistant.ingest()
    answer = assistant.ask("How have the Kremlin's conditions changed?", as_of="2026-03-01")
    assert [c.date for c in answer.citations] == list(STANCES)
    since = assistant.ask("How have the Kremlin's conditions changed since 2025?", as_of="2026-03-01")
    assert [c.date for c in since.citations] == ["2025-04-01", "2025-11-01"]


@pytest.mark.parametrize("as_of", ["2025-W27-1", "20250601", "2025-02-30", "soon"])
def test_a_bad_as_of_date_says_what_to_write(timeline: Assistant, as_of: str) -> None:
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        timeline.ask(VENUE, as_of=as_of)


def _texts(documents: list[Any]) -> str:
    return " ".join(d.page_content for d in documents)


def test_the_langchain_retriever_takes_as_of_when_built_and_per_call(timeline: Assistant) -> None:
    retriever = timeline.retriever(k=3, as_of="2025-07-01")
    assert "Geneva" not in _texts(retriever.invoke(VENUE))
    assert "Geneva" in _texts(retriever.invoke(VENUE, as_of="2026-03-01"))


def test_the_cli_takes_as_of(
    timeline: Assistant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(timeline.settings.index_dir))
    common = ["--corpus", str(TIMELINE)]
    assert cli(["ask", *common, "--as-of", "2022-04-01", "--json", VENUE]) == 0
    assert "Istanbul" in json.loads(capsys.readouterr().out)["answer"]
    assert cli(["retrieve", *common, "--as-of", "2025/07/01", "--json", "--k", "3", VENUE]) == 0
    assert "Geneva" not in " ".join(r["text"] for r in json.loads(capsys.readouterr().out))
    assert cli(["retrieve", *common, "--as-of", "2026/03/01", "--json", "--k", "3", VENUE]) == 0
    assert "Geneva" in " ".join(r["text"] for r in json.loads(capsys.readouterr().out))
    # How the question's time was read: in the JSON, and a line under the answer.
    assert cli(["ask", *common, "--as-of", "2025-01-02", "--json", STRIKES]) == 0
    frame = {"phrase": "this week", "start": "2024-12-26", "end": "2025-01-02"}
    assert json.loads(capsys.readouterr().out)["time_frame"] == frame
    assert cli(["ask", *common, "--as-of", "2025-01-02", STRIKES]) == 0
    assert '\n("this week" was read as 2024-12-26 to 2025-01-02.)\n' in capsys.readouterr().out
    assert cli(["ask", *common, "--as-of", "2025-W27-1", VENUE]) == 1
    err = capsys.readouterr().err
    assert "YYYY-MM-DD" in err and "Traceback" not in err


def test_the_web_chat_endpoint_takes_as_of(timeline: Assistant) -> None:
    handlers = ChatHandlers(timeline)
    assert "Istanbul" in handlers.ask_api(VENUE, None, None, "2022-04-01")["answer"]
    assert "Geneva" in handlers.ask_api(VENUE, None, None, "2026-03-01")["answer"]


@pytest.mark.server
def test_rest_takes_as_of(timeline: Assistant, tmp_path: Path) -> None:
    env = {"ASSISTANT_CORPUS_DIR": str(TIMELINE), "ASSISTANT_INDEX_DIR": str(timeline.settings.index_dir)}
    port = free_port()
    server = assistant_api(port, tmp_path / "api.log", env).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            early = client.post("/v1/ask", json={"question": VENUE, "as_of": "2022-04-01"})
            assert early.status_code == 200 and "Istanbul" in early.json()["answer"]
            assert early.json()["time_frame"] is None
            week = client.post("/v1/ask", json={"question": STRIKES, "as_of": "2025-01-02"})
            assert week.json()["time_frame"] == {"phrase": "this week", "start": "2024-12-26", "end": "2025-01-02"}
            before = client.post("/v1/retrieve", json={"query": VENUE, "k": 3, "as_of": "2025-07-01"})
            assert before.status_code == 200 and "Geneva" not in str(before.json()["results"])
            late = client.post("/v1/retrieve", json={"query": VENUE, "k": 3, "as_of": "2026-03-01"})
            assert late.status_code == 200 and "Geneva" in str(late.json()["results"])
            bad = client.post("/v1/ask", json={"question": VENUE, "as_of": "2025-W27-1"})
            assert bad.status_code == 422 and "as_of" in bad.text
    finally:
        server.stop()


@pytest.mark.server
@pytest.mark.asyncio
async def test_mcp_takes_as_of(timeline: Assistant, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(timeline.settings.index_dir, index)
    env = {"ASSISTANT_CORPUS_DIR": str(TIMELINE), "ASSISTANT_INDEX_DIR": str(index)}
    params = StdioServerParameters(command=ASSISTANT, args=["mcp"], env=env)

    async def call(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
        with anyio.fail_after(120):
            return (await session.call_tool(tool, arguments)).structured_content

    with (tmp_path / "mcp.log").open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            early = await call(session, "ask", {"question": VENUE, "as_of": "2022-04-01"})
            assert "Istanbul" in early["answer"]
            week = await call(session, "ask", {"question": STRIKES, "as_of": "2025-01-02"})
            assert week["time_frame"] == {"phrase": "this week", "start": "2024-12-26", "end": "2025-01-02"}
            before = await call(session, "retrieve", {"query": VENUE, "k": 3, "as_of": "2025-07-01"})
            assert "Geneva" not in str(before["results"])
            late = await call(session, "retrieve", {"query": VENUE, "k": 3, "as_of": "2026-03-01"})
            assert "Geneva" in str(late["results"])


def test_this_week_asked_near_the_first_day_of_the_calendar_is_answered_not_a_crash(timeline: Assistant) -> None:
    answer = timeline.ask(STRIKES, as_of="0001-01-03")
    assert answer.time_frame is not None and answer.time_frame.start == dt.date.min


@pytest.mark.parametrize("value", ["2025/07/01", " 2025-07-01 "])
def test_every_entry_point_reads_an_as_of_date_by_the_same_rule(value: str) -> None:
    from assistant.retrieval.timeframe import parse_date
    from assistant.serve.schema import AskRequest

    assert parse_date(value) == dt.date(2025, 7, 1)  # the CLI, MCP, the web chat and Python
    assert AskRequest(question=VENUE, as_of=value).as_of == "2025-07-01"  # REST


def test_a_refused_as_of_date_is_not_echoed_whole() -> None:
    from pydantic import ValidationError

    from assistant.retrieval.timeframe import parse_date
    from assistant.serve.schema import AskRequest

    huge = "9" * 100_000
    with pytest.raises(UsageError) as refused:
        parse_date(huge)
    assert "YYYY-MM-DD" in str(refused.value) and len(str(refused.value)) < 200
    with pytest.raises(ValidationError) as invalid:
        AskRequest(question=VENUE, as_of=huge)
    assert "YYYY-MM-DD" in str(invalid.value) and huge not in str(invalid.value)
