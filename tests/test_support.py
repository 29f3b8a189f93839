"""The citation-support rule that the chat answerer's check and the evaluation both apply."""

from __future__ import annotations

import pytest

from assistant.answer.support import coverage, supports

QUOTE = "Two rounds of peace talks held in Istanbul earlier in 2025 resulted mainly in prisoner exchanges."
TITLE = "International Appeal: Guterres urges a ceasefire 2025-07-01"


@pytest.mark.parametrize(
    ("claim", "held"),
    [
        (QUOTE.upper(), True),  # word for word, whatever the case
        ("Peace talks in Istanbul resulted mainly in prisoner exchanges", True),  # most of its words
        ("Peace talks in Geneva resulted mainly in prisoner exchanges", False),  # a name the passage lacks
        ("Peace talks in Istanbul in 2023 resulted mainly in prisoner exchanges", False),  # a number it lacks
        ("Talks led to swaps of captives and a lasting ceasefire", False),  # few of its words
        ("Guterres says peace talks in Istanbul resulted mainly in prisoner exchanges", True),  # name in the title
    ],
)
def test_a_quote_supports_a_claim_verbatim_or_by_its_words_names_and_numbers(claim: str, held: bool) -> None:
    assert supports(claim, QUOTE, passage=TITLE) is held


def test_rare_words_weigh_more_and_an_alias_counts_half() -> None:
    idf = {"istanbul": 5.0, "talk": 1.0, "held": 1.0}.get
    claim = "Talks held in Istanbul"
    assert coverage(claim, "talks were held in Geneva", lambda w: idf(w, 1.0)) == pytest.approx(2 / 7)
    assert coverage("Kremlin talks", "Russia talks") == pytest.approx((0.5 + 1) / 2)
    assert coverage("the and of", "anything") == 0.0  # no content words: nothing to support
