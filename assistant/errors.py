"""Errors, by who is at fault. Each message says what failed and what to do about it."""

from __future__ import annotations

import errno
from collections.abc import Iterator


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


class StorageError(AssistantError):
    """A folder the assistant writes to is on a full disk or cannot be written. Nothing is damaged: once there is
    space, or the folder is writable, the same command goes on from where it stopped."""


# What a full disk and a folder that cannot be written look like: an errno when Python sees the system call,
# an SQLite result code (its low byte: SQLITE_FULL 13, SQLITE_READONLY 8, SQLITE_PERM 3) from the catalog, and
# only words when Chroma's Rust core passes SQLite's or the system's message on as text.
_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_NOT_WRITABLE_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_NO_SPACE_SQLITE, _NOT_WRITABLE_SQLITE = frozenset({13}), frozenset({8, 3})
_NO_SPACE_WORDS = ("disk is full", "no space left on device", "os error 28", "disk quota exceeded", "os error 122")
_NOT_WRITABLE_WORDS = ("readonly database", "read-only file system", "os error 30", "permission denied", "os error 13")
_THEN = "and try again: nothing is lost, an ingest goes on from where it stopped"


def storage_error(exc: BaseException, folder: object) -> StorageError | None:
    """The StorageError for exc when it, or an error that caused it, is a full disk or a folder that cannot be
    written; None for anything else. folder: where the writing went, when the error does not name a file."""
    for cause in _causes(exc):
        code = getattr(cause, "sqlite_errorcode", None)
        words = str(cause).lower()
        where = getattr(cause, "filename", None) or folder
        detail = (cause.strerror if isinstance(cause, OSError) else None) or str(cause).splitlines()[0][:200]
        if (
            (isinstance(cause, OSError) and cause.errno in _NO_SPACE_ERRNOS)
            or (isinstance(code, int) and code & 0xFF in _NO_SPACE_SQLITE)
            or any(word in words for word in _NO_SPACE_WORDS)
        ):
            return StorageError(
                f"The disk that holds {where} is full ({detail}); the index is not damaged. Free some space there "
                f"(or move the folder to a larger disk) {_THEN}."
            )
        if (
            (isinstance(cause, OSError) and cause.errno in _NOT_WRITABLE_ERRNOS)
            or (isinstance(code, int) and code & 0xFF in _NOT_WRITABLE_SQLITE)
            or any(word in words for word in _NOT_WRITABLE_WORDS)
        ):
            return StorageError(
                f"{where} cannot be written ({detail}): its file system is read-only or this user may not write "
                f"there; the index is not damaged. Make it writable (or point the setting at a writable folder) "
                f"{_THEN}."
            )
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """exc, then what caused it (raise ... from, or the error being handled), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def echoed(value: object, limit: int = 40) -> str:
    """A value as a refusal repeats it: cut to `limit` characters, so a huge input never comes back whole."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
