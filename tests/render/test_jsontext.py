"""render/jsontext.dumps_indented must write exactly what json.dumps(indent=...) writes: on the document of
every bundled checkpoint (threads and stops included), and on the corners of the encoder's rules."""

from __future__ import annotations

import enum
import json
import math
from pathlib import Path

import pytest

from forensics.loader import load_checkpoint
from forensics.render import json as json_render
from forensics.render.jsontext import dumps_indented
from forensics.symbols.resolve import resolver_for
from forensics.symbols.stops import stops_for
from tests.conftest import bundled_samples


@pytest.mark.parametrize("sample", [s for s in bundled_samples() if s.images], ids=str)
def test_sample_documents_are_byte_identical(sample) -> None:  # noqa: ANN001
    ck = load_checkpoint(str(sample.images))
    doc = json_render.document(ck, [], stops_for(ck, resolver_for(ck, None, None)))
    want = json.dumps(doc, indent=1, default=str)
    assert dumps_indented(doc, 1, default=str) == want
    assert "\n" in want and len(want) > 1000


class Colour(enum.Enum):
    RED = 1


class Kind(str, enum.Enum):
    FILE = "file"


class Level(enum.IntEnum):
    HIGH = 3


CORNERS = [
    {}, [], (), "", 0, -1, 2**70, 1.5, math.nan, math.inf, -math.inf, True, False, None,
    {"a": [], "b": {}, "c": [[]], "d": [{}], "e": ({"x": (1, 2)},)},
    {7: "int key", 2.5: "float key", True: "bool", None: "none", "s": "str", Level.HIGH: "intenum key"},
    {"nl": "line\nbreak,\n \"quoted\" \\ back", "ctl": "\x00\x1f\x7f", "uni": "é€😀", "sep": ",\n  "},
    {"enum": Kind.FILE, "int": Level.HIGH, "path": Path("/tmp/x"), "obj": Colour.RED, "b": b"bytes"},
    [None, 1, [2, [3, [4, {"deep": [5, {"deeper": []}]}]]], "tail"],
    {"mixed": [1, "a", None, {"k": [True, False]}, [], {}], "after": 7},
    [[1.0, -0.0, 1e300, 1e-300, 1e16]],
]


@pytest.mark.parametrize("indent", [0, 1, 2, "\t"])
@pytest.mark.parametrize("obj", CORNERS, ids=range(len(CORNERS)))
def test_corners_are_byte_identical(obj: object, indent: int | str) -> None:
    assert dumps_indented(obj, indent, default=str) == json.dumps(obj, indent=indent, default=str)


def test_unserializable_without_default_raises() -> None:
    with pytest.raises(TypeError):
        dumps_indented({"x": object()}, 1)
    with pytest.raises(TypeError):
        dumps_indented({object(): 1}, 1)


@pytest.mark.parametrize("sample", [s for s in bundled_samples() if s.images][:3], ids=str)
def test_streamed_document_is_json_dumps(sample, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Past INDENT_ROWS the document is written a process at a time: the same bytes as json.dumps of the
    whole, for every process, a subset, and none."""
    import io

    ck = load_checkpoint(str(sample.images))
    stops = stops_for(ck, resolver_for(ck, None, None))
    monkeypatch.setattr(json_render, "INDENT_ROWS", 0)
    first = ck.processes[0].pid
    for pids in (None, {first}, {-1}):
        out = io.StringIO()
        json_render.write(out, ck, [], stops, None, pids)
        want = json.dumps(json_render.document(ck, [], stops, None, pids), default=str) + "\n"
        assert out.getvalue() == want
        assert len(json.loads(out.getvalue())["processes"]) == (len(ck.processes) if pids is None else
                                                                 int(pids == {first}))
