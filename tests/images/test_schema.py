"""Our schema declarations against CRIU's own descriptors, through the schema sync tool.

The lab's rootfs holds CRIU 4.2.1's pycriu. The sync tool (python -m forensics.images.schema.sync)
runs the rootfs's python3 under chroot, imports that pycriu and compares every message, field (name,
number, type, label, referenced type, default, `(criu)` display options), enum and nested type with
ours: there must be no difference. The same tool reads *_pb2.py files without running them (how an
older CRIU's are compared); that reading must give exactly what importing gives. The rewrite tests
damage a copy of our declaration modules and let the tool repair it from the lab's descriptors.
Skipped, with the reason, when the rootfs (or, for chroot, root) is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from forensics.images.schema.sync import compare, upstream
from forensics.images.schema.sync.__main__ import main
from tests.conftest import ROOTFS, _lab_unavailable


@pytest.fixture(scope="module")
def pb2(request: pytest.FixtureRequest) -> Path:
    """The lab rootfs's pycriu/images folder; the lab fixture builds the rootfs when it is missing."""
    if upstream.installed_pb2_dir(ROOTFS) is None and os.geteuid() == 0:
        request.getfixturevalue("lab")
    found = upstream.installed_pb2_dir(ROOTFS)
    if found is None:
        _lab_unavailable(f"no lab rootfs with pycriu at {ROOTFS} (the lab builds it, as root)")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def chroot(pb2: Path) -> None:
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        _lab_unavailable("importing the rootfs's pycriu runs chroot, which needs root")


@pytest.mark.usefixtures("chroot")
def test_sync_check_finds_no_difference_from_the_lab_pycriu() -> None:
    command = [sys.executable, "-m", "forensics.images.schema.sync", "--check", "--rootfs", str(ROOTFS)]
    p = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == f"0 differences from pycriu installed in {ROOTFS}"


@pytest.mark.usefixtures("chroot")
def test_reading_pb2_files_gives_what_importing_them_gives(pb2: Path) -> None:
    imported = upstream.from_rootfs(ROOTFS)
    read = upstream.from_pb2_dir(pb2)
    assert len(imported.decls) > 150
    assert read.decls == imported.decls
    assert read.proto_of == imported.proto_of
    assert imported.problems == read.problems == ()
    # the (criu) options came through: a hex address, a flag map, a device number, an enum default
    fields = {(m.name, f.name): f for m in imported.decls if hasattr(m, "fields") for f in m.fields}
    assert fields[("vma_entry", "start")].hex
    assert fields[("vma_entry", "prot")].flags == "mmap.prot"
    assert fields[("mnt_entry", "root_dev")].dev
    assert fields[("user_x86_regs_entry", "mode")].default == "NATIVE"


def test_the_pre_3_20_protoc_form_reads_the_same(pb2: Path, tmp_path: Path) -> None:
    """protoc before 3.20 embedded the descriptor as `serialized_pb=_b('...')` (a latin-1 str)."""
    raw = upstream.serialized_descriptor(pb2 / "mm_pb2.py").SerializeToString()
    old = tmp_path / "mm_pb2.py"
    old.write_text("import sys\n_b=sys.version_info[0]<3 and (lambda x:x) or (lambda x:x.encode('latin1'))\n"
                   "DESCRIPTOR = _descriptor.FileDescriptor(\n  name='mm.proto',\n  package='',\n"
                   f"  serialized_pb=_b({raw.decode('latin-1')!r})\n)\n")
    opts = tmp_path / "opts_pb2.py"
    opts.write_bytes((pb2 / "opts_pb2.py").read_bytes())
    got = upstream.from_pb2_dir(tmp_path)
    want = upstream.translate([upstream.serialized_descriptor(pb2 / n) for n in ("mm_pb2.py", "opts_pb2.py")],
                              "x")
    assert got.decls == want.decls
    assert [d.name for d in got.decls] == ["aio_ring_entry", "mm_entry"]
    opts.unlink()   # without opts.proto the hints are unreadable, and the tool says so
    assert upstream.from_pb2_dir(tmp_path).problems == (
        "no file declares the (criu) field options (opts.proto is missing): display hints cannot be read",)


