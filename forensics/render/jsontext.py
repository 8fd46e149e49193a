"""`json.dumps(obj, indent=N, default=...)`, byte for byte, at close to the speed of the C encoder.

Why: CPython (3.11-3.13) encodes with its C encoder only without `indent`; with it, every value of the
document goes through the pure-Python generator encoder. For `inspect --json` of 201 processes (7 MB of
JSON) that was 0.36 s of a 1.5 s run, more than the decoding (docs/performance.md).

How: most containers in our documents are flat (an fd, a register set, a stack hit: only strings, numbers,
booleans and nulls inside). The C encoder writes a flat container exactly as the indenting encoder would
if its item separator is "," + the newline and indentation of the container's items; only the newline
after the opening bracket and the one before the closing bracket are missing, and those are added here.
Containers that hold containers are walked in Python, one item at a time, with the same rules as the
stdlib's encoder (key conversion, `default`, NaN and infinities, str and int subclasses as their values).
`tests/records/test_jsontext.py` checks the output equals `json.dumps` on every bundled sample's document
and on edge cases.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _stdlib
from json.encoder import encode_basestring_ascii
from typing import Any

# The stdlib's C encoder (None where _json is missing, as json.encoder itself allows).
_c_make_encoder: Any = getattr(_stdlib, "c_make_encoder", None)

_SCALARS = (str, int, float)
_int_repr = int.__repr__
_float_repr = float.__repr__
_INF = float("inf")


def _floatstr(o: float) -> str:
    if o != o:
        return "NaN"
    if o == _INF:
        return "Infinity"
    if o == -_INF:
        return "-Infinity"
    return _float_repr(o)


def _key(key: Any) -> str:
    """A dict key as json.dumps writes it (already encoded, with quotes)."""
    if isinstance(key, str):
        return encode_basestring_ascii(key)
    if isinstance(key, float):
        return encode_basestring_ascii(_floatstr(key))
    if key is True:
        return '"true"'
    if key is False:
        return '"false"'
    if key is None:
        return '"null"'
    if isinstance(key, int):
        return encode_basestring_ascii(_int_repr(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


class _Level:
    """What writing a container's items at one depth needs, made once per depth."""

    __slots__ = ("encode", "sep", "open_obj", "open_arr", "close_obj", "close_arr")

    def __init__(self, indent: str, level: int, default: Callable[[Any], Any]) -> None:
        newline = "\n" + indent * level
        self.sep = "," + newline
        self.open_obj, self.open_arr = "{" + newline, "[" + newline
        self.close_obj = "\n" + indent * (level - 1) + "}"
        self.close_arr = "\n" + indent * (level - 1) + "]"
        self.encode: Callable[[Any], str]
        if _c_make_encoder is not None:
            c = _c_make_encoder(None, default, encode_basestring_ascii, None, ": ", self.sep, False, False, True)
            self.encode = lambda o: "".join(c(o, 0))
        else:  # pragma: no cover
            self.encode = json.JSONEncoder(separators=(self.sep, ": "), default=default,
                                           check_circular=False).encode


class _Writer:
    def __init__(self, indent: str, default: Callable[[Any], Any]) -> None:
        self.indent = indent
        self.default = default
        self.levels: list[_Level] = []  # [level - 1]: the items of a container at depth `level - 1`

    def at(self, level: int) -> _Level:
        while len(self.levels) < level:
            self.levels.append(_Level(self.indent, len(self.levels) + 1, self.default))
        return self.levels[level - 1]

    def value(self, o: Any, level: int) -> str:
        t = type(o)
        if t is dict:
            return self.dict(o, level)
        if t is list:
            return self.list(o, o, level)
        if isinstance(o, str):
            return encode_basestring_ascii(o)
        if o is None:
            return "null"
        if o is True:
            return "true"
        if o is False:
            return "false"
        if isinstance(o, int):
            return _int_repr(o)
        if isinstance(o, float):
            return _floatstr(o)
        if isinstance(o, (list, tuple)):
            return self.list(o, list(o), level)
        if isinstance(o, dict):
            return self.dict(o, level)
        return self.value(self.default(o), level)

    # A list or dict: its scalar items by the C encoder in one call, each container item (and each value
    # that needs `default`) written here in its place. Encoded text holds no raw newline (ensure_ascii
    # escapes them), so the C output splits on the separator into exactly one part per item.

    def list(self, o: Any, values: list, level: int) -> str:
        if not values:
            return "[]"
        lv = self.levels[level] if level < len(self.levels) else self.at(level + 1)
        nested = [i for i, v in enumerate(values) if v is not None and not isinstance(v, _SCALARS)]
        if not nested:
            return lv.open_arr + lv.encode(o)[1:-1] + lv.close_arr
        stand_in = list(values)
        for i in nested:
            stand_in[i] = None
        parts = lv.encode(stand_in)[1:-1].split(lv.sep)
        for i in nested:
            parts[i] = self.value(values[i], level + 1)  # in place of its "null"
        return lv.open_arr + lv.sep.join(parts) + lv.close_arr

    def dict(self, o: dict, level: int) -> str:
        if not o:
            return "{}"
        lv = self.levels[level] if level < len(self.levels) else self.at(level + 1)
        values = list(o.values())
        nested = [i for i, v in enumerate(values) if v is not None and not isinstance(v, _SCALARS)]
        if not nested:
            return lv.open_obj + lv.encode(o)[1:-1] + lv.close_obj
        stand_in = dict(o)
        keys = list(o)
        for i in nested:
            stand_in[keys[i]] = None
        parts = lv.encode(stand_in)[1:-1].split(lv.sep)
        for i in nested:
            parts[i] = parts[i][:-4] + self.value(values[i], level + 1)  # in place of its "null"
        return lv.open_obj + lv.sep.join(parts) + lv.close_obj


def dumps_indented(obj: Any, indent: int | str, default: Callable[[Any], Any] | None = None) -> str:
    """What `json.dumps(obj, indent=indent, default=default)` returns (ensure_ascii, no key sorting)."""
    def refuse(o: Any) -> Any:
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")

    return _Writer(" " * indent if isinstance(indent, int) else indent, default or refuse).value(obj, 0)
