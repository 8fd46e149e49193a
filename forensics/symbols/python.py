"""Python stacks from a checkpoint: every thread's CPython frames (function, file, line) and their locals.

The way py-spy finds them in a live process, but read from the checkpoint's memory: the `_PyRuntime`
symbol of the interpreter binary (or libpython) gives the runtime state; its interpreter list, each
interpreter's thread states, each thread state's current frame and the `previous` chain of
_PyInterpreterFrame give the frames; each frame's code object gives the function, file and (from its
location table and the frame's instruction pointer) the line, exactly as sys._current_frames() computes
it. Offsets come from the runtime itself (3.13's _Py_DebugOffsets) or from `pylayout` (3.11, 3.12).

Memory comes from the dumped pages; pages CRIU did not dump because they were clean file pages (the
interpreter's static code objects and strings in .data, type names in .rodata) come from the binary
found for the mapping, which is the binary that ran (build-id checked by the Symbolizer). Without that
binary nothing is read: the process is reported with "binary not found, give --rootfs".
"""

from __future__ import annotations

import posixpath
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from forensics.memory.space import AddressSpace, MemoryGap, space_of
from forensics.model.checkpoint import Checkpoint
from forensics.model.process import Process
from forensics.model.secrets import is_secret
from forensics.symbols.elf import PARSE_ERRORS, ElfError
from forensics.symbols.mapping import Module, Symbolizer
from forensics.symbols.pylayout import (
    CO_FAST_CELL,
    CO_FAST_FREE,
    CO_FAST_HIDDEN,
    FRAME_OWNED_BY_CSTACK,
    STATIC_LAYOUTS,
    LayoutError,
    PyLayout,
    from_debug_offsets,
    version_of_hex,
)
from forensics.symbols.pylayout import DEBUG_SIZE_313 as DEBUG_SIZE

# A mapped file that is a CPython interpreter: the executable (python3.13) or the shared runtime
# (libpython3.13.so.1.0); the debug variants (python3.13d) too.
PYTHON_FILE = re.compile(r"^(lib)?python3\.(\d+)[a-z]*(\.so.*)?$")
SUPPORTED = ((3, 11), (3, 12), (3, 13))
MAX_THREADS = 4096
MAX_FRAMES = 2048
MAX_INTERPRETERS = 64
MAX_STR = 200  # characters of a str local shown
MAX_BYTES = 200
MAX_DIGITS = 64  # 30-bit digits of an int shown in full (about 570 decimal digits)
# Types whose values a local shows, by the symbol of their type object; containers show type and length.
SIMPLE_TYPES = {"PyLong_Type": "int", "PyUnicode_Type": "str", "PyBytes_Type": "bytes", "PyFloat_Type": "float",
                "PyBool_Type": "bool"}
CONTAINER_TYPES = {"PyList_Type": "list", "PyTuple_Type": "tuple", "PyDict_Type": "dict", "PySet_Type": "set",
                   "PyFrozenSet_Type": "frozenset"}
OTHER_SYMBOLS = ("_Py_NoneStruct", "_Py_TrueStruct", "_Py_FalseStruct", "PyCode_Type", "PyCell_Type")


class PyStatus(StrEnum):
    """How far the reader got for one process."""

    OK = "ok"  # every thread state read
    PARTIAL = "partial"  # some thread or frame could not be read (each says why)
    NO_BINARY = "binary not found"  # the interpreter's file is missing: nothing read
    UNSUPPORTED = "unsupported"  # a CPython this reader has no layout for
    UNREADABLE = "unreadable"  # the runtime state is not where or what it should be


@dataclass(frozen=True, slots=True)
class PyLocal:
    """One local variable of a frame: `value` is repr() for int, str, bytes, float, bool and None, the type
    and length for list/tuple/dict/set/frozenset ("list, 3 items"), else the type name in <>. `secret`
    when the name or value looks like a credential (renderers mask it unless --reveal); `truncated` when
    a long value was cut."""

    name: str
    type: str
    value: str
    length: int | None = None
    secret: bool = False
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class PyFrame:
    """One Python frame: `function` (co_name), `qualname`, `file` (co_filename), `line` (None when the
    instruction has no line), `locals` (empty unless asked for), `note` when something was unreadable."""

    function: str
    qualname: str
    file: str
    line: int | None
    locals: tuple[PyLocal, ...] = ()
    note: str | None = None