def _damaged_copy(tmp_path: Path) -> Path:
    """Our declaration modules with one of each kind of difference made by hand."""
    copy = tmp_path / "schema"
    copy.mkdir()
    for path in compare.declaration_modules():
        shutil.copy(path, copy / path.name)

    def edit(name: str, old: str, new: str) -> None:
        text = (copy / name).read_text()
        assert text.count(old) == 1, old
        (copy / name).write_text(text.replace(old, new))

    edit("memory.py", '        F(17, "thp_disabled", BOOL),\n', "")                # a field CRIU added
    edit("memory.py", 'F(9, "madv", U64, hex=True)', 'F(9, "madv", U32)')            # type and hint
    edit("memory.py", 'F(5, "nr_pages", U64),', 'F(5, "nr_pages", I32),')            # keeps its comment
    edit("mounts.py", '("TRACEFS", 19), ("CGROUP2", 23)),', '("TRACEFS", 19)),')     # an enum value
    edit("mounts.py", '        F(1, "fstype", U32, REQ),  # an fstype value, stored as a plain number\n', "")
    edit("misc.py", '    ], [\n        E("vendor", ("UNKNOWN", 0), ("INTEL", 1), ("AMD", 2)),\n    ]),',
         "    ]),")                                                                   # a nested enum
    edit("misc.py", '    M("img_streamer_reply_entry", [',
         '    M("gone_entry", [F(1, "x", U32)]),\n    M("img_streamer_reply_entry", [')  # CRIU dropped it
    text = (copy / "mounts.py").read_text()
    autofs = text.index('    M("autofs_entry"')
    closing = text.index("\n)\n", autofs) + 1
    # autofs_entry goes but its heading stays: it comes back under "# autofs.proto"; binfmt-misc.proto's
    # group goes heading and all: it comes back at the end of misc.py, which must then import I32
    (copy / "mounts.py").write_text(text[:autofs] + text[closing:])
    return copy


def test_check_lists_every_difference(pb2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = _damaged_copy(tmp_path)
    assert main(["--check", "--pb2-dir", str(pb2), "--schema-dir", str(copy)]) == 1
    out = capsys.readouterr().out
    heads = sorted(line.split(":")[0] for line in out.splitlines() if re.match(r"[-+~] ", line))
    assert heads == sorted([
        "+ field mm_entry.thp_disabled (17)",
        "~ field vma_entry.madv (9)",
        "~ field pagemap_entry.nr_pages (5)",
        "~ enum fstype",
        "+ field mnt_entry.fstype (1)",
        "+ nested enum cpuinfo_x86_entry.vendor",
        "- message gone_entry",
        "+ message binfmt_misc_entry",
        "+ message autofs_entry",
    ])
    assert out.splitlines()[-1] == f"9 differences from {pb2}"
    assert main(["--pb2-dir", str(pb2), "--schema-dir", str(copy)]) == 0   # reporting only


def test_write_repairs_the_copy_keeping_comments_and_layout(pb2: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    copy = _damaged_copy(tmp_path)
    assert main(["--write", "--pb2-dir", str(pb2), "--schema-dir", str(copy)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"0 differences left from {pb2}"
    assert main(["--check", "--pb2-dir", str(pb2), "--schema-dir", str(copy)]) == 0
    for path in compare.declaration_modules():
        if path.name not in ("mounts.py", "misc.py"):
            assert (copy / path.name).read_text() == path.read_text(), path.name   # comments kept
    mounts = (copy / "mounts.py").read_text().splitlines()
    original = compare.SCHEMA_DIR.joinpath("mounts.py").read_text().splitlines()
    # mounts.py is the original but for binfmt-misc.proto's group (moved to misc.py) and the comment of
    # the field that was re-added; autofs_entry came back under its heading
    binfmt = original.index("    # binfmt-misc.proto")
    expected = original[:binfmt] + original[binfmt + 11:]
    commented = '        F(1, "fstype", U32, REQ),  # an fstype value, stored as a plain number'
    expected[expected.index(commented)] = '        F(1, "fstype", U32, REQ),'
    assert mounts == expected
    misc = (copy / "misc.py").read_text()
    assert "gone_entry" not in misc
    assert misc.endswith('    # binfmt-misc.proto\n    M("binfmt_misc_entry", [\n' + "".join(
        line + "\n" for line in original[original.index('    M("binfmt_misc_entry", [') + 1:-1]) + ")\n")
    assert '    ], [\n        E("vendor", ("UNKNOWN", 0), ("INTEL", 1), ("AMD", 2)),\n    ]),' in misc
    command = [sys.executable, "-m", "ruff", "check", "--select", "E,F,W,I", "--line-length=110", str(copy)]
    lint = subprocess.run(command, capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout


def test_a_descriptor_set_file_reads_the_same(pb2: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """What `protoc --include_imports --descriptor_set_out` writes: google's descriptor.proto included."""
    fds = descriptor_pb2.FileDescriptorSet()
    fds.file.add().ParseFromString(descriptor_pb2.DESCRIPTOR.serialized_pb)
    for path in sorted(pb2.glob("*_pb2.py")):
        fds.file.add().CopyFrom(upstream.serialized_descriptor(path))
    out = tmp_path / "criu.pb"
    out.write_bytes(fds.SerializeToString())
    assert main(["--check", "--descriptor-set", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"0 differences from {out}"
    out.write_bytes(b"\xff" * 10)
    assert main(["--check", "--descriptor-set", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"schema sync: {out}: not a serialized FileDescriptorSet"
