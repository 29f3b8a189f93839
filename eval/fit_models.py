"""Fit the extractive answerer's two models (assistant/answer/models.py) on labelled questions.

For every question of the fitting sets, the assistant retrieves its passages as it would to answer
(on the question's question_date), and every candidate sentence is labelled by whether it holds one
of the question's `answers` (normalised as answer presence is: eval/README.md), or, for a question with
`key_facts` instead, one of its facts. Then:

- the sentence model: a conditional logit over a question's candidates, fitted so that the candidates
  holding an answer outscore the others (answerable questions with such a candidate);
- the reader model: a conditional logit over the same candidates from the sentence model's score, the
  trained reader's logit (assistant/answer/reader.py; the sentence model's READ best are read, the
  others count as the least of those) and whether the sentence speaks of the time the question names;
- the abstention model: a logistic regression from the best candidate's score and signals to "the
  question is answerable", fitted on all questions, classes weighted equally.

It writes them as data to assistant/answer/models.json (which models.py loads), with the sets they
were fitted on, the date, and how they did on each fitting set and each `--check` set (the held-apart
halves), and prints those figures. Each set is a question file and its corpus, indexed first
(`assistant ingest --corpus DIR`):

    python eval/fit_models.py --set fit-a.jsonl CORPUS_A --set fit-b.jsonl CORPUS_B \
        [--check held.jsonl CORPUS] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from assistant.answer.extractive import READ
from assistant.answer.models import MODELS_FILE, Logistic
from assistant.answer.periods import fits
from assistant.answer.reader import default_reader
from assistant.answer.sentences import SIGNALS, candidates, names_found
from assistant.evaluation.questions import EvalQuestion, load_questions
from assistant.evaluation.scores import answer_metrics
from assistant.pipeline import Assistant
from assistant.retrieval.query import make_query
from assistant.settings import Settings
from assistant.types import Answer

# Chosen by 5-fold cross-validation on the fitting sets (eval/README.md).
ABSTENTION_INPUTS = ("best", "reader", "similarity", "names_found")
READER_INPUTS = ("sentence", "reader", "period")


@dataclasses.dataclass
class Sample:
    question: EvalQuestion
    rows: list[dict[str, float]]  # one a candidate: its signals
    labels: list[float]  # 1 when the candidate holds an answer
    texts: list[str]


def collect(question_file: Path, corpus: Path) -> list[Sample]:
    """The candidates of every question, labelled."""
    assistant = Assistant(Settings(corpus_dir=corpus))
    snapshot = assistant.search.snapshot
    samples = []
    for question in load_questions(question_file):
        query = make_query(question.question, question.history, question.question_date)
        vector = assistant.search.embed_query(query)
        passages = assistant.search.search(query, assistant.settings.k, None, vector, snapshot)
        found = candidates(query, vector, passages, snapshot)
        labels = [_holds_answer(question, c.text) for c in found]
        logits = default_reader().scores(query.text, [c.text for c in found]) if found else []
        rows = [
            {**c.signals, "_reader": float(logit), "period": float(fits(query.frame, c.text, c.passage.chunk.date))}
            for c, logit in zip(found, logits, strict=True)
        ]
        samples.append(Sample(question, rows, labels, [c.text for c in found]))
        samples[-1].question.extra["_names_found"] = names_found(query, passages)
    return samples


def _holds_answer(question: EvalQuestion, text: str) -> float:
    """1 when a sentence holds one of the question's answers, or (for a question with key facts) one of them."""
    if not question.answerable:
        return 0.0
    scores = answer_metrics(question, Answer(question.question, text, (), False))
    if question.answers:
        return scores.get("answer_presence", 0.0)
    return float(scores.get("fact_recall", 0.0) > 0)


