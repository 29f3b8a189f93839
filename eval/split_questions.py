"""Split a dated question set into a fitting part and a held-apart part, by week, alternately.

Questions are grouped by the ISO week (Monday to Sunday) of their question_date, the weeks sorted, and
every other week goes to each part, the first to the fitting part: weights, thresholds and models are
chosen on `<set>-fit.jsonl` and reported on `<set>-held.jsonl` (eval/README.md). Whole weeks go to one
part because a week's questions share its news.

    python eval/split_questions.py questions.jsonl --out /tmp/splits/rtqa-span
    # writes /tmp/splits/rtqa-span-fit.jsonl and /tmp/splits/rtqa-span-held.jsonl

With --alternate, questions go to the parts alternately in file order, within each kind of question (the
id up to its first '-': direct, para, follow, none in eval/questions.jsonl): for sets asked on one day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path


def week_groups(dates: list[dt.date]) -> dict[dt.date, int]:
    """Each date -> the index of its ISO week among the weeks of all the dates, in date order."""
    weeks = sorted({day.isocalendar()[:2] for day in dates})
    return {day: weeks.index(day.isocalendar()[:2]) for day in dates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="path prefix of the two files written")
    parser.add_argument("--alternate", action="store_true", help="alternate by file order within each kind of id")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.alternate:
        seen: dict[str, int] = {}
        groups = []
        for record in records:
            kind = str(record["id"]).split("-", 1)[0]
            groups.append(seen.get(kind, 0))
            seen[kind] = seen.get(kind, 0) + 1
    else:
        dates = [dt.date.fromisoformat(str(r["question_date"]).replace("/", "-")) for r in records]
        weeks = week_groups(dates)
        groups = [weeks[day] for day in dates]
    parts: dict[str, list[str]] = {"fit": [], "held": []}
    for record, group in zip(records, groups, strict=True):
        parts["fit" if group % 2 == 0 else "held"].append(json.dumps(record, ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, lines in parts.items():
        path = args.out.with_name(f"{args.out.name}-{name}.jsonl")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{path}: {len(lines)} questions")


if __name__ == "__main__":
    main()