@dataclass(slots=True)
class PyThread:
    """One thread state: the OS thread (`tid`, as the container saw it: native_thread_id) and its frames,
    innermost first. `note` says why the walk stopped early."""

    tid: int
    pthread_id: int
    frames: list[PyFrame] = field(default_factory=list)
    note: str | None = None
    address: int = 0  # the PyThreadState


@dataclass(slots=True)
class PyProcess:
    """The Python view of one process: `version` (3, 13, 5) as the binary says, `binary` (the mapped
    interpreter path), `threads`, and `status`/`note` when it is not the full answer."""

    pid: int
    binary: str
    status: PyStatus
    version: tuple[int, int, int] | None = None
    threads: list[PyThread] = field(default_factory=list)
    note: str | None = None
    layout_verified: bool = True
    gil: GilState | None = None

    @property
    def partial(self) -> bool:
        return self.status is not PyStatus.OK


@dataclass(frozen=True, slots=True)
class GilState:
    """The GIL at the checkpoint: `locked` (some thread was running Python code, `holder_tid` is that
    thread), or free (every thread waited or ran C code with the GIL released; `holder_tid` held it last).
    `holder_tid` is None when the holder is no thread state of the list."""

    locked: bool
    holder_tid: int | None


class Unreadable(Exception):
    """A pointer or object that cannot be followed; the message says which and why."""


class ProcessMemory:
    """A process's memory for object walking: the dumped pages, and for clean file pages the bytes of the
    mapped file itself (the Symbolizer found it and checked its build-id)."""

    def __init__(self, space: AddressSpace, symbols: Symbolizer) -> None:
        self.space = space
        self.symbols = symbols
        # Reads are cut at page boundaries of the process's own page size (its auxv's AT_PAGESZ).
        self.page = space.store.page_size

    def read(self, address: int, size: int) -> bytes:
        if address <= 0 or size < 0 or address + size >= 1 << 64:
            raise Unreadable(f"bad address 0x{address:x}")
        out = bytearray()
        while size > 0:
            n = min(size, self.page - address % self.page)
            out += self._page_piece(address, n)
            address += n
            size -= n
        return bytes(out)

    def _page_piece(self, address: int, n: int) -> bytes:
        try:
            return self.space.read(address, n)
        except MemoryGap as gap:
            vma = self.space.vma_at(address)
            mod = self.symbols.module_at(address) if vma is not None and vma.kind == "file" else None
            if mod is not None and mod.elf is not None and mod.bias is not None:
                try:
                    data = mod.elf.read(address - mod.bias, n)
                except ElfError:
                    data = b""
                if len(data) == n:
                    return data
            raise Unreadable(str(gap)) from None

    def u64(self, address: int) -> int:
        return struct.unpack("<Q", self.read(address, 8))[0]

    def i64(self, address: int) -> int:
        return struct.unpack("<q", self.read(address, 8))[0]

    def i32(self, address: int) -> int:
        return struct.unpack("<i", self.read(address, 4))[0]

    def u8(self, address: int) -> int:
        return self.read(address, 1)[0]


# ------------------------------------------------------------------ location table (3.11+)

def _varint(data: bytes, i: int) -> tuple[int, int]:
    """An unsigned varint of the location table: 6 bits per byte, low bits first, bit 6 continues."""
    value = shift = 0
    while True:
        if i >= len(data):
            raise IndexError("location table ends inside a number")
        b = data[i]
        i += 1
        value |= (b & 0x3F) << shift
        shift += 6
        if not b & 0x40:
            return value, i


def _svarint(data: bytes, i: int) -> tuple[int, int]:
    value, i = _varint(data, i)
    return (-(value >> 1) if value & 1 else value >> 1), i


