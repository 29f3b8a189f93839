"""The lexical index: the tokenizer shared by indexing, ranking and answering, and BM25 over chunks."""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from assistant.index.packed import PackedStrings

# Function words and question words: they say nothing about which passage answers.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours out over own same she should so some
    such than that the their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you your yours
    yourself s t d ll m re ve y said says say tell told according did anything something thing things
    many much one ones""".split()
)

_ACRONYMS = [
    (re.compile(r"\bU\.S\.(?:A\.)?|\bUSA\b|\bUS\b"), " USA "),
    (re.compile(r"\bU\.K\.|\bUK\b"), " UK "),
    (re.compile(r"\bU\.N\.|\bUN\b"), " UN "),
    (re.compile(r"\bE\.U\.|\bEU\b"), " EU "),
]

_WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=200_000)
def normalise(word: str) -> str:
    """A word's index form: lower case, accents folded, stemmed."""
    folded = unicodedata.normalize("NFKD", word.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return str(_stemmer().stemWord(folded))


@functools.cache
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def content_words(text: str) -> list[tuple[str, str]]:
    """(word as written, index form) of each content word of a text."""
    for pattern, replacement in _ACRONYMS:
        text = pattern.sub(replacement, text)
    words = []
    for word in _WORD.findall(text):
        lowered = word.lower()
        if lowered in STOPWORDS or (len(lowered) == 1 and not lowered.isdigit()):
            continue
        words.append((word, normalise(lowered)))
    return words


def tokenize(text: str) -> list[str]:
    """The content words of a text in index form, in order; stopwords and single letters dropped."""
    return [term for _, term in content_words(text)]


class Vocabulary(PackedStrings):
    """Terms in sorted order, term i being column i, read in place from a file (never loaded whole).

    A lookup is a binary search of a few dozen byte comparisons (UTF-8 sorts as the code points do).
    """

    def get(self, term: str) -> int | None:
        """The column of a term, or None when no indexed text holds it."""
        key = term.encode()
        column = bisect.bisect_left(range(len(self)), key, key=self.raw)
        return column if column < len(self) and self.raw(column) == key else None


class BM25Index:
    """Okapi BM25 over chunks, precomputed as a sparse chunk-by-term matrix of term weights.

    Saved as plain arrays that are memory-mapped when opened: a query reads the columns of its terms only.
    Each chunk's term counts are kept too (row by row), so a rebuild reuses unchanged chunks untokenized.
    """

    def __init__(
        self, vocabulary: Vocabulary, weights: sparse.csc_matrix, idf: np.ndarray, counts: sparse.csr_matrix
    ) -> None:
        self.vocabulary = vocabulary
        self.weights = weights
        self.idf = idf
        self.counts = counts  # chunk-by-term counts: what the weights were computed from
        self._unseen_idf = float(idf.max(initial=1.0))

    def scores(self, query_weights: dict[str, float]) -> np.ndarray:
        """BM25 score of every indexed text for weighted query terms."""
        found = [(self.vocabulary.get(term), weight) for term, weight in query_weights.items()]
        columns = [column for column, _ in found if column is not None]
        if not columns:
            return np.zeros(self.weights.shape[0], dtype=np.float32)
        factors = np.asarray([weight for column, weight in found if column is not None], dtype=np.float32)
        return np.asarray(self.weights[:, columns] @ factors).ravel()

    def term_idf(self, term: str) -> float:
        """The inverse document frequency of a term; unseen terms count as the rarest."""
        column = self.vocabulary.get(term)
        return float(self.idf[column]) if column is not None else self._unseen_idf

    def save(self, folder: Path) -> None:
        for name, matrix in (("bm25", self.weights), ("counts", self.counts)):
            for part in ("data", "indices", "indptr"):
                np.save(folder / f"{name}_{part}.npy", getattr(matrix, part))
        np.save(folder / "idf.npy", self.idf)
        self.vocabulary.save(folder, "terms")

    @classmethod
    def open(cls, folder: Path) -> BM25Index:
        def arrays(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            data, indices, indptr = (
                np.load(folder / f"{name}_{p}.npy", mmap_mode="r") for p in ("data", "indices", "indptr")
            )
            return data, indices, indptr

        idf = np.load(folder / "idf.npy", mmap_mode="r")
        counts = arrays("counts")
        shape = (len(counts[2]) - 1, len(idf))
        weights = sparse.csc_matrix(arrays("bm25"), shape=shape, copy=False)
        return cls(Vocabulary.open(folder, "terms"), weights, idf, sparse.csr_matrix(counts, shape=shape, copy=False))


class BM25Builder:
    """Collects the term counts of chunks in row order, then computes their BM25 weights.

    Counts live in typed arrays, not Python objects, so a million chunks fit in a few hundred MB.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._column: dict[str, int] = {}  # term -> column in order of first sight; sorted at the end
        self._columns = array("i")
        self._counts = array("i")
        self._row_sizes = array("q")
        self._reused: tuple[BM25Index, np.ndarray] | None = None  # a previous index, its columns in ours (-1: none yet)

    def add_tokens(self, tokens: Sequence[str]) -> None:
        """Add the next row from its tokens."""
        counted = Counter(tokens)
        self._columns.extend(self._column.setdefault(term, len(self._column)) for term in counted)
        self._counts.extend(counted.values())
        self._row_sizes.append(len(counted))

    def add_rows_from(self, previous: BM25Index, first: int, stop: int) -> None:
        """Add rows first..stop-1 of a previous index as they are: no tokenizing again."""
        if self._reused is None or self._reused[0] is not previous:
            self._reused = (previous, np.full(len(previous.vocabulary), -1, dtype=np.int64))
        mapping = self._reused[1]
        begin, end = int(previous.counts.indptr[first]), int(previous.counts.indptr[stop])
        theirs = np.asarray(previous.counts.indices[begin:end])
        for column in np.unique(theirs[mapping[theirs] < 0]):
            mapping[column] = self._column.setdefault(previous.vocabulary[int(column)], len(self._column))
        self._columns.frombytes(mapping[theirs].astype(np.int32).tobytes())
        self._counts.frombytes(np.asarray(previous.counts.data[begin:end], dtype=np.int32).tobytes())
        self._row_sizes.frombytes(np.diff(previous.counts.indptr[first : stop + 1]).astype(np.int64).tobytes())

    def build(self) -> BM25Index:
        """The index over the rows added."""
        terms = sorted(self._column)
        rank = np.empty(len(terms), dtype=np.int32)
        rank[[self._column[term] for term in terms]] = np.arange(len(terms), dtype=np.int32)
        col_index = rank[np.frombuffer(self._columns, dtype=np.int32)] if terms else np.zeros(0, dtype=np.int32)
        counts = np.frombuffer(self._counts, dtype=np.int32)
        sizes = np.frombuffer(self._row_sizes, dtype=np.int64)
        n_docs = len(sizes)
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        row_index = np.repeat(np.arange(n_docs, dtype=np.int32), sizes)
        length = np.bincount(row_index, weights=counts, minlength=n_docs).astype(np.float32)  # tokens per row
        tf = counts.astype(np.float32)
        df = np.bincount(col_index, minlength=len(terms)).astype(np.float32)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        k1, b = self.k1, self.b
        norm = k1 * (1 - b + b * length / max(float(length.mean()) if n_docs else 1.0, 1.0))
        values = idf[col_index] * tf * (k1 + 1) / (tf + norm[row_index])
        shape = (n_docs, len(terms))
        weights = sparse.csc_matrix((values, (row_index, col_index)), shape=shape, dtype=np.float32)
        index_type = np.int32 if len(values) < 2**31 else np.int64
        weights.indices, weights.indptr = weights.indices.astype(index_type), weights.indptr.astype(index_type)
        by_row = sparse.csr_matrix((counts, col_index, indptr.astype(index_type)), shape=shape, copy=False)
        by_row.indices = by_row.indices.astype(index_type)
        return BM25Index(Vocabulary.from_strings(terms), weights, idf, by_row)
