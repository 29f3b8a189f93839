"""The command line: each command reads its options, calls one library function, prints.

Heavy libraries (torch, chromadb, gradio) load inside the commands, so `assistant --help` is quick.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.cli_sources import add_sources_command
from assistant.errors import AssistantError, storage_error
from assistant.settings import Settings, describe_settings, load_settings

# SQLite result codes of a file that is not a sound database: SQLITE_CORRUPT, SQLITE_NOTADB. Anything else (a
# full disk, a read-only folder, a lock) leaves the index as it was, and deleting it would throw work away.
_SQLITE_DAMAGED = frozenset({11, 26})


def cli(argv: Sequence[str] | None = None) -> int:
    """Run the command line with arguments; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    settings: Settings | None = None
    try:
        overrides = {"corpus_dir": args.corpus} if getattr(args, "corpus", None) else {}
        settings = load_settings(**overrides)
        result: int = args.run(args, settings)
        return result
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:  # the catalog, or the embedded Chroma store, is SQLite
        where = settings.index_dir if settings else "ASSISTANT_INDEX_DIR"
        problem = storage_error(exc, where)
        if problem is not None:  # a full disk or a read-only folder: nothing to delete
            print(f"error: {problem}", file=sys.stderr)
        elif (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF in _SQLITE_DAMAGED:
            print(
                f"error: the local index in {where} is damaged ({exc}); delete that folder and run "
                "`assistant ingest` again to rebuild it.",
                file=sys.stderr,
            )
        else:
            print(f"error: the local index in {where} could not be used ({exc}); try again.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Whatever read the output has stopped (`assistant ask ... | head -3`): stop quietly, as other
        # command-line tools do, and keep Python from failing again on flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command stopped by a closed pipe
    except Exception as exc:  # the user gets one line; ASSISTANT_DEBUG=1 shows where it came from
        if os.environ.get("ASSISTANT_DEBUG"):
            raise
        problem = storage_error(exc, settings.index_dir if settings else "ASSISTANT_INDEX_DIR")
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        print(
            f"error: unexpected failure ({type(exc).__name__}: {_first_line(exc)}); "
            "rerun with ASSISTANT_DEBUG=1 to see where.",
            file=sys.stderr,
        )
        return 1


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def main() -> None:
    sys.exit(cli())


def _parser() -> argparse.ArgumentParser:
    settings_help = "\n".join(
        f"  {name:<30} {description} (default: {default})" for name, default, description in describe_settings()
    )
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Answers questions about a news corpus from that corpus alone, with a citation on every claim.",
        epilog=f"settings (environment variables):\n{settings_help}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    ingest = commands.add_parser("ingest", help="build or update the index of the corpus, incrementally")
    ingest.add_argument("--corpus", type=Path, help="corpus folder (default: ASSISTANT_CORPUS_DIR or ./corpus)")
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")
    ingest.set_defaults(run=_ingest)

    ask = commands.add_parser("ask", help="answer a question with citations")
    ask.add_argument("question")
    _retrieval_options(ask)
    ask.set_defaults(run=_ask)

    retrieve = commands.add_parser("retrieve", help="ranked chunks with scores and metadata")
    retrieve.add_argument("query")
    _retrieval_options(retrieve)
    retrieve.set_defaults(run=_retrieve)

    serve = commands.add_parser("serve", help="the web chat (and the REST API under /v1)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--corpus", type=Path, help="corpus folder")
    serve.set_defaults(run=_serve)

    api = commands.add_parser("api", help="the REST API alone")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--corpus", type=Path, help="corpus folder")
    api.set_defaults(run=_api)

    mcp = commands.add_parser("mcp", help="an MCP server (stdio) with the tools retrieve and ask")
    mcp.add_argument("--corpus", type=Path, help="corpus folder")
    mcp.set_defaults(run=_mcp)

    evaluate = commands.add_parser(
        "eval", help="measure retrieval, answers, citations and abstention on a question set"
    )
    evaluate.add_argument("--questions", type=Path, required=True, help="question set (JSONL)")
    evaluate.add_argument("--corpus", type=Path, help="corpus folder the questions are about")
    evaluate.add_argument("--out", type=Path, help="folder for results (default: eval/results/<set>-<time>)")
    evaluate.add_argument("--compare", type=Path, help="results.json of an earlier run, to show deltas")
    evaluate.add_argument(
        "--min", action="append", default=[], metavar="METRIC=V", help="fail (exit 1) when a metric is below V"
    )
    evaluate.add_argument(
        "--max",
        action="append",
        default=[],
        metavar="METRIC=V",
        help="fail (exit 1) when a metric where lower is better is above V (e.g. misattribution_rate=0)",
    )
    evaluate.add_argument(
        "--retriever",
        choices=["hybrid", "baseline", "bm25"],
        default="hybrid",
        help="baseline: plain LangChain Chroma similarity search, top sentence as the answer; "
        "bm25: plain BM25 over whole documents",
    )
    evaluate.add_argument("--k", type=int, help="passages retrieved a question")
    evaluate.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="the date questions are asked from when they have no question_date (default: today)",
    )
    evaluate.set_defaults(run=_eval)

    add_sources_command(commands)

    show = commands.add_parser("settings", help="print the settings in effect")
    show.set_defaults(run=_settings)
    return parser


def _retrieval_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--k", type=int, help="passages to retrieve (default: ASSISTANT_K or 5)")
    command.add_argument("--corpus", type=Path, help="corpus folder")
    command.add_argument("--doc", action="append", default=[], metavar="DOC_ID", help="only these documents")
    command.add_argument("--since", metavar="YYYY-MM-DD", help="only documents dated on or after")
    command.add_argument("--until", metavar="YYYY-MM-DD", help="only documents dated on or before")
    command.add_argument("--tag", action="append", default=[], help="only documents with this tag")
    command.add_argument(
        "--voice",
        action="append",
        default=[],
        metavar="VOICE",
        help="only documents of this voice ('Russia: government') or side ('Russia'); repeatable",
    )
    command.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="the date the question is asked from (default: today): later documents are not used, and "
        "'this week' or 'last year' are read relative to it",
    )
    command.add_argument("--json", action="store_true", help="print JSON")


