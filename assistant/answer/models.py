"""The small models of the extractive answerer, fitted on labelled questions by eval/fit_models.py.

- SENTENCE_MODEL: a score for how likely a candidate sentence holds the answer, from its signals
  (sentences.SIGNALS). It is a conditional logit: among one question's candidates, the probability
  of each is proportional to exp(score), so only differences of scores mean something.
- READER_MODEL: the same kind of score from the sentence model's score ("sentence"), the trained
  reader's logit ("reader", reader.py) and whether the sentence speaks of the time the question names
  ("period", periods.py): the score the answer is chosen by.
- ABSTENTION_MODEL: the probability that the best sentence answers the question at all, from its
  score and a few signals of the question's evidence; a logistic regression.

All weigh standardised inputs: score = sum of weight * (value - mean) / scale. They are data, in
models.json beside this module: eval/fit_models.py writes it with the sets they were fitted on, the date,
and how they did on questions held apart; eval/README.md tells the story.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Logistic:
    """A fitted logistic regression: weights, and the mean and scale each input was standardised with."""

    bias: float
    weights: dict[str, float]
    means: dict[str, float]
    scales: dict[str, float]

    def score(self, inputs: dict[str, float], only: tuple[str, ...] | None = None) -> float:
        """The weighted sum of the standardised inputs (those named in `only`, when given), without the bias:
        a log-odds up to a constant."""
        names = self.weights if only is None else only
        return sum(self.weights[name] * (inputs[name] - self.means[name]) / self.scales[name] for name in names)

    def probability(self, inputs: dict[str, float]) -> float:
        z = self.bias + self.score(inputs)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


MODELS_FILE = Path(__file__).with_name("models.json")  # written by eval/fit_models.py: the models as data


def _load(path: Path) -> tuple[Logistic, Logistic, Logistic]:
    """The sentence, reader and abstention models of a models file (its sets, date and held-apart figures beside
    them)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(Logistic(**data[f"{name}_model"]) for name in ("sentence", "reader", "abstention"))  # type: ignore[return-value]


# Fitted on the fitting halves of rtqa-span, rtqa-dev and the bundled set (eval/README.md; models.json says when).
SENTENCE_MODEL, READER_MODEL, ABSTENTION_MODEL = _load(MODELS_FILE)
