"""`forensics memory ...`: read, search, list and dump process memory of a checkpoint."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Optional

import typer

from forensics.cli import app
from forensics.records.format import printable
from forensics.cli.common import (
    BinaryOpt, ContainerOpt, DockerRootOpt, Format, FormatOpt, JsonOpt, PidsOpt, RevealOpt, RootfsOpt,
    check_binaries, check_paths, check_pids, chosen, emit, parse_pids, warn,
)
from forensics.errors import ForensicsError, UsageError
from forensics.model.checkpoint import Checkpoint

memory_app = typer.Typer(help="Read, search, list and dump process memory.", no_args_is_help=True,
                         pretty_exceptions_show_locals=False, context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(memory_app, name="memory")

ProtOpt = typer.Option(None, "--prot", help="Only mappings with all these permissions, e.g. rw or x.")
RangeOpt = typer.Option(None, "--range", help="Only addresses in START-END (hex), e.g. 7f0000000000-7fffffffffff.")
KindOpt = typer.Option(None, "--kind", help="heap, stack, anon, file, shared, vdso: repeatable or a comma list.")


def _load(target: str, docker_root: Path | None, container: str | None) -> Checkpoint:
    from forensics.loader import load_checkpoint

    return load_checkpoint(target, docker_root=docker_root, container=container)


def _space(ck: Checkpoint, pid: int):  # noqa: ANN202 - forensics.memory.space.AddressSpace
    check_pids([pid], [ck])
    from forensics.memory.space import space_of

    space = space_of(ck, pid)
    if space is None:
        raise UsageError(f"process {pid} has no memory images (pagemap-{pid}.img)")
    return space


def _filter(ck: Checkpoint, pid, prot, rng, kind):  # noqa: ANN001, ANN202
    from forensics.memory.select import VmaFilter

    pids = parse_pids(pid)
    check_pids(pids, [ck])
    return VmaFilter.parse(pids, prot, rng, kind)


def _finish(ck: Checkpoint, found: int | None = None) -> None:
    """Exit codes as grep's: 0 found, 1 searched and found nothing, 2 the evidence could not all be read."""
    for e in ck.errors:
        sys.stderr.write(f"forensics: error: {printable(e)}\n")
    if ck.partial:
        sys.stderr.write("forensics: the result is partial: some memory could not be read (exit 2)\n")
        raise typer.Exit(2)
    if found == 0:
        raise typer.Exit(1)


@memory_app.command("map", epilog="Example: forensics memory map checkpoint1 --pid 1 --kind heap,stack")
def map_(
    checkpoint: str = typer.Argument(..., help="Any form inspect takes."),
    pid: Optional[list[str]] = PidsOpt, prot: Optional[str] = ProtOpt, rng: Optional[str] = RangeOpt,
    kind: Optional[list[str]] = KindOpt, docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt, as_json: bool = JsonOpt, fmt: Format = FormatOpt,
    wide: bool = typer.Option(False, "--wide", "-w", help="Every column."),
) -> None:
    """The memory map, like /proc/PID/maps, with dumped, parent and missing page counts."""
    from forensics.tables.inspect import mappings

    ck = _load(checkpoint, docker_root, container)
    flt = _filter(ck, pid, prot, rng, kind)
    table = mappings(p for p in ck.processes if flt.wants_pid(p.pid))
    keep = [r for r in table.rows if flt.wants_vma(_VmaRow(r))]
    table.rows = keep
    emit([table], chosen(fmt, as_json), wide=wide)
    _finish(ck)


class _VmaRow:
    """A mapping row seen as a VMA by the filter."""

    def __init__(self, row: tuple) -> None:
        self.start, self.end, self.kind = row[1], row[2], row[5]
        self.prot_str = row[3][:3]


FORMATS = {"u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f64", "ptr"}


@memory_app.command("read", epilog="Examples:\n\n  forensics memory read ck1 --pid 1 --address 0x4c8f20 --as u64\n"
                    "  forensics memory read ck1 --pid 1 --symbol request_counter --binary /app/svc=./svc")