def line_for_offset(linetable: bytes, firstlineno: int, offset: int) -> int | None:
    """The source line of the code unit at byte `offset` of the bytecode, from a 3.11+ co_linetable
    (InternalDocs/locations.md): entries of 1-8 code units, each with a line delta; code 15 means the
    instruction has no line (None), as PyCode_Addr2Line answers."""
    line = firstlineno
    address = 0
    i = 0
    while i < len(linetable):
        first = linetable[i]
        i += 1
        if not first & 0x80:
            raise ValueError("location table entry without its start bit")
        code = (first >> 3) & 0x0F
        end = address + ((first & 7) + 1) * 2
        delta = 0
        if code == 15:  # no location
            pass
        elif code == 14:  # long form: line delta, end line, column, end column
            delta, i = _svarint(linetable, i)
            for _ in range(3):
                _, i = _varint(linetable, i)
        elif code == 13:  # no column
            delta, i = _svarint(linetable, i)
        elif code >= 10:  # one-line forms: delta 0-2, two column bytes
            delta = code - 10
            i += 2
        else:  # short forms: same line, one column byte
            i += 1
        line += delta
        if address <= offset < end:
            return None if code == 15 else line
        address = end
    return None


# ------------------------------------------------------------------ objects

class Objects:
    """Reads CPython objects of one process with one layout."""

    def __init__(self, mem: ProcessMemory, layout: PyLayout, known: dict[str, int]) -> None:
        self.mem = mem
        self.layout = layout
        self.type_names = {known[s]: n for s, n in {**SIMPLE_TYPES, **CONTAINER_TYPES}.items() if s in known}
        self.none = known.get("_Py_NoneStruct")
        self.true = known.get("_Py_TrueStruct")
        self.false = known.get("_Py_FalseStruct")
        self.code_type = known.get("PyCode_Type")
        self.cell_type = known.get("PyCell_Type")
        self.str_type = known.get("PyUnicode_Type")
        self.tuple_type = known.get("PyTuple_Type")
        self.bytes_type = known.get("PyBytes_Type")

    def type_of(self, obj: int) -> int:
        return self.mem.u64(obj + self.layout.ob_type)

    def type_name(self, type_obj: int) -> str:
        """tp_name (a C string), read page by page so a name near the end of a mapping still reads."""
        address = self.mem.u64(type_obj + self.layout.type_name)
        raw = b""
        while b"\0" not in raw and len(raw) < 256:
            piece = self.mem.read(address, self.mem.page - address % self.mem.page)[:256]
            raw += piece
            address += len(piece)
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def string(self, obj: int, limit: int = 4096) -> tuple[str, bool]:
        """A str object's text (up to `limit` characters) and whether it was cut."""
        lay = self.layout
        if self.str_type is not None and self.type_of(obj) != self.str_type:
            raise Unreadable(f"0x{obj:x} is not a str")
        length = self.mem.i64(obj + lay.str_length)
        state = struct.unpack("<I", self.mem.read(obj + lay.str_state, 4))[0]
        kind, compact, ascii_ = (state >> 2) & 7, (state >> 5) & 1, (state >> 6) & 1
        if length < 0 or kind not in (1, 2, 4) or not compact:
            raise Unreadable(f"str at 0x{obj:x} is not a compact string")
        data = obj + (lay.str_ascii_size if ascii_ else lay.str_compact_size)
        n = min(length, limit)
        raw = self.mem.read(data, n * kind)
        codec = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind]
        return raw.decode(codec, "replace"), n < length

    def tuple_items(self, obj: int, limit: int = 65536) -> list[int]:
        if self.tuple_type is not None and self.type_of(obj) != self.tuple_type:
            raise Unreadable(f"0x{obj:x} is not a tuple")
        n = self.mem.i64(obj + self.layout.var_size)
        if not 0 <= n <= limit:
            raise Unreadable(f"tuple at 0x{obj:x} has {n} items")
        raw = self.mem.read(obj + self.layout.tuple_items, 8 * n)
        return list(struct.unpack(f"<{n}Q", raw))

    def bytes_value(self, obj: int, limit: int = 1 << 20) -> tuple[bytes, bool]:
        if self.bytes_type is not None and self.type_of(obj) != self.bytes_type:
            raise Unreadable(f"0x{obj:x} is not bytes")
        n = self.mem.i64(obj + self.layout.bytes_size)
        if n < 0:
            raise Unreadable(f"bytes at 0x{obj:x} has length {n}")
        return self.mem.read(obj + self.layout.bytes_data, min(n, limit)), n > limit

    def int_value(self, obj: int) -> int | None:
        """The value of an int, None when it has more than MAX_DIGITS digits."""
        lay = self.layout
        if lay.long_tagged:
            tag = self.mem.u64(obj + lay.long_tag)
            ndigits, sign = tag >> 3, 1 - (tag & 3)
        else:
            size = self.mem.i64(obj + lay.long_tag)
            ndigits, sign = abs(size), (size > 0) - (size < 0)
        if ndigits > MAX_DIGITS:
            return None
        digits = struct.unpack(f"<{ndigits}I", self.mem.read(obj + lay.long_digits, 4 * ndigits))
        value = 0
        for d in reversed(digits):
            value = (value << 30) | (d & 0x3FFFFFFF)
        return sign * value

    def describe(self, name: str, obj: int) -> PyLocal:
        """A local as a reader sees it (see PyLocal)."""
        if obj == self.none:
            return PyLocal(name, "NoneType", "None")
        if obj in (self.true, self.false):
            return PyLocal(name, "bool", "True" if obj == self.true else "False")
        type_obj = self.type_of(obj)
        kind = self.type_names.get(type_obj)
        lay = self.layout
        if kind == "int":
            value = self.int_value(obj)
            if value is None:
                return PyLocal(name, "int", "<int too large to show>", truncated=True)
            return PyLocal(name, "int", repr(value))
        if kind == "float":
            return PyLocal(name, "float", repr(struct.unpack("<d", self.mem.read(obj + lay.float_value, 8))[0]))
        if kind == "str":
            text, cut = self.string(obj, MAX_STR)
            return PyLocal(name, "str", repr(text), secret=_secret(name, text), truncated=cut)
        if kind == "bytes":
            data, cut = self.bytes_value(obj, MAX_BYTES)
            return PyLocal(name, "bytes", repr(data), secret=_secret(name, data.decode("latin-1")),
                           truncated=cut)
        if kind in ("list", "tuple"):
            n = self.mem.i64(obj + lay.var_size)
            return PyLocal(name, kind, f"{kind}, {n} items", length=n)
        if kind == "dict":
            n = self.mem.i64(obj + lay.dict_used)
            return PyLocal(name, kind, f"{kind}, {n} items", length=n)
        if kind in ("set", "frozenset"):
            n = self.mem.i64(obj + lay.set_used)
            return PyLocal(name, kind, f"{kind}, {n} items", length=n)
        type_name = self.type_name(type_obj)
        return PyLocal(name, type_name.rsplit(".", 1)[-1], f"<{type_name}>")


