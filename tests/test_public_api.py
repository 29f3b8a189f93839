"""The Python API as the README shows it: `from assistant import ...`, the retriever in a chain and as an agent tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.tools import create_retriever_tool

import assistant
from assistant.errors import IndexMissingError
from assistant.pipeline import Assistant
from assistant.settings import Settings


def test_every_public_name_resolves() -> None:
    assert {"Assistant", "Settings", "CorpusRetriever", "make_filters", "Answer", "UsageError"} <= set(
        assistant.__all__
    )
    for name in assistant.__all__:
        assert getattr(assistant, name) is not None


def test_the_index_status_says_what_questions_are_answered_from(dated_corpus: Assistant, tmp_path: Path) -> None:
    status = dated_corpus.status()
    assert (status.documents, status.first_date, status.last_date) == (3, "2025-03-10", "2025-06-20")
    assert status.chunks >= 3 and len(status.version) > 0 and status.vector_store == "embedded"
    assert status.collection == dated_corpus.settings.index_name() == status.to_json()["collection"]
    with pytest.raises(IndexMissingError, match="run `assistant ingest` first"):
        Assistant(Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index")).status()


def test_the_retriever_in_a_three_line_lcel_chain(dated_corpus: Assistant) -> None:
    retriever = dated_corpus.retriever(k=2, filters=assistant.make_filters(tags=["war-and-conflicts"]))
    prompt = ChatPromptTemplate.from_template("Answer from the context only.\n{context}\nQuestion: {question}")
    context = retriever | (lambda docs: "\n".join(f"[{d.metadata['doc_id']}] {d.page_content}" for d in docs))
    chain = {"context": context, "question": RunnablePassthrough()} | prompt
    text = chain.invoke("What happened at the port?").to_string()
    assert "[2025-06-20-drone-attack] A drone attack damaged grain silos" in text
    assert "grain-deal" not in text  # the tag filter holds inside the chain


class _ScriptedToolModel(GenericFakeChatModel):
    """A chat model that replays scripted messages and accepts tools, as an agent's model must."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def test_the_retriever_as_a_langgraph_agent_tool(dated_corpus: Assistant) -> None:
    tool = create_retriever_tool(dated_corpus.retriever(k=1), "search_corpus", "Search the news corpus.")
    call = {"name": "search_corpus", "args": {"query": "grain talks in Istanbul"}, "id": "call-1"}
    script = iter([AIMessage(content="", tool_calls=[call]), AIMessage(content="They met in Istanbul.")])
    agent = create_agent(_ScriptedToolModel(messages=script), tools=[tool])
    messages = agent.invoke({"messages": [HumanMessage("Where were the grain talks?")]})["messages"]
    [result] = [m for m in messages if isinstance(m, ToolMessage)]
    assert result.name == "search_corpus" and "Negotiators met in Istanbul" in str(result.content)
    assert messages[-1].content == "They met in Istanbul."
