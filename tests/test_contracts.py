"""docs/contracts.md is the project's own statement of its contracts: it names every setting, and nothing
in the repository points to design notes that are not in it."""

from __future__ import annotations

import re
import tomllib

from assistant.settings import describe_settings

from .conftest import ROOT

CONTRACTS = ROOT / "docs" / "contracts.md"


def test_every_setting_is_documented_with_its_default() -> None:
    text = CONTRACTS.read_text(encoding="utf-8")
    for variable, default, _ in describe_settings():
        assert re.search(rf"^\| `{variable}` \| ({re.escape(default)}|`{re.escape(default)}`) \|", text, re.M), variable


def test_the_repository_points_to_its_own_docs_only() -> None:
    files = [ROOT / "README.md", *ROOT.glob("eval/*.md"), *ROOT.glob("bench/*.md"), *ROOT.glob("docs/*.md")]
    files += [*ROOT.glob("assistant/**/*.py"), *ROOT.glob("tests/*.py")]
    cited = [path.relative_to(ROOT) for path in files if "DESIGN" + ".md" in path.read_text(encoding="utf-8")]
    assert cited == [], "cite docs/contracts.md: those design notes are not part of the repository"


def test_the_licence_is_declared_and_the_notice_names_what_ships_under_other_terms() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    assert all((ROOT / name).is_file() for name in project["license-files"])
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License\n")
    notice = (ROOT / "NOTICE").read_text(encoding="utf-8")
    bundled = [path.relative_to(ROOT).as_posix() for path in sorted((ROOT / "corpus").rglob("*")) if path.is_file()]
    for named in ["all-MiniLM-L6-v2", "assistant/answer/reader/", "SQuAD", "CC BY-SA 4.0", *bundled]:
        assert named in notice, f"NOTICE does not name {named}"
