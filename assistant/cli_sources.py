"""`assistant sources ...`: add, list, remove and sync the sources the corpus follows."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.settings import Settings


def add_sources_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `sources` and its subcommands on the main parser."""
    sources = commands.add_parser("sources", help="follow feeds, sitemaps, wikis and pages: add, list, remove, sync")
    actions = sources.add_subparsers(title="actions", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add a source: a catalogue name alone, or NAME URL")
    add.add_argument("name", help="a catalogue name (kremlin-en, us-state-dept, ...) or a new name")
    add.add_argument("url", nargs="?", help="the feed, sitemap, api.php search or page URL (not for catalogue names)")
    add.add_argument("--kind", choices=["feed", "sitemap", "mediawiki", "page"])
    add.add_argument("--voice", help="whose position its documents state, e.g. 'Russia: government'")
    add.add_argument("--license", help="the licence its documents are published under, e.g. 'CC BY 4.0'")
    add.add_argument("--every", metavar="DURATION", help="how often servers sync it: 30m, 6h, 1d (default), 1w")
    add.set_defaults(run=_add)

    show = actions.add_parser(
        "list", help="the sources: licence, voice, last sync, documents, next scheduled sync, a sync in progress"
    )
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(run=_list)

    remove = actions.add_parser("remove", help="stop following a source (its documents stay)")
    remove.add_argument("name")
    remove.set_defaults(run=_remove)

    sync = actions.add_parser("sync", help="fetch what is new at the sources, then ingest it")
    sync.add_argument("names", nargs="*", metavar="NAME", help="only these sources (default: all)")
    sync.add_argument("--since", metavar="YYYY-MM-DD", help="only articles dated on or after")
    sync.add_argument("--max", type=int, metavar="N", help="store at most N new documents a source")
    sync.add_argument("--no-ingest", action="store_true", help="fetch only; index later with `assistant ingest`")
    sync.add_argument("--json", action="store_true", help="print the reports as JSON")
    sync.set_defaults(run=_sync)
    for action in (add, show, remove, sync):
        action.add_argument("--corpus", type=Path, help="corpus folder (default: ASSISTANT_CORPUS_DIR or ./corpus)")


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.sources.service import new_source

    source = new_source(settings.corpus_dir, args.name, args.url, args.kind, args.voice, args.license, args.every)
    print(f"Added {source.name} ({source.kind}, {source.url}); `assistant sources sync {source.name}` fetches it.")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.sources.service import source_statuses

    statuses = source_statuses(settings.corpus_dir)
    if args.json:
        print(json.dumps([status.to_json() for status in statuses], indent=2, ensure_ascii=False))
        return 0
    if not statuses:
        print("No sources yet; `assistant sources add kremlin-en` adds one from the catalogue.")
    for status in statuses:
        source = status.source
        print(f"{source.name}  {source.kind}  {source.url}")
        print(f"  licence: {source.license or 'not given'}; voice: {source.voice or 'not given'}; every {source.every}")
        print(f"  last sync: {status.last_sync or 'never'}; {status.documents} documents")
        print(f"  next scheduled sync (by a running server): {status.next_sync or 'due now'}")
        if status.syncing:
            print(f"  syncing now, since {status.syncing['since']}, by {status.syncing['by']}")
        if status.last_error:
            print(f"  last error: {status.last_error}")
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.sources.service import drop_source

    folder = drop_source(settings.corpus_dir, args.name)
    print(f"Removed {args.name}; its documents stay in {folder} (delete the folder and ingest to drop them).")
    return 0


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.pipeline import Assistant

    reports, ingested = Assistant(settings).sync_sources(args.names, args.since, args.max, not args.no_ingest)
    if args.json:
        record = {"sources": [r.to_json() for r in reports], "ingest": ingested.to_json() if ingested else None}
        print(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        for report in reports:
            print(
                f"{report.name}: {len(report.added)} added, {len(report.updated)} updated, {report.unchanged} "
                f"unchanged, {report.duplicates} duplicates, {len(report.skipped)} skipped; {report.requests} requests."
            )
            for url, why in report.skipped:
                print(f"  skipped {url}: {why}")
            if report.error:
                print(f"  stopped: {report.error}")
        if ingested is not None:
            print(f"Ingested: {ingested.chunks_added} chunks added, {ingested.chunks_total} in the index.")
    return 1 if all(report.error for report in reports) else 0
