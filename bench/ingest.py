"""Ingest speed, side by side: `assistant ingest`, a plain LangChain pipeline, and the raw encoder.

    python bench/ingest.py --corpus DIR [--limit 100] [--rounds 3]

Each round runs, in fresh processes and fresh index folders, in an order that rotates from round to
round (the machine's load drifts; alternating spreads it over all; each variant runs right after
another, so the ratio of a round compares runs under the same load):

- assistant first: `assistant ingest` as a newcomer runs it: a fresh index folder and an empty per-user
  model cache, so it pays every one-off cost: loading torch, the ONNX export, measuring the encoder paths;
- assistant: `assistant ingest` into a fresh index folder with the per-user cache as the first ingest on
  a machine leaves it (made once before the rounds and timed apart): the export and the recorded choice;
  "assistant PATH" (PATH one of bf16, int8, fp32-onnx, fp32) the same with ASSISTANT_EMBED_PRECISION=PATH;
- langchain: the plain pipeline: each file's text, LangChain's RecursiveCharacterTextSplitter (1,000
  characters, 200 overlap), the same MiniLM through sentence-transformers behind LangChain's
  HuggingFaceEmbeddings (fp32, torch), `langchain_chroma.Chroma.add_texts` into a fresh embedded Chroma;
- encoder PATH: the bare encoder run that way (bf16, int8, fp32-onnx, fp32) over the very token windows
  `assistant ingest` embeds, nothing else: the machine's limit for them.

It prints each run, then the medians: wall and CPU seconds, seconds / MB of corpus files, tokens
embedded a second, and how many times each corpus token went through the encoder (tokens fed to it /
the corpus's tokens, each sentence tokenised once). bench/README.md records the results.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PATHS = ("bf16", "int8", "fp32-onnx", "fp32")
VARIANTS = ("assistant first", "assistant", "langchain")
OPTIONAL = tuple(f"assistant {path}" for path in PATHS) + tuple(f"encoder {path}" for path in PATHS)


def _langchain(corpus: Path, index: Path) -> dict[str, float]:
    """The plain LangChain pipeline; returns the tokens it fed the encoder."""
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.index.embed import resolve_model

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    texts, metadatas = [], []
    for path in sorted(corpus.rglob("*")):
        if path.is_file():
            for piece in splitter.split_text(path.read_text(encoding="utf-8", errors="replace")):
                texts.append(piece)
                metadatas.append({"source": path.name})
    embeddings = HuggingFaceEmbeddings(
        model_name=resolve_model("all-MiniLM-L6-v2"), encode_kwargs={"normalize_embeddings": True}
    )
    store = Chroma(collection_name="bench", embedding_function=embeddings, persist_directory=str(index))
    for start in range(0, len(texts), 1000):  # under Chroma's largest batch
        store.add_texts(texts[start : start + 1000], metadatas[start : start + 1000])
    tokenizer = embeddings._client.tokenizer
    longest = int(embeddings._client.max_seq_length or 256)
    fed = sum(min(len(ids), longest) for ids in tokenizer(texts)["input_ids"])
    return {"tokens": fed}


def _encoder(corpus: Path, models: Path, precision: Any) -> dict[str, float]:
    """The bare encoder over the windows ingest embeds: tokens fed, the corpus's tokens, seconds taken."""
    from assistant.index.embed import SentenceEmbeddings
    from assistant.index.windows import encode_windows, plan_windows
    from assistant.ingest.chunk import split_sentences
    from assistant.ingest.load import load_file, scan_corpus
    from assistant.settings import Settings

    settings = Settings()
    planner = SentenceEmbeddings(cache_dir=models, precision="fp32-onnx").token_encoder()  # tokenizer, windows
    assert planner is not None
    windows, corpus_tokens = [], 0
    for file in scan_corpus(corpus):
        for document in load_file(file)[0]:
            spans = split_sentences(document.text, max_chars=settings.chunk_size)
            sentences = [document.text[s.start : s.end] for s in spans]
            windows.extend(plan_windows(planner, document.title, sentences))
            pieces = planner.tokenizer.encode_batch(sentences, add_special_tokens=False)
            corpus_tokens += sum(len(piece.ids) for piece in pieces)
    encoder = SentenceEmbeddings(cache_dir=models, precision=precision).token_encoder()
    assert encoder is not None
    started = time.perf_counter()
    for _ in encode_windows(encoder, windows, settings.embed_batch_size):
        pass
    seconds = time.perf_counter() - started
    return {"tokens": sum(len(w.ids) for w in windows), "corpus_tokens": corpus_tokens, "seconds": seconds}


def _export(models: Path) -> dict[str, float]:
    """Fill a per-user model cache as the first ingest on a machine does: the export, the measured choice."""
    from assistant.index.embed import SentenceEmbeddings

    shutil.rmtree(models, ignore_errors=True)
    embeddings = SentenceEmbeddings(cache_dir=models)
    exported = embeddings.export_onnx()
    choice = embeddings.choice()
    print(f"chosen: {choice.chosen}; measured: {json.dumps(choice.measured)}", file=sys.stderr)
    speeds = {f"{name} tokens/s": row.get("per_second", 0) for name, row in choice.measured.items()}
    return {"exported": float(exported), **speeds}