def read(
    checkpoint: str = typer.Argument(..., help="Any form inspect takes."),
    pid: int = typer.Option(..., "--pid", "-p", help="The process (pid inside the container)."),
    address: Optional[str] = typer.Option(None, "--address", help="Virtual address (hex with or without 0x)."),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="A global variable, by name, from the binary."),
    length: Optional[int] = typer.Option(None, "--length", help="Bytes (default 64, or the symbol's size)."),
    as_: Optional[str] = typer.Option(None, "--as", help="hex, str, u8..u64, i8..i64, f64 or ptr."),
    rootfs: Optional[list[Path]] = RootfsOpt, binary: Optional[list[str]] = BinaryOpt,
    docker_root: Optional[Path] = DockerRootOpt, container: Optional[str] = ContainerOpt,
    reveal: bool = RevealOpt,
) -> None:
    """Read memory at an address or a symbol; unmapped, not-dumped or damaged memory is said, never zeros."""
    from forensics.memory.select import parse_int
    from forensics.memory.space import VALUE_FORMATS, GapKind, MemoryGap
    from forensics.records.format import printable, printable_bytes
    from forensics.render.hexdump import hexdump
    from forensics.tables.secrets import masker_for

    check_paths(rootfs, "--rootfs")
    check_binaries(binary)
    if (address is None) == (symbol is None):
        raise UsageError("give --address or --symbol", "e.g. --address 0x7ffc1000")
    if as_ is not None and as_ not in FORMATS | {"hex", "str"}:
        raise UsageError(f"--as takes hex, str, {', '.join(sorted(FORMATS))}; not {as_!r}")
    ck = _load(checkpoint, docker_root, container)
    space = _space(ck, pid)
    masker = masker_for([ck], reveal)
    if symbol is not None:
        from forensics.symbols.resolve import resolver_for
        from forensics.symbols.stops import symbol_address

        resolver = resolver_for(ck, rootfs, binary)
        proc = ck.process(pid)
        found = symbol_address(proc, resolver, symbol) if proc is not None else None
        if found is None:
            missing = f"; binaries not found: {', '.join(sorted(resolver.missing))}" if resolver.missing else ""
            raise UsageError(f"pid {pid}: no symbol {symbol!r} in the mapped binaries{missing}",
                             "give --rootfs DIR or --binary PATH=FILE")
        addr, size = found
        if as_ is None and size in (1, 2, 4, 8):
            as_ = f"u{size * 8}"
        length = length or size or 64
    else:
        addr = parse_int(address or "")
    as_ = as_ or "hex"
    length = length or 64
    try:
        if as_ == "str":
            print(printable(masker.text(space.read_cstring(addr, max(length, 1)).decode("utf-8", "backslashreplace"))))
        elif as_ == "hex":
            print(hexdump(masker.data(space.read(addr, length)), addr))
        else:
            fmt = VALUE_FORMATS.get(as_, "<Q")
            width = struct.calcsize(fmt)
            data = space.read(addr, max(width, length - length % width))
            for i in range(0, len(data), width):
                (value,) = struct.unpack_from(fmt, data, i)
                if as_ == "ptr":
                    vma = space.vma_at(value)
                    where = f"  -> {printable(vma.label or vma.kind)}" if vma else ""
                    print(f"0x{addr + i:016x}  0x{value:016x}{where}")
                else:
                    print(f"0x{addr + i:016x}  {value}")
    except MemoryGap as gap:
        if gap.kind is GapKind.DAMAGED:
            sys.stderr.write(f"forensics: pid {pid}: {printable(str(gap))}\n")
            raise typer.Exit(2) from None
        raise ForensicsError(f"pid {pid}: {gap}") from None
    _ = printable_bytes


GREP_EXAMPLES = """
Examples:

  forensics memory grep 'password=' checkpoint1 -C 32       # each match with 32 bytes around it
  forensics memory grep -i --utf16 'secret' checkpoint1 --pid 1,7
  forensics memory grep --regex 'AKIA[0-9A-Z]{16}' export.tar.zst --json
  forensics memory grep -c cf-token checkpoint1                 # only the count (exit 1 when 0)
  forensics memory grep --file iocs.txt checkpoint1            # every string of a list, one per line

Exit status: 0 when something matched, 1 when nothing did, 2 when the checkpoint could not all be read.
"""


