"""When two URLs or two texts are the same article: URL canonicalisation and MinHash over word shingles.

The threshold and the shingle size were measured on a constructed set of copies and distinct
articles (bench/dedup.py; the figures are in README.md, "Following sources").
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np

SHINGLE_WORDS = 3
PERMUTATIONS = 128
NEAR_DUPLICATE = 0.55  # estimated Jaccard similarity of 3-word shingles at or above which a text is a copy

# Query parameters that track a click rather than name a page.
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_ga|ref|ref_src|cmpid|ocid|at_\w+)$")
_WORD = re.compile(r"\w+")
_NAME = re.compile(r"\b(?:[A-Z][\w'-]*|\d[\d.,]*\d|\d)")  # a capitalised word or a number
# Hashes (a * x + b) mod p with x, a, b below p = 2**31 - 1: the product stays below 2**62 in uint64, and
# the modulus, far below the product's range, mixes (a larger p barely wraps, and every "permutation"
# then keeps nearly the same order: similarities measured 0.39 for texts of Jaccard 0.80).
_PRIME = np.uint64((1 << 31) - 1)
_generator = np.random.default_rng(20250701)  # fixed: signatures stored by one sync are compared by the next
_A = _generator.integers(1, (1 << 31) - 1, PERMUTATIONS, dtype=np.uint64)
_B = _generator.integers(0, (1 << 31) - 1, PERMUTATIONS, dtype=np.uint64)


def canonical_url(url: str) -> str:
    """One key for every address of the same page: scheme, 'www.', default port, fragment, tracking
    parameters, parameter order and a trailing slash do not count."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    query = sorted((key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True)
                   if not _TRACKING.match(key.lower()))  # fmt: skip
    path = parts.path.rstrip("/") or ""
    return f"//{host}{port}{path}" + (f"?{urlencode(query)}" if query else "")


def signature(text: str) -> list[int]:
    """The text's MinHash signature over its lower-cased 3-word shingles."""
    words = _WORD.findall(text.lower())
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(max(1, len(words) - SHINGLE_WORDS + 1))}
    hashed = np.fromiter(
        (int.from_bytes(hashlib.blake2b(s.encode(), digest_size=4).digest(), "little") for s in shingles),
        dtype=np.uint64,
        count=len(shingles),
    )
    permuted = (_A[:, None] * (hashed[None, :] % _PRIME) + _B[:, None]) % _PRIME
    return [int(value) for value in permuted.min(axis=1)]


def similarity(first: list[int], second: list[int]) -> float:
    """The estimated Jaccard similarity of two texts from their signatures."""
    return float(np.mean(np.asarray(first) == np.asarray(second)))


def copies_of(candidate: list[int], stored: dict[str, list[int]]) -> list[str]:
    """The stored documents the candidate is a near-duplicate of by its signature, the most similar first."""
    if not stored:
        return []
    names = list(stored)
    scores = (np.asarray([stored[name] for name in names]) == np.asarray(candidate)[None, :]).mean(axis=1)
    return [names[i] for i in np.argsort(-scores, kind="stable") if scores[i] >= NEAR_DUPLICATE]


def tells_apart(first: str, second: str) -> bool:
    """Whether two texts alike enough for copies are still two articles: each names a person, place or number
    that the other does not (two releases from one template: the Donetsk treaty and the Lugansk one). A copy
    adds names on one side only (a credit line, boilerplate) or loses them on one side only (a cut, edits),
    so every copy bench/dedup.py makes is still found."""
    names, other = set(_NAME.findall(first)), set(_NAME.findall(second))
    return bool(names - other) and bool(other - names)
