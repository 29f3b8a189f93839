from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.index import fastpath
from assistant.index.fastpath import choose_fastest, record_path, recorded

EXACT = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])


def _candidates(calls: list[str], off: float = 0.0) -> dict:
    """exact: the reference; sloppy: fast but off by `off`; close: slower, within rounding; broken: raises."""

    def build(name: str, output: np.ndarray, pause: int) -> object:
        def run() -> np.ndarray:
            calls.append(name)
            sum(range(pause))  # work that takes time
            return output

        return lambda: run

    def broken() -> object:
        raise RuntimeError("no bf16 kernels here")

    return {
        "exact": build("exact", EXACT, 400_000),
        "sloppy": build("sloppy", EXACT + off, 1_000),
        "close": build("close", EXACT * 1.0001, 100_000),
        "broken": broken,
    }


def test_the_fastest_that_agrees_is_chosen_and_recorded(tmp_path: Path) -> None:
    calls: list[str] = []
    choice = choose_fastest("model-x", _candidates(calls, off=0.5), "exact", 100, tmp_path)
    assert choice.chosen == "close"
    assert choice.measured["sloppy"]["eligible"] is False and choice.measured["sloppy"]["cosine"] < 0.999
    assert choice.speed("sloppy") > choice.speed("close") > choice.speed("exact") > 0
    assert "error" in choice.measured["broken"]
    assert json.loads(record_path(tmp_path, "model-x").read_text())["chosen"] == "close"


def test_a_fast_path_that_agrees_wins(tmp_path: Path) -> None:
    assert choose_fastest("model-y", _candidates([], off=1e-6), "exact", 100, tmp_path).chosen == "sloppy"


def test_the_record_is_read_not_measured_again_until_the_machine_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    choose_fastest("model-z", _candidates([], off=0.5), "exact", 100, tmp_path)
    calls: list[str] = []
    assert choose_fastest("model-z", _candidates(calls, off=0.5), "exact", 100, tmp_path).chosen == "close"
    assert calls == []
    other = {**fastpath.machine(), "cores": 64}
    monkeypatch.setattr(fastpath, "machine", lambda: other)
    assert recorded(tmp_path, "model-z") is None
    choose_fastest("model-z", _candidates(calls, off=0.5), "exact", 100, tmp_path)
    assert "exact" in calls
    assert not list(record_path(tmp_path, "model-z").parent.glob("*.partial"))
