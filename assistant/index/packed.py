"""Strings packed back to back in one file with their offsets, read in place: opening costs nothing at any size."""

from __future__ import annotations

import mmap
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO, Self, overload

import numpy as np


class PackedStrings(Sequence[str]):
    """A sequence of strings stored as UTF-8 bytes back to back (`<name>.bin`) and offsets (`<name>_offsets.npy`)."""

    def __init__(self, blob: bytes | mmap.mmap, offsets: np.ndarray) -> None:
        self._blob = blob
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self.raw(index % len(self)).decode()

    def raw(self, index: int) -> bytes:
        """The UTF-8 bytes of string `index`."""
        return self._blob[int(self._offsets[index]) : int(self._offsets[index + 1])]

    def raw_range(self, first: int, stop: int) -> bytes:
        """The bytes of strings first..stop-1, back to back."""
        return self._blob[int(self._offsets[first]) : int(self._offsets[stop])]

    def lengths(self, first: int, stop: int) -> np.ndarray:
        """The byte lengths of strings first..stop-1."""
        return np.diff(np.asarray(self._offsets[first : stop + 1]))

    @classmethod
    def from_strings(cls, strings: Iterable[str]) -> Self:
        """Strings packed in memory."""
        encoded = [string.encode() for string in strings]
        return cls(b"".join(encoded), np.cumsum([0, *map(len, encoded)], dtype=np.int64))

    def save(self, folder: Path, name: str) -> None:
        (folder / f"{name}.bin").write_bytes(bytes(self._blob[:]))
        np.save(folder / f"{name}_offsets.npy", np.asarray(self._offsets))

    @classmethod
    def open(cls, folder: Path, name: str) -> Self:
        offsets = np.load(folder / f"{name}_offsets.npy", mmap_mode="r")
        with (folder / f"{name}.bin").open("rb") as file:
            blob = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if offsets[-1] else b""
        return cls(blob, offsets)


class PackedStringsWriter:
    """Writes a PackedStrings file one string at a time, never holding them all."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name = folder, name
        self._file: BinaryIO = (folder / f"{name}.bin").open("wb")
        self._offsets = array("q", [0])

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def append(self, string: str) -> None:
        self.append_raw(string.encode(), None)

    def append_raw(self, data: bytes, lengths: Sequence[int] | np.ndarray | None) -> None:
        """Add strings given as their bytes back to back; lengths: the bytes of each (None: one string)."""
        self._file.write(data)
        if lengths is None:
            self._offsets.append(self._offsets[-1] + len(data))
        else:
            self._offsets.frombytes((self._offsets[-1] + np.cumsum(lengths, dtype=np.int64)).tobytes())

    def close(self) -> None:
        self._file.close()
        np.save(self.folder / f"{self.name}_offsets.npy", np.frombuffer(self._offsets, dtype=np.int64))
