"""Concurrent asks against a real `assistant api`: right after it starts, then warm.

    python bench/load.py [--corpus corpus] [--questions eval/questions.jsonl] [--clients 16] [--asks 25]

Indexes the corpus into a temporary folder (unless --index names an indexed one), starts `assistant api`
on a free loopback port, waits for /health and at once sends --clients concurrent clients of --asks
questions each (a freshly started server: nothing opened yet but the snapshot), then does the same again
(warm). Prints, for each round, the requests, the errors (status and message) and the latency p50 / p95.
bench/README.md records the results.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _round(url: str, questions: list[str], clients: int, asks: int) -> dict[str, Any]:
    """clients x asks concurrent POST /v1/ask; status counts, the first error's message, latencies."""

    def client(number: int) -> list[tuple[int, float, str]]:
        results = []
        with httpx.Client(timeout=300) as http:
            for i in range(asks):
                began = time.perf_counter()
                response = http.post(
                    f"{url}/v1/ask", json={"question": questions[(number * asks + i) % len(questions)]}
                )
                error = "" if response.status_code == 200 else response.json()["error"]["message"]
                results.append((response.status_code, (time.perf_counter() - began) * 1000, error))
        return results

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [result for batch in pool.map(client, range(clients)) for result in batch]
    wall = time.perf_counter() - started
    latencies = sorted(ms for _, ms, _ in results)
    errors = [error for status, _, error in results if status != 200]
    return {
        "requests": len(results),
        "errors": len(errors),
        "statuses": dict(Counter(status for status, _, _ in results)),
        "first_error": errors[0] if errors else None,
        "p50_ms": round(latencies[len(latencies) // 2], 1),
        "p95_ms": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 1),
        "requests_per_s": round(len(results) / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--index", type=Path, help="an index folder that already holds the corpus's index")
    parser.add_argument("--questions", type=Path, default=Path("eval/questions.jsonl"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--asks", type=int, default=25)
    args = parser.parse_args()
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as scratch:
        env = {name: value for name, value in os.environ.items() if not name.startswith("ASSISTANT_")}
        env.update(ASSISTANT_CORPUS_DIR=str(args.corpus), ASSISTANT_INDEX_DIR=str(args.index or Path(scratch)))
        if args.index is None:
            subprocess.run([bin_dir / "assistant", "ingest"], env=env, check=True, capture_output=True)
        port = _free_port()
        log = Path(scratch) / "api.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [bin_dir / "assistant", "api", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            started = time.perf_counter()
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"assistant api exited with {server.returncode}:\n{log.read_text()[-2000:]}")
                try:
                    if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            ready_s = time.perf_counter() - started
            fresh = _round(url, questions, args.clients, args.asks)
            warm = _round(url, questions, args.clients, args.asks)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    report = {"corpus": str(args.corpus), "ready_s": round(ready_s, 2), "fresh": fresh, "warm": warm}
    report["load_average"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
