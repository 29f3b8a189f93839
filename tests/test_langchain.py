"""LangChain's own standard tests for retrievers, run against CorpusRetriever, so that it behaves as
LangChain users expect (`invoke(query, k=1)` returns one document, `ainvoke` works, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from assistant.errors import UsageError
from assistant.pipeline import Assistant
from assistant.retrieval.hybrid import HybridSearch
from assistant.retrieval.langchain import CorpusRetriever
from assistant.settings import Settings
from assistant.testing import FAKE_MODEL
from assistant.types import make_filters

from .conftest import DATA

_SEARCH: dict[str, HybridSearch] = {}  # the index the standard tests' retrievers search, built once


@pytest.fixture(scope="module", autouse=True)
def _index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """tests/data/dated indexed with the fake embeddings: conformance, not retrieval quality, is tested here."""
    settings = Settings(corpus_dir=DATA / "dated", index_dir=tmp_path_factory.mktemp("lc"), embedding_model=FAKE_MODEL)
    assistant = Assistant(settings)
    assistant.ingest()
    _SEARCH["dated"] = assistant.search
    yield
    _SEARCH.clear()


class TestCorpusRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[CorpusRetriever]:
        return CorpusRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"search": _SEARCH["dated"], "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "grain talks in Istanbul"


def test_k_and_filters_passed_to_invoke_apply_to_that_call_only() -> None:
    retriever = CorpusRetriever(search=_SEARCH["dated"], k=3)
    drone_only = make_filters(tags=["war-and-conflicts"])
    assert [d.metadata["doc_id"] for d in retriever.invoke("grain", filters=drone_only)] == ["2025-06-20-drone-attack"]
    assert len(retriever.invoke("grain", k=1)) == 1 and len(retriever.invoke("grain")) == 3
    with pytest.raises(UsageError, match="k must be between 1 and 50, not 0"):
        retriever.invoke("grain", k=0)
