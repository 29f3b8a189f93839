"""The limits every entry point shares: the Python API checks them, the REST and MCP schemas declare them."""

from __future__ import annotations

import pytest

from assistant.errors import UsageError
from assistant.limits import MAX_HISTORY_TURNS, MAX_K, MAX_QUESTION_CHARS, checked_question, parse_k
from assistant.serve.schema import AskRequest
from assistant.settings import Settings


def test_a_question_is_trimmed_and_must_be_neither_empty_nor_too_long() -> None:
    assert checked_question("  Where?  ") == "Where?"
    with pytest.raises(UsageError, match="empty"):
        checked_question("   ")
    with pytest.raises(UsageError, match=f"keep it under {MAX_QUESTION_CHARS}"):
        checked_question("x" * (MAX_QUESTION_CHARS + 1))


@pytest.mark.parametrize(("value", "k"), [(None, None), ("", None), (3, 3), (3.0, 3), (" 7 ", 7), ("50", 50)])
def test_k_as_a_caller_sends_it(value: object, k: int | None) -> None:
    assert parse_k(value) == k


@pytest.mark.parametrize("value", ["five", "2.5", 0, 51, True, float("nan")])
def test_a_k_that_is_not_a_whole_number_in_range_is_a_k_error(value: object) -> None:
    with pytest.raises(UsageError, match=r"^k must be"):
        parse_k(value)


def test_the_rest_schema_and_the_settings_declare_the_same_limits() -> None:
    schema = AskRequest.model_json_schema()["properties"]
    assert schema["question"]["maxLength"] == MAX_QUESTION_CHARS
    assert schema["history"]["maxItems"] == MAX_HISTORY_TURNS
    k = next(option for option in schema["k"]["anyOf"] if option.get("type") == "integer")
    assert (k["minimum"], k["maximum"]) == (1, MAX_K)
    with pytest.raises(ValueError, match="less than or equal to 50"):
        Settings(k=MAX_K + 1)
