"""The query path at 100k and 1M chunks: build a large index from a real one, then time warm questions.

    python bench/scale.py --seed-corpus DIR --seed-index DIR --questions FILE --chunks 100000 [--out DIR]

The seed is an ingested corpus (`assistant ingest --corpus DIR` with ASSISTANT_INDEX_DIR=--seed-index).
Its documents are copied until the index holds --chunks chunks: copy c of a document gets the id
`<doc_id>~c`, its date moved back c quarters, one of 20 tags, and its chunk and sentence vectors moved
by a little Gaussian noise (cosine about 0.98 to the original; copy 0 is the original). The texts are the
seed's, so the lexical index grows as a bigger corpus of the same kind would. The chunks go into the
embedded Chroma store and the snapshot through the same code as an ingest; the encoder is not run.

Then a fresh process opens the index and asks every question --rounds times: it prints the time to load
and answer the first question, warm `retrieve` and `ask` p50/p95 (also with a date, a tag and a
documents filter), and its resident memory. The index stays in --out (default /tmp/assistant-scale-<n>)
for more runs (`--measure-only`); delete it when done. bench/README.md records the results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from assistant.index.chroma import VectorStore
from assistant.index.embed_providers import embeddings_for
from assistant.index.snapshot import DocumentInfo, Snapshot, open_snapshot
from assistant.index.snapshot_build import SourceDocument, build_snapshot
from assistant.ingest.sync import open_catalog
from assistant.retrieval.query import make_query
from assistant.settings import Settings
from assistant.types import ChunkInfo, make_filters

NOISE = 0.01  # per dimension: |noise| ~ 0.2 for 384 dimensions, cosine to the original ~0.98
TAGS = 20


def scale_settings(out: Path) -> Settings:
    """The settings of the large index: its own corpus name (no files: nothing is ingested from it)."""
    return Settings(corpus_dir=out / "corpus", index_dir=out / "index")


class Copies:
    """The seed's documents, copied until there are enough chunks; a snapshot source, streamed."""

    def __init__(self, seed: Snapshot, vectors: dict[str, np.ndarray], chunks: int) -> None:
        self.seed, self.vectors = seed, vectors
        self.copies = -(-chunks // len(seed.chunks))
        self.wanted = chunks

    def document_hashes(self) -> dict[str, str]:
        return {doc_id: info.doc_hash for doc_id, info, _ in self._plan()}

    def _plan(self) -> Iterator[tuple[str, DocumentInfo, int]]:
        """(doc_id, info, seed document) of every copy, stopping once there are enough chunks."""
        total = 0
        for copy in range(self.copies):
            for index, doc in enumerate(self.seed.documents):
                if total >= self.wanted:
                    return
                total += int(self.seed.doc_chunks[index + 1] - self.seed.doc_chunks[index])
                doc_id = f"{doc.doc_id}~{copy}"
                date = doc.date and str(dt.date.fromisoformat(doc.date) - dt.timedelta(days=91 * copy))
                tags = (f"topic-{(index + copy) % TAGS}",)
                yield (
                    doc_id,
                    DocumentInfo(doc_id, doc.title, doc.source, date, tags, doc.url, f"{doc.doc_hash}~{copy}"),
                    index,
                )

    def documents(self, doc_ids: list[str]) -> Iterator[SourceDocument]:
        planned = {doc_id: (info, index) for doc_id, info, index in self._plan()}
        rng = np.random.default_rng(0)
        for doc_id in doc_ids:  # in the order asked for (sorted), not the order made
            info, index = planned[doc_id]
            copy = int(doc_id.rsplit("~", 1)[1])
            first, stop = int(self.seed.doc_chunks[index]), int(self.seed.doc_chunks[index + 1])
            chunks = [self.seed.chunks[row] for row in range(first, stop)]
            rows = slice(int(self.seed.doc_sentences[index]), int(self.seed.doc_sentences[index + 1]))
            sentences = np.asarray(self.seed.sentence_vectors[rows], dtype=np.float32)
            yield SourceDocument(
                info,
                [(_copied_id(c.chunk_id, doc_id), c.start, c.end, c.text) for c in chunks],
                np.asarray(self.seed.sentence_spans[rows]),
                _moved(sentences, rng) if copy else sentences,
            )

    def chunk_records(self, rng: np.random.Generator) -> Iterator[tuple[ChunkInfo, np.ndarray, str]]:
        """What goes into Chroma: each copied chunk with its (moved) vector."""
        for doc_id, info, index in self._plan():
            copy = int(doc_id.rsplit("~", 1)[1])
            for row in range(int(self.seed.doc_chunks[index]), int(self.seed.doc_chunks[index + 1])):
                c = self.seed.chunks[row]
                vector = self.vectors[c.chunk_id][None, :]
                chunk = ChunkInfo(_copied_id(c.chunk_id, doc_id), doc_id, c.text, c.start, c.end, info.title,
                                  info.source, info.date, info.tags, info.url)  # fmt: skip
                yield chunk, (_moved(vector, rng) if copy else vector)[0], info.doc_hash


def _copied_id(chunk_id: str, doc_id: str) -> str:
    return f"{doc_id}#{chunk_id.rsplit('#', 1)[1]}"


def _moved(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    moved = vectors + rng.normal(0.0, NOISE, vectors.shape).astype(np.float32)
    return (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)


def build(args: argparse.Namespace) -> dict[str, Any]:
    seed_settings = Settings(corpus_dir=args.seed_corpus, index_dir=args.seed_index)
    seed = open_snapshot(seed_settings.index_path())
    catalog = open_catalog(seed_settings)
    vectors = {stored.info.chunk_id: np.asarray(stored.vector) for stored in catalog.iter_chunks()}
    catalog.close()
    copies = Copies(seed, vectors, args.chunks)
    settings = scale_settings(args.out)
    store = VectorStore(settings)
    timings: dict[str, Any] = {}
    started = time.perf_counter()
    batch: list[tuple[ChunkInfo, np.ndarray, str]] = []
    for record in copies.chunk_records(np.random.default_rng(1)):
        batch.append(record)
        if len(batch) == 5000:
            store.add(batch)
            batch = []
            print(f"\rchroma: {store.count():,} chunks", end="", file=sys.stderr, flush=True)
    store.add(batch)
    timings["chroma_s"] = time.perf_counter() - started
    started = time.perf_counter()
    snapshot = build_snapshot(copies, settings.index_path())
    timings["snapshot_s"] = time.perf_counter() - started
    embeddings = embeddings_for(settings)
    embeddings.export_onnx()  # questions are embedded as a server does: by the ONNX export
    print(file=sys.stderr)
    return {
        **timings,
        "chunks": len(snapshot.chunks),
        "documents": len(snapshot.documents),
        "sentences": len(snapshot.sentence_spans),
        "disk_gb": sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file()) / 1e9,
        "peak_rss_gb": _memory()["VmHWM"],
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run in a fresh process: load, then warm retrieve and ask over the questions."""
    from assistant.pipeline import Assistant

    questions = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.perf_counter()
    assistant = Assistant(scale_settings(args.out))
    assistant.ask(questions[0]["question"])
    load_s = time.perf_counter() - started
    snapshot = assistant.search.snapshot
    some_docs = [doc.doc_id for doc in snapshot.documents[:: max(1, len(snapshot.documents) // 5)]][:5]
    filters = {  # from broad to narrow: each takes another way through the dense search
        "before today": make_filters(date_to=dt.date.today().isoformat()),
        "a tag": make_filters(tags=["topic-3"]),
        "half a year": make_filters(date_from="2023-01-01", date_to="2023-06-30"),
        "5 documents": make_filters(doc_ids=some_docs),
    }
    calls: dict[str, Any] = {
        "retrieve": lambda q: assistant.retrieve(q["question"]),
        "ask": lambda q: assistant.ask(q["question"]),
        # As of the question's date: recency counts from then, and a question naming a time ("this week")
        # adds each ranker's best chunks dated within it (filtered searches).
        "ask as of its date": lambda q: assistant.ask(q["question"], as_of=q.get("question_date")),
        **{
            f"retrieve, {name}": lambda q, f=f: assistant.retrieve(q["question"], filters=f)
            for name, f in filters.items()
        },
    }
    for question in questions:  # one pass to warm the caches, not timed
        for call in calls.values():
            call(question)
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():  # one kind a pass, the kinds in turn each round
            for question in questions:
                began = time.perf_counter()
                call(question)
                timings[name].append((time.perf_counter() - began) * 1000)
    memory = _memory()
    return {
        "load_and_first_ask_s": load_s,
        "questions": len(questions),
        "questions_naming_a_time": sum(
            make_query(q["question"], None, q.get("question_date")).frame is not None for q in questions
        ),
        "rounds": args.rounds,
        **{f"{name}_ms": {"p50": _percentile(v, 0.5), "p95": _percentile(v, 0.95)} for name, v in timings.items()},
        "rss_gb": memory["VmRSS"],
        "peak_rss_gb": memory["VmHWM"],
    }


def _memory() -> dict[str, float]:
    """This process's resident memory now (VmRSS) and at its peak (VmHWM), in GB."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return {
        name: int(value.split()[0]) / 1e6
        for name, value in (line.split(":", 1) for line in lines if ":" in line)
        if name in ("VmRSS", "VmHWM")
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-corpus", type=Path, required=True)
    parser.add_argument("--seed-index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--measure-only", action="store_true", help="reuse the index in --out")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out = args.out or Path(f"/tmp/assistant-scale-{args.chunks}")
    if args.child:
        print(json.dumps(measure(args)))
        return
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average": os.getloadavg(),
    }
    if not args.measure_only:
        result["build"] = build(args)
    child = subprocess.run([sys.executable, *sys.argv, "--child"], check=True, capture_output=True, text=True)
    result["serve"] = json.loads(child.stdout.strip().splitlines()[-1])
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