def _read_list(path: Path) -> list[bytes]:
    """One fixed string per line of `path` (bytes as written, without the line end); blank lines skipped."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ForensicsError(f"cannot read: {e.strerror}", path) from None
    return [line for line in data.replace(b"\r\n", b"\n").split(b"\n") if line]


@memory_app.command("grep", epilog=GREP_EXAMPLES)
def grep_(
    pattern: Optional[str] = typer.Argument(
        None, help="Fixed bytes (default), a regex with --regex, or hex with --hex; not with --file."),
    checkpoint: Optional[str] = typer.Argument(None, help="Any form inspect takes."),
    file: Optional[Path] = typer.Option(
        None, "--file", "-f", help="Fixed strings to find, one per line (a list of indicators); every "
        "occurrence of each is a match. Then give only the checkpoint."),
    regex: bool = typer.Option(False, "--regex", "-E", help="PATTERN is a Python regular expression over bytes."),
    hex_: bool = typer.Option(False, "--hex", help="PATTERN is hex bytes, e.g. 'de ad be ef'."),
    ignore_case: bool = typer.Option(False, "--ignore-case", "-i", help="Match ASCII letters in either case."),
    utf16: bool = typer.Option(False, "--utf16", help="Search PATTERN encoded as UTF-16LE (Windows-style strings)."),
    context: int = typer.Option(0, "--context", "-C", help="Bytes of context around each match, as hexdump."),
    count: bool = typer.Option(False, "--count", "-c", help="Print only the number of matches."),
    as_json: bool = JsonOpt, fmt: Format = FormatOpt,
    pid: Optional[list[str]] = PidsOpt, prot: Optional[str] = ProtOpt, rng: Optional[str] = RangeOpt,
    kind: Optional[list[str]] = KindOpt, docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt, reveal: bool = RevealOpt,
) -> None:
    """Search every process's memory; each match with pid, address, the matched bytes and the mapping."""
    from forensics.memory.grep import grep, scan_size
    from forensics.memory.search import compile_literals, compile_pattern
    from forensics.render.progress import scan_progress
    from forensics.tables import memory as tables
    from forensics.tables.secrets import masker_for

    fmt = chosen(fmt, as_json)
    if file is not None:
        if checkpoint is not None or pattern is None:
            raise UsageError("with --file give only the checkpoint: memory grep --file LIST CHECKPOINT")
        if regex or hex_ or ignore_case or utf16:
            raise UsageError("--file takes fixed strings; --regex, --hex, -i and --utf16 do not apply")
        checkpoint, strings = pattern, _read_list(file)
    elif pattern is None or checkpoint is None:
        raise UsageError("give a pattern and a checkpoint (or --file LIST and a checkpoint)")
    try:
        if file is not None:
            pat = compile_literals(strings)
        else:
            pat = compile_pattern(pattern, regex=regex, hex_bytes=hex_, ignore_case=ignore_case, utf16=utf16)
    except Exception as e:  # noqa: BLE001 - re.error, bad hex: the user's pattern, said in one line
        raise UsageError(f"bad pattern: {e}") from None
    ck = _load(checkpoint, docker_root, container)
    flt = _filter(ck, pid, prot, rng, kind)
    with scan_progress(scan_size(ck, flt), "grep", enabled=fmt is Format.TEXT and not count) as progress:
        matches = list(grep(ck, pat, flt, progress))
    if count:
        print(json.dumps({"count": len(matches)}) if fmt is Format.JSON else len(matches))
        _finish(ck, len(matches))
        return
    masker = masker_for([ck], reveal)
    table = tables.matches(ck, matches, masker)
    if context and fmt is not Format.TEXT:
        _with_context(ck, matches, context, masker, fmt)
    elif context:
        from forensics.render.hexdump import hexdump
        from forensics.render.table import write

        for m, row in zip(matches, table.rows):
            one = type(table)(table.type, [row])
            write([one], sys.stdout)
            start, data = _context(ck, m, context)
            print(hexdump(masker.data(data), start))
    else:
        emit([table], fmt)
    _finish(ck, len(matches))


def _with_context(ck: Checkpoint, matches, n: int, masker, fmt: Format) -> None:  # noqa: ANN001
    out = []
    for m in matches:
        start, data = _context(ck, m, n)
        out.append({"pid": m.pid, "address": m.address, "length": m.length, "vma_start": m.vma.start,
                    "vma_end": m.vma.end, "where": m.where, "kind": m.vma.kind,
                    "context_start": start, "context_hex": masker.data(data).hex()})
    if fmt is Format.JSON:
        print(json.dumps({"matches": out}, indent=1))
    else:
        for doc in out:
            print(json.dumps({"record": "matches", **doc}))


