"""REST routes for the corpus's sources, under /v1 (so the API key guards them like every /v1 route)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant.pipeline import Assistant
from assistant.serve.schema import ERRORS
from assistant.sources.schedule import Schedule
from assistant.sources.service import drop_source, new_source, source_statuses

_TEXT = 500
_ERRORS = {**ERRORS, 404: ERRORS[400]}  # an unknown source or catalogue name


class SourceRequest(BaseModel):
    """A source to add: a catalogue name alone, or a name and a URL."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="a catalogue name (kremlin-en, ...) or a new name"
    )
    url: str | None = Field(default=None, max_length=2000, description="feed, sitemap, api.php search or page URL")
    kind: str | None = Field(default=None, description="feed, sitemap, mediawiki or page")
    voice: str | None = Field(default=None, max_length=_TEXT)
    license: str | None = Field(default=None, max_length=_TEXT)
    every: str | None = Field(default=None, max_length=20, description="30m, 6h, 1d, 1w")


class SyncRequest(BaseModel):
    """Which sources to sync (all when none are named), from when, and how many new documents at most."""

    model_config = ConfigDict(extra="forbid")
    names: list[str] = Field(default_factory=list, max_length=100)
    since: str | None = Field(default=None, max_length=20, description="only articles dated on or after, YYYY-MM-DD")
    max: int | None = Field(default=None, ge=1, le=10_000)


def sources_router(assistant: Assistant, schedule: Schedule) -> tuple[APIRouter, APIRouter]:
    """GET/POST /sources and DELETE /sources/{name}; POST /sync (apart, so that no source name shadows it)."""
    router = APIRouter(prefix="/sources", tags=["sources"])
    syncing = APIRouter(tags=["sources"])
    corpus = assistant.settings.corpus_dir

    @router.get("", responses=_ERRORS)
    def list_sources() -> dict[str, Any]:
        """Each source with its licence, voice, last sync, last error, documents, next scheduled sync and the
        sync in progress; and what this server's background schedule is doing."""
        statuses = [status.to_json() for status in source_statuses(corpus)]
        return {"sources": statuses, "schedule": schedule.status().to_json()}

    @router.post("", status_code=201, responses=_ERRORS)
    def add(body: SourceRequest) -> JSONResponse:
        """Add a source; its host must resolve to public addresses (or a range the operator allows)."""
        source = new_source(
            corpus, body.name, body.url, body.kind, body.voice, body.license, body.every,
            remote=True, settings=assistant.settings,
        )  # fmt: skip
        schedule.wake()  # a new source is due at once
        return JSONResponse(source.to_json(), status_code=201)

    @router.delete("/{name}", responses=_ERRORS)
    def remove(name: str) -> dict[str, Any]:
        """Stop following a source; its documents stay in the corpus."""
        folder = drop_source(corpus, name)
        return {"removed": name, "documents_kept_in": folder.relative_to(corpus).as_posix()}

    @syncing.post("/sync", responses=_ERRORS)
    def sync(body: SyncRequest) -> dict[str, Any]:
        """Fetch what is new now, then ingest it; the reply says what each source did."""
        reports, ingested = assistant.sync_sources(body.names or None, body.since, body.max)
        return {"sources": [r.to_json() for r in reports], "ingest": ingested.to_json() if ingested else None}

    return router, syncing