def _secret(name: str, value: str) -> bool:
    return is_secret(name, value)


# ------------------------------------------------------------------ frames and threads

@dataclass(frozen=True, slots=True)
class CodeInfo:
    function: str
    qualname: str
    file: str
    firstlineno: int
    linetable: bytes
    names: tuple[str, ...]
    kinds: bytes
    code_start: int
    firsttraceable: int


class Walker:
    """Walks one process's interpreters, thread states and frames."""

    def __init__(self, objects: Objects, with_locals: bool) -> None:
        self.obj = objects
        self.mem = objects.mem
        self.lay = objects.layout
        self.with_locals = with_locals
        self._codes: dict[int, CodeInfo] = {}

    def code(self, addr: int) -> CodeInfo:
        found = self._codes.get(addr)
        if found is not None:
            return found
        o, lay = self.obj, self.lay
        if o.code_type is not None and o.type_of(addr) != o.code_type:
            raise Unreadable(f"0x{addr:x} is not a code object")
        names = tuple(o.string(p)[0] for p in o.tuple_items(self.mem.u64(addr + lay.code_localsplusnames)))
        kinds, _ = o.bytes_value(self.mem.u64(addr + lay.code_localspluskinds))
        linetable, _ = o.bytes_value(self.mem.u64(addr + lay.code_linetable))
        info = CodeInfo(o.string(self.mem.u64(addr + lay.code_name))[0],
                        o.string(self.mem.u64(addr + lay.code_qualname))[0],
                        o.string(self.mem.u64(addr + lay.code_filename))[0],
                        self.mem.i32(addr + lay.code_firstlineno), linetable, names, kinds,
                        addr + lay.code_adaptive, self.mem.i32(addr + lay.code_firsttraceable))
        self._codes[addr] = info
        return info

    def frames(self, frame: int) -> tuple[list[PyFrame], str | None]:
        out: list[PyFrame] = []
        seen: set[int] = set()
        lay = self.lay
        while frame:
            if frame in seen or len(out) >= MAX_FRAMES:
                return out, f"frame chain loops or exceeds {MAX_FRAMES} frames at 0x{frame:x}"
            seen.add(frame)
            try:
                previous = self.mem.u64(frame + lay.frame_previous)
                owner = self.mem.u8(frame + lay.frame_owner)
                code_addr = self.mem.u64(frame + lay.frame_code)
            except Unreadable as e:
                return out, f"frame at 0x{frame:x}: {e}"
            if lay.version >= (3, 12) and owner == FRAME_OWNED_BY_CSTACK:
                frame = previous
                continue
            try:
                code = self.code(code_addr)
                instr = self.mem.u64(frame + lay.frame_instr_ptr)
            except (Unreadable, IndexError, ValueError, UnicodeDecodeError) as e:
                out.append(PyFrame("?", "?", "?", None, note=f"frame at 0x{frame:x}: {e}"))
                frame = previous
                continue
            units = (instr - code.code_start) // 2
            if owner != 1 and units < code.firsttraceable:  # not yet started (as _PyFrame_IsIncomplete)
                frame = previous
                continue
            try:
                line = line_for_offset(code.linetable, code.firstlineno, units * 2) if units >= 0 else code.firstlineno
                note = None
            except (IndexError, ValueError) as e:
                line, note = None, f"location table: {e}"
            local_values: tuple[PyLocal, ...] = ()
            if self.with_locals:
                local_values, bad = self.locals(frame, code)
                note = "; ".join(filter(None, [note, bad])) or None
            out.append(PyFrame(code.function, code.qualname, code.file, line, local_values, note))
            frame = previous
        return out, None

    def locals(self, frame: int, code: CodeInfo) -> tuple[tuple[PyLocal, ...], str | None]:
        """The frame's fast locals, cells and free variables that are bound (as frame.f_locals lists
        them), without the hidden ones of inlined comprehensions."""
        out = []
        problems = []
        n = len(code.names)
        try:
            slots = struct.unpack(f"<{n}Q", self.mem.read(frame + self.lay.frame_localsplus, 8 * n))
        except Unreadable as e:
            return (), f"locals: {e}"
        for i, (name, value) in enumerate(zip(code.names, slots)):
            kind = code.kinds[i] if i < len(code.kinds) else 0
            if kind & CO_FAST_HIDDEN or not value:
                continue
            try:
                if kind & (CO_FAST_CELL | CO_FAST_FREE) and self.obj.type_of(value) == self.obj.cell_type:
                    value = self.mem.u64(value + self.lay.cell_ref)
                    if not value:
                        continue
                out.append(self.obj.describe(name, value))
            except (Unreadable, struct.error, ValueError) as e:
                problems.append(f"{name}: {e}")
        return tuple(out), ("locals unreadable: " + "; ".join(problems)) if problems else None

    def threads(self, runtime: int) -> tuple[list[PyThread], list[str]]:
        lay = self.lay
        problems: list[str] = []
        threads: list[PyThread] = []
        interp = self.mem.u64(runtime + lay.runtime_interpreters_head)
        interps = 0
        while interp and interps < MAX_INTERPRETERS:
            interps += 1
            tstate = self.mem.u64(interp + lay.interp_threads_head)
            count = 0
            while tstate and count < MAX_THREADS:
                count += 1
                if self.mem.u64(tstate + lay.tstate_interp) != interp:
                    raise Unreadable(f"thread state 0x{tstate:x} does not point back to its interpreter "
                                     f"0x{interp:x}: the CPython {lay.version[0]}.{lay.version[1]} layout does "
                                     "not match this binary")
                thread = PyThread(self.mem.u64(tstate + lay.tstate_native_thread_id),
                                  self.mem.u64(tstate + lay.tstate_thread_id), address=tstate)
                try:
                    frame = self._current_frame(tstate)
                    thread.frames, thread.note = self.frames(frame) if frame else ([], None)
                except Unreadable as e:
                    thread.note = f"current frame: {e}"
                if thread.note:
                    problems.append(f"thread {thread.tid}: {thread.note}")
                threads.append(thread)
                tstate = self.mem.u64(tstate + lay.tstate_next)
            interp = self.mem.u64(interp + lay.interp_next)
        if not threads:
            # A running interpreter has at least its main thread's state: none means the offsets do not fit
            # this binary (or the runtime was not, or no longer, initialized). Never an empty answer.
            raise Unreadable(f"no thread state found through _PyRuntime 0x{runtime:x}: the CPython "
                             f"{lay.version[0]}.{lay.version[1]} layout does not match this binary, or the "
                             "interpreter was not running")
        return threads, problems

    def gil(self, runtime: int, threads: list[PyThread]) -> GilState | None:
        """Who held the GIL (in 3.13, the newest interpreter's: the only one in most processes), when the
        layout declares where it is."""
        lay = self.lay
        if lay.gil_locked is None or lay.gil_holder is None:
            return None
        base = self.mem.u64(runtime + lay.runtime_interpreters_head) if lay.gil_in_interpreter else runtime
        locked = self.mem.i32(base + lay.gil_locked)
        holder = self.mem.u64(base + lay.gil_holder)
        if locked not in (0, 1):
            raise Unreadable(f"GIL state at 0x{base + lay.gil_locked:x} is {locked}, not 0 or 1")
        by_address = {t.address: t.tid for t in threads}
        return GilState(bool(locked), by_address.get(holder))

    def _current_frame(self, tstate: int) -> int:
        lay = self.lay
        if lay.tstate_cframe is None:
            return self.mem.u64(tstate + lay.tstate_current_frame)
        cframe = self.mem.u64(tstate + lay.tstate_cframe)
        return self.mem.u64(cframe + (lay.cframe_current_frame or 0)) if cframe else 0


