"""What `assistant eval` writes and prints: results files, a Markdown report, a plot, deltas, gates."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from assistant.errors import UsageError
from assistant.evaluation.metrics import BY_NAME, METRICS, EvalRun
from assistant.types import Answer


def parse_minimums(items: list[str]) -> dict[str, float]:
    """--min METRIC=V options as a mapping; a metric that is not declared, or where lower is better, is refused."""
    return _parse_bounds(items, "--min")


def parse_maximums(items: list[str]) -> dict[str, float]:
    """--max METRIC=V options as a mapping; a metric that is not declared, or where higher is better, is refused."""
    return _parse_bounds(items, "--max")


def _parse_bounds(items: list[str], option: str) -> dict[str, float]:
    floor = option == "--min"  # a minimum gates a metric where higher is better; a maximum, one where lower is
    bounds: dict[str, float] = {}
    for item in items:
        name, sep, value = (part.strip() for part in item.partition("="))
        try:
            bounds[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            example = "fact_recall=0.9" if floor else "misattribution_rate=0.0"
            raise UsageError(f"{option} takes METRIC=VALUE, like {example}; got '{item}'.")
        if name not in BY_NAME:
            known = ", ".join(metric.name for metric in METRICS if metric.higher_is_better == floor)
            raise UsageError(f"{option} names an unknown metric '{name}'; use one of: {known}.")
        if BY_NAME[name].higher_is_better != floor:
            better, bound = ("lower", "a minimum") if floor else ("higher", "a maximum")
            raise UsageError(f"{option} {name}: for {name} {better} is better, so {bound} cannot gate it.")
    return bounds


def gate_failures(
    metrics: dict[str, float], minimums: dict[str, float], maximums: dict[str, float] | None = None
) -> list[str]:
    """The --min and --max gates a run's metrics fail, each as 'metric = value < minimum' (or '> maximum')."""
    failures = []
    for bounds, sign in ((minimums, "<"), (maximums or {}, ">")):
        for name, bound in bounds.items():
            value = metrics.get(name)
            if value is None:
                failures.append(f"{name} was not measured (no question of the set applies) {sign} {bound}")
            elif not (value >= bound if sign == "<" else value <= bound):
                failures.append(f"{name} = {value:.3f} {sign} {bound}")
    return failures


