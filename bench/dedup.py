"""How well near-duplicate detection (assistant/sources/dedup.py) tells copies from distinct articles.

    python bench/dedup.py --corpus path/to/a/folder/of/markdown/articles [--n 400]

From a folder of real articles it builds a labelled set: for n of them, a copy in one of four ways
a republisher makes one (boilerplate added above and below, 5% of words changed, the last fifth cut,
the first paragraph's sentences moved to the end), and as distinct articles, every article against all
others. Recall: copies matched to their original. Precision: of the matches made for copies and for
distinct articles alike, the share that were right. Nothing from the folder is written anywhere.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path

from assistant.sources.dedup import NEAR_DUPLICATE, signature, similarity, tells_apart

BOILERPLATE_TOP = "Republished with permission. Sign up for our morning briefing to get the day's top stories."
BOILERPLATE_END = "This article first appeared on the publisher's website. Follow us for more coverage of the region."


def body(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return text.split("---", 2)[2].strip() if text.startswith("---") else text


def variants(text: str, rng: random.Random) -> list[tuple[str, str]]:
    words = text.split()
    edited = [rng.choice(["said", "the", "and", "new"]) if rng.random() < 0.05 else word for word in words]
    sentences = re.split(r"(?<=[.!?])\s+", text)
    moved = sentences[3:] + sentences[:3]
    return [
        ("boilerplate", f"{BOILERPLATE_TOP}\n\n{text}\n\n{BOILERPLATE_END}"),
        ("5% words changed", " ".join(edited)),
        ("last fifth cut", " ".join(words[: int(len(words) * 0.8)])),
        ("sentences moved", " ".join(moved)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--n", type=int, default=400, help="articles copied")
    parser.add_argument("--min-words", type=int, default=150)
    args = parser.parse_args()
    rng = random.Random(7)
    texts = {p.name: body(p) for p in sorted(args.corpus.glob("*.md"))}
    texts = {name: text for name, text in texts.items() if len(text.split()) >= args.min_words}
    started = time.perf_counter()
    signatures = {name: signature(text) for name, text in texts.items()}
    seconds = time.perf_counter() - started
    # Articles the folder itself holds twice (the same release filed under two names) would make the
    # right match ambiguous: keep one of each such group.
    twins = set()
    for name in sorted(signatures):
        if name not in twins:
            twins.update(o for o in signatures if o > name and similarity(signatures[name], signatures[o]) >= 0.9)
    texts = {name: text for name, text in texts.items() if name not in twins}
    signatures = {name: signatures[name] for name in texts}
    names = list(texts)
    copied = rng.sample(names, min(args.n, len(names)))

    def best_other(text: str, exclude: str | None) -> tuple[str | None, float]:
        """The most similar other article that the sync would take the text for a copy of (among those at
        0.4 or more, the lowest threshold below, those it tells apart by their names are passed over)."""
        sig = signature(text)
        scored = sorted(((similarity(sig, s), o) for o, s in signatures.items() if o != exclude), reverse=True)
        for score, other in scored:
            if score < 0.4 or not tells_apart(text, texts[other]):
                return other, score
        return None, 0.0

    copies = []  # (kind, original, best match, its similarity)
    for index, name in enumerate(copied):
        kind, text = variants(texts[name], rng)[index % 4]
        match, score = best_other(text, None)
        copies.append((kind, name, match, score))
    distinct = [best_other(texts[name], name) for name in names]  # the closest other article of each

    print(
        f"{len(texts)} articles of at least {args.min_words} words ({len(twins)} twins left out); "
        f"{len(copies)} copies; signatures {1000 * seconds / len(texts):.1f} ms an article"
    )
    print("| threshold | recall (copies found) | precision | distinct articles taken for copies |")
    print("|---:|---:|---:|---:|")
    for threshold in (0.4, 0.5, 0.55, 0.6, 0.7, 0.8):
        found = sum(1 for _, name, match, score in copies if score >= threshold and match == name)
        wrong = sum(1 for _, name, match, score in copies if score >= threshold and match != name)
        false = sum(1 for _, score in distinct if score >= threshold)
        precision = found / (found + wrong + false) if found + wrong + false else 1.0
        mark = " (used)" if threshold == NEAR_DUPLICATE else ""
        print(f"| {threshold}{mark} | {found / len(copies):.3f} | {precision:.3f} | {false} of {len(distinct)} |")
    for kind in ("boilerplate", "5% words changed", "last fifth cut", "sentences moved"):
        rows = [(name, match, score) for k, name, match, score in copies if k == kind]
        hit = sum(1 for name, match, score in rows if score >= NEAR_DUPLICATE and match == name)
        print(f"{kind}: {hit}/{len(rows)} found; lowest similarity {min(score for _, _, score in rows):.2f}")
    closest = sorted(distinct, key=lambda item: -item[1])[:5]
    print("closest distinct pairs:", ", ".join(f"{score:.2f}" for _, score in closest))


if __name__ == "__main__":
    main()