def _context(ck: Checkpoint, m, n: int) -> tuple[int, bytes]:  # noqa: ANN001
    from forensics.memory.space import MemoryGap, space_of

    space = space_of(ck, m.pid)
    assert space is not None   # the match was found in it
    page = ck.page_size_of(m.pid)
    start = max(m.vma.start, m.address - n)
    end = min(m.vma.end, m.address + m.length + n)
    # Shrink to what is readable: context must never invent bytes.
    while start < m.address:
        try:
            return start, space.read(start, end - start)
        except MemoryGap:
            start = (start // page + 1) * page
    try:
        return m.address, space.read(m.address, m.length)
    except MemoryGap:
        return m.address, b""


@memory_app.command("strings", epilog="Example: forensics memory strings checkpoint1 --pid 1 --min-len 8 | grep -i key")
def strings(
    checkpoint: str = typer.Argument(..., help="Any form inspect takes."),
    min_len: int = typer.Option(4, "--min-len", "-n", help="Shortest string to show."),
    utf16: bool = typer.Option(False, "--utf16", help="UTF-16LE strings instead of ASCII."),
    encoding: Optional[str] = typer.Option(None, "--encoding", hidden=True),
    as_json: bool = JsonOpt, fmt: Format = FormatOpt,
    pid: Optional[list[str]] = PidsOpt, prot: Optional[str] = ProtOpt, rng: Optional[str] = RangeOpt,
    kind: Optional[list[str]] = KindOpt, docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt, reveal: bool = RevealOpt,
) -> None:
    """Printable strings with their pid and address (secrets masked)."""
    from forensics.memory.grep import grep, strings_pattern
    from forensics.tables import memory as tables
    from forensics.tables.secrets import masker_for

    if encoding is not None:
        if encoding not in ("ascii", "utf16"):
            raise UsageError("--encoding is ascii or utf16", "or say --utf16")
        utf16 = utf16 or encoding == "utf16"
    ck = _load(checkpoint, docker_root, container)
    flt = _filter(ck, pid, prot, rng, kind)
    found = list(grep(ck, strings_pattern(max(min_len, 1), "utf16" if utf16 else "ascii"), flt))
    fmt = chosen(fmt, as_json)
    table = tables.strings(ck, found, utf16, masker_for([ck], reveal))
    if fmt is Format.TEXT:
        from forensics.records.format import printable

        out = sys.stdout
        for pid_, addr, text in table.rows:
            out.write(f"{pid_} 0x{addr:x} {printable(text)}\n")
    else:
        emit([table], fmt)
    _finish(ck, len(found))


@memory_app.command("dump", epilog="Examples:\n\n  forensics memory dump ck1 --pid 1 --vma 0x55d0c0a00000 -o heap.bin\n"
                    "  forensics memory dump ck1 --pid 1 --all -o mem.bin   # plus mem.bin.map.json\n"
                    "  forensics memory dump ck1 --pid 1 --range 1000-2000 -o - | xxd")
def dump(
    checkpoint: str = typer.Argument(..., help="Any form inspect takes."),
    pid: int = typer.Option(..., "--pid", "-p", help="The process (pid inside the container)."),
    output: str = typer.Option(..., "-o", "--output", help="The file to write, or - for stdout."),
    vma: Optional[str] = typer.Option(None, "--vma", help="The mapping that contains this address."),
    rng: Optional[str] = typer.Option(None, "--range", help="START-END (hex)."),
    all_: bool = typer.Option(False, "--all", help="Every mapping, back to back; OUT.map.json says where each is."),
    docker_root: Optional[Path] = DockerRootOpt, container: Optional[str] = ContainerOpt,
    fmt: str = typer.Option("raw", "--format", help="raw, or elf-core: a core file gdb and delve open."),
    rootfs: Optional[list[Path]] = RootfsOpt, binary: Optional[list[str]] = BinaryOpt,
) -> None:
    """Write raw memory to a file. Bytes CRIU did not dump are left as holes (a sparse file) and listed.
    With --format elf-core, the whole process as an ELF core (threads, registers, every mapping; clean
    file pages read from the binaries found through --rootfs/--binary or the Docker layers)."""
    from forensics.memory.dump import dump_spans
    from forensics.memory.select import parse_int, parse_range
    from forensics.model.vma import KERNEL_KINDS

    if fmt == "elf-core":
        _dump_core(checkpoint, pid, output, docker_root, container, rootfs, binary)
        return
    if fmt != "raw":
        raise UsageError(f"--format is raw or elf-core, not {fmt!r}")
    if sum(1 for given in (vma is not None, rng is not None, all_) if given) != 1:
        raise UsageError("give exactly one of --vma ADDR, --range A-B, --all")
    to_stdout = output == "-"
    if all_ and to_stdout:
        raise UsageError("--all writes OUT.map.json beside OUT; give a file name, not -")
    if not to_stdout:
        out_path = Path(output)
        if out_path.is_dir():
            raise UsageError(f"-o {output} is a directory", "give a file name")
        if not out_path.parent.is_dir():
            raise UsageError(f"-o {output}: no directory {out_path.parent}")
    ck = _load(checkpoint, docker_root, container)
    space = _space(ck, pid)
    if vma is not None:
        v = space.vma_at(parse_int(vma))
        if v is None:
            raise UsageError(f"pid {pid}: no mapping contains {vma}", "see forensics memory map")
        spans = [(v.start, v.end)]
    elif rng is not None:
        spans = [parse_range(rng)]
    else:
        # Every mapping back to back: one sparse file over the whole address space would be 128 TiB.
        spans = [(v.start, v.end) for v in space.vmas if v.kind not in KERNEL_KINDS - {"vdso"}]
    try:
        if to_stdout:
            res = dump_spans(space, spans, sys.stdout.buffer, sparse=False)
        else:
            with open(output, "wb") as fh:
                res = dump_spans(space, spans, fh)
            if all_:
                Path(f"{output}.map.json").write_text(json.dumps(
                    [{"start": s, "end": e, "file_offset": o} for s, e, o in res.index], indent=1) + "\n")
    except OSError as e:
        raise ForensicsError(f"cannot write: {e.strerror}", output) from None
    err = sys.stderr
    err.write(f"wrote {res.written} dumped bytes of {len(spans)} range(s) to {output}"
              + (f" (where each mapping landed: {output}.map.json)" if all_ else "") + "\n")
    for lo, hi in res.gaps[:50]:
        err.write(f"  not in the checkpoint: 0x{lo:x}-0x{hi:x} (left as a hole)\n")
    if len(res.gaps) > 50:
        err.write(f"  ... and {len(res.gaps) - 50} more gaps\n")
    _finish(ck)


def _dump_core(checkpoint: str, pid: int, output: str, docker_root: Path | None, container: str | None,
               rootfs: list[Path] | None, binary: list[str] | None) -> None:
    from forensics.memory.elfcore import write_core
    from forensics.symbols.resolve import resolver_for

    if output == "-" or Path(output).is_dir():
        raise UsageError(f"-o {output}: an ELF core is written to a file (it is laid out by seeking)")
    ck = _load(checkpoint, docker_root, container)
    space = _space(ck, pid)
    proc = ck.process(pid)
    assert proc is not None
    resolver = resolver_for(ck, rootfs, binary)
    try:
        with open(output, "wb") as out:
            report = write_core(proc, space, resolver, out, Path(output))
    except OSError as e:
        raise ForensicsError(f"cannot write: {e.strerror}", output) from None
    err = sys.stderr
    err.write(f"wrote an ELF core of pid {pid} ({report.threads} threads, {report.loads} PT_LOAD) to {output}: "
              f"{report.dumped_bytes} bytes from the checkpoint, {report.file_bytes} from "
              f"{', '.join(report.files_used) or 'no file'}\n")
    for piece in report.missing[:50]:
        err.write(f"  not in the core: 0x{piece.start:x}-0x{piece.end:x}: {piece.why}\n")
    if len(report.missing) > 50:
        err.write(f"  ... and {len(report.missing) - 50} more ranges\n")
    if report.missing:
        raise typer.Exit(2)  # partial: a debugger cannot read those ranges


@memory_app.command("yara", epilog="Example: forensics memory yara rules.yar checkpoint1 --json\n\n"
                    "Exit status: 0 when a rule matched, 1 when none did, 2 on unreadable evidence.")
def yara(
    rules: Path = typer.Argument(..., help="A YARA rules file (yara-x syntax)."),
    checkpoint: str = typer.Argument(..., help="Any form inspect takes."),
    as_json: bool = JsonOpt, fmt: Format = FormatOpt,
    pid: Optional[list[str]] = PidsOpt, prot: Optional[str] = ProtOpt, rng: Optional[str] = RangeOpt,
    kind: Optional[list[str]] = KindOpt, docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt, reveal: bool = RevealOpt,
) -> None:
    """YARA rules (yara-x) over every process's memory; matches with pid, address, bytes and mapping."""
    from forensics.memory.yara import compile_rules, scan
    from forensics.tables import memory as tables
    from forensics.tables.secrets import masker_for

    try:
        text = rules.read_text()
    except OSError as e:
        raise UsageError(f"cannot read {rules}: {e.strerror}") from None
    compiled = compile_rules(text, str(rules))
    ck = _load(checkpoint, docker_root, container)
    matches = list(scan(ck, compiled, _filter(ck, pid, prot, rng, kind)))
    emit([tables.yara_matches(ck, matches, masker_for([ck], reveal))], chosen(fmt, as_json))
    _finish(ck, len(matches))


_ = warn
