"""Embeddings without a model: the "fake" embedding provider (ASSISTANT_EMBEDDING_MODEL=fake or fake:N).

For tests that check plumbing rather than answer quality, and for users testing their own code;
assistant.testing offers it with the other fakes.
"""

from __future__ import annotations

import hashlib

import numpy as np

from assistant.index.embed import SentenceEmbeddings
from assistant.index.lexical import tokenize

FAKE_MODEL = "fake"  # ASSISTANT_EMBEDDING_MODEL=fake, or fake:N for N dimensions


class FakeEmbeddings(SentenceEmbeddings):
    """Embeddings without a model, for tests that check plumbing rather than answer quality: deterministic
    across processes, instant, and no torch. Each content word (as the lexical index stems it) adds a
    signed unit to one of `dimension` slots chosen by its hash, so texts that share words are close and
    other texts are not; the vector is unit length, as the real model's."""

    def __init__(self, dimension: int = 64) -> None:
        super().__init__(model=f"{FAKE_MODEL}:{dimension}", cache_dir=None)
        self._dimension = dimension

    @classmethod
    def named(cls, name: str) -> FakeEmbeddings:
        """The fake a model name selects: 'fake' (64 dimensions) or 'fake:N'."""
        _, _, size = name.partition(":")
        if size and not (size.isdigit() and 2 <= int(size) <= 4096):
            raise ValueError(f"'{name}' is not fake or fake:N with N from 2 to 4096")
        return cls(int(size) if size else 64)

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit vector a text, a float32 row each."""
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in tokenize(text) or ["<empty>"]:  # a text without content words still gets a unit vector
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                slot = int.from_bytes(digest[:4], "little") % self._dimension
                vectors[row, slot] += 1.0 if digest[4] & 1 else -1.0
            norm = float(np.linalg.norm(vectors[row]))
            if norm:
                vectors[row] /= norm
            else:  # the words cancelled out
                vectors[row, 0] = 1.0
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def export_onnx(self) -> bool:
        return False  # nothing to export: questions are as cheap as it gets

    def token_encoder(self) -> None:
        return None  # no token states: ingest embeds chunk and sentence texts with `encode`