def _filters(args: argparse.Namespace) -> Any:
    from assistant.types import make_filters

    return make_filters(args.doc, args.since, args.until, args.tag, args.voice)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.pipeline import Assistant

    with _progress_bar() as progress:
        report = Assistant(settings).ingest(progress=progress)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    docs = report.to_json()["documents"]
    print(
        f"Indexed {settings.corpus_dir} ({report.collection}): "
        f"{docs['added']} added, {docs['updated']} updated, {docs['unchanged']} unchanged, "
        f"{docs['removed']} removed, {docs['skipped']} skipped documents; "
        f"{report.chunks_added} chunks added, {report.chunks_removed} removed, {report.chunks_total} in the index"
        + (f" ({report.chunks_synced} written to Chroma)" if report.chunks_synced > report.chunks_added else "")
        + "; "
        f"{report.seconds:.1f} s."
    )
    for failure in report.skipped:
        print(f"  skipped {failure.source}: {failure.reason}")
    for warning in report.warnings:
        print(f"  warning: {warning.source} {warning.reason}")
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.pipeline import Assistant

    answer = Assistant(settings).ask(args.question, k=args.k, filters=_filters(args), as_of=args.as_of)
    if args.json:
        print(json.dumps(answer.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(_wrap(answer.text))
    if answer.time_frame is not None:
        print(f"\n({answer.time_frame.described()}.)")
    if answer.nearest:
        print("\nThe closest sentences found (the assistant did not take them for an answer):")
        for citation in answer.nearest:
            dated = f"({citation.date}) " if citation.date else ""
            print(_wrap(f"- {dated}{citation.quote} [{citation.source}]", "  "))
    if answer.citations:
        print("\nSources:")
        for citation in answer.citations:
            dated = f", {citation.date}" if citation.date else ""
            who = f", {citation.attribution()}" if citation.attribution() else ""
            print(
                _wrap(
                    f"[{citation.n}] {citation.title}{dated}{who} "
                    f"({citation.source}, characters {citation.start}-{citation.end})",
                    "    ",
                )
            )
    return 0


def _retrieve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.pipeline import Assistant

    results = Assistant(settings).retrieve(args.query, k=args.k, filters=_filters(args), as_of=args.as_of)
    if args.json:
        print(json.dumps([result.to_json() for result in results], indent=2, ensure_ascii=False))
        return 0
    if not results:
        print("No passages match.")
    for result in results:
        chunk = result.chunk
        dated = f", {chunk.date}" if chunk.date else ""
        print(f"{result.rank}. {chunk.title}{dated}  [{chunk.chunk_id}, score {result.score:.4f}]")
        excerpt = " ".join(chunk.text.split())
        print(_wrap(excerpt[:300] + ("..." if len(excerpt) > 300 else ""), "   ", first="   "))
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.serve.ui import serve

    serve(settings, host=args.host, port=args.port)
    return 0


def _api(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.serve.api import run_api

    run_api(settings, host=args.host, port=args.port)
    return 0


def _mcp(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.serve.mcp import run_mcp

    run_mcp(settings)
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from assistant.evaluation.questions import load_questions
    from assistant.evaluation.report import (
        compare_table,
        gate_failures,
        load_compared,
        parse_maximums,
        parse_minimums,
    )
    from assistant.evaluation.run import run_eval
    from assistant.pipeline import Assistant
    from assistant.retrieval.timeframe import parse_date

    count = len(load_questions(args.questions))  # a bad set, --min, --max or --compare fails before the index is built
    minimums, maximums = parse_minimums(args.min), parse_maximums(args.max)
    compared = load_compared(args.compare) if args.compare else None
    as_of = parse_date(args.as_of)
    assistant = Assistant(settings)
    with _progress_bar() as bar:
        assistant.ingest(progress=bar)
    with tqdm(total=count, unit="q", desc="questions", disable=None) as questions:
        run, out = run_eval(
            assistant, args.questions, retriever=args.retriever, k=args.k, as_of=as_of, out=args.out,
            compared=compared, progress=questions.update,
        )  # fmt: skip
    metrics = run.aggregate()
    print(compare_table(metrics, compared, run.counts()))
    print(f"\nWrote {out}/results.json, results.jsonl, report.md and metrics.png")
    failures = gate_failures(metrics, minimums, maximums)
    if failures:
        print("Quality gate failed: " + "; ".join(failures))
        return 1
    return 0


def _settings(args: argparse.Namespace, settings: Settings) -> int:
    for name, value in settings.model_dump().items():
        shown = "(set)" if name == "api_key" and value else value  # never print the secret itself
        print(f"ASSISTANT_{name.upper()}={shown if shown is not None else ''}")
    return 0


def _wrap(text: str, indent: str = "", first: str = "") -> str:
    return textwrap.fill(text, width=100, initial_indent=first, subsequent_indent=indent)


class _progress_bar:
    """A tqdm bar on stderr, in characters of text, while documents are embedded (hidden when stderr is not
    a terminal)."""

    def __enter__(self) -> Callable[[int, int, str], None]:
        self._bar: Any = None

        def update(done: int, total: int, what: str) -> None:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=total, unit="char", unit_scale=True, desc="embedding", file=sys.stderr, disable=None
                )
            self._bar.update(done - self._bar.n)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
