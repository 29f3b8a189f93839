"""The limits on what a caller may ask, in one place: the Python API, the REST schema, the MCP tools and
the web chat (with its Gradio `/ask` endpoint) all read them, so every entry point refuses the same
input with the same numbers.
"""

from __future__ import annotations

from assistant.errors import UsageError, echoed

MAX_QUESTION_CHARS = 2000  # a question or a retrieval query
MIN_K = 1  # passages retrieved for a question
# Shortest API key accepted: 16 random characters are beyond guessing at any rate a server answers.
MIN_API_KEY_CHARS = 16
MAX_K = 50
MAX_HISTORY_TURNS = 20  # earlier [question, answer] pairs a request may carry
MAX_TURN_CHARS = 8000  # either side of one earlier turn


def checked_question(question: str | None) -> str:
    """The question without surrounding space; UsageError when it is empty or too long."""
    question = (question or "").strip()
    if not question:
        raise UsageError("The question is empty; type a question about the corpus.")
    if len(question) > MAX_QUESTION_CHARS:
        raise UsageError(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
    return question


def checked_k(k: int) -> int:
    """k itself; UsageError when it is outside MIN_K..MAX_K."""
    if not MIN_K <= k <= MAX_K:
        raise UsageError(f"k must be between {MIN_K} and {MAX_K}, not {k}.")
    return k


def parse_k(value: object) -> int | None:
    """k as a caller sent it (a number, a numeric string, or nothing: None); UsageError when it is not a
    whole number in range."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else float(value)
    except ValueError:
        number = float("nan")
    if isinstance(value, bool) or not number.is_integer():
        raise UsageError(f"k must be a whole number between {MIN_K} and {MAX_K}, not '{echoed(value)}'.")
    return checked_k(int(number))


def checked_history_length(turns: int) -> None:
    """UsageError when a request carries more earlier turns than MAX_HISTORY_TURNS."""
    if turns > MAX_HISTORY_TURNS:
        raise UsageError(
            f"The history holds {turns} earlier turns; send at most the last {MAX_HISTORY_TURNS} (older ones "
            "do not change the answer)."
        )


def parse_history(value: object) -> list[tuple[str, str]]:
    """History as a caller sent it in JSON (None: no history) as (question, answer) pairs; UsageError unless
    it is a list of at most MAX_HISTORY_TURNS pairs of text, each at most MAX_TURN_CHARS long."""
    if value is None:
        return []
    shape = "history must be a list of [question, answer] pairs of text"
    if not isinstance(value, list | tuple):
        raise UsageError(f"{shape}, not {type(value).__name__}.")
    checked_history_length(len(value))
    pairs = []
    for turn in value:
        if not (isinstance(turn, list | tuple) and len(turn) == 2 and all(isinstance(text, str) for text in turn)):
            raise UsageError(f"{shape}.")
        if max(len(text) for text in turn) > MAX_TURN_CHARS:
            raise UsageError(f"A turn of history is longer than {MAX_TURN_CHARS} characters; shorten it.")
        pairs.append((turn[0], turn[1]))
    return pairs
