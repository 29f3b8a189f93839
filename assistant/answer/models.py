"""The two small models of the extractive answerer, fitted on labelled questions by eval/fit_models.py.

- SENTENCE_MODEL: a score for how likely a candidate sentence holds the answer, from its signals
  (sentences.SIGNALS). It is a conditional logit: among one question's candidates, the probability
  of each is proportional to exp(score), so only differences of scores mean something.
- ABSTENTION_MODEL: the probability that the best sentence answers the question at all, from its
  score and a few signals of the question's evidence; a logistic regression.

Both weigh standardised inputs: score = sum of weight * (value - mean) / scale. eval/README.md
records the data they were fitted on and how they do on questions held apart from the fitting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Logistic:
    """A fitted logistic regression: weights, and the mean and scale each input was standardised with."""

    bias: float
    weights: dict[str, float]
    means: dict[str, float]
    scales: dict[str, float]

    def score(self, inputs: dict[str, float]) -> float:
        """The weighted sum of the standardised inputs, without the bias (a log-odds up to a constant)."""
        return sum(
            weight * (inputs[name] - self.means[name]) / self.scales[name] for name, weight in self.weights.items()
        )

    def probability(self, inputs: dict[str, float]) -> float:
        z = self.bias + self.score(inputs)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def _unscaled(bias: float, weights: dict[str, float]) -> Logistic:
    return Logistic(bias, weights, dict.fromkeys(weights, 0.0), dict.fromkeys(weights, 1.0))


# Until fitted: the hand-set score of earlier releases (similarity + 0.35 coverage + small bonuses).
SENTENCE_MODEL = _unscaled(-3.0, {"similarity": 6.0, "coverage": 2.1, "opens_with_name": 0.36, "kind": 0.24})
ABSTENTION_MODEL = _unscaled(-3.634, {"similarity": 1.587, "coverage": 3.060, "names_found": 1.712})
