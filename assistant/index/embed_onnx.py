"""The query encoder without torch: the embedding model exported to ONNX once, run by onnxruntime.

A question embeds one short text, yet loading torch and sentence-transformers takes seconds: too slow
for `assistant ask` in a fresh process. Ingest (which has the model loaded anyway) exports the model's
transformer to an ONNX file beside the index, with its tokenizer; a later process embeds questions with
onnxruntime and the `tokenizers` library in well under a second from cold. The export is checked
against the model on a probe text and dropped when they disagree, and only models whose pipeline is
transformer + mean pooling (+ normalisation) are exported; any other model keeps using torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

_PROBE = "Kremlin spokesperson Dmitry Peskov accused Kyiv and the U.S. of slowing progress."
_AGREEMENT = 0.9999  # cosine between the exported and the original model's vectors on the probe


def files_for(cache_dir: Path, model_name: str) -> tuple[Path, Path, Path]:
    """The ONNX graph, tokenizer and settings files of a model in a cache folder."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model_name).strip("-")[-40:]
    stem = cache_dir / f"{slug}-{hashlib.sha256(model_name.encode()).hexdigest()[:10]}"
    return stem.with_suffix(".onnx"), stem.with_suffix(".tokenizer.json"), stem.with_suffix(".json")


def exportable(model: Any) -> bool:
    """Whether a SentenceTransformer is transformer + mean pooling (+ normalise), with no prompts."""
    kinds = [type(module).__name__ for module in model]
    if kinds[:2] != ["Transformer", "Pooling"] or any(kind != "Normalize" for kind in kinds[2:]):
        return False
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers 6: "mean"; earlier: flags
    mean = mode == "mean" if isinstance(mode, str) else bool(getattr(pooling, "pooling_mode_mean_tokens", False))
    prompts = getattr(model, "prompts", None) or {}
    return mean and not any(prompts.values())


def export(model: Any, cache_dir: Path, model_name: str) -> bool:
    """Export a SentenceTransformer for OnnxQueryEncoder; False when it cannot be or does not agree."""
    if not exportable(model):
        return False
    import torch

    graph, tokenizer_file, settings_file = files_for(cache_dir, model_name)
    cache_dir.mkdir(parents=True, exist_ok=True)
    transformer = model[0].auto_model.eval()
    names = [
        name for name in ("input_ids", "attention_mask", "token_type_ids") if name in model.tokenizer.model_input_names
    ]

    class _Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    sample = model.tokenizer(["a probe", "a longer probe text"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "hidden"]}
    partial = graph.with_name(graph.name + ".partial")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden(),
            tuple(sample[name] for name in names),
            str(partial),
            input_names=names,
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    tokenizer_file.write_text(model.tokenizer.backend_tokenizer.to_str(), encoding="utf-8")
    settings_file.write_text(json.dumps({"max_length": int(model.max_seq_length), "inputs": names}), encoding="utf-8")
    os.replace(partial, graph)
    expected = model.encode([_PROBE], normalize_embeddings=True, convert_to_numpy=True)[0]
    if float(OnnxQueryEncoder(cache_dir, model_name).encode([_PROBE])[0] @ expected) < _AGREEMENT:
        for path in (graph, tokenizer_file, settings_file):
            path.unlink(missing_ok=True)
        return False
    return True


class OnnxQueryEncoder:
    """Unit vectors for short texts from an exported model; raises FileNotFoundError when there is none."""

    def __init__(self, cache_dir: Path, model_name: str) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        graph, tokenizer_file, settings_file = files_for(cache_dir, model_name)
        settings = json.loads(settings_file.read_text(encoding="utf-8"))
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(settings["max_length"])
        self.tokenizer.enable_padding()
        self.inputs: list[str] = settings["inputs"]

    def encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        arrays = {
            "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
        }
        hidden = self.session.run(None, {name: arrays[name] for name in self.inputs})[0]
        mask = arrays["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
