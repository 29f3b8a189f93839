"""The package reads as the data flow: no import cycles, and no stage importing a later one.

Every import counts, at the top of a module, inside a function or under TYPE_CHECKING: each is a
dependency a reader has to follow. The index sits below ingest: ingest writes documents into the index
through the index's entry point, and the index never asks ingest for anything.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import assistant

PACKAGE = Path(assistant.__file__).parent

# Lower layers first; a module may import its own layer (no cycles) and the layers below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("assistant.errors", "assistant.limits", "assistant.settings", "assistant.types"),
    ("assistant.index",),
    ("assistant.ingest",),
    ("assistant.sources",),  # fetches into the corpus folder, which ingest reads; it names ingest's sources file
    ("assistant.retrieval",),
    ("assistant.answer",),
    ("assistant.evaluation",),
    ("assistant.pipeline",),
    ("assistant.serve",),
    ("assistant.cli", "assistant"),
)
LEAF = "assistant.testing"  # fakes for tests: imports what it fakes, and nothing in the library imports it


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The assistant modules a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return {name for name in found if name == "assistant" or name.startswith("assistant.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    # "from assistant.index import embed" names a module; "from assistant.index.embed import X" names X in one
    return {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}


def _layer(module: str) -> int:
    best = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer of tests/test_layout.py"
    return best[0]


def test_no_module_imports_a_later_stage() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if module != LEAF
        for target in targets
        if target == LEAF or _layer(target) > _layer(module)
    ]
    assert upward == []


def test_there_are_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [module, target] if target in path else [module, target])
            elif target not in state:
                visit(target, [*path, module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert cycles == []


def test_the_layers_name_every_module() -> None:
    for module in _graph():
        if module != LEAF:
            _layer(module)  # fails with the module's name when it is in no layer


def test_the_readme_layout_map_names_every_module() -> None:
    """README.md's "How the code is laid out" names each module under its package, so a newcomer finds it."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("## How the code is laid out")
    block = readme[start : readme.index("\n```\n", readme.index("```", start) + 3)]
    named: set[str] = set()
    package = ""
    for line in block.splitlines():
        heading = re.match(r"  (\w+)/ ", line)
        if heading or re.match(r"  \S", line):
            package = heading.group(1) + "/" if heading else ""
        named |= {package + name for name in re.findall(r"\b(\w+\.py)\b", line)}
    modules = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"}
    assert sorted(modules - named) == []
