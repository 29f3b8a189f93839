from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document as LCDocument
from langchain_core.runnables import RunnableLambda

from assistant.errors import UsageError
from assistant.index.lexical import normalise
from assistant.pipeline import Assistant
from assistant.retrieval.query import make_query
from assistant.types import make_filters


def test_query_russia_finds_the_passage_that_only_says_kremlin_moscow_putin(alias_corpus: Assistant) -> None:
    kremlin = alias_corpus.search.snapshot.chunks
    assert not any("Russia" in chunk.text for chunk in kremlin)  # the test corpus never names Russia
    [top, *_] = alias_corpus.retrieve("Russia", k=3)
    assert top.chunk.doc_id == "kremlin-signals-talks"
    assert top.lexical_rank == 1  # found by the alias table, not by chance alone


def test_aliases_expand_the_query_at_a_lower_weight() -> None:
    weights = make_query("Russia truce").term_weights()
    assert weights[normalise("russia")] == 1.0
    for alias in ("Kremlin", "Moscow", "Putin", "ceasefire"):
        assert 0 < weights[normalise(alias)] < 1.0
    assert make_query("Kiev").term_weights()[normalise("Kyiv")] < 1.0


def test_results_carry_metadata_and_are_ranked(dated_corpus: Assistant) -> None:
    results = dated_corpus.retrieve("drone attack on the port", k=3)
    assert [r.rank for r in results] == [1, 2, 3]
    assert results[0].score >= results[1].score >= results[2].score
    top = results[0].chunk
    assert top.doc_id == "2025-06-20-drone-attack"
    assert (top.title, top.date, top.tags, top.source) == (
        "Drone attack on Odesa port",
        "2025-06-20",
        ("war-and-conflicts",),
        "2025-06-20-drone-attack.md",
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (make_filters(doc_ids=["undated-profile"]), {"undated-profile"}),
        (make_filters(date_from="2025-06-01"), {"2025-06-20-drone-attack"}),
        (make_filters(date_to="2025-05-01"), {"2025-03-10-grain-deal"}),
        (make_filters(tags=["diplomacy"]), {"2025-03-10-grain-deal"}),
        (
            make_filters(date_from="2025-01-01", date_to="2025-12-31", tags=["war-and-conflicts"]),
            {"2025-06-20-drone-attack"},
        ),
    ],
)
def test_filters_restrict_both_rankers(dated_corpus: Assistant, filters: object, expected: set[str]) -> None:
    results = dated_corpus.retrieve("grain Odesa port attack talks", k=5, filters=filters)  # type: ignore[arg-type]
    assert {r.chunk.doc_id for r in results} == expected


def test_bad_filters_and_k_are_refused_with_a_clear_message(dated_corpus: Assistant) -> None:
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        make_filters(date_from="last week")
    with pytest.raises(UsageError, match="after the end date"):
        make_filters(date_from="2025-06-01", date_to="2025-01-01")
    with pytest.raises(UsageError, match="k must be between"):
        dated_corpus.retrieve("grain", k=0)


def test_follow_up_takes_the_earlier_question_as_context() -> None:
    history = [("What are Russia's preconditions?", "...")]
    assert make_query("And what does Ukraine want?", history).context == "What are Russia's preconditions?"
    assert make_query("What did Germany announce about arms cooperation with Ukraine?", history).context == ""
    assert make_query("What are Russia's preconditions?").context == ""


def test_a_question_is_parsed_once_into_its_query() -> None:
    query = make_query("Zelensky met Erdogan in Ankara. How many prisoners were exchanged?")
    assert query.asking == "How many prisoners were exchanged?"
    assert query.kind == "number" and not query.about_change
    assert [t.term for t in query.focus_terms] == [normalise(w) for w in ("prisoners", "exchanged")]
    # the question's first word is capitalised anyway: not taken for a name
    assert [t.term for t in query.names] == [normalise(w) for w in ("Erdogan", "Ankara")]
    assert make_query("How have the Kremlin's conditions changed?").about_change


def test_langchain_retriever_in_an_lcel_chain(dated_corpus: Assistant) -> None:
    retriever = dated_corpus.retriever(k=2)
    chain = retriever | RunnableLambda(lambda docs: [d.metadata["doc_id"] for d in docs])
    assert chain.invoke("drone attack Odesa")[0] == "2025-06-20-drone-attack"
    [document, _] = retriever.invoke("drone attack Odesa")
    assert isinstance(document, LCDocument)
    assert document.id == document.metadata["chunk_id"]
    assert {"doc_id", "title", "source", "date", "chunk_id", "start", "end", "score", "rank"} <= set(document.metadata)


def test_langchain_retriever_async_and_batch(dated_corpus: Assistant) -> None:
    retriever = dated_corpus.retriever(k=1, filters=make_filters(tags=["diplomacy"]))
    documents = asyncio.run(retriever.ainvoke("shipping talks"))
    assert [d.metadata["doc_id"] for d in documents] == ["2025-03-10-grain-deal"]
    batches = retriever.batch(["grain", "Istanbul"])
    assert [[d.metadata["doc_id"] for d in docs] for docs in batches] == [["2025-03-10-grain-deal"]] * 2
