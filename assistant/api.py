"""The REST API (FastAPI): served beside the web chat by `assistant serve`, alone by `assistant api`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from assistant.pipeline import Assistant
from assistant.settings import Settings


def create_app(assistant: Assistant) -> FastAPI:
    """The API application for one assistant."""
    app = FastAPI(title="Conflict-corpus assistant", version="0.1.0")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "collection": assistant.settings.index_name()}

    return app


def run_api(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(Assistant(settings)), host=host, port=port)
