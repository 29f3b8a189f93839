"""Real server processes for tests: a free loopback port, start, wait until ready, stop.

Used by the REST, MCP and Chroma-server tests; each server is a child process of the test run, found
and ended by its own pid, never by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
ASSISTANT = str(BIN / "assistant")
CHROMA = str(BIN / "chroma")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A server started as a child process, ready once `ready_url` answers 200."""

    def __init__(self, argv: Sequence[str], ready_url: str, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.ready_url = ready_url
        self.log = log
        # Only the settings given here: none leak in from the shell that runs the tests.
        inherited = {name: value for name, value in os.environ.items() if not name.startswith("ASSISTANT_")}
        self.env = {**inherited, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> ServerProcess:
        with self.log.open("ab") as out:
            # A session of its own, so that stopping it reaches any workers it forks.
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.argv[0]} was not ready at {self.ready_url} after {timeout:.0f} s:\n{self.output()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL when it has not gone within timeout."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def chroma_server(path: Path, port: int, log: Path) -> ServerProcess:
    """`chroma run` on 127.0.0.1:port, persisting to path (not started)."""
    argv = [CHROMA, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)]
    return ServerProcess(argv, f"http://127.0.0.1:{port}/api/v2/heartbeat", log, {"ANONYMIZED_TELEMETRY": "False"})


def assistant_api(port: int, log: Path, env: Mapping[str, str], host: str = "127.0.0.1") -> ServerProcess:
    """`assistant api` on host:port with extra environment (not started)."""
    argv = [ASSISTANT, "api", "--host", host, "--port", str(port)]
    return ServerProcess(argv, f"http://127.0.0.1:{port}/health", log, env)
