"""Edit the schema modules in place so that they state what upstream states.

Edits are made on the source text at the places `ast` locates, one declaration or field at a time, so
everything a person wrote around them stays: comments (a changed field keeps its trailing comment),
grouping, the `# <name>.proto` headings, the order of the modules. A new field goes after the field
with the next lower number; a new message or enum goes at the end of the group under the heading of
its `.proto` file, or, for a file no heading names, at the end of `new_module` under a new heading.
Last, each touched module's import from `declare` is rewritten to the names it uses.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from forensics.images.schema import declare
from forensics.images.schema.declare import Enum, Field, Msg
from forensics.images.schema.sync import spell
from forensics.images.schema.sync.compare import Change, Decl, Declared, Difference, Kind
from forensics.images.schema.sync.upstream import Upstream

_PROTO = re.compile(rb"^\s*#.*?([\w.-]+\.proto)\b")


@dataclass(slots=True)
class _Edit:
    start: int
    end: int
    text: bytes
    order: int = 0


@dataclass(slots=True)
class _Module:
    """One schema module's source and where its declarations are in it (byte offsets)."""

    path: Path
    source: bytes
    line_starts: list[int] = field(default_factory=list)
    nodes: dict[str, ast.Call] = field(default_factory=dict)
    body: ast.Tuple | None = None
    edits: list[_Edit] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> _Module:
        source = path.read_bytes()
        m = cls(path, source)
        m.line_starts = [0] + [i + 1 for i, c in enumerate(source) if c == 0x0A]
        for node in ast.parse(source, str(path)).body:
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            if isinstance(value, ast.Tuple) and _is_schema(node):
                m.body = value
                for call in value.elts:
                    if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Constant):
                        m.nodes[str(call.args[0].value)] = call
        return m

    def at(self, line: int, col: int) -> int:
        return self.line_starts[line - 1] + col

    def span(self, node: ast.expr) -> tuple[int, int]:
        assert node.end_lineno is not None and node.end_col_offset is not None
        return self.at(node.lineno, node.col_offset), self.at(node.end_lineno, node.end_col_offset)

    def line_end(self, offset: int) -> int:
        """The offset just past the newline of the line holding `offset`."""
        nl = self.source.find(b"\n", offset)
        return len(self.source) if nl == -1 else nl + 1

    def replace(self, node: ast.expr, text: str) -> None:
        start, end = self.span(node)
        self.edits.append(_Edit(start, end, text.encode()))

    def delete(self, node: ast.expr) -> None:
        """The node's whole lines when it stands alone on them (with its comma and comment), else
        the node and the comma after it."""
        start, end = self.span(node)
        line_start = self.line_starts[node.lineno - 1]
        tail_end = self.line_end(end)
        tail = self.source[end:tail_end].strip()
        if not self.source[line_start:start].strip() and (not tail or tail.startswith((b",", b"#"))):
            self.edits.append(_Edit(line_start, tail_end, b""))
            return
        if self.source[end:end + 1] == b",":
            end += 1
        self.edits.append(_Edit(start, end, b""))

    def insert_after(self, node: ast.expr, text: str, order: int = 0) -> None:
        """`text` as new lines after the line where `node` ends, indented as `node` is."""
        _, end = self.span(node)
        at = self.line_end(end)
        self.edits.append(_Edit(at, at, _indented(text, node.col_offset).encode(), order))

    def insert_before(self, node: ast.expr, text: str) -> None:
        pad = " " * node.col_offset
        start = self.line_starts[node.lineno - 1]
        self.edits.append(_Edit(start, start, f"{pad}{text},\n".encode()))

    def headings(self) -> dict[str, int]:
        """`.proto` name -> line number of the comment heading its group inside SCHEMA."""
        if self.body is None:
            return {}
        out: dict[str, int] = {}
        assert self.body.end_lineno is not None
        for line in range(self.body.lineno, self.body.end_lineno + 1):
            start = self.line_starts[line - 1]
            text = self.source[start:self.line_end(start)]
            found = _PROTO.match(text)
            if found:
                out.setdefault(found.group(1).decode(), line)
                out.update((extra.decode(), line) for extra in re.findall(rb"([\w.-]+\.proto)", text))
        return out

    def applied(self) -> bytes:
        out, pos = [], 0
        for e in sorted(self.edits, key=lambda e: (e.start, e.order)):
            if e.start < pos:
                raise ValueError(f"{self.path}: overlapping edits at byte {e.start}")
            out += [self.source[pos:e.start], e.text]
            pos = e.end
        out.append(self.source[pos:])
        return b"".join(out)


def _is_schema(node: ast.stmt) -> bool:
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.target.id == "SCHEMA"
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SCHEMA"
                                                for t in node.targets)


def _list_arg(call: ast.Call, index: int) -> ast.List | None:
    arg = call.args[index] if len(call.args) > index else None
    return arg if isinstance(arg, ast.List) else None


def _number(call: ast.expr) -> int | None:
    if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Constant):
        value = call.args[0].value
        return value if isinstance(value, int) else None
    return None


def _named(items: ast.List, name: str) -> ast.Call | None:
    for call in items.elts:
        if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Constant):
            if call.args[0].value == name:
                return call
    return None


