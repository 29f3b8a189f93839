"""The MCP server through a real client session: `assistant mcp` spawned over stdio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from assistant.pipeline import Assistant

from .conftest import BUNDLED_CORPUS
from .servers import ASSISTANT

pytestmark = [pytest.mark.server, pytest.mark.asyncio]
QUESTION = "What are Russia's preconditions?"


@asynccontextmanager
async def mcp_session(index_dir: Path, log: Path) -> AsyncIterator[ClientSession]:
    """A client session with `assistant mcp` over the bundled corpus and the given index folder."""
    env = {"ASSISTANT_CORPUS_DIR": str(BUNDLED_CORPUS), "ASSISTANT_INDEX_DIR": str(index_dir)}
    params = StdioServerParameters(command=ASSISTANT, args=["mcp"], env=env)
    with log.open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def _call(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
    with anyio.fail_after(120):  # the first call loads the embedding model
        return await session.call_tool(tool, arguments)


async def test_a_client_lists_the_tools_and_gets_the_records_the_cli_prints(bundled: Assistant, tmp_path: Path) -> None:
    async with mcp_session(bundled.settings.index_dir, tmp_path / "mcp.log") as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == {"retrieve", "ask"}
        assert {"query", "k", "doc_ids", "date_from", "date_to", "tags"} <= set(
            tools["retrieve"].input_schema["properties"]
        )
        assert tools["ask"].input_schema["required"] == ["question"]

        result = await _call(session, "retrieve", {"query": QUESTION, "k": 3})
        assert not result.is_error
        expected = [chunk.to_json() for chunk in bundled.retrieve(QUESTION, k=3)]
        assert result.structured_content == {"query": QUESTION, "results": expected}

        result = await _call(session, "ask", {"question": QUESTION, "doc_ids": ["news/2025-07-01-un-appeal"]})
        answer = result.structured_content
        assert not result.is_error and answer["abstained"] is False and "[1]" in answer["answer"]
        local = bundled.ask(QUESTION).to_json()
        assert {**answer, "timings_ms": None} == {**local, "timings_ms": None}

        filtered = await _call(session, "retrieve", {"query": QUESTION, "date_to": "2025-01-01"})
        assert filtered.structured_content["results"] == []  # the one document is dated 2025-07-01

        for arguments, message in (
            ({"query": QUESTION, "k": 0}, "greater than or equal to 1"),
            ({"query": QUESTION, "date_from": "July"}, "YYYY-MM-DD"),
        ):
            bad = await _call(session, "retrieve", arguments)
            assert bad.is_error and message in bad.content[0].text


async def test_a_missing_index_is_a_tool_error_that_says_what_to_do(tmp_path: Path) -> None:
    async with mcp_session(tmp_path / "empty-index", tmp_path / "mcp.log") as session:
        result = await _call(session, "ask", {"question": QUESTION})
    assert result.is_error
    assert "No index for this corpus yet; run `assistant ingest` first." in result.content[0].text