def load_compared(path: Path) -> dict[str, Any]:
    """The results.json of an earlier run."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"Cannot read the run to compare with, '{path}' ({exc}); pass a results.json of an earlier eval."
        ) from None
    if not isinstance(record, dict) or "metrics" not in record:
        raise UsageError(f"'{path}' is not a results.json written by `assistant eval`.")
    return record


def write_results(run: EvalRun, out: Path, compared: dict[str, Any] | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    metrics = run.aggregate()
    summary = {"metrics": metrics, "counts": run.counts(), **run.info}
    if compared:
        summary["compared_with"] = compared.get("questions_file", "")
    (out / "results.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    with (out / "results.jsonl").open("w", encoding="utf-8") as lines:
        for result in run.results:
            lines.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    (out / "report.md").write_text(_markdown(run, metrics, compared), encoding="utf-8")
    _plot(metrics, compared["metrics"] if compared else None, out / "metrics.png")


def compare_table(metrics: dict[str, float], compared: dict[str, Any] | None, counts: dict[str, int]) -> str:
    """The metrics as an aligned text table, with the compared run and the change when given."""
    before = compared["metrics"] if compared else {}
    lines = [f"{'metric':<24}{'value':>10}" + (f"{'before':>10}{'change':>10}" if compared else "")]
    for name, value in metrics.items():
        row = f"{name:<24}{_fmt(value):>10}"
        if compared:
            old = before.get(name)
            row += f"{_fmt(old):>10}{_delta(name, value, old):>10}"
        lines.append(row)
    lines.append(", ".join(f"{count} {label}" for label, count in counts.items()))
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"


def _delta(name: str, value: float, old: float | None) -> str:
    if old is None:
        return "-"
    change = value - old
    metric = BY_NAME.get(name)
    better = change > 0 if metric is None or metric.higher_is_better else change < 0
    mark = "" if abs(change) < 1e-9 else (" +" if better else " -")
    return f"{change:+.3f}{mark}"


def _markdown(run: EvalRun, metrics: dict[str, float], compared: dict[str, Any] | None) -> str:
    info = run.info
    before = compared["metrics"] if compared else {}
    header = "| metric | value |" + (" before | change |" if compared else "")
    rule = "|---|---:|" + ("---:|---:|" if compared else "")
    rows = [
        f"| {name} | {_fmt(value)} |"
        + (f" {_fmt(before.get(name))} | {_delta(name, value, before.get(name))} |" if compared else "")
        for name, value in metrics.items()
    ]
    counts = run.counts()
    parts = [
        f"# Evaluation: {Path(info.get('questions_file', '')).name}",
        "",
        f"Corpus `{info.get('corpus')}` ({info.get('documents')} documents, {info.get('chunks')} chunks); "
        f"retriever `{info.get('retriever')}`, answerer `{info.get('answerer')}`, k = {info.get('k')}, "
        f"citation support checked `{info.get('support_check')}`, speakers `{info.get('attribution_check')}`; "
        f"{info.get('created')}.",
        "",
        f"{counts['questions']} questions ({counts['answerable']} answerable, {counts['unanswerable']} unanswerable); "
        f"{counts['abstained']} abstentions.",
        "",
        header,
        rule,
        *rows,
        "",
        "![metrics](metrics.png)",
        "",
        "## Questions to look at",
        "",
    ]
    parts.extend(
        _misses(run) or ["None: every answerable question was answered with its facts, every other one declined."]
    )
    return "\n".join(parts) + "\n"


def _misses(run: EvalRun) -> list[str]:
    lines = []
    for result in run.results:
        question, answer, metrics = result.question, result.answer, result.metrics
        problem = ""
        if question.answerable and answer.abstained:
            problem = "declined an answerable question"
        elif not question.answerable and not answer.abstained:
            problem = "answered a question the corpus does not answer"
        elif metrics.get("misattributed"):
            problem = "named a speaker its passage does not support"
        elif metrics.get("fact_recall", 1.0) < 1.0 or metrics.get("answer_presence", 1.0) < 1.0:
            problem = "missed facts"
        if problem:
            shown = answer.text if len(answer.text) < 300 else answer.text[:300] + "..."
            lines.append(f"- **{question.id}** ({problem}{_confidence(answer)}): {question.question}  \n  > {shown}")
    return lines


def _confidence(answer: Answer) -> str:
    """How sure the answerer was, by its own measure: the abstention model's, or a chat model's share kept."""
    if answer.confidence is not None:
        return f", confidence {answer.confidence:.2f}"
    if answer.supported_share is not None:
        return f", {answer.supported_share:.0%} of its sentences supported"
    return ""


def _plot(metrics: dict[str, float], before: dict[str, float] | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in metrics if name in BY_NAME and BY_NAME[name].share]
    figure, axes = plt.subplots(figsize=(max(6.0, 0.55 * len(names) + 2), 4.2))
    positions = list(range(len(names)))
    width = 0.4 if before else 0.7
    axes.bar(
        [p - (width / 2 if before else 0) for p in positions],
        [metrics[n] for n in names],
        width,
        label="this run",
        color="#2b6cb0",
    )
    if before:
        axes.bar(
            [p + width / 2 for p in positions],
            [before.get(n, 0.0) for n in names],
            width,
            label="compared run",
            color="#a0aec0",
        )
        axes.legend(loc="lower right")
    axes.set_xticks(positions)
    axes.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("score (0-1)")
    axes.set_title("Answer-quality metrics")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def metric_tables() -> str:
    """The Markdown tables of eval/README.md: every metric as METRICS declares it, a table a group."""
    parts: list[str] = []
    for group in dict.fromkeys(metric.group for metric in METRICS):
        parts += [f"**{group.capitalize()}**", "", "| metric | formula | over | better |", "|---|---|---|---|"]
        for metric in (m for m in METRICS if m.group == group):
            better = "higher" if metric.higher_is_better else "lower"
            parts.append(f"| {metric.name} | {metric.formula} | {metric.over.description} | {better} |")
        parts.append("")
    return "\n".join(parts)
