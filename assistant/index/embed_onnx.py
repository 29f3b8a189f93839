"""The encoder without torch: the embedding model exported to ONNX once, run by onnxruntime.

Loading torch and sentence-transformers takes seconds, and its fp32 kernels are slow on a CPU. The
model's transformer is exported once per user and model to an ONNX file in the per-user model cache
(shared by every index folder), with its tokenizer, and, where wanted, quantised to int8 (dynamic, per
channel, matrix products only: cosine to the original about 0.994). Questions are embedded with it, so a
fresh process answers in well under a second from cold; ingest runs it over token windows (windows.py)
when it is the fastest way on the machine (fastpath.py measures which is).
The export is checked against the model on a probe text and dropped when they disagree, and only models
whose pipeline is transformer + mean pooling (+ normalisation) are exported; any other model keeps torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
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


def export(model: Any, cache_dir: Path, model_name: str, precisions: tuple[str, ...] = ("fp32", "int8")) -> bool:
    """Export a SentenceTransformer for OnnxEncoder in the precisions named that the cache folder lacks (int8
    is quantised from fp32); False when it cannot be exported or an export does not agree with the model.

    Every file is written under a name of its own and renamed into place, so two processes exporting the
    same model at once both end with whole files."""
    if not exportable(model):
        return False
    graph, tokenizer_file, settings_file = files_for(cache_dir, model_name)
    wanted = [p for p in precisions if not files_for(cache_dir, model_name, p)[0].exists()]
    if not wanted and tokenizer_file.exists() and settings_file.exists():
        return True
    cache_dir.mkdir(parents=True, exist_ok=True)
    names = [
        name for name in ("input_ids", "attention_mask", "token_type_ids") if name in model.tokenizer.model_input_names
    ]
    if not graph.exists():
        _export_graph(model, names, graph)
    _write(tokenizer_file, model.tokenizer.backend_tokenizer.to_str())
    _write(settings_file, json.dumps({"max_length": int(model.max_seq_length), "inputs": names}))
    if "int8" in wanted:
        _quantise(graph, files_for(cache_dir, model_name, "int8")[0])
    expected = model.encode([_PROBE], normalize_embeddings=True, convert_to_numpy=True)[0]
    for precision in {"fp32", *wanted}:
        if float(OnnxEncoder(cache_dir, model_name, precision).encode([_PROBE])[0] @ expected) < _AGREEMENT[precision]:
            for path in (*files_for(cache_dir, model_name), files_for(cache_dir, model_name, "int8")[0]):
                path.unlink(missing_ok=True)
            return False
    return True


def _export_graph(model: Any, names: list[str], graph: Path) -> None:
    import torch

    transformer = model[0].auto_model.eval()

    class _Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    sample = model.tokenizer(["a probe", "a longer probe text"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "hidden"]}
    partial = _partial(graph)
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
    os.replace(partial, graph)


def _partial(path: Path) -> Path:
    """A temporary name beside a file, of this process alone."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")


def _write(path: Path, text: str) -> None:
    partial = _partial(path)
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def session(graph: Path) -> Any:
    """An onnxruntime session on the CPU with the options measured best for this project's models."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # Idle threads sleep instead of spinning: on a busy machine spinning takes cores from the work itself
    # (13% more tokens a second without it, on 2 cores under load; see bench/README.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Inputs come in many lengths: a memory plan kept for each input shape only grows the process (a 10 MB
    # document: 0.34 GB more at its peak, at the same speed).
    options.enable_mem_pattern = False
    return onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def _quantise(graph: Path, target: Path) -> None:
    """int8 weights for the matrix products, one scale per output channel: per-tensor scales (the
    default) lose too much (cosine 0.95 to the original on news chunks, against 0.994)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = _partial(target)
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
        from tokenizers import Tokenizer

        graph, tokenizer_file, settings_file = files_for(cache_dir, model_name, precision)
        settings = json.loads(settings_file.read_text(encoding="utf-8"))
        if not graph.exists():
            raise FileNotFoundError(f"no {precision} export at {graph}")
        self.session = session(graph)
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
