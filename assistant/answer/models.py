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

    def score(self, inputs: dict[str, float], only: tuple[str, ...] | None = None) -> float:
        """The weighted sum of the standardised inputs (those named in `only`, when given), without the bias:
        a log-odds up to a constant."""
        names = self.weights if only is None else only
        return sum(self.weights[name] * (inputs[name] - self.means[name]) / self.scales[name] for name in names)

    def probability(self, inputs: dict[str, float]) -> float:
        z = self.bias + self.score(inputs)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


# Fitted by eval/fit_models.py on the fitting halves of rtqa-span, rtqa-dev and the bundled set (eval/README.md).
SENTENCE_MODEL = Logistic(
    bias=0.0,
    weights={
        "similarity": 0.1163,
        "coverage": 0.4063,
        "focus": 0.6665,
        "names": 0.1639,
        "opens_with_name": 0.1783,
        "kind": 0.61,
        "new_name": 0.0082,
        "new_number": -0.0494,
        "novelty": 0.171,
        "passage": 0.698,
        "lede": 0.1961,
        "length": 0.1385,
        "recency": 0.4941,
        "in_frame": 0.4683,
        "similarity_gap": 0.1545,
        "coverage_gap": 0.3044,
    },
    means={
        "similarity": 0.4744,
        "coverage": 0.1632,
        "focus": 0.1683,
        "names": 0.4007,
        "opens_with_name": 0.1422,
        "kind": 0.2405,
        "new_name": 0.7468,
        "new_number": 0.3589,
        "novelty": 0.8796,
        "passage": 0.7841,
        "lede": 0.1247,
        "length": 2.9287,
        "recency": 0.6568,
        "in_frame": 0.0544,
        "similarity_gap": -0.1745,
        "coverage_gap": -0.4798,
    },
    scales={
        "similarity": 0.1532,
        "coverage": 0.2032,
        "focus": 0.2229,
        "names": 0.4323,
        "opens_with_name": 0.3493,
        "kind": 0.7763,
        "new_name": 0.4348,
        "new_number": 0.4797,
        "novelty": 0.1399,
        "passage": 0.2265,
        "lede": 0.3304,
        "length": 0.5464,
        "recency": 0.4108,
        "in_frame": 0.2267,
        "similarity_gap": 0.1153,
        "coverage_gap": 0.2713,
    },
)
ABSTENTION_MODEL = Logistic(
    bias=0.1039,
    weights={"best": 1.5985, "similarity": 0.5632, "names_found": 1.2228},
    means={"best": 3.3802, "similarity": 0.5458, "names_found": 0.8859},
    scales={"best": 1.8965, "similarity": 0.1519, "names_found": 0.2725},
)
