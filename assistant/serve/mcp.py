"""An MCP server with the tools `retrieve` and `ask`, so agent clients can use the corpus (`assistant mcp`).

It speaks MCP over stdio: the client starts `assistant mcp` and talks on its stdin and stdout, so nothing
else may print to stdout. The tools return the same records as `assistant retrieve --json` and
`assistant ask --json`; errors come back as tool errors carrying the one-line message.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from assistant.errors import AssistantError
from assistant.limits import MAX_HISTORY_TURNS, MAX_K, MAX_QUESTION_CHARS, MIN_K
from assistant.pipeline import Assistant
from assistant.settings import Settings
from assistant.types import make_filters

INSTRUCTIONS = (
    "Search and answer from a news corpus on the Russia-Ukraine war. `retrieve` returns ranked passages with "
    "their document, date and character offsets; `ask` returns a short answer whose every sentence carries a "
    "[n] citation, or says the corpus does not hold the answer. Filter by doc_ids, date range, tags or voice "
    "(whose position a document states: 'Russia', 'Ukraine: government'). Citations carry speaker and voice."
)

_Query = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="What to search for.")]
_K = Annotated[int | None, Field(ge=MIN_K, le=MAX_K, description="Passages to retrieve (default: the server's k).")]
_DocIds = Annotated[list[str] | None, Field(description="Only these documents (ids as retrieve returns them).")]
_DateFrom = Annotated[str | None, Field(description="Only documents dated on or after, YYYY-MM-DD.")]
_DateTo = Annotated[str | None, Field(description="Only documents dated on or before, YYYY-MM-DD.")]
_Tags = Annotated[list[str] | None, Field(description="Only documents with one of these tags.")]
_Voice = Annotated[
    list[str] | None,
    Field(description="Only documents of these voices ('Russia: government') or sides ('Russia')."),
]
_AsOf = Annotated[
    str | None,
    Field(
        description="The date the question is asked from, YYYY-MM-DD (default today): later documents are not "
        "used, and 'this week' or 'last year' are read relative to it."
    ),
]
_History = Annotated[
    list[tuple[str, str]] | None,
    Field(max_length=MAX_HISTORY_TURNS, description="Earlier turns as [user, assistant] pairs, oldest first."),
]


def create_server(assistant: Assistant) -> Any:
    """The MCP server (an `mcp` MCPServer) for one assistant."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    # WARNING: clients show the server's stderr in their logs; per-request INFO lines are noise there.
    server = MCPServer("conflict-corpus", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")

    @server.tool()
    def retrieve(
        query: _Query,
        k: _K = None,
        doc_ids: _DocIds = None,
        date_from: _DateFrom = None,
        date_to: _DateTo = None,
        tags: _Tags = None,
        as_of: _AsOf = None,
        voice: _Voice = None,
    ) -> dict[str, Any]:
        """The passages of the corpus that best match a query, best first, with scores and metadata."""
        try:
            filters = make_filters(doc_ids, date_from, date_to, tags, voice)
            results = assistant.retrieve(query, k=k, filters=filters, as_of=as_of)
        except AssistantError as exc:  # the message says what failed and what to do: the model can act on it
            raise ToolError(str(exc)) from exc
        return {"query": query, "results": [result.to_json() for result in results]}

    @server.tool()
    def ask(
        question: _Query,
        history: _History = None,
        k: _K = None,
        doc_ids: _DocIds = None,
        date_from: _DateFrom = None,
        date_to: _DateTo = None,
        tags: _Tags = None,
        as_of: _AsOf = None,
        voice: _Voice = None,
    ) -> dict[str, Any]:
        """Answer a question from the corpus alone: text with [n] markers and the cited quotes, or an abstention."""
        try:
            filters = make_filters(doc_ids, date_from, date_to, tags, voice)
            return assistant.ask(question, history=history, k=k, filters=filters, as_of=as_of).to_json()
        except AssistantError as exc:
            raise ToolError(str(exc)) from exc

    return server


def run_mcp(settings: Settings) -> None:
    """Serve MCP over stdio until the client closes the connection."""
    create_server(Assistant(settings)).run("stdio")