def plan(mine: list[Declared], upstream: Upstream, diffs: Iterable[Difference],
         new_module: Path) -> dict[Path, bytes]:
    """The new text of every module the differences touch (nothing is written)."""
    modules: dict[Path, _Module] = {}
    where = {d.decl.name: d.module for d in mine}

    def module(path: Path) -> _Module:
        if path not in modules:
            modules[path] = _Module.read(path)
        return modules[path]

    added: dict[str, list[Decl]] = defaultdict(list)
    for d in diffs:
        if d.parent is None and d.change is Change.ADDED:
            assert isinstance(d.theirs, Msg | Enum)
            added[upstream.proto_of.get(d.theirs.name, "")].append(d.theirs)
            continue
        name = d.parent or d.name
        m = module(where[name])
        node = m.nodes[name]
        if d.parent is None:
            if d.change is Change.REMOVED:
                m.delete(node)
            else:
                assert isinstance(d.theirs, Msg | Enum)
                m.replace(node, spell.decl(d.theirs, node.col_offset))
        elif d.kind is Kind.FIELD:
            _field(m, node, d)
        else:
            _nested_enum(m, node, d)
    paths = sorted({d.module for d in mine} | {new_module})
    for proto, decls in added.items():
        _add(module, paths, proto, decls, new_module)
    out = {}
    for path, m in modules.items():
        out[path] = _fix_imports(m.applied(), path)
    return out


def _field(m: _Module, message: ast.Call, d: Difference) -> None:
    fields = _list_arg(message, 1)
    assert fields is not None, f"{m.path}: {d.parent}: fields are not a list literal"
    calls = [c for c in fields.elts if _number(c) is not None]
    if d.change is Change.ADDED:
        assert isinstance(d.theirs, Field)
        text = spell.field(d.theirs) + ","
        lower = [c for c in calls if (_number(c) or 0) < d.theirs.number]
        if lower:
            m.insert_after(max(lower, key=lambda c: _number(c) or 0), text, d.theirs.number)
        elif calls:
            m.insert_before(calls[0], text[:-1])
        else:
            pad = " " * message.col_offset
            m.replace(fields, f"[\n{pad}    {text}\n{pad}]")
        return
    assert isinstance(d.ours, Field)
    node = next(c for c in calls if _number(c) == d.ours.number)
    if d.change is Change.REMOVED:
        m.delete(node)
    else:
        assert isinstance(d.theirs, Field)
        m.replace(node, spell.field(d.theirs))


def _nested_enum(m: _Module, message: ast.Call, d: Difference) -> None:
    enums = _list_arg(message, 2)
    if d.change is Change.ADDED:
        assert isinstance(d.theirs, Enum)
        if enums is not None and enums.elts:
            last = enums.elts[-1]
            m.insert_after(last, spell.enum(d.theirs, last.col_offset) + ",")
        else:
            fields = _list_arg(message, 1)
            assert fields is not None
            pad = " " * message.col_offset
            text = f", [\n{pad}    {spell.enum(d.theirs, message.col_offset + 4)},\n{pad}]"
            _, end = m.span(fields)
            if enums is not None:   # an empty list literal: replace it with the filled one
                m.replace(enums, text[2:])
            else:
                m.edits.append(_Edit(end, end, text.encode()))
        return
    assert enums is not None and isinstance(d.ours, Enum)
    node = _named(enums, d.ours.name)
    assert node is not None
    if d.change is Change.REMOVED:
        m.delete(node)
    else:
        assert isinstance(d.theirs, Enum)
        m.replace(node, spell.enum(d.theirs, node.col_offset))


def _add(module: Callable[[Path], _Module], paths: list[Path], proto: str, decls: list[Decl],
         new_module: Path) -> None:
    """New declarations at the end of the group headed by `# <proto>`, or at the end of new_module."""
    text = "\n".join(spell.decl(d, 4) + "," for d in decls)
    for path in paths:
        m = module(path)
        line = m.headings().get(proto) if proto else None
        if line is None or m.body is None:
            continue
        nexts = [n for n in m.headings().values() if n > line]
        stop = min(nexts) if nexts else 1 << 30
        group = [n for n in m.body.elts if line < n.lineno < stop]
        if group:
            m.insert_after(group[-1], text)
        else:
            start = m.line_end(m.line_starts[line - 1])
            m.edits.append(_Edit(start, start, _indented(text, 4).encode()))
        return
    m = module(new_module)
    assert m.body is not None and m.body.end_lineno is not None
    heading = f"# {proto}" if proto else "# (no .proto file named)"
    closing = m.line_starts[m.body.end_lineno - 1]   # the line holding SCHEMA's closing parenthesis
    m.edits.append(_Edit(closing, closing, _indented(heading + "\n" + text, 4).encode(), 1 << 20))


def _indented(text: str, indent: int) -> str:
    pad = " " * indent
    lines = text.split("\n")
    out, depth = [], 0
    for line in lines:
        # Only the first line of each declaration needs the pad: spell indents continuation lines.
        out.append((pad + line if depth == 0 else line) + "\n")
        depth += line.count("(") + line.count("[") - line.count(")") - line.count("]")
    return "".join(out)


_EXPORTS = {name for name in vars(declare) if name[:1].isupper() and not name.startswith("_")} - {"SCALARS"}


def _sort_key(name: str) -> tuple[int, str]:
    """isort's order by type, as ruff applies it: CONSTANTS, then Classes, then functions."""
    if len(name) > 1 and name.isupper():
        return 0, name
    return (1, name) if name[:1].isupper() else (2, name)


def _fix_imports(source: bytes, path: Path) -> bytes:
    tree = ast.parse(source, str(path))
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & _EXPORTS
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "forensics.images.schema.declare":
            names = sorted(used | {a.name for a in node.names if a.name not in _EXPORTS}, key=_sort_key)
            text = ("from forensics.images.schema.declare import (\n"
                    + "".join(f"    {n},\n" for n in names) + ")")
            starts = [0] + [i + 1 for i, c in enumerate(source) if c == 0x0A]
            assert node.end_lineno is not None and node.end_col_offset is not None
            start = starts[node.lineno - 1] + node.col_offset
            end = starts[node.end_lineno - 1] + node.end_col_offset
            return source[:start] + text.encode() + source[end:]
    return source
