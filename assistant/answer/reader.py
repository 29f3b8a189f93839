"""The trained reader: how well a sentence answers a question, read from both together.

A cross-encoder (MiniLM-L6 with one output) that the project trains itself on extractive-QA data
(eval/reader/README.md: data, licences, command, held-apart figures) and ships as an int8 ONNX graph
in `assistant/answer/reader/`, so nothing is downloaded. Unlike the embedding similarity it sees the
question and the sentence at once: it tells the sentence that answers from one that only repeats the
question's background, and a sentence about another year from one about the year asked.

Its score is a logit: above 0, the reader takes the sentence for an answer.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).with_name("reader")
# Pairs run together, shortest first: 12 pairs take 25 ms in batches against 41 ms one by one (2 busy cores).
# The int8 graph quantises activations per batch, so batch-mates move a logit by about 0.1 (tests/test_reader.py).
_BATCH = 16


class Reader:
    """Scores (question, sentence) pairs with the exported reader; FileNotFoundError when it is missing."""

    def __init__(self, folder: Path = FOLDER) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        graph = folder / "reader.onnx"
        if not graph.exists():
            raise FileNotFoundError(f"The reader model {graph} is missing; reinstall the package.")
        settings = json.loads((folder / "reader.json").read_text(encoding="utf-8"))
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_mem_pattern = False
        self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(settings["max_length"]))
        self.tokenizer.no_padding()

    def scores(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """The reader's logit for each sentence as an answer to the question."""
        out = np.zeros(len(sentences), dtype=np.float32)
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        for begin in range(0, len(order), _BATCH):
            chosen = order[begin : begin + _BATCH]
            encodings = self.tokenizer.encode_batch([(question, sentences[i]) for i in chosen])
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(chosen), width), dtype=np.int64)
            types = np.zeros_like(ids)
            mask = np.zeros_like(ids)
            for row, encoding in enumerate(encodings):
                n = len(encoding.ids)
                ids[row, :n], types[row, :n], mask[row, :n] = encoding.ids, encoding.type_ids, 1
            logits = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
            out[chosen] = logits.reshape(-1)
        return out


@functools.cache
def default_reader() -> Reader:
    """The reader shipped with the package, loaded once per process."""
    return Reader()
