"""Warm `ask` latency: load the assistant once, then time every question of a question set.

    python bench/latency.py --questions eval/questions.jsonl [--corpus DIR] [--rounds 3]

The corpus must be indexed already (`assistant ingest --corpus DIR`). Prints the time to load the
assistant (first question included) and percentiles of the warm asks: retrieval, answering, and the
whole call as a caller sees it. bench/README.md records the results with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from assistant.pipeline import Assistant
from assistant.settings import Settings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    questions = [
        json.loads(line)["question"] for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    settings = Settings(corpus_dir=args.corpus) if args.corpus else Settings()

    started = time.perf_counter()
    assistant = Assistant(settings)
    assistant.ask(questions[0])
    cold_ms = (time.perf_counter() - started) * 1000

    retrieve, answer, total = [], [], []
    for _ in range(args.rounds):
        for question in questions:
            began = time.perf_counter()
            result = assistant.ask(question)
            total.append((time.perf_counter() - began) * 1000)
            retrieve.append(result.timings_ms["retrieve"])
            answer.append(result.timings_ms["answer"])

    chunks = assistant.status().chunks
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"corpus: {settings.corpus_dir} ({chunks} chunks); {len(total)} warm asks of {len(questions)} questions")
    print(f"load + first ask: {cold_ms:.0f} ms")
    for label, values in (("retrieve", retrieve), ("answer", answer), ("ask (total)", total)):
        print(
            f"{label:>12}: p50 {percentile(values, 0.5):6.1f} ms  p95 {percentile(values, 0.95):6.1f} ms  "
            f"mean {statistics.fmean(values):6.1f} ms"
        )


if __name__ == "__main__":
    main()
