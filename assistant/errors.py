"""Errors, by who is at fault. Each message says what failed and what to do about it."""


class AssistantError(Exception):
    """Base of every error the assistant raises on purpose; its message is shown to the user."""


class UsageError(AssistantError):
    """The caller asked for something invalid: a bad question, option or filter."""


class NotFoundError(UsageError):
    """The caller named something that does not exist: a source, a catalogue entry."""


class NotConfiguredError(AssistantError):
    """A valid request this installation is not set up for yet (no sources, no contact address)."""


class CorpusError(AssistantError):
    """The corpus folder is missing, empty or holds nothing readable."""


class IndexMissingError(AssistantError):
    """There is no index for this corpus and these settings yet."""


class BackendError(AssistantError):
    """A service the assistant depends on (a Chroma server, a chat model) failed or is unreachable."""


def echoed(value: object, limit: int = 40) -> str:
    """A value as a refusal repeats it: cut to `limit` characters, so a huge input never comes back whole."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