# ------------------------------------------------------------------ processes

def interpreter_path(proc: Process) -> str | None:
    """The mapped CPython interpreter file of a process (libpython when it maps one, else the executable),
    None when it maps none."""
    paths = [v.path for v in proc.vmas if v.path and v.path.startswith("/")]
    found = [p for p in dict.fromkeys(paths) if PYTHON_FILE.match(posixpath.basename(p.removesuffix(" (deleted)")))]
    found.sort(key=lambda p: not posixpath.basename(p).startswith("lib"))
    return found[0] if found else None


def _module(symbols: Symbolizer, path: str) -> Module | None:
    for mod in symbols.modules():
        if mod.path == path:
            return mod
    return None


def _runtime_vaddr(mod: Module) -> int | None:
    """Where the binary keeps _PyRuntime: its symbol, or (3.13+, symbols stripped) the .PyRuntime section
    CPython places it in for out-of-process tools."""
    assert mod.elf is not None
    sym = mod.elf.symbol("_PyRuntime")
    if sym is not None:
        return sym.value
    try:
        section = mod.elf.elf.get_section_by_name(".PyRuntime")
    except PARSE_ERRORS:
        return None
    return int(section["sh_addr"]) if section is not None and section["sh_addr"] else None


def _layout(mem: ProcessMemory, mod: Module, runtime: int) -> tuple[PyLayout, tuple[int, int, int]]:
    """The layout for the interpreter that ran: 3.13's from its _Py_DebugOffsets, older ones by the
    version the binary states (Py_Version, exported since 3.11)."""
    assert mod.elf is not None and mod.bias is not None
    head = mem.read(runtime, 8)
    if head == b"xdebugpy":
        return from_debug_offsets(mem.read(runtime, DEBUG_SIZE))
    sym = mod.elf.symbol("Py_Version")
    if sym is None:
        raise LayoutError("no Py_Version symbol: a CPython older than 3.11")
    version = version_of_hex(struct.unpack("<I", mem.read(sym.value + mod.bias, 4))[0])
    layout = STATIC_LAYOUTS.get(version[:2])
    if layout is None:
        raise LayoutError(f"CPython {version[0]}.{version[1]}.{version[2]}")
    return layout, version


