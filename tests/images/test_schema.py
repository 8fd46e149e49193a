"""Our schema declarations against CRIU 4.2.1's own descriptors, as pycriu in the lab's rootfs has them.

The rootfs's python3 (with its protobuf and pycriu) is run through chroot in a subprocess; it prints, per
message, every field's name, number, type, label, referenced type, default and `(criu)` display
options, and per enum its values. Ours must agree on every one. Skipped, with the reason, when the
rootfs or the root needed for chroot is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from forensics.images import messages

ROOTFS = Path(os.environ.get("LAB_CACHE", "/var/cache/checkpoint-forensics/lab")) / "rootfs"
PYCRIU = ROOTFS / "usr/lib/python3/dist-packages/pycriu/images"

# Runs inside the rootfs: dumps the descriptors of every *_pb2 module pycriu ships.
DUMP = r"""
import importlib, json, os, sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
import pycriu.images as images
out = {"messages": {}, "enums": {}}
def enums_of(container):
    for e in container.enum_types_by_name.values() if hasattr(container, "enum_types_by_name") else container.enum_types:
        out["enums"][e.full_name] = [[v.name, v.number] for v in e.values]
def walk(m):
    fields = []
    for f in m.fields:
        opts = {}
        for ext, val in f.GetOptions().ListFields():
            if ext.is_extension:
                opts.update({sf.name: sv for sf, sv in val.ListFields()})
        ref = f.message_type or f.enum_type
        fields.append({"name": f.name, "number": f.number, "type": f.type, "label": f.label,
                       "ref": ref.full_name if ref else None,
                       "default": repr(f.default_value) if f.has_default_value else None, "opts": opts})
    out["messages"][m.full_name] = fields
    for n in m.nested_types:
        walk(n)
    enums_of(m)
for fn in sorted(os.listdir(os.path.dirname(images.__file__))):
    if fn.endswith("_pb2.py") and fn != "opts_pb2.py":
        mod = importlib.import_module("pycriu.images." + fn[:-3])
        for m in mod.DESCRIPTOR.message_types_by_name.values():
            walk(m)
        enums_of(mod.DESCRIPTOR)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def reference() -> dict:
    if not PYCRIU.is_dir():
        pytest.skip(f"no lab rootfs with pycriu at {ROOTFS} (the lab builds it on its first run)")
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        pytest.skip("reading the rootfs's descriptors needs root for chroot")
    p = subprocess.run(["chroot", str(ROOTFS), "python3", "-c", DUMP], capture_output=True, text=True,
                       timeout=120, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


def ours() -> dict:
    out: dict = {"messages": {}, "enums": {}}
    for name in messages.MESSAGES:
        fields = []
        for f in messages.descriptor(name).fields:
            decl = messages.field_decl(name, f.name)
            ref = f.message_type or f.enum_type
            label = 3 if f.is_repeated else 2 if f.is_required else 1
            opts = {k: getattr(decl, k) for k in ("hex", "ipadd", "flags", "dev", "odev", "dict", "conv")
                    if getattr(decl, k)}
            fields.append({"name": f.name, "number": f.number, "type": f.type, "label": label,
                           "ref": ref.full_name.removeprefix(messages.PACKAGE + ".") if ref else None,
                           "default": repr(f.default_value) if f.has_default_value else None, "opts": opts})
        out["messages"][name] = fields
    for name, enum in messages.ENUMS.items():
        out["enums"][name] = [[n, v] for n, v in enum.values]
    return out


def test_every_message_and_enum_matches_criu_4_2_1(reference: dict) -> None:
    mine = ours()
    assert len(reference["messages"]) > 150
    assert sorted(mine["enums"]) == sorted(reference["enums"])
    assert sorted(mine["messages"]) == sorted(reference["messages"])
    for name, values in reference["enums"].items():
        assert mine["enums"][name] == values, name
    for name, fields in reference["messages"].items():
        by_number = {f["number"]: f for f in mine["messages"][name]}
        for field in fields:
            assert by_number.get(field["number"]) == field, f"{name}.{field['name']}"
        assert len(by_number) == len(fields), name
