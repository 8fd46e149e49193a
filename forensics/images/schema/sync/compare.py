"""Every difference between our schema declarations and an upstream (CRIU's) statement of them.

Ours are read from the module files themselves (each file's `SCHEMA`), not from the imported
package, so a rewritten copy of the files can be compared again without restarting Python.
"""

from __future__ import annotations

import ast
import runpy
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from forensics.images.schema.declare import Enum, Field, Msg
from forensics.images.schema.sync import spell
from forensics.images.schema.sync.upstream import Upstream

K = TypeVar("K", int, str)

SCHEMA_DIR = Path(__file__).resolve().parent.parent

Decl = Msg | Enum


@dataclass(frozen=True, slots=True)
class Declared:
    """One declaration of ours and the module file that states it."""

    decl: Decl
    module: Path


def declaration_modules(schema_dir: Path = SCHEMA_DIR) -> list[Path]:
    """The files of `schema_dir` that assign a top-level `SCHEMA` (whatever else lives beside them)."""
    out = []
    for path in sorted(schema_dir.glob("*.py")):
        tree = ast.parse(path.read_bytes(), str(path))
        if any(_assigns_schema(node) for node in tree.body):
            out.append(path)
    return out


def _assigns_schema(node: ast.stmt) -> bool:
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.target.id == "SCHEMA"
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == "SCHEMA" for t in node.targets)
    return False


def ours(schema_dir: Path = SCHEMA_DIR) -> list[Declared]:
    out = []
    for path in declaration_modules(schema_dir):
        schema = runpy.run_path(str(path))["SCHEMA"]
        out += [Declared(d, path) for d in schema]
    return out


class Change(StrEnum):
    ADDED = "added"      # upstream has it, we do not
    REMOVED = "removed"  # we have it, upstream does not
    CHANGED = "changed"  # both have it, stated differently


class Kind(StrEnum):
    MESSAGE = "message"
    ENUM = "enum"
    FIELD = "field"
    NESTED_ENUM = "nested enum"


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference; `ours`/`theirs` are the declarations on each side (None where absent) and
    `parent` the message a field or nested enum belongs to."""

    change: Change
    kind: Kind
    parent: str | None
    ours: Decl | Field | None
    theirs: Decl | Field | None

    @property
    def name(self) -> str:
        item = self.ours if self.ours is not None else self.theirs
        assert item is not None
        return f"{self.parent}.{item.name}" if self.parent else item.name

    def text(self) -> str:
        sign = {Change.ADDED: "+", Change.REMOVED: "-", Change.CHANGED: "~"}[self.change]
        head = f"{sign} {self.kind} {self.name}"
        if isinstance(self.ours, Field) or isinstance(self.theirs, Field):
            head += f" ({(self.ours or self.theirs).number})"  # type: ignore[union-attr]
        if self.change is Change.CHANGED:
            return f"{head}\n    ours:     {_spell(self.ours)}\n    upstream: {_spell(self.theirs)}"
        return f"{head}: {_spell(self.ours if self.ours is not None else self.theirs)}"


def _spell(item: Decl | Field | None) -> str:
    if isinstance(item, Field):
        return spell.field(item)
    if isinstance(item, Msg | Enum):
        return spell.decl(item, 0).replace("\n", "\n    ")
    return "-"


def differences(mine: list[Declared], upstream: Upstream) -> list[Difference]:
    """In upstream's order, then ours-only declarations in our order."""
    have = {d.decl.name: d.decl for d in mine}
    want = {d.name: d for d in upstream.decls}
    out: list[Difference] = []
    for name, theirs in want.items():
        kind = Kind.MESSAGE if isinstance(theirs, Msg) else Kind.ENUM
        ours_decl = have.get(name)
        if ours_decl is None:
            out.append(Difference(Change.ADDED, kind, None, None, theirs))
        elif isinstance(ours_decl, Msg) and isinstance(theirs, Msg):
            out += _message(ours_decl, theirs)
        elif ours_decl != theirs:
            out.append(Difference(Change.CHANGED, kind, None, ours_decl, theirs))
    for name, ours_decl in have.items():
        if name not in want:
            kind = Kind.MESSAGE if isinstance(ours_decl, Msg) else Kind.ENUM
            out.append(Difference(Change.REMOVED, kind, None, ours_decl, None))
    return out


def _message(ours: Msg, theirs: Msg) -> list[Difference]:
    return [*_keyed({f.number: f for f in ours.fields}, {f.number: f for f in theirs.fields}, Kind.FIELD,
                    ours.name),
            *_keyed({e.name: e for e in ours.enums}, {e.name: e for e in theirs.enums}, Kind.NESTED_ENUM,
                    ours.name)]


def _keyed(have: Mapping[K, Field | Enum], want: Mapping[K, Field | Enum], kind: Kind,
           owner: str) -> list[Difference]:
    """Members of one message matched by key: upstream's added or changed in its order, then ours-only."""
    out: list[Difference] = []
    for key, theirs in want.items():
        if key not in have:
            out.append(Difference(Change.ADDED, kind, owner, None, theirs))
        elif have[key] != theirs:
            out.append(Difference(Change.CHANGED, kind, owner, have[key], theirs))
    out += [Difference(Change.REMOVED, kind, owner, ours, None) for key, ours in have.items() if key not in want]
    return out
