"""Hybrid retrieval: dense (Chroma) and lexical (BM25 with aliases) rankings fused by relative score."""

from __future__ import annotations

import numpy as np

from assistant.index.chroma import VectorStore
from assistant.index.embed import SentenceEmbeddings, embeddings_for
from assistant.index.mirror import SnapshotTracker
from assistant.index.snapshot import Snapshot
from assistant.retrieval.query import Query
from assistant.settings import Settings
from assistant.types import Filters, ScoredChunk


class HybridSearch:
    """Ranks the chunks of one index for a query; follows the index's snapshot as ingests change it."""

    def __init__(
        self, settings: Settings, embeddings: SentenceEmbeddings | None = None, store: VectorStore | None = None
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings or embeddings_for(settings)
        self.store = store or VectorStore(settings)
        # With a Chroma server, an app server that copied the index makes its own export of the query encoder.
        self._tracker = SnapshotTracker(settings, self.store, on_load=lambda: self.embeddings.export_for_queries())

    @property
    def snapshot(self) -> Snapshot:
        """The current snapshot, reloaded when an ingest has changed the index."""
        return self._tracker.current()

    def embed_query(self, query: Query) -> np.ndarray:
        return self.embeddings.encode_query(query.text)

    def search(
        self,
        query: Query,
        k: int,
        filters: Filters | None = None,
        query_vector: np.ndarray | None = None,
        snapshot: Snapshot | None = None,
    ) -> list[ScoredChunk]:
        """The k best chunks for a query, best first."""
        snapshot = snapshot or self.snapshot
        pool = max(self.settings.candidates, k)
        vector = self.embed_query(query) if query_vector is None else query_vector
        dense = [
            (snapshot.row_of[chunk_id], similarity)
            for chunk_id, similarity in self.store.query(vector, min(pool, len(snapshot.chunks)), filters)
            if chunk_id in snapshot.row_of
        ]
        lexical = self._lexical(snapshot, query, pool, filters)
        # Relative score fusion: each ranker's scores scaled to [0, 1] over its candidates, then weighted.
        # Unlike reciprocal rank fusion it keeps how far ahead a candidate is: a chunk that alone holds a
        # rare name of the question stays on top even when the other ranker barely knows it.
        fused: dict[int, float] = {}
        weight = self.settings.dense_weight
        for ranking, share in ((dense, weight), (lexical, 1.0 - weight)):
            for row, scaled in _scaled(ranking):
                fused[row] = fused.get(row, 0.0) + share * scaled
        dense_rank = {row: rank for rank, (row, _) in enumerate(dense, start=1)}
        lexical_rank = {row: rank for rank, (row, _) in enumerate(lexical, start=1)}
        best = sorted(fused, key=lambda row: (-fused[row], dense_rank.get(row, pool + 1)))[:k]
        return [
            ScoredChunk(snapshot.chunks[row], fused[row], rank, dense_rank.get(row), lexical_rank.get(row))
            for rank, row in enumerate(best, start=1)
        ]

    def _lexical(self, snapshot: Snapshot, query: Query, pool: int, filters: Filters | None) -> list[tuple[int, float]]:
        scores = snapshot.bm25.scores(query.term_weights())
        candidates = np.flatnonzero(scores > 0)
        if filters:
            candidates = candidates[snapshot.matching(filters, candidates)]
        if len(candidates) > pool:
            candidates = candidates[np.argpartition(-scores[candidates], pool)[:pool]]
        return [(int(row), float(scores[row])) for row in candidates[np.argsort(-scores[candidates], kind="stable")]]


def _scaled(ranking: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Scores min-max scaled to [0, 1]; a lone candidate, or all alike, counts as the best."""
    if not ranking:
        return []
    low = min(score for _, score in ranking)
    span = max(score for _, score in ranking) - low
    return [(row, (score - low) / span if span > 0 else 1.0) for row, score in ranking]
