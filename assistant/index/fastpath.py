"""Which way of running a model is fastest on this machine: measured once per machine and model, remembered.

A model can run several ways that give the same numbers to within rounding: in torch in fp32, in torch
under bfloat16 autocast (fast on CPUs with AMX or AVX-512 BF16), as an ONNX export in fp32, or quantised to
int8. Which is fastest depends on the CPU and on what else it runs, so it is measured, not assumed: every
candidate runs one fixed sample; a candidate whose outputs fall below MIN_COSINE to the reference's (row by
row) is refused, however fast; the fastest of the rest is chosen. The choice and every measured speed are
recorded in the per-user cache under the model's key and this machine's description, so later processes
read the record instead of measuring; a different CPU, core count or library version measures again.

`choose_fastest` knows nothing of embeddings: any model with candidate runners can use it (the encoder's
candidates are in embed.py).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

# A candidate's outputs must be this close (cosine, every row) to the reference's to be chosen: int8
# exports of MiniLM reach about 0.994 on news text, so they pass only where their kernels do better.
MIN_COSINE = 0.999
# Timed calls of the sample per candidate, after the first (whose outputs are compared); the fastest counts.
_ROUNDS = 3
# CPU features that decide which kernels are fast: matrix units (AMX), bf16 and int8 dot products.
_FLAGS = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")
_LIBRARIES = ("torch", "onnxruntime")

Runner = Callable[[], np.ndarray]  # runs the fixed sample; its outputs, one row an item compared by cosine
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    """The chosen way of running a model and what was measured: per candidate, its units a second and its
    lowest cosine to the reference (or the error that ruled it out)."""

    chosen: str
    measured: dict[str, dict[str, Any]]
    machine: dict[str, Any]

    def speed(self, name: str | None = None) -> float:
        """Units a second of a candidate (the chosen one by default); 0 when it was not measured."""
        return float(self.measured.get(name or self.chosen, {}).get("per_second", 0.0))


def cpu_flags() -> list[str]:
    """The CPU features of _FLAGS this machine has (from /proc/cpuinfo; empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    flags = set(found.group(1).split()) if found else set()
    return [flag for flag in _FLAGS if flag in flags]


def machine() -> dict[str, Any]:
    """What a measurement depends on: the CPU, its features and cores, and the libraries' versions."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        found = re.search(r"^model name\s*:\s*(.*)$", text, re.MULTILINE)
        cpu = found.group(1).strip() if found else platform.processor()
    except OSError:
        cpu = platform.processor()
    versions: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu": cpu or platform.machine(), "flags": cpu_flags(), "cores": os.cpu_count(), **versions}


def record_path(cache_dir: Path, key: str) -> Path:
    """The file that records the choice for a model key in a cache folder."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")[-60:]
    return cache_dir / "choices" / f"{slug}.json"


def recorded(cache_dir: Path, key: str) -> Choice | None:
    """The choice recorded for a model key on this machine, if there is one."""
    try:
        data = json.loads(record_path(cache_dir, key).read_text(encoding="utf-8"))
        if data.get("key") != key or data.get("machine") != machine():
            return None
        return Choice(str(data["chosen"]), dict(data["measured"]), dict(data["machine"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def choose_fastest(
    key: str, candidates: Mapping[str, Callable[[], Runner]], reference: str, units: int, cache_dir: Path
) -> Choice:
    """The fastest candidate whose outputs agree with the reference's: the recorded choice when this machine
    has one for `key`, else measured now and recorded.

    candidates: name -> a factory that builds a runner (raising when that way is not available here);
    reference: the name of the exact one (always eligible); units: work in one run of the sample (tokens)."""
    known = recorded(cache_dir, key)
    if known is not None and known.chosen in candidates:
        return known
    measured: dict[str, dict[str, Any]] = {}
    runners: dict[str, Runner] = {}
    outputs: dict[str, np.ndarray] = {}
    for name in [reference, *(name for name in candidates if name != reference)]:
        try:
            runners[name] = candidates[name]()
            outputs[name] = np.asarray(runners[name](), dtype=np.float32)
        except Exception as exc:  # a way this machine cannot run (no bf16 kernels, no export): not a candidate
            if name == reference:
                raise
            measured[name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            runners.pop(name, None)
    # Rounds over all candidates in turn, the fastest call of each counting: a load that comes and goes
    # (another process on the same cores) then weighs on every candidate alike, not on the one timed in it.
    best = dict.fromkeys(runners, float("inf"))
    for _ in range(_ROUNDS):
        for name, run in runners.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    for name in runners:
        cosine = _lowest_cosine(outputs[name], outputs[reference])
        measured[name] = {"per_second": round(units / best[name], 1), "cosine": round(cosine, 6)}
        measured[name]["eligible"] = name == reference or cosine >= MIN_COSINE
    eligible = [name for name, row in measured.items() if row.get("eligible")]
    chosen = max(eligible, key=lambda name: measured[name]["per_second"])
    choice = Choice(chosen, measured, machine())
    _write_record(cache_dir, key, choice)
    log.info("encoder path for %s on this machine: %s (%s)", key, chosen, measured)
    return choice


def _lowest_cosine(outputs: np.ndarray, expected: np.ndarray) -> float:
    a = outputs.reshape(len(outputs), -1)
    b = expected.reshape(len(expected), -1)
    if a.shape != b.shape:
        return 0.0
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.min(np.sum(a * b, axis=1) / np.maximum(norms, 1e-12)))


def _write_record(cache_dir: Path, key: str, choice: Choice) -> None:
    """Written whole or not at all: a temporary file renamed over the record (two processes may race)."""
    target = record_path(cache_dir, key)
    data = {"key": key, "chosen": choice.chosen, "measured": choice.measured, "machine": choice.machine}
    data["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=target.parent, suffix=".partial", delete=False) as handle:
            json.dump(data, handle, indent=1)
        os.replace(handle.name, target)
    except OSError as exc:  # a read-only cache: measured again next time, nothing else lost
        log.warning("could not record the encoder choice in %s: %s", target.parent, exc)
