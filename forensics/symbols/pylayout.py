"""Where CPython keeps what a stack reader needs, per version: byte offsets into its structs (x86_64 and
aarch64 alike: LP64, no free-threading build).

From 3.13 the runtime carries its own table, `_Py_DebugOffsets`, at the start of `_PyRuntime` (cookie
"xdebugpy", then PY_VERSION_HEX), so a reader takes the offsets from the process itself; only the ORDER of
that table's fields is declared here (Include/internal/pycore_runtime.h of 3.13). For 3.11 and 3.12 the
offsets are facts of the struct definitions, declared here as data:

- 3.11: measured with offsetof() against Debian bookworm's libpython3.11-dev 3.11.2 headers
  (Include/internal/pycore_runtime.h, pycore_interp.h, pycore_frame.h, cpython/pystate.h, cpython/code.h,
  cpython/unicodeobject.h) and checked against a real checkpoint of Debian's python3.11.
- 3.12: read from CPython 3.12's headers, and consistent with the offsets published by two eBPF
  profilers (Meta's strobelight, Granulate's gProfiler); no Debian release ships 3.12, so no lab
  checkpoint checks them (`verified` is False and the reader says so). A wrong offset cannot produce a wrong stack silently: the
  reader checks that a thread state points back to its interpreter and that every code object is a code
  object, and reports "layout does not match" instead.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

# The cookie at the start of _Py_DebugOffsets (3.13+).
DEBUG_COOKIE = b"xdebugpy"

# _PyInterpreterFrame.owner values (Include/internal/pycore_frame.h, 3.12+): frames the C code pushes to
# mark an entry into the interpreter are not Python frames.
FRAME_OWNED_BY_CSTACK = 3

# co_localspluskinds bits (Include/internal/pycore_code.h).
CO_FAST_HIDDEN = 0x10
CO_FAST_LOCAL = 0x20
CO_FAST_CELL = 0x40
CO_FAST_FREE = 0x80


@dataclass(frozen=True, slots=True)
class PyLayout:
    """Byte offsets of the fields a stack and locals reader follows, for one CPython minor version.

    `cframe` is PyThreadState.cframe (3.11, 3.12: the frame is behind a _PyCFrame at `cframe_current_frame`);
    None when PyThreadState holds `current_frame` directly (3.13). `instr_ptr` is prev_instr (3.11, 3.12)
    or instr_ptr (3.13): both point at the code unit whose line sys._current_frames() reports."""

    version: tuple[int, int]
    verified: bool
    runtime_interpreters_head: int
    interp_next: int
    interp_threads_head: int
    tstate_next: int
    tstate_interp: int
    tstate_current_frame: int
    tstate_cframe: int | None
    cframe_current_frame: int | None
    tstate_native_thread_id: int
    tstate_thread_id: int
    frame_code: int
    frame_previous: int
    frame_instr_ptr: int
    frame_localsplus: int
    frame_owner: int
    code_filename: int
    code_name: int
    code_qualname: int
    code_linetable: int
    code_firstlineno: int
    code_localsplusnames: int
    code_localspluskinds: int
    code_firsttraceable: int
    code_adaptive: int
    ob_type: int = 8
    type_name: int = 24
    var_size: int = 16
    tuple_items: int = 24
    list_items: int = 24
    dict_used: int = 16
    set_used: int = 24
    float_value: int = 16
    long_tag: int = 16  # 3.11: ob_size (signed digit count); 3.12+: lv_tag
    long_digits: int = 24
    long_tagged: bool = True  # 3.12+ _PyLongValue.lv_tag; False: 3.11 sign in ob_size
    bytes_size: int = 16
    bytes_data: int = 32
    str_length: int = 16
    str_state: int = 32
    str_ascii_size: int = 40  # sizeof(PyASCIIObject): where compact ASCII data starts
    str_compact_size: int = 56  # sizeof(PyCompactUnicodeObject): where other compact data starts
    cell_ref: int = 16
    # The GIL: its `locked` int and `last_holder` thread state pointer, offsets into _PyRuntime (3.11: one
    # GIL for the runtime) or into each PyInterpreterState (3.13: per interpreter); None when not declared.
    gil_locked: int | None = None
    gil_holder: int | None = None
    gil_in_interpreter: bool = False


PY311 = PyLayout(
    version=(3, 11), verified=True,
    runtime_interpreters_head=40, interp_next=0, interp_threads_head=16,
    tstate_next=8, tstate_interp=16, tstate_current_frame=8, tstate_cframe=56, cframe_current_frame=8,
    tstate_native_thread_id=160, tstate_thread_id=152,
    frame_code=32, frame_previous=48, frame_instr_ptr=56, frame_localsplus=72, frame_owner=69,
    code_filename=112, code_name=120, code_qualname=128, code_linetable=136, code_firstlineno=72,
    code_localsplusnames=96, code_localspluskinds=104, code_firsttraceable=168, code_adaptive=184,
    long_tagged=False, str_ascii_size=48, str_compact_size=72,
    gil_locked=376, gil_holder=368,  # _PyRuntimeState.ceval.gil.locked / .last_holder
)

PY312 = PyLayout(
    version=(3, 12), verified=False,
    runtime_interpreters_head=40, interp_next=0, interp_threads_head=72,
    tstate_next=8, tstate_interp=16, tstate_current_frame=0, tstate_cframe=56, cframe_current_frame=0,
    tstate_native_thread_id=144, tstate_thread_id=136,
    frame_code=0, frame_previous=8, frame_instr_ptr=56, frame_localsplus=72, frame_owner=70,
    code_filename=112, code_name=120, code_qualname=128, code_linetable=136, code_firstlineno=68,
    code_localsplusnames=96, code_localspluskinds=104, code_firsttraceable=176, code_adaptive=192,
)

STATIC_LAYOUTS = {(3, 11): PY311, (3, 12): PY312}

# _Py_DebugOffsets of 3.13, as consecutive uint64 fields: the index of each field this reader uses.
# (cookie[8] is field 0, version 1, free_threaded 2; each nested struct starts with its own `size`.)
DEBUG_FIELDS_313 = {
    "free_threaded": 2,
    "runtime_interpreters_head": 5,
    "interp_next": 8, "interp_threads_head": 9, "gil_locked": 17, "gil_holder": 18,
    "tstate_next": 21, "tstate_interp": 22, "tstate_current_frame": 23, "tstate_thread_id": 24,
    "tstate_native_thread_id": 25,
    "frame_previous": 29, "frame_code": 30, "frame_instr_ptr": 31, "frame_localsplus": 32, "frame_owner": 33,
    "code_filename": 35, "code_name": 36, "code_qualname": 37, "code_linetable": 38, "code_firstlineno": 39,
    "code_localsplusnames": 41, "code_localspluskinds": 42, "code_adaptive": 43,
    "ob_type": 45,
    "type_name": 47,
    "tuple_items": 51, "var_size": 52,
    "list_items": 54,
    "float_value": 60,
    "long_tag": 62, "long_digits": 63,
    "bytes_size": 65, "bytes_data": 66,
    "str_state": 68, "str_length": 69, "str_ascii_size": 70,
}
DEBUG_SIZE_313 = 8 * 72  # enough for every field above
# Not in 3.13's _Py_DebugOffsets: PyCodeObject._co_firsttraceable (int, after _co_monitoring and
# co_executors); the compact non-ASCII data offset follows PyASCIIObject (utf8_length, utf8).
CODE_FIRSTTRACEABLE_313 = 184


class LayoutError(ValueError):
    """The runtime's own table cannot be read as the version it claims."""


