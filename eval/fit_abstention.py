"""Fit the abstention model of assistant/answer/extractive.py from evaluation runs.

Each question of a run records the signals of its best sentence (similarity, coverage, names_found)
and whether the corpus answers it. This fits a class-balanced, L2-regularised logistic
regression on those signals and prints the weights to paste into ABSTENTION_MODEL, with the accuracy
they reach on each run (and, with two or more runs, on each run when fitted on the others only).

    python eval/fit_abstention.py eval/results/run1/results.jsonl /tmp/rtqa/results.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

SIGNALS = ("similarity", "coverage", "names_found")


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        signals = record.get("signals") or {}
        if not all(name in signals for name in SIGNALS):
            continue  # nothing was retrieved: the answerer abstains without asking the model
        rows.append([signals[name] for name in SIGNALS])
        labels.append(1.0 if record.get("answerable", True) else 0.0)
    return np.asarray(rows, dtype=float), np.asarray(labels, dtype=float)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.01, steps: int = 50) -> np.ndarray:
    """Newton's method on the class-balanced log loss; returns [bias, *weights]."""
    design = np.hstack([np.ones((len(x), 1)), x])
    balance = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    weights = np.zeros(design.shape[1])
    penalty = l2 * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ weights))
        gradient = design.T @ (balance * (p - y)) / len(y) + penalty @ weights
        hessian = (design * (balance * p * (1 - p))[:, None]).T @ design / len(y) + penalty
        weights -= np.linalg.solve(hessian, gradient)
    return weights


def rates(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> str:
    p = 1 / (1 + np.exp(-(weights[0] + x @ weights[1:])))
    answered = p >= 0.5
    unanswerable = y == 0
    accuracy = (~answered[unanswerable]).mean() if unanswerable.any() else float("nan")
    false_abstention = (~answered[~unanswerable]).mean() if (~unanswerable).any() else float("nan")
    return f"abstention accuracy {accuracy:.3f}, false abstention rate {false_abstention:.3f} (n={len(y)})"


def main(paths: list[str]) -> None:
    runs = {path: load(Path(path)) for path in paths}
    x = np.vstack([run[0] for run in runs.values()])
    y = np.concatenate([run[1] for run in runs.values()])
    weights = fit(x, y)
    print("ABSTENTION_MODEL = {")
    for name, value in zip(("bias", *SIGNALS), weights, strict=True):
        print(f'    "{name}": {value:.3f},')
    print("}")
    for path, (rx, ry) in runs.items():
        print(f"{path}: fitted on all: {rates(weights, rx, ry)}")
        if len(runs) > 1:
            others = [run for other, run in runs.items() if other != path]
            held_out = fit(np.vstack([r[0] for r in others]), np.concatenate([r[1] for r in others]))
            print(f"{path}: fitted on the others: {rates(held_out, rx, ry)}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
