"""The encoder without torch: the embedding model exported to ONNX once, run by onnxruntime.

Loading torch and sentence-transformers takes seconds, and its fp32 kernels are slow on a CPU. The
model's transformer is exported once to an ONNX file beside the index, with its tokenizer, and also
quantised to int8 (dynamic, per channel, matrix products only: cosine to the original about 0.99, and
1.5-2x faster). Ingest runs it over token windows (windows.py) and questions are embedded with it, so a
fresh process answers in well under a second from cold, with the same encoder that embedded the corpus.
The export is checked against the model on a probe text and dropped when they disagree, and only models
whose pipeline is transformer + mean pooling (+ normalisation) are exported; any other model keeps torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from assistant.index.windows import padded

_PROBE = "Kremlin spokesperson Dmitry Peskov accused Kyiv and the U.S. of slowing progress."
# Cosine between the exported and the original model's vectors on the probe.
_AGREEMENT = {"fp32": 0.9999, "int8": 0.98}


def files_for(cache_dir: Path, model_name: str, precision: str = "fp32") -> tuple[Path, Path, Path]:
    """The ONNX graph (of that precision), tokenizer and settings files of a model in a cache folder."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model_name).strip("-")[-40:]
    stem = cache_dir / f"{slug}-{hashlib.sha256(model_name.encode()).hexdigest()[:10]}"
    graph = stem.with_suffix(".onnx") if precision == "fp32" else stem.with_suffix(f".{precision}.onnx")
    return graph, stem.with_suffix(".tokenizer.json"), stem.with_suffix(".json")


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
    """Export a SentenceTransformer (fp32 and int8) for OnnxEncoder; False when it cannot be or does not agree."""
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
    _quantise(graph, files_for(cache_dir, model_name, "int8")[0])
    expected = model.encode([_PROBE], normalize_embeddings=True, convert_to_numpy=True)[0]
    for precision, agreement in _AGREEMENT.items():
        if float(OnnxEncoder(cache_dir, model_name, precision).encode([_PROBE])[0] @ expected) < agreement:
            for path in (*files_for(cache_dir, model_name), files_for(cache_dir, model_name, "int8")[0]):
                path.unlink(missing_ok=True)
            return False
    return True


def _quantise(graph: Path, target: Path) -> None:
    """int8 weights for the matrix products, one scale per output channel: per-tensor scales (the
    default) lose too much (cosine 0.95 to the original on news chunks, against 0.994)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = target.with_name(target.name + ".partial")
    logging.disable(logging.WARNING)  # it advises, through the root logger, a pre-processing we do not need
    try:
        quantize_dynamic(
            str(graph), str(partial), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
        )
    finally:
        logging.disable(logging.NOTSET)
    os.replace(partial, target)


class OnnxEncoder:
    """Token states and unit vectors from an exported model; raises FileNotFoundError when there is none."""

    def __init__(self, cache_dir: Path, model_name: str, precision: str = "fp32") -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        graph, tokenizer_file, settings_file = files_for(cache_dir, model_name, precision)
        settings = json.loads(settings_file.read_text(encoding="utf-8"))
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        # Idle threads sleep instead of spinning: on a busy machine spinning takes cores from the work itself
        # (13% more tokens a second without it, on 2 cores under load; see bench/README.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Windows come in many lengths: a memory plan kept for each input shape only grows the process (a 10 MB
        # document: 0.34 GB more at its peak, at the same speed).
        options.enable_mem_pattern = False
        self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()  # the saved tokenizer may pad a batch to its longest text: windows must not be
        self.tokenizer.no_truncation()
        self.max_length: int = settings["max_length"]
        self.inputs: list[str] = settings["inputs"]
        self._query_tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._query_tokenizer.no_padding()
        self._query_tokenizer.enable_truncation(self.max_length)

    def hidden(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """The last hidden states (texts, tokens, dim) of token id sequences, and their attention mask."""
        input_ids, mask = padded(batch)
        arrays = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        return self.session.run(None, {name: arrays[name] for name in self.inputs})[0], mask

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of short texts (mean of their token states), as the model's own encode gives them."""
        hidden, mask = self.hidden([e.ids for e in self._query_tokenizer.encode_batch(texts)])
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