def version_of_hex(hexversion: int) -> tuple[int, int, int]:
    """(major, minor, micro) of a PY_VERSION_HEX."""
    return hexversion >> 24 & 0xFF, hexversion >> 16 & 0xFF, hexversion >> 8 & 0xFF


def from_debug_offsets(raw: bytes) -> tuple[PyLayout, tuple[int, int, int]]:
    """The layout a 3.13 runtime declares about itself, from the first DEBUG_SIZE_313 bytes of
    `_PyRuntime`; (layout, full version)."""
    if len(raw) < DEBUG_SIZE_313 or raw[:8] != DEBUG_COOKIE:
        raise LayoutError("no _Py_DebugOffsets cookie at _PyRuntime")
    words = struct.unpack_from(f"<{DEBUG_SIZE_313 // 8}Q", raw)
    version = version_of_hex(words[1])
    if version[:2] != (3, 13):
        raise LayoutError(f"_Py_DebugOffsets of CPython {version[0]}.{version[1]}: only 3.13's is known here")
    if words[DEBUG_FIELDS_313["free_threaded"]]:
        raise LayoutError("a free-threaded CPython build (its objects and frames differ)")
    values = {name: words[i] for name, i in DEBUG_FIELDS_313.items() if name != "free_threaded"}
    if any(v > 1 << 20 for v in values.values()):
        raise LayoutError("_Py_DebugOffsets holds implausible offsets")
    base = replace(PY312, version=(3, 13), verified=True, tstate_cframe=None, cframe_current_frame=None,
                   gil_in_interpreter=True,
                   code_firsttraceable=CODE_FIRSTTRACEABLE_313,
                   str_compact_size=values["str_ascii_size"] + 16)
    return replace(base, **values), version
