"""Whose position a document states (voice), from its metadata to every entry point's filter and citation.

Over tests/data/voices: Kremlin and Ukrainian presidential statements, a UN appeal and a wire report,
written for these tests, each with its voice and publisher in front matter (the wire report in JSONL).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from assistant.answer.voices import MISSING_SIDE
from assistant.cli import cli
from assistant.index.chroma import chroma_where
from assistant.pipeline import Assistant
from assistant.serve.api import create_app
from assistant.serve.mcp import create_server
from assistant.serve.ui import ChatHandlers
from assistant.types import Answer, Filters, make_filters, voice_keys, with_voices

from .conftest import VOICES

AS_OF = "2022-06-01"
BUCHA = "What happened in Bucha?"


def _voices_of(answer: Answer) -> set[str | None]:
    return {citation.voice for citation in answer.citations}


def test_a_voice_filter_keeps_a_side_or_one_voice_in_any_case() -> None:
    assert voice_keys("Russia:  Government") == ("russia: government", "russia")
    assert voice_keys("UN") == ("un",)
    assert voice_keys("  ") == ()
    assert with_voices(None, None) is None
    assert with_voices(Filters(tags=("a",)), "Russia") == Filters(tags=("a",), voices=("Russia",))
    assert make_filters(voices=[" UN ", ""]).voices == ("UN",)
    assert chroma_where(make_filters(voices=["Russia"])) == {"voice_keys": {"$contains": "russia"}}


def test_documents_keep_voice_publisher_and_licence_from_front_matter_and_jsonl(voices: Assistant) -> None:
    chunks = {chunk.chunk.doc_id: chunk.chunk for chunk in voices.retrieve(BUCHA, k=10, as_of=AS_OF)}
    kremlin = chunks["2022-04-05-kremlin-bucha"]
    assert (kremlin.voice, kremlin.publisher) == ("Russia: government", "Kremlin press office")
    wire = chunks["wire/bucha-report"]
    assert (wire.voice, wire.publisher, wire.license) == ("independent media", "Example Wire", None)
    assert voices.voices() == ["Russia: government", "UN", "Ukraine: government", "independent media"]


def test_python_keyword_and_retriever_keep_one_side(voices: Assistant) -> None:
    answer = voices.ask(BUCHA, as_of=AS_OF, voice="Russia")
    assert not answer.abstained and _voices_of(answer) == {"Russia: government"}
    results = voices.retrieve(BUCHA, k=10, as_of=AS_OF, voice=["Ukraine: government", "independent media"])
    assert results and {r.chunk.voice for r in results} == {"Ukraine: government", "independent media"}
    retriever = voices.retriever(k=10, as_of=AS_OF, voice="UN")
    assert {d.metadata["voice"] for d in retriever.invoke("grain")} == {"UN"}
    assert {d.metadata["voice"] for d in retriever.invoke("grain", voice="ukraine")} == {"Ukraine: government"}


def test_cli_voice_option_filters_and_json_citations_carry_voice(
    voices: Assistant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(voices.settings.index_dir))
    code = cli(["ask", BUCHA, "--corpus", str(VOICES), "--as-of", AS_OF, "--voice", "Ukraine", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["citations"]
    for citation in printed["citations"]:
        assert citation["voice"] == "Ukraine: government"
        assert citation["publisher"] == "Office of the President of Ukraine"
        assert "speaker" in citation
    code = cli(["retrieve", "grain", "--corpus", str(VOICES), "--as-of", AS_OF, "--voice", "UN", "--json"])
    assert code == 0 and {r["voice"] for r in json.loads(capsys.readouterr().out)} == {"UN"}


@pytest.mark.asyncio
async def test_rest_takes_a_voice_or_a_list_of_them(voices: Assistant) -> None:
    transport = httpx.ASGITransport(app=create_app(voices), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
        one = await client.post("/v1/ask", json={"question": BUCHA, "as_of": AS_OF, "voice": "Russia"})
        assert one.status_code == 200
        assert {c["voice"] for c in one.json()["citations"]} == {"Russia: government"}
        body = {"query": BUCHA, "as_of": AS_OF, "k": 10, "voice": ["independent media"]}
        many = await client.post("/v1/retrieve", json=body)
        assert many.status_code == 200 and {r["voice"] for r in many.json()["results"]} == {"independent media"}


@pytest.mark.asyncio
async def test_mcp_tools_take_a_voice(voices: Assistant) -> None:
    server = create_server(voices)
    arguments = {"query": BUCHA, "as_of": AS_OF, "k": 10, "voice": ["Russia"]}
    result = await server.call_tool("retrieve", arguments)
    assert not result.is_error
    records = result.structured_content["results"]
    assert records and {r["voice"] for r in records} == {"Russia: government"}


def test_web_chat_voice_control_filters_the_answer(voices: Assistant, tmp_path: Path) -> None:
    handlers = ChatHandlers(voices, feedback_path=tmp_path / "feedback.jsonl", uploaded=set())
    *_, (_, _, turns, _) = handlers.respond(BUCHA, [], as_of=AS_OF, voices=["Russia: government"])
    assert turns and _voices_of(turns[-1].answer) == {"Russia: government"}


def test_a_question_about_one_side_is_answered_from_its_own_statements(voices: Assistant) -> None:
    answer = voices.ask("What does Russia demand from Ukraine?", as_of=AS_OF)
    assert not answer.abstained and answer.citations[0].voice == "Russia: government"
    assert " said (2022-03-01): " in answer.text


def test_a_contested_question_is_answered_side_by_side(voices: Assistant) -> None:
    answer = voices.ask("Who is to blame for the killings in Bucha?", as_of=AS_OF)
    assert sorted(c.voice or "" for c in answer.citations) == ["Russia: government", "Ukraine: government"]
    assert all(f"({c.date}): {c.quote} [{c.n}]" in answer.text for c in answer.citations)


def test_a_side_without_a_statement_is_said_to_have_none(voices: Assistant) -> None:
    answer = voices.ask("What do both sides say about the blocked grain exports?", as_of=AS_OF)
    assert {c.voice for c in answer.citations} == {"Ukraine: government"}
    assert MISSING_SIDE.format(side="Russia") in answer.text


def test_a_named_institution_without_statements_of_its_own_is_a_matter_not_a_side(voices: Assistant) -> None:
    """NATO is named, but no document states its position: the question asks for the Kremlin's alone, and the
    answer does not say that "the corpus holds no statement from NATO"."""
    answer = voices.ask("What did the Kremlin demand about NATO and Crimea?", as_of=AS_OF)
    assert not answer.abstained and {c.voice for c in answer.citations} == {"Russia: government"}
    assert "NATO on this" not in answer.text