def _child(args: argparse.Namespace) -> None:
    if args.child == "langchain":
        result = _langchain(args.corpus, args.index)
    elif args.child == "export":
        result = _export(args.models)
    else:
        result = _encoder(args.corpus, args.models, args.child.split(" ", 1)[1].removeprefix("encoder "))
    print(json.dumps(result))


def _run(variant: str, corpus: Path, work: Path, models: Path) -> dict[str, float]:
    """One run in a fresh process and index folder: its wall and CPU seconds, and what it printed."""
    index = work / "index"
    shutil.rmtree(index, ignore_errors=True)
    if variant.startswith("assistant"):
        command = [str(Path(sys.executable).parent / "assistant"), "ingest", "--corpus", str(corpus), "--json"]
        env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index), "ASSISTANT_MODEL_CACHE_DIR": str(models)}
        if variant == "assistant first":  # a newcomer: nothing cached for this user yet
            env["ASSISTANT_MODEL_CACHE_DIR"] = str(work / "fresh-cache")
            shutil.rmtree(work / "fresh-cache", ignore_errors=True)
        elif variant != "assistant":
            env["ASSISTANT_EMBED_PRECISION"] = variant.split()[-1]
    elif variant == "export":
        command = [sys.executable, __file__, "--child", variant, "--corpus", str(corpus), "--models", str(models)]
        env = dict(os.environ)
    else:
        command = [sys.executable, __file__, "--child", variant, "--corpus", str(corpus), "--index", str(index)]
        command += ["--models", str(models)]
        env = dict(os.environ)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-2000:]}")
    printed = json.loads(done.stdout[done.stdout.index("{") :])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = {"wall": wall, "cpu": cpu}
    result.update({k: float(v) for k, v in printed.items() if isinstance(v, int | float)})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="corpus folder")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N files (0: all)")
    parser.add_argument("--rounds", type=int, default=3)
    choices = ", ".join(VARIANTS + OPTIONAL)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of: {choices}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--models", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        work = Path(scratch)
        corpus = args.corpus
        if args.limit:
            corpus = work / "corpus"
            corpus.mkdir()
            for path in sorted(p for p in args.corpus.iterdir() if p.is_file())[: args.limit]:
                shutil.copy(path, corpus / path.name)
        files = [p for p in corpus.rglob("*") if p.is_file()]
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        from assistant.index.fastpath import machine

        print(f"machine: {machine()}, load {os.getloadavg()}")
        print(f"corpus: {args.corpus} ({len(files)} files, {megabytes:.1f} MB); {args.rounds} rounds of {variants}")
        export = _run("export", corpus, work, work / "models")
        print(
            f"the per-user cache filled once (export, measured choice): wall {export['wall']:.1f} s, "
            f"CPU {export['cpu']:.1f} s (in 'assistant first' only); {export}"
        )
        runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for round_number in range(args.rounds):
            shift = round_number % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                result = _run(variant, corpus, work, work / "models")
                runs[variant].append(result)
                shown = ", ".join(f"{key} {value:.1f}" for key, value in result.items())
                print(f"round {round_number + 1} {variant:>13}: {shown}")
        print(f"load after: {os.getloadavg()}")
        _summary(runs, megabytes)


def _summary(runs: dict[str, list[dict[str, float]]], megabytes: float) -> None:
    def median(variant: str, key: str) -> float:
        values = [run[key] for run in runs.get(variant, []) if key in run]
        return statistics.median(values) if values else float("nan")

    encoders = [variant for variant in runs if variant.startswith("encoder")]
    window_tokens = median(encoders[0], "tokens") if encoders else float("nan")
    corpus_tokens = median(encoders[0], "corpus_tokens") if encoders else float("nan")
    print("\n| variant | wall s | CPU s | s / MB | tokens fed | tokens / s | passes per corpus token |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for variant in runs:
        seconds = median(variant, "seconds") if variant.startswith("encoder") else median(variant, "wall")
        tokens = window_tokens if variant.startswith("assistant") else median(variant, "tokens")
        print(
            f"| {variant} | {median(variant, 'wall'):.1f} | {median(variant, 'cpu'):.1f} | "
            f"{median(variant, 'wall') / megabytes:.1f} | {tokens:,.0f} | {tokens / seconds:,.0f} | "
            f"{tokens / corpus_tokens:.2f} |"
        )
    for ours in (variant for variant in runs if variant.startswith("assistant")):
        if "langchain" in runs:
            paired = [a["wall"] / lc["wall"] for lc, a in zip(runs["langchain"], runs[ours], strict=False)]
            shown = ", ".join(f"{ratio:.2f}" for ratio in paired)
            print(f"{ours} wall / langchain wall, same round: median {statistics.median(paired):.2f} ({shown})")


if __name__ == "__main__":
    main()
