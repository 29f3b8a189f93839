"""Hybrid retrieval: dense (Chroma) and lexical (BM25 with aliases) rankings fused by relative score."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np

from assistant.index.chroma import VectorStore, date_int
from assistant.index.embed import SentenceEmbeddings, embeddings_for
from assistant.index.snapshot import Snapshot, current_generation, open_snapshot
from assistant.retrieval.query import Query
from assistant.settings import Settings
from assistant.types import Filters, ScoredChunk


class HybridSearch:
    """Ranks the chunks of one index for a query; loads the snapshot once and reloads it after an ingest."""

    def __init__(
        self, settings: Settings, embeddings: SentenceEmbeddings | None = None, store: VectorStore | None = None
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings or embeddings_for(settings)
        self.store = store or VectorStore(settings)
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    @property
    def snapshot(self) -> Snapshot:
        """The current snapshot, reloaded when an ingest has written a newer one."""
        root = self.settings.index_path()
        snapshot = self._snapshot
        if snapshot is None or current_generation(root) != snapshot.generation:
            with self._lock:
                if self._snapshot is None or current_generation(root) != self._snapshot.generation:
                    self._snapshot = open_snapshot(root)
                snapshot = self._snapshot
        return snapshot

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
        """The k best chunks for a query, best first; none dated after the query's as_of date."""
        snapshot = snapshot or self.snapshot
        pool = max(self.settings.candidates, k)
        vector = self.embed_query(query) if query_vector is None else query_vector
        dense = [
            (snapshot.row_of[chunk_id], similarity)
            for chunk_id, similarity in self.store.query(vector, min(pool, len(snapshot.chunks)), filters, query.as_of)
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
        # How close the question comes to one sentence of each candidate: a chunk that holds the answer in
        # one sentence among others on another matter is not diluted by them.
        closest = [(row, _closest_sentence(snapshot, row, vector)) for row in fused]
        for row, scaled in _scaled(closest):
            fused[row] += self.settings.sentence_weight * scaled
        if query.as_of is not None and self.settings.recency_weight:
            # News questions are about a moment: among chunks that match alike, the nearer to as_of first.
            ages = query.as_of.toordinal() - snapshot.chunk_days[list(fused)]
            bonus = self.settings.recency_weight * np.exp(-np.maximum(ages, 0) / self.settings.recency_days)
            for row, value, dated in zip(fused, bonus, snapshot.chunk_days[list(fused)] > 0, strict=True):
                fused[row] += float(value) if dated else 0.0  # an undated document earns no recency
        dense_rank = {row: rank for rank, (row, _) in enumerate(dense, start=1)}
        lexical_rank = {row: rank for rank, (row, _) in enumerate(lexical, start=1)}
        ranked = sorted(fused, key=lambda row: (-fused[row], dense_rank.get(row, pool + 1)))
        best = _spread(ranked, snapshot, k, self.settings.chunks_per_document)
        return [
            ScoredChunk(snapshot.chunks[row], fused[row], rank, dense_rank.get(row), lexical_rank.get(row))
            for rank, row in enumerate(best, start=1)
        ]

    def _lexical(self, snapshot: Snapshot, query: Query, pool: int, filters: Filters | None) -> list[tuple[int, float]]:
        scores = snapshot.bm25.scores(query.term_weights())
        mask = allowed_rows(snapshot, filters, query.as_of)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > pool:
            candidates = candidates[np.argpartition(-scores[candidates], pool)[:pool]]
        return [(int(row), float(scores[row])) for row in candidates[np.argsort(-scores[candidates], kind="stable")]]


def _spread(ranked: list[int], snapshot: Snapshot, k: int, per_document: int) -> list[int]:
    """The first k rows, but no more than per_document of one document while other documents are left:
    near-duplicate passages of one article do not fill the top k when other articles also match."""
    if per_document <= 0:
        return ranked[:k]
    taken: dict[str, int] = {}
    best: list[int] = []
    held_back: list[int] = []
    for row in ranked:
        doc_id = snapshot.chunks[row].doc_id
        if taken.get(doc_id, 0) < per_document:
            taken[doc_id] = taken.get(doc_id, 0) + 1
            best.append(row)
        else:
            held_back.append(row)
        if len(best) == k:
            return best
    return best + held_back[: k - len(best)]


def _closest_sentence(snapshot: Snapshot, row: int, vector: np.ndarray) -> float:
    first, stop = (int(x) for x in snapshot.chunk_sentences[row])
    if stop <= first:
        return 0.0
    return float((np.asarray(snapshot.sentence_vectors[first:stop], dtype=np.float32) @ vector).max())


def _scaled(ranking: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Scores min-max scaled to [0, 1]; a lone candidate, or all alike, counts as the best."""
    if not ranking:
        return []
    low = min(score for _, score in ranking)
    span = max(score for _, score in ranking) - low
    return [(row, (score - low) / span if span > 0 else 1.0) for row, score in ranking]


def allowed_rows(snapshot: Snapshot, filters: Filters | None, as_of: dt.date | None) -> np.ndarray | None:
    """Which chunks the filters and the as-of date let through (None: all), without a loop over chunks."""
    dates = snapshot.chunk_dates  # YYYYMMDD, 0 when undated
    mask: np.ndarray | None = None

    def narrow(keep: np.ndarray) -> None:
        nonlocal mask
        mask = keep if mask is None else mask & keep

    if as_of is not None:
        narrow(dates <= date_int(as_of.isoformat()))  # undated documents (0) take part
    if filters and filters.date_from:
        narrow(dates >= date_int(filters.date_from))
    if filters and filters.date_to:
        narrow((dates > 0) & (dates <= date_int(filters.date_to)))
    if filters and filters.doc_ids:
        narrow(np.isin(snapshot.chunk_doc_ids, list(filters.doc_ids)))
    if filters and filters.tags:
        narrow(snapshot.chunks_with_tags(filters.tags))
    return mask
