"""The lexical index: the tokenizer shared by indexing, ranking and answering, and BM25 over chunks."""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

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


class BM25Index:
    """Okapi BM25 over chunks, precomputed as a sparse chunk-by-term matrix of term weights."""

    def __init__(self, vocabulary: dict[str, int], weights: sparse.csc_matrix, idf: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self.weights = weights
        self.idf = idf

    @classmethod
    def build(cls, texts: Iterable[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> BM25Index:
        """Index tokenized texts; row i of the matrix is text i."""
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        lengths: list[int] = []
        for row, tokens in enumerate(texts):
            lengths.append(len(tokens))
            for term, count in Counter(tokens).items():
                rows.append(row)
                cols.append(vocabulary.setdefault(term, len(vocabulary)))
                counts.append(count)
        n_docs = len(lengths)
        length = np.asarray(lengths, dtype=np.float32)
        tf = np.asarray(counts, dtype=np.float32)
        row_index = np.asarray(rows, dtype=np.int64)
        col_index = np.asarray(cols, dtype=np.int64)
        df = np.bincount(col_index, minlength=len(vocabulary)).astype(np.float32)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = k1 * (1 - b + b * length / max(float(length.mean()) if n_docs else 1.0, 1.0))
        values = idf[col_index] * tf * (k1 + 1) / (tf + norm[row_index])
        weights = sparse.csc_matrix((values, (row_index, col_index)), shape=(n_docs, len(vocabulary)), dtype=np.float32)
        return cls(vocabulary, weights, idf)

    def scores(self, query_weights: dict[str, float]) -> np.ndarray:
        """BM25 score of every indexed text for weighted query terms."""
        columns = [self.vocabulary[t] for t in query_weights if t in self.vocabulary]
        if not columns:
            return np.zeros(self.weights.shape[0], dtype=np.float32)
        factors = np.asarray([query_weights[t] for t in query_weights if t in self.vocabulary], dtype=np.float32)
        return np.asarray(self.weights[:, columns] @ factors).ravel()

    def term_idf(self, term: str) -> float:
        """The inverse document frequency of a term; unseen terms count as the rarest."""
        column = self.vocabulary.get(term)
        return float(self.idf[column]) if column is not None else float(self.idf.max(initial=1.0))

    def save(self, folder: Path) -> None:
        sparse.save_npz(folder / "bm25.npz", self.weights)
        np.save(folder / "idf.npy", self.idf)
        (folder / "vocabulary.json").write_text(json.dumps(list(self.vocabulary)), encoding="utf-8")

    @classmethod
    def open(cls, folder: Path) -> BM25Index:
        terms = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        weights = sparse.load_npz(folder / "bm25.npz").tocsc()
        return cls({term: i for i, term in enumerate(terms)}, weights, np.load(folder / "idf.npy"))