def fit_logistic(
    rows: list[dict[str, float]], labels: list[float], inputs: tuple[str, ...], balanced: bool
) -> Logistic:
    """An L2-regularised logistic regression over standardised inputs."""
    x = np.asarray([[row[name] for name in inputs] for row in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    z = (x - means) / scales
    weight = np.ones_like(y)
    if balanced:
        positives = max(y.sum(), 1.0)
        weight = np.where(y > 0, len(y) / (2 * positives), len(y) / (2 * max(len(y) - positives, 1.0)))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        logits = params[0] + z @ params[1:]
        p = 1 / (1 + np.exp(-np.clip(logits, -50, 50)))
        eps = 1e-12
        value = -np.sum(weight * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))) + 0.5 * np.sum(params[1:] ** 2)
        gradient = np.concatenate([[np.sum(weight * (p - y))], z.T @ (weight * (p - y)) + params[1:]])
        return float(value), gradient

    result = minimize(loss, np.zeros(len(inputs) + 1), jac=True, method="L-BFGS-B")
    params = result.x
    return Logistic(
        round(float(params[0]), 4),
        {name: round(float(w), 4) for name, w in zip(inputs, params[1:], strict=True)},
        {name: round(float(m), 4) for name, m in zip(inputs, means, strict=True)},
        {name: round(float(s), 4) for name, s in zip(inputs, scales, strict=True)},
    )


def fit_listwise(samples: list[Sample], inputs: tuple[str, ...], l2: float = 3.0) -> Logistic:
    """A conditional logit: weights that make a question's answer-holding candidates outscore its others.

    l2 (the weight of the L2 penalty) was chosen by 5-fold cross-validation over the fitting questions."""
    groups = [s for s in samples if s.question.answerable and any(s.labels)]
    rows = [row for s in groups for row in s.rows]
    x = np.asarray([[row[name] for name in inputs] for row in rows], dtype=np.float64)
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    blocks, start = [], 0
    for sample in groups:
        stop = start + len(sample.rows)
        blocks.append(((x[start:stop] - means) / scales, np.asarray(sample.labels) > 0))
        start = stop

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = 0.5 * l2 * float(w @ w), l2 * w
        for z, positive in blocks:
            s = z @ w
            s = s - s.max()
            p_all = np.exp(s) / np.exp(s).sum()
            p_pos = np.exp(s[positive]) / np.exp(s[positive]).sum()
            value -= float(np.log(np.exp(s[positive]).sum()) - np.log(np.exp(s).sum()))
            gradient = gradient + p_all @ z - p_pos @ z[positive]
        return value, gradient

    w = minimize(loss, np.zeros(len(inputs)), jac=True, method="L-BFGS-B").x
    return Logistic(
        0.0,
        {name: round(float(v), 4) for name, v in zip(inputs, w, strict=True)},
        {name: round(float(m), 4) for name, m in zip(inputs, means, strict=True)},
        {name: round(float(v), 4) for name, v in zip(inputs, scales, strict=True)},
    )


def with_reader(samples: list[Sample], sentence_model: Logistic, read: int = READ) -> None:
    """Each candidate's "sentence" score, and its "reader" logit as the answerer sees it: read for the sentence
    model's `read` best, the least of those for the others."""
    for sample in samples:
        scores = [sentence_model.score(row, only=SIGNALS) for row in sample.rows]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[:read]
        floor = min((sample.rows[i]["_reader"] for i in order), default=0.0)
        for i, row in enumerate(sample.rows):
            row["sentence"] = scores[i]
            row["reader"] = row["_reader"] if i in order else floor


def question_inputs(sample: Sample, reader_model: Logistic) -> dict[str, float] | None:
    """What the abstention model sees of a question: its best sentence (of those not about another time)."""
    rows = [row for row in sample.rows if row["period"] >= 0]
    if not rows:
        return None
    scores = [reader_model.score(row) for row in rows]
    best = int(np.argmax(scores))
    return {
        "best": scores[best],
        "reader": rows[best]["reader"],
        "similarity": rows[best]["similarity"],
        "coverage": rows[best]["coverage"],
        "names_found": sample.question.extra["_names_found"],
    }


