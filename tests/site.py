"""A real HTTP server on 127.0.0.1 for the sources tests: routes written by the test, every request logged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "sources"


@dataclass
class Reply:
    """What a route answers: a status, headers and a body (str is sent as UTF-8)."""

    body: bytes | str = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """One request the site received."""

    path: str
    at: float  # time.monotonic()
    headers: dict[str, str]


Route = Reply | Callable[["Seen"], Reply]


class LocalSite:
    """Serves `routes` (path with query -> Reply or a function of the request); 404 for anything else."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.prefixes: dict[str, Route] = {}  # every path starting with the key, e.g. an API with varying queries
        self.seen: list[Seen] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
                request = Seen(self.path, time.monotonic(), {k.lower(): v for k, v in self.headers.items()})
                site.seen.append(request)
                route = site.routes.get(self.path) or next(
                    (route for prefix, route in site.prefixes.items() if self.path.startswith(prefix)), None
                )
                if route is None:
                    reply = Reply("not found", 404)
                else:
                    reply = route if isinstance(route, Reply) else route(request)
                body = reply.body.encode() if isinstance(reply.body, str) else reply.body
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [request.path for request in self.seen]

    def page(self, name: str) -> str:
        """A page of tests/data/sources with {base} filled in."""
        return (DATA / name).read_text(encoding="utf-8").replace("{base}", self.base)
