"""One encoder pass a document: sentences packed into token windows, sentence and chunk vectors pooled.

The encoder reads at most `max_length` tokens (256 for MiniLM), about 1,000 characters of news text. A
document's sentences are tokenised once and packed, whole and in order, into windows that fill that
length, each opening with the document's title as a chunk's text does. One forward pass gives every
token a state that has seen its neighbours. A sentence's vector is the mean of its own tokens' states
(late chunking); a chunk's is the mean over its sentences' tokens plus the title and special tokens of
the window it starts in, which is what mean pooling over the chunk's own pass computes, but read from
shared windows, so each corpus token goes through the encoder once instead of two or three times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

_TITLE_SHARE = 4  # a title takes at most a quarter of a window
_TOKENIZED_AT_ONCE = 2000  # sentences a tokenizer call takes: bounds its encodings' memory on a huge document


class TokenEncoder(Protocol):
    """A transformer that gives the last hidden states of token id sequences."""

    tokenizer: Any  # a `tokenizers.Tokenizer` without truncation or padding
    max_length: int

    def hidden(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """States (texts, tokens, dim) and the attention mask (texts, tokens) of a batch."""
        ...


@dataclass(frozen=True)
class Window:
    """One encoder input: special tokens, a title, then whole sentences of one document."""

    key: str  # a hash of the ids and the sentence bounds: equal keys give equal states
    ids: list[int]
    bounds: list[int]  # token offsets: the title is bounds[0]:bounds[1], sentence i bounds[i + 1]:bounds[i + 2]
    sentences: range  # the document's sentence indices in this window


@dataclass(frozen=True)
class WindowStates:
    """A window's token states summed per sentence (rows 1..), and over everything else (row 0)."""

    sums: np.ndarray  # (sentences + 1, dim) float32
    counts: np.ndarray  # (sentences + 1,) tokens in each sum


def padded(batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token id sequences as one zero-padded int64 matrix, and the attention mask that marks real tokens."""
    width = max(len(ids) for ids in batch)
    input_ids = np.zeros((len(batch), width), dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
    return input_ids, mask


def special_ids(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The token ids the tokenizer puts before and after a text ([CLS] and [SEP] for BERT)."""
    bare = tokenizer.encode("probe", add_special_tokens=False).ids
    full = tokenizer.encode("probe", add_special_tokens=True).ids
    at = next(i for i in range(len(full) - len(bare) + 1) if full[i : i + len(bare)] == bare)
    return full[:at], full[at + len(bare) :]


def plan_windows(encoder: TokenEncoder, title: str, sentences: list[str]) -> list[Window]:
    """Pack a document's sentences into windows of at most encoder.max_length tokens.

    A sentence longer than a window (a table without stops) keeps only the tokens that fit."""
    prefix, suffix = special_ids(encoder.tokenizer)
    title_ids = encoder.tokenizer.encode(title, add_special_tokens=False).ids[: encoder.max_length // _TITLE_SHARE]
    budget = encoder.max_length - len(prefix) - len(suffix) - len(title_ids)
    pieces: list[list[int]] = []
    for start in range(0, len(sentences), _TOKENIZED_AT_ONCE):  # a tokenizer's encodings weigh far more than ids
        part = encoder.tokenizer.encode_batch(sentences[start : start + _TOKENIZED_AT_ONCE], add_special_tokens=False)
        pieces.extend(encoding.ids[:budget] for encoding in part)
    windows: list[Window] = []
    first = 0
    while first < len(pieces):
        stop, used = first, 0
        while stop < len(pieces) and used + len(pieces[stop]) <= budget:
            used += len(pieces[stop])
            stop += 1
        ids = prefix + title_ids
        bounds = [len(prefix), len(ids)]
        for piece in pieces[first:stop]:
            ids = ids + piece
            bounds.append(len(ids))
        ids = ids + suffix
        digest = hashlib.sha256(np.asarray(ids + [-1] + bounds, dtype=np.int64).tobytes()).hexdigest()[:32]
        windows.append(Window(digest, ids, bounds, range(first, stop)))
        first = stop
    return windows


def encode_windows(
    encoder: TokenEncoder, windows: list[Window], batch_size: int
) -> Iterator[list[tuple[Window, WindowStates]]]:
    """Run the encoder over windows, shortest first (batches of alike length pad least); one list a batch."""
    ordered = sorted(windows, key=lambda window: len(window.ids))
    for start in range(0, len(ordered), batch_size):
        batch = ordered[start : start + batch_size]
        hidden, _ = encoder.hidden([window.ids for window in batch])
        yield [(window, _states(hidden[row, : len(window.ids)], window)) for row, window in enumerate(batch)]


def _states(hidden: np.ndarray, window: Window) -> WindowStates:
    # Segments: the leading special tokens and the title, each sentence, the trailing special tokens.
    edges = np.asarray([0, *window.bounds[1:], len(window.ids)])
    running = np.vstack([np.zeros((1, hidden.shape[1]), dtype=np.float32), np.cumsum(hidden, axis=0, dtype=np.float32)])
    segments = running[edges[1:]] - running[edges[:-1]]
    sizes = np.diff(edges)
    sums, counts = segments[:-1].copy(), sizes[:-1].copy()
    sums[0] += segments[-1]
    counts[0] += sizes[-1]
    return WindowStates(sums, counts.astype(np.int32))


def pool(
    windows: list[Window], states: dict[str, WindowStates], chunk_sentences: list[range], sentence_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of a document's sentences and of its chunks (each a range of sentence indices)."""
    dim = next(iter(states.values())).sums.shape[1] if states else 0
    sums = np.zeros((sentence_count, dim), dtype=np.float32)
    counts = np.zeros(sentence_count, dtype=np.float32)
    window_of = np.zeros(sentence_count, dtype=np.int64)
    extra_sums = np.zeros((len(windows), dim), dtype=np.float32)
    extra_counts = np.zeros(len(windows), dtype=np.float32)
    for number, window in enumerate(windows):
        state = states[window.key]
        sums[window.sentences.start : window.sentences.stop] = state.sums[1:]
        counts[window.sentences.start : window.sentences.stop] = state.counts[1:]
        window_of[window.sentences.start : window.sentences.stop] = number
        extra_sums[number], extra_counts[number] = state.sums[0], state.counts[0]
    sentence_vectors = _unit(sums / np.maximum(counts, 1)[:, None])
    chunk_vectors = np.zeros((len(chunk_sentences), dim), dtype=np.float32)
    for row, span in enumerate(chunk_sentences):
        opening = window_of[span.start]
        total = extra_sums[opening] + sums[span.start : span.stop].sum(axis=0)
        chunk_vectors[row] = total / max(1.0, extra_counts[opening] + counts[span.start : span.stop].sum())
    return sentence_vectors, _unit(chunk_vectors)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