def report(name: str, samples: list[Sample], model: Logistic, abstention: Logistic) -> dict[str, int]:
    """How a model picks and abstains on a set: the best sentence holding an answer, decisions right."""
    picked = answerable = correct = 0
    for sample in samples:
        if not sample.question.answerable:
            continue
        answerable += 1
        allowed = [i for i, row in enumerate(sample.rows) if row["period"] >= 0]
        if allowed:
            best = max(allowed, key=lambda i: model.score(sample.rows[i]))
            picked += int(sample.labels[best] > 0)
    for sample in samples:
        inputs = question_inputs(sample, model)
        says = inputs is not None and abstention.probability(inputs) >= 0.5
        correct += int(says == sample.question.answerable)
    reachable = sum(1 for s in samples if s.question.answerable and any(s.labels))
    print(
        f"{name}: best sentence holds the answer {picked}/{answerable} (reachable in passages {reachable}); "
        f"abstention decisions right {correct}/{len(samples)}"
    )
    return {
        "questions": len(samples),
        "answerable": answerable,
        "best_sentence_holds_answer": picked,
        "reachable_in_passages": reachable,
        "abstention_right": correct,
    }


def read_share(samples: list[Sample], sentence_model: Logistic, read: int) -> float:
    """Of the answerable questions with an answer-holding candidate, the share with one among the `read` best."""
    held = [s for s in samples if s.question.answerable and any(s.labels)]
    hits = 0
    for sample in held:
        scores = [sentence_model.score(row, only=SIGNALS) for row in sample.rows]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[:read]
        hits += any(sample.labels[i] > 0 for i in order)
    return hits / max(1, len(held))


def named(path: str) -> str:
    """A set's file as the models file records it: inside this project, relative to it; elsewhere (a dataset
    on the machine that fitted), its last two parts, so that no machine's layout is written down."""
    resolved = Path(path).resolve()
    root = Path(__file__).resolve().parent.parent
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else "/".join(resolved.parts[-2:])


def write_models(
    path: Path, models: dict[str, Logistic], sets: dict[str, list[list[str]]], scores: dict
) -> None:
    """The models as data (what models.py loads), with the sets they were fitted on, the date and their scores."""
    data = {
        "about": "The extractive answerer's fitted models (assistant/answer/models.py), written by "
        "eval/fit_models.py; eval/README.md describes the data and the figures.",
        "fitted": dt.date.today().isoformat(),
        "fitting_sets": [{"questions": named(q), "corpus": named(c)} for q, c in sets["fit"]],
        "held_apart_sets": [{"questions": named(q), "corpus": named(c)} for q, c in sets["check"]],
        "scores": scores,
        **{name: dataclasses.asdict(model) for name, model in models.items()},
    }
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", nargs=2, action="append", metavar=("QUESTIONS", "CORPUS"), required=True)
    parser.add_argument("--check", nargs=2, action="append", default=[], metavar=("QUESTIONS", "CORPUS"))
    parser.add_argument("--out", type=Path, default=MODELS_FILE, help="the models file to write (default: %(default)s)")
    args = parser.parse_args()
    fitting = {q: collect(Path(q), Path(c)) for q, c in args.set}
    checks = {q: collect(Path(q), Path(c)) for q, c in args.check}
    pooled = [s for samples in fitting.values() for s in samples]
    sentence_model = fit_listwise(pooled, SIGNALS)
    for read in (4, 8, 12, 16, 24):
        print(f"an answer-holding sentence among the sentence model's {read} best: {read_share(pooled, sentence_model, read):.3f}")
    every = [*pooled, *(s for samples in checks.values() for s in samples)]
    with_reader(every, sentence_model)
    reader_model = fit_listwise(pooled, READER_INPUTS)
    inputs = [(question_inputs(s, reader_model), s.question.answerable) for s in pooled]
    usable = [(i, a) for i, a in inputs if i is not None]
    abstention = fit_logistic([i for i, _ in usable], [float(a) for _, a in usable], ABSTENTION_INPUTS, balanced=True)
    scores = {
        name: report(name, samples, reader_model, abstention)
        for name, samples in {
            **{named(k): v for k, v in fitting.items()},
            **{f"check {named(k)}": v for k, v in checks.items()},
        }.items()
    }
    models = {"sentence_model": sentence_model, "reader_model": reader_model, "abstention_model": abstention}
    write_models(args.out, models, {"fit": args.set, "check": args.check}, scores)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
