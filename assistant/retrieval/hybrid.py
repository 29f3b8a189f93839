"""Hybrid retrieval: dense (Chroma) and lexical (BM25 with aliases) rankings fused by relative score."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np

from assistant.index.chroma import VectorStore
from assistant.index.embed import SentenceEmbeddings
from assistant.index.embed_providers import embeddings_for
from assistant.index.mirror import SnapshotTracker
from assistant.index.snapshot import Snapshot
from assistant.retrieval.query import Query
from assistant.retrieval.timeframe import recency
from assistant.settings import Settings
from assistant.types import Filters, ScoredChunk, TimeFrame

# A question that names a time ("this week") also gets this many candidates of each ranker from the
# documents dated then, so the frame's preference can reach them when the whole corpus outscores them.
# Source: eval/README.md, "What moved the numbers", the frame-candidates row (25 no better than 10).
FRAME_CANDIDATES = 10
# How a filtered dense search is run (see _dense). Source: bench/README.md, "Filters are columns": the paths
# these choose agree with Chroma's filter on 40 questions at 100k chunks and avoid its 60-170 ms metadata scan;
# the limits themselves are not measured one against another.
EXACT_BELOW = 500  # filters that leave at most this many chunks: score them all, from their vectors
LONGEST_RANKING = 4000  # the longest unfiltered ranking worth asking for to find the chunks that pass
SEARCH_AMONG = 20_000  # the most chunk ids worth sending with a question


class HybridSearch:
    """Ranks the chunks of one index for a query; follows the index's snapshot as ingests change it."""

    def __init__(
        self, settings: Settings, embeddings: SentenceEmbeddings | None = None, store: VectorStore | None = None
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings or embeddings_for(settings)
        self.store = store or VectorStore(settings)
        # With a Chroma server, an app server that copied the index makes its own export of the query encoder.
        self._tracker = SnapshotTracker(settings, self.store, on_load=lambda: self.embeddings.export_onnx())

    @property
    def snapshot(self) -> Snapshot:
        """The current snapshot, reloaded when an ingest has changed the index."""
        return self._tracker.current()

    @property
    def snapshot_loaded(self) -> bool:
        """Whether this process has loaded a snapshot yet."""
        return self._tracker.loaded

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
        """The k best chunks for a query, best first; none dated after the query's as-of date."""
        snapshot = snapshot or self.snapshot
        pool = max(self.settings.candidates, k)
        vector = self.embed_query(query) if query_vector is None else query_vector
        passing = snapshot.documents_matching(filters, query.as_of)
        dense = self._dense(snapshot, vector, min(pool, len(snapshot.chunks)), filters, passing, query.as_of)
        lexical = self._lexical(snapshot, query, pool, passing)
        if query.frame is not None and self.settings.frame_weight:
            dense, lexical = self._with_frame(snapshot, query, query.frame, vector, filters, (dense, lexical))
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
            for row in fused:
                fused[row] += self.settings.recency_weight * _recency(snapshot, row, query.as_of, self.settings)
        if query.frame is not None and self.settings.frame_weight:
            # "this week", "in 2023": a preference for documents dated then; the others still take part
            # (the weight chosen on the fitting halves: eval/README.md).
            for row in fused:
                if _in_frame(snapshot, row, query.frame):
                    fused[row] += self.settings.frame_weight
        dense_rank = {row: rank for rank, (row, _) in enumerate(dense, start=1)}
        lexical_rank = {row: rank for rank, (row, _) in enumerate(lexical, start=1)}
        best = sorted(fused, key=lambda row: (-fused[row], dense_rank.get(row, pool + 1)))[:k]
        return [
            ScoredChunk(snapshot.chunks[row], fused[row], rank, dense_rank.get(row), lexical_rank.get(row))
            for rank, row in enumerate(best, start=1)
        ]

    def _dense(
        self,
        snapshot: Snapshot,
        vector: np.ndarray,
        n: int,
        filters: Filters | None,
        passing: np.ndarray | None,
        as_of: dt.date | None,
    ) -> list[tuple[int, float]]:
        """The n chunks nearest the query vector that pass the filters and the as-of date, as (row, similarity),
        best first.

        passing: which documents pass (None: all). Chroma's own filters are slow on large collections (a
        metadata scan: 60-170 ms at 100k chunks), so the snapshot's columns decide which chunks pass, and how to
        search them depends on how many do: a few are scored exactly from their vectors; a large share is found
        in a longer unfiltered ranking; up to SEARCH_AMONG are searched by Chroma among their ids; more than
        that (sent with every question), by Chroma's filter after all."""
        if passing is None:
            return _rows(snapshot, self.store.query(vector, n))
        count = snapshot.chunks_in(passing)
        if count <= EXACT_BELOW:
            allowed = snapshot.rows_in(passing).tolist()
            ids = [snapshot.chunk_ids[row] for row in allowed]
            vectors = self.store.vectors(ids)
            scored = [(row, float(vectors[i] @ vector)) for row, i in zip(allowed, ids, strict=True) if i in vectors]
            return sorted(scored, key=lambda pair: -pair[1])[:n]
        longer = int(n * len(snapshot.chunks) / count * 2) + n  # holds about 2n that pass
        if longer <= LONGEST_RANKING:
            ranked = _rows(snapshot, self.store.query(vector, longer))
            kept = snapshot.in_documents(passing, np.asarray([row for row, _ in ranked], dtype=np.int64))
            found = [pair for pair, keep in zip(ranked, kept.tolist(), strict=True) if keep]
            if len(found) >= n:
                return found[:n]
        if count <= SEARCH_AMONG:
            ids = [snapshot.chunk_ids[row] for row in snapshot.rows_in(passing).tolist()]
            return _rows(snapshot, self.store.query(vector, n, ids=ids))
        return _rows(snapshot, self.store.query(vector, n, filters, as_of=as_of))

    def _with_frame(
        self,
        snapshot: Snapshot,
        query: Query,
        frame: TimeFrame,
        vector: np.ndarray,
        filters: Filters | None,
        rankings: tuple[list[tuple[int, float]], list[tuple[int, float]]],
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """Both rankings with the best FRAME_CANDIDATES chunks of the documents dated within the frame (and
        passing the filters) added."""
        dense, lexical = rankings
        within = _narrowed(filters, frame)
        dated_then = snapshot.documents_matching(within, query.as_of)
        if dated_then is None or not dated_then.any():
            return dense, lexical
        added = (
            self._dense(snapshot, vector, FRAME_CANDIDATES, within, dated_then, query.as_of),
            self._lexical(snapshot, query, FRAME_CANDIDATES, dated_then),
        )
        merged = []
        for ranking, more in zip((dense, lexical), added, strict=True):
            known = {row for row, _ in ranking}
            merged.append(sorted(ranking + [pair for pair in more if pair[0] not in known], key=lambda pair: -pair[1]))
        return merged[0], merged[1]

    def _lexical(
        self, snapshot: Snapshot, query: Query, pool: int, passing: np.ndarray | None
    ) -> list[tuple[int, float]]:
        scores = snapshot.bm25.scores(query.term_weights())
        candidates = np.flatnonzero(scores > 0)
        if passing is not None:
            candidates = candidates[snapshot.in_documents(passing, candidates)]
        if len(candidates) > pool:
            candidates = candidates[np.argpartition(-scores[candidates], pool)[:pool]]
        return [(int(row), float(scores[row])) for row in candidates[np.argsort(-scores[candidates], kind="stable")]]


def _closest_sentence(snapshot: Snapshot, row: int, vector: np.ndarray) -> float:
    first, stop = (int(x) for x in snapshot.chunk_sentences[row])
    if stop <= first:
        return 0.0
    return float((np.asarray(snapshot.sentence_vectors[first:stop], dtype=np.float32) @ vector).max())


def _recency(snapshot: Snapshot, row: int, as_of: dt.date, settings: Settings) -> float:
    """The recency of a chunk's document as of a date over settings.recency_days; 0 for an undated document (it
    earns no recency)."""
    day = snapshot.chunk_date(row)
    if day is None:
        return 0.0
    return recency(day, as_of, settings.recency_days)


def _narrowed(filters: Filters | None, frame: TimeFrame) -> Filters:
    """The filters, further restricted to documents dated within a time frame."""
    base = filters or Filters()
    start, end = frame.start.isoformat(), frame.end.isoformat()
    return replace(base, date_from=max(base.date_from or start, start), date_to=min(base.date_to or end, end))


def _in_frame(snapshot: Snapshot, row: int, frame: TimeFrame) -> bool:
    day = snapshot.chunk_date(row)
    return day is not None and frame.contains(day)


def _rows(snapshot: Snapshot, ranking: list[tuple[str, float]]) -> list[tuple[int, float]]:
    """(chunk_id, score) -> (row, score), leaving out chunks the snapshot does not know."""
    rows = snapshot.row_of.rows([chunk_id for chunk_id, _ in ranking])
    return [(row, score) for row, (_, score) in zip(rows, ranking, strict=True) if row is not None]


def _scaled(ranking: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Scores min-max scaled to [0, 1]; a lone candidate, or all alike, counts as the best."""
    if not ranking:
        return []
    low = min(score for _, score in ranking)
    span = max(score for _, score in ranking) - low
    return [(row, (score - low) / span if span > 0 else 1.0) for row, score in ranking]
