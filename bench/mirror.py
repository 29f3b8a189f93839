"""Stateless app servers on a Chroma server: how long copying the index takes, and following an ingest.

    python bench/mirror.py --corpus DIR --index DIR

--corpus and --index name an ingested corpus (`assistant ingest --corpus DIR` with ASSISTANT_INDEX_DIR=DIR);
neither is changed. The benchmark starts `chroma run` on a free loopback port with a scratch folder,
then, in scratch copies of the corpus (links to its files) and of the catalog (so nothing is embedded):
1. `assistant ingest` with ASSISTANT_CHROMA_URL: the vectors, texts and sentence vectors go to the server;
2. an app server with an empty index folder answers a first question: it copies the index from the server
   (timed apart from making its own ONNX export of the query encoder, which loads torch once);
3. a document is added (a copy of one under a new name) and ingested through the ingesting folder; the
   app server's next question brings its copy up to date first;
4. a second app server with an empty index folder takes an upload (its first ingest: the other documents'
   vectors come from the server).
Prints the time of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from assistant.index.catalog import Catalog
from assistant.index.mirror import mirror
from assistant.pipeline import Assistant
from assistant.settings import Settings

QUESTION = "What did the officials say?"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = (scratch / "chroma.log").open("wb")
        chroma = subprocess.Popen(
            [bin_dir / "chroma", "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(scratch / "chroma")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            while True:
                try:
                    if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            report = _run(args, scratch, url, bin_dir)
        finally:
            chroma.send_signal(signal.SIGTERM)
            chroma.wait(30)
    report["load_average"] = os.getloadavg()
    print(json.dumps(report, indent=1))


def _run(args: argparse.Namespace, scratch: Path, url: str, bin_dir: Path) -> dict[str, object]:
    seed = Settings(corpus_dir=args.corpus, index_dir=args.index)
    corpus = scratch / "corpus"
    catalog = Catalog(seed.index_path() / "catalog.sqlite")
    sources = sorted({source for source, _ in catalog.document_hashes().values()})
    catalog.close()
    for source in sources:  # the files the catalog knows, as links: nothing to embed
        (corpus / source).parent.mkdir(parents=True, exist_ok=True)
        (corpus / source).symlink_to((args.corpus / source).resolve())
    ingesting = Settings(corpus_dir=corpus, index_dir=scratch / "ingest", chroma_url=url)
    ingesting.index_path().mkdir(parents=True)
    shutil.copy(seed.index_path() / "catalog.sqlite", ingesting.index_path() / "catalog.sqlite")
    env = {name: value for name, value in os.environ.items() if not name.startswith("ASSISTANT_")}
    env.update(ASSISTANT_CORPUS_DIR=str(corpus), ASSISTANT_INDEX_DIR=str(ingesting.index_dir), ASSISTANT_CHROMA_URL=url)

    def ingest() -> None:
        done = subprocess.run([bin_dir / "assistant", "ingest"], env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"assistant ingest failed: {done.stderr.strip()}")

    report: dict[str, object] = {"documents": len(sources), "first_ingest_s": _timed(ingest)}
    app = Assistant(Settings(corpus_dir=corpus, index_dir=scratch / "app", chroma_url=url))
    report["copy_index_s"] = _timed(lambda: mirror(app.settings, app.store, app.store.version()))
    report["query_encoder_export_s"] = _timed(lambda: app.search.snapshot)  # finds the copy, makes the export
    snapshot = app.search.snapshot
    report.update(chunks=len(snapshot.chunks), sentences=len(snapshot.sentence_spans))
    report["first_question_s"] = _timed(lambda: app.ask(QUESTION))
    report["warm_question_s"] = _timed(lambda: app.ask(QUESTION))
    source = sources[len(sources) // 2]
    added = corpus / f"{Path(source).stem}-copy{Path(source).suffix}"
    added.write_text((args.corpus / source).read_text(encoding="utf-8"), encoding="utf-8")
    report["ingest_one_more_s"] = _timed(ingest)
    report["next_question_s"] = _timed(lambda: app.ask(QUESTION))
    report["warm_question_after_s"] = _timed(lambda: app.ask(QUESTION))
    # A second app server on an empty index folder, sharing the corpus folder, takes its first upload: it
    # takes the vectors of the documents the server holds and embeds only the upload.
    uploader = Assistant(Settings(corpus_dir=corpus, index_dir=scratch / "uploader", chroma_url=url))
    note = b"---\ntitle: A note\ndate: 2023-09-01\n---\nA short note uploaded through an app server.\n"
    report["first_upload_through_a_new_app_server_s"] = _timed(lambda: uploader.add_document("bench-note.md", note))
    return report


if __name__ == "__main__":
    main()
