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


# Fitted by eval/fit_models.py on the fitting halves of rtqa-span and rtqa-dev (eval/README.md).
SENTENCE_MODEL = Logistic(
    bias=0.0,
    weights={"similarity": 0.0503, "coverage": 0.282, "focus": 0.5377, "names": 0.2277, "opens_with_name": 0.0037,
             "kind": 0.593, "new_name": 0.0139, "new_number": -0.0297, "novelty": 0.0585, "passage": 0.3998,
             "lede": 0.1954, "length": 0.3479, "recency": 0.4745, "in_frame": 0.4653, "similarity_gap": 0.0571,
             "coverage_gap": 0.2349},
    means={"similarity": 0.5125, "coverage": 0.1831, "focus": 0.1894, "names": 0.4056, "opens_with_name": 0.1313,
           "kind": 0.2558, "new_name": 0.7012, "new_number": 0.4053, "novelty": 0.8651, "passage": 0.8421,
           "lede": 0.1332, "length": 2.8703, "recency": 0.5644, "in_frame": 0.0597, "similarity_gap": -0.1726,
           "coverage_gap": -0.4626},
    scales={"similarity": 0.1337, "coverage": 0.2057, "focus": 0.2292, "names": 0.4412, "opens_with_name": 0.3377,
            "kind": 0.8373, "new_name": 0.4577, "new_number": 0.4909, "novelty": 0.148, "passage": 0.1574,
            "lede": 0.3398, "length": 0.5678, "recency": 0.4171, "in_frame": 0.2369, "similarity_gap": 0.1177,
            "coverage_gap": 0.247},
)  # fmt: skip
ABSTENTION_MODEL = Logistic(
    bias=0.0101,
    weights={"best": 1.5709, "similarity": 1.0813, "coverage": -0.0556, "names_found": 0.8349},
    means={"best": 2.5994, "similarity": 0.5582, "coverage": 0.4671, "names_found": 0.8745},
    scales={"best": 1.5614, "similarity": 0.1465, "coverage": 0.2541, "names_found": 0.2798},
)
