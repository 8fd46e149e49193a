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


class _Writer:
    def __init__(self, indent: str, default: Callable[[Any], Any]) -> None:
        self.indent = indent
        self.default = default
        self.flat: dict[int, Callable[[Any], str]] = {}  # level -> C encoder of a container's items at that level

    def flat_encoder(self, level: int) -> Callable[[Any], str]:
        enc = self.flat.get(level)
        if enc is None:
            sep = ",\n" + self.indent * level
            if _c_make_encoder is not None:
                c = _c_make_encoder(None, self.default, encode_basestring_ascii, None, ": ", sep, False, False,
                                    True)

                def enc(o: Any, c: Any = c) -> str:
                    return "".join(c(o, 0))
            else:  # pragma: no cover
                enc = json.JSONEncoder(separators=(sep, ": "), default=self.default, check_circular=False).encode
            self.flat[level] = enc
        return enc

    def value(self, o: Any, level: int) -> str:
        t = type(o)
        if t is dict:
            return self.container(o, list(o.values()), level, "{", "}")
        if t is list:
            return self.container(o, o, level, "[", "]")
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
            return self.container(o, list(o), level, "[", "]")
        if isinstance(o, dict):
            return self.container(o, list(o.values()), level, "{", "}")
        return self.value(self.default(o), level)

    def container(self, o: Any, values: list, level: int, opening: str, closing: str) -> str:
        """A list or dict: its scalar items by the C encoder in one call, each container item (and each
        value that needs `default`) written here in its place. Encoded text holds no raw newline
        (ensure_ascii escapes them), so the C output splits on the separator into exactly one part per
        item."""
        if not values:
            return opening + closing
        level += 1
        newline = "\n" + self.indent * level
        close = "\n" + self.indent * (level - 1) + closing
        nested = [i for i, v in enumerate(values) if v is not None and not isinstance(v, _SCALARS)]
        if not nested:
            return opening + newline + self.flat_encoder(level)(o)[1:-1] + close
        if opening == "[":
            stand_in: Any = list(values)
            for i in nested:
                stand_in[i] = None
        else:
            stand_in = dict(o)
            keys = list(o)
            for i in nested:
                stand_in[keys[i]] = None
        parts = self.flat_encoder(level)(stand_in)[1:-1].split("," + newline)
        for i in nested:
            parts[i] = parts[i][:-4] + self.value(values[i], level)  # in place of its "null"
        return opening + newline + ("," + newline).join(parts) + close


def dumps_indented(obj: Any, indent: int | str, default: Callable[[Any], Any] | None = None) -> str:
    """What `json.dumps(obj, indent=indent, default=default)` returns (ensure_ascii, no key sorting)."""
    def refuse(o: Any) -> Any:
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")

    return _Writer(" " * indent if isinstance(indent, int) else indent, default or refuse).value(obj, 0)
