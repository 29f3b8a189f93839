"""Connecting to Chroma: the embedded persistent store in a folder, or a Chroma server given by URL.

Opens collections (once per process, under a lock), reopens the embedded store when another process has
changed it, and turns every failure into one clear error that says what to do. chromadb is imported in
this module and in chroma.py only.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from assistant.errors import BackendError, IndexMissingError, UsageError, storage_error
from assistant.settings import Settings

_T = TypeVar("_T")
# chromadb keeps one client state per folder per process; making two at once races ("Could not connect to
# tenant default_tenant"), so every store of this process opens (and reopens) its client under one lock.
_OPENING = threading.Lock()
# Sentence vectors are only ever fetched by document, never searched: a sparse graph is enough.
_LOOKUP_ONLY = {"ef_construction": 16, "max_neighbors": 4}
# The chunk vectors' graph (HNSW) is searched for 50 candidates a question (Settings.candidates), up to 4,000 when
# filters keep a few (retrieval/hybrid.py). With Chroma's defaults (ef_search 100, ef_construction 100) it misses
# some of the true nearest, and which ones changes whenever the graph is rebuilt (a wiped server refilled, chunks
# inserted in another order). Measured against exact search on a Chroma 1.5 server: 3,822 news chunks embedded
# by the bundled model, 148 questions: recall@50 0.990, @100 0.974, 6 questions with other top 10 after a refill;
# with these 1.000, 1.000 and 1 (a tie), at the same speed (2-4 ms a query). On 5,000 clustered 384-dimension
# unit vectors, the hard case: 0.81 and 76 of 100 against 1.000 and none (tests/test_chroma_server.py).
CHUNK_SEARCH = {"ef_construction": 200, "ef_search": 1000}


class ChromaConnection:
    """The collections of one index in Chroma: chunks (named after the settings that shape their vectors)
    and, with a server, sentences."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.index_name()
        self.sentences_name = f"{self.name}-sentences"
        self._client_handle: Any = None
        self._collections: dict[str, Any] = {}

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir / "chroma")

    @property
    def is_server(self) -> bool:
        return bool(self.settings.chroma_url)

    def client(self) -> Any:
        """A chromadb client for this store (what langchain-chroma's `Chroma(client=...)` takes)."""
        self._call(lambda collection: collection.count())  # connects and makes the collection, or a clear error
        with _OPENING:
            return self._client()

    def _client(self) -> Any:
        if self._client_handle is None:
            self._client_handle = self._new_client()
        return self._client_handle

    def _new_client(self) -> Any:
        import chromadb

        if self.settings.chroma_url:
            url = urlparse(self.settings.chroma_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                url_text = self.settings.chroma_url
                raise UsageError(f"ASSISTANT_CHROMA_URL '{url_text}' is not an http(s)://host:port URL.")
            host, port = _host_port(self.settings.chroma_url)
            return chromadb.HttpClient(host=host, port=port, ssl=url.scheme == "https")
        self.settings.index_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(self.settings.index_dir / "chroma"))

    def reopen(self) -> None:
        """Drop this process's state of the embedded store, so the next call sees what other processes wrote.

        The embedded store keeps its vector index in memory once loaded and never rereads it: without this, a
        running server would not find, by vector, the chunks an `assistant ingest` in another process added.
        Calls in flight finish on the old state; a call that then fails on it is retried on the new one."""
        if self.is_server:
            return  # a server is shared: every call already sees every write
        from chromadb.api.shared_system_client import SharedSystemClient

        with _OPENING:
            old, self._client_handle, self._collections = self._client_handle, None, {}
            if old is None:
                return
            identifier = old._identifier
            system = SharedSystemClient._identifier_to_system.pop(identifier, None)
            SharedSystemClient._identifier_to_refcount.pop(identifier, None)
        if system is not None:
            system.stop()

    def _open(self, name: str, create: bool) -> Any:
        collection = self._collections.get(name)
        if collection is not None:
            return collection
        with _OPENING:
            if name not in self._collections:
                client = self._client()
                if create:
                    sentences = name == self.sentences_name
                    collection = client.get_or_create_collection(
                        name,
                        embedding_function=None,
                        configuration={"hnsw": {"space": "cosine", **(_LOOKUP_ONLY if sentences else CHUNK_SEARCH)}},
                        metadata={"embedding_model": self.settings.embedding_model},
                    )
                    if not sentences:
                        _search_widely(collection)
                    self._collections[name] = collection
                else:
                    self._collections[name] = client.get_collection(name, embedding_function=None)
            return self._collections[name]

    def _call(self, action: Callable[[Any], _T], create: bool = True, name: str | None = None) -> _T:
        """Run an action on a collection (default: the chunks'); a failure of the store becomes one clear BackendError.

        create=False (queries): a missing collection is an IndexMissingError, not a new empty one, so a
        wiped or new Chroma server is reported instead of silently answering from the lexical index alone.
        """
        from chromadb.errors import NotFoundError

        name = name or self.name
        collection = None
        try:
            try:
                collection = self._open(name, create)
                return action(collection)
            except NotFoundError:
                # The collection was deleted since this handle was opened (a wiped or restarted server): reopen once.
                self._collections.pop(name, None)
                return action(self._open(name, create))
            except Exception:
                if collection is None or self._collections.get(name) is collection:
                    raise
                return action(self._open(name, create))  # reopened meanwhile (reopen()): once more on the new state
        except (UsageError, IndexMissingError):
            raise
        except NotFoundError as exc:
            self._collections.pop(name, None)
            raise IndexMissingError(self._missing()) from exc
        except Exception as exc:
            self._collections.pop(name, None)  # reconnect on the next call: the server may be back
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            if self.settings.chroma_url:
                host, port = _host_port(self.settings.chroma_url)
                hint = (
                    f"check that the server is running (`chroma run --host {host} --port {port}`) "
                    "or unset ASSISTANT_CHROMA_URL"
                )
            else:
                problem = storage_error(exc, self.location)
                if problem is not None:
                    raise problem from exc
                hint = self._diagnose()
            raise BackendError(f"Chroma at {self.location} failed ({detail}); {hint}.") from exc

    def _diagnose(self) -> str:
        """What is wrong with the embedded store's folder, as far as can be told from outside Chroma."""
        folder = Path(self.location)
        existing = next((parent for parent in (folder, *folder.parents) if parent.exists()), folder)
        if not existing.is_dir():
            return f"{existing} is a file where the store's folder should be: move it away"
        if not os.access(existing, os.W_OK):
            return f"the folder {existing} is not writable by this user: fix its permissions or set ASSISTANT_INDEX_DIR"
        if shutil.disk_usage(existing).free < 50_000_000:
            return f"the disk that holds {existing} is full: free some space"
        return (
            f"the folder {folder} may have been written by another version of Chroma; move it away and run "
            "`assistant ingest` to rebuild it from the catalog"
        )

    def _missing(self) -> str:
        where = f"The Chroma {'server at' if self.settings.chroma_url else 'store in'} {self.location}"
        return (
            f"{where} holds no vectors for this corpus (collection {self.name}); "
            "run `assistant ingest` to fill it from the local catalog."
        )


def _search_widely(collection: Any) -> None:
    """Raise the search breadth of a chunk collection made with less (by an earlier version, or another tool):
    get_or_create_collection keeps an existing collection's configuration. ef_search is the one setting Chroma
    lets a collection change; a running Chroma server applies it when it next loads the collection (a restart)."""
    hnsw = (collection.configuration_json or {}).get("hnsw") or {}
    if int(hnsw.get("ef_search") or 0) < CHUNK_SEARCH["ef_search"]:
        collection.modify(configuration={"hnsw": {"ef_search": CHUNK_SEARCH["ef_search"]}})


def _host_port(chroma_url: str) -> tuple[str, int]:
    """The host and port of a Chroma server URL; without a port, https's 443 or Chroma's own 8000."""
    url = urlparse(chroma_url)
    return url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 8000)
