"""The floors run one way: cli -> analyses -> model -> images / locate, every import pointing down.

Every module of the package is parsed with `ast` (nothing is imported, so a lazy import inside a
function counts as much as one at the top) and each `forensics.*` import is checked against the floor
of both ends:
- a floor imports only from floors below it (skipping floors is fine: the CLI may open a source);
- the model holds dataclasses and pure builders: it imports neither locate nor any analysis;
- a renderer imports no analysis, and only the CLI imports a renderer (a renderer never analyses, an
  analysis never prints); analyses on one floor may build on one another;
- images and locate are two separate floors, neither importing the other;
- the vocabulary everyone shares (errors, records, meta) sits underneath all of them.
Imports under `if TYPE_CHECKING:` are not arrows: a dataclass may name the type of a handle it holds
(the model's Source, AddressSpace) without importing that floor when the program runs.
A subpackage no floor names fails the test until it is placed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "forensics"

ANALYSES = frozenset({"memory", "symbols", "diff", "findings", "doctor", "hunt", "report"})
# Analyses that compose the loader and the tables, above them: the report and the fleet hunt.
COMPOSING = frozenset({"report", "hunt"})
FLOORS: dict[str, int] = {
    "errors": 0, "__init__": 0, "records": 0,   # the package root holds only __version__
    "openfile": 1,   # opening evidence safely: shared by images and locate, which never import each other
    "meta": 1,
    "images": 2, "locate": 2,
    "model": 3,
    **dict.fromkeys(ANALYSES - COMPOSING, 4),
    "render": 4,   # knows records and the model, nothing above: any table, laid out generically
    "loader": 5,   # open_checkpoint: composes locate -> images -> model -> memory layout
    "tables": 5,   # analysis results as declared tables
    "report": 6,   # the analysis that assembles the others' tables into one report model
    "hunt": 6,     # one question over many checkpoints: opens each with the loader, answers with the tables
    "cli": 7,
    "__main__": 8,
}

# Imports that break the rules today, each named so that a new one fails and a removed one is noticed.
# Empty since the records layer (issue 12); kept so that a breach has a named place to wait in.
KNOWN: frozenset[tuple[str, str]] = frozenset()


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> Iterator[str]:
    """Every forensics module or package module `name` (in file `path`) imports at run time, relative
    imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_bytes(), str(path))
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block)
                 for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "forensics")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "forensics":   # `from forensics import errors` names a module; `__version__` not
                yield from (f"forensics.{a.name}" if _exists(f"forensics.{a.name}") else target
                            for a in node.names)
            elif target.split(".")[0] == "forensics":
                yield target


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _violation(importer: str, imported: str) -> str | None:
    a, b = _floor(importer), _floor(imported)
    if a == b:
        return None
    if a not in FLOORS or b not in FLOORS:
        return f"forensics.{a if a not in FLOORS else b} is on no floor: add it to FLOORS in {__file__}"
    if a == "model" and (b == "locate" or b in ANALYSES):
        return "the model imports neither locate nor an analysis"
    if a == "render" and b in ANALYSES:
        return "a renderer lays results out; it never runs an analysis"
    if b == "render" and a not in ("cli", "__main__"):
        return "only the CLI hands results to a renderer"
    if a in ANALYSES and b in ANALYSES and FLOORS[a] == FLOORS[b]:
        return None   # analyses build on each other (findings read memory, diff compares it)
    if FLOORS[b] >= FLOORS[a]:
        return f"{a} (floor {FLOORS[a]}) imports upward or sideways from {b} (floor {FLOORS[b]})"
    return None


def _edges() -> list[tuple[str, str, str]]:
    """(importer module, imported subpackage, why it is wrong) for every breach, once per pair."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        for imported in _imports(path, importer):
            why = _violation(importer, imported)
            if why is not None:
                found.setdefault((importer, f"forensics.{_floor(imported)}"), why)
    return [(a, b, why) for (a, b), why in sorted(found.items())]


def test_imports_run_one_way() -> None:
    new = [f"{a} imports {b}: {why}" for a, b, why in _edges() if (a, b) not in KNOWN]
    assert new == [], "\n".join(new)


def test_known_breaches_are_still_there() -> None:
    """A breach that was fixed must leave KNOWN too, so the list only ever shrinks."""
    still = {(a, b) for a, b, _ in _edges()}
    assert sorted(KNOWN - still) == []


def test_the_checker_sees_each_kind_of_breach() -> None:
    assert _violation("forensics.model.checkpoint", "forensics.memory.space") is not None
    assert _violation("forensics.model.checkpoint", "forensics.locate.source") is not None
    assert _violation("forensics.render.json", "forensics.findings.rules") is not None
    assert _violation("forensics.findings.rules", "forensics.render.json") is not None
    assert _violation("forensics.images.decode", "forensics.model") is not None
    assert _violation("forensics.locate.views", "forensics.images.decode") is not None
    assert _violation("forensics.images.decode", "forensics.locate.views") is not None
    assert _violation("forensics.errors", "forensics.images") is not None
    assert _violation("forensics.newthing.x", "forensics.model") is not None
    assert _violation("forensics.cli.ls", "forensics.locate.source") is None
    assert _violation("forensics.findings.rules", "forensics.memory.space") is None
    assert _violation("forensics.model.build", "forensics.images.decode") is None
    assert _violation("forensics.render.terminal", "forensics.model.checkpoint") is None
    assert _violation("forensics.render.text", "forensics.tables.memory") is not None
    assert _violation("forensics.locate.source", "forensics.meta") is None
    assert _violation("forensics.meta", "forensics.locate.source") is not None
    assert _violation("forensics.loader", "forensics.memory.space") is None
    assert _violation("forensics.tables.inspect", "forensics.render.text") is not None
    assert _violation("forensics.report.assemble", "forensics.tables.inspect") is None
    assert _violation("forensics.memory.grep", "forensics.report.assemble") is not None


def test_type_only_imports_are_not_arrows(tmp_path: Path) -> None:
    module = tmp_path / "checkpoint.py"
    module.write_text("from typing import TYPE_CHECKING\nimport typing\nfrom forensics.meta import M\n"
                      "if TYPE_CHECKING:\n    from forensics.memory.space import AddressSpace\n"
                      "if typing.TYPE_CHECKING:\n    import forensics.locate.source\n"
                      "def f():\n    from forensics.diff import compare\n")
    assert sorted(_imports(module, "forensics.model.checkpoint")) == ["forensics.diff", "forensics.meta"]