def python_process(proc: Process, space: AddressSpace | None, symbols: Symbolizer,
                   with_locals: bool = False) -> PyProcess | None:
    """The Python stacks of one process, None when it runs no CPython."""
    path = interpreter_path(proc)
    if path is None:
        return None
    mod = _module(symbols, path)
    if mod is None or mod.elf is None or mod.bias is None:
        why = mod.note if mod is not None and mod.note else f"file not found: {path}"
        return PyProcess(proc.pid, path, PyStatus.NO_BINARY,
                         note=f"binary not found, give --rootfs ({why})")
    expected = symbols.build_ids.get(path)
    if expected and mod.build_id != expected.lower().removeprefix("0x"):
        # Offsets and static objects of another build would be read as this one's: refuse, never guess.
        return PyProcess(proc.pid, path, PyStatus.NO_BINARY,
                         note=f"binary not found, give --rootfs: {mod.file} has build-id {mod.build_id}, the "
                              f"process ran {expected}")
    if space is None:
        return PyProcess(proc.pid, path, PyStatus.UNREADABLE, note="no memory pages for this process")
    runtime_vaddr = _runtime_vaddr(mod)
    if runtime_vaddr is None:
        return PyProcess(proc.pid, path, PyStatus.UNREADABLE,
                         note=f"{path} has neither a _PyRuntime symbol nor a .PyRuntime section")
    mem = ProcessMemory(space, symbols)
    runtime = runtime_vaddr + mod.bias
    try:
        layout, version = _layout(mem, mod, runtime)
    except LayoutError as e:
        return PyProcess(proc.pid, path, PyStatus.UNSUPPORTED,
                         note=f"{e}; this reader knows CPython 3.11 to 3.13")
    except Unreadable as e:
        return PyProcess(proc.pid, path, PyStatus.UNREADABLE, note=f"_PyRuntime: {e}")
    known = {}
    for name in (*SIMPLE_TYPES, *CONTAINER_TYPES, *OTHER_SYMBOLS):
        s = mod.elf.symbol(name)
        if s is not None:
            known[name] = s.value + mod.bias
    walker = Walker(Objects(mem, layout, known), with_locals)
    result = PyProcess(proc.pid, path, PyStatus.OK, version, layout_verified=layout.verified)
    try:
        result.threads, problems = walker.threads(runtime)
    except Unreadable as e:
        result.status, result.note = PyStatus.UNREADABLE, str(e)
        return result
    try:
        result.gil = walker.gil(runtime, result.threads)
    except Unreadable as e:
        problems.append(f"GIL: {e}")
    notes = []
    if problems:
        result.status = PyStatus.PARTIAL
        notes.append(f"{len(problems)} thread(s) read only in part")
    if not layout.verified:
        notes.append(f"the CPython {version[0]}.{version[1]} layout is declared from its headers, not yet "
                     "checked against a real process")
    result.note = "; ".join(notes) or None
    return result


def python_stacks(ck: Checkpoint, resolver: Callable[[str], Path | None],
                  with_locals: bool = False) -> list[PyProcess]:
    """The Python view of every process of a checkpoint that runs CPython; `resolver` finds the files the
    processes mapped (forensics.symbols.resolve.BinaryResolver)."""
    from forensics.symbols.stops import symbolizer

    out: list[PyProcess] = []
    for proc in ck.processes:
        if interpreter_path(proc) is None:
            continue
        found = python_process(proc, space_of(ck, proc.pid), symbolizer(proc, resolver), with_locals)
        if found is not None:
            out.append(found)
    return out


def iter_frames(processes: list[PyProcess]) -> Iterator[tuple[PyProcess, PyThread, PyFrame]]:
    """Every (process, thread, frame), innermost frame first per thread."""
    for p in processes:
        for t in p.threads:
            for f in t.frames:
                yield p, t, f
