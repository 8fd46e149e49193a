"""`forensics memory ...`: read, search, list and dump process memory of a checkpoint."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from forensics.cli import app
from forensics.render.terminal import make_console
from forensics.errors import ForensicsError
from forensics.memory.grep import Match, grep, scan_size, strings_pattern
from forensics.memory.search import compile_pattern
from forensics.memory.select import VmaFilter, parse_int, parse_range
from forensics.memory.space import VALUE_FORMATS, AddressSpace, MemoryGap
from forensics.model.checkpoint import Checkpoint
from forensics.model.load import load_checkpoint
from forensics.render.escape import shown
from forensics.render.hexdump import hexdump
from forensics.render.progress import scan_progress

memory_app = typer.Typer(help="Read, search, list and dump process memory.", no_args_is_help=True,
                         pretty_exceptions_show_locals=False)
app.add_typer(memory_app, name="memory")

PidOpt = typer.Option(None, "--pid", help="Only these processes (pid inside the container); repeatable.")
ProtOpt = typer.Option(None, "--prot", help="Only mappings with all these permissions, e.g. rw or x.")
RangeOpt = typer.Option(None, "--range", help="Only addresses in START-END (hex).")
KindOpt = typer.Option(None, "--kind", help="heap, stack, anon, file, shared, vdso (repeatable or comma list).")
RootfsOpt = typer.Option(None, "--rootfs", help="Where the container's binaries are (repeatable).")
BinaryOpt = typer.Option(None, "--binary", help="PATH_IN_CONTAINER=LOCAL_FILE (repeatable).")
DockerRootOpt = typer.Option(None, "--docker-root", help="Docker data root to find checkpoints by name in.")
ContainerOpt = typer.Option(None, "--container", help="Container name or id, when a name is ambiguous.")


def _space(ck: Checkpoint, pid: int) -> AddressSpace:
    if ck.process(pid) is None:
        raise ForensicsError(f"no process {pid} in this checkpoint (pids: {', '.join(str(p.pid) for p in ck.processes)})")
    space = ck.memory.get(pid)
    if space is None:
        raise ForensicsError(f"process {pid} has no memory images (pagemap-{pid}.img)")
    return space


@memory_app.command("map")
def map_(
    checkpoint: str = typer.Argument(...),
    pid: Optional[list[int]] = PidOpt, prot: Optional[str] = ProtOpt, rng: Optional[str] = RangeOpt,
    kind: Optional[list[str]] = KindOpt, docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The memory map, like /proc/PID/maps, with dumped and missing page counts."""
    ck = load_checkpoint(checkpoint, docker_root=docker_root, container=container)
    flt = VmaFilter.parse(pid, prot, rng, kind)
    rows = []
    for p in ck.processes:
        if not flt.wants_pid(p.pid):
            continue
        for v in p.vmas:
            if flt.wants_vma(v):
                pages = v.size // 4096
                rows.append({"pid": p.pid, "start": v.start, "end": v.end, "prot": v.prot_str + ("s" if v.shared else "p"),
                             "pgoff": v.pgoff, "kind": v.kind, "path": v.label or None, "pages": pages,
                             "dumped_pages": v.dumped_pages, "parent_pages": v.parent_pages,
                             "missing_pages": pages - v.dumped_pages - v.parent_pages - v.lazy_pages,
                             "lazy_pages": v.lazy_pages})
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    t = Table(show_edge=False, header_style="bold")
    for c in ("PID", "START-END", "PROT", "OFFSET", "KIND", "DUMPED", "MISSING", "PATH"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(str(r["pid"]), f"{r['start']:x}-{r['end']:x}", r["prot"], f"{r['pgoff']:x}", r["kind"],
                  str(r["dumped_pages"] + r["parent_pages"]), str(r["missing_pages"]), shown(r["path"] or ""))
    make_console().print(t)


FORMATS = {**VALUE_FORMATS, "ptr": "<Q"}


@memory_app.command("read")
def read(
    checkpoint: str = typer.Argument(...),
    pid: int = typer.Option(..., "--pid"),
    address: Optional[str] = typer.Option(None, "--address", help="Virtual address (hex with or without 0x)."),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="A global variable, by name, from the binary."),
    length: Optional[int] = typer.Option(None, "--length", help="Bytes (default 64, or the symbol's size)."),
    as_: Optional[str] = typer.Option(None, "--as", help="hex, u8..u64, i8..i64, f64, str, ptr"),
    rootfs: Optional[list[Path]] = RootfsOpt, binary: Optional[list[str]] = BinaryOpt,
    docker_root: Optional[Path] = DockerRootOpt, container: Optional[str] = ContainerOpt,
) -> None:
    """Read memory at an address or a symbol; unmapped or not-dumped memory is reported, never zeros."""
    ck = load_checkpoint(checkpoint, docker_root=docker_root, container=container)
    space = _space(ck, pid)
    if (address is None) == (symbol is None):
        raise ForensicsError("give --address or --symbol")
    if symbol is not None:
        from forensics.symbols.resolve import resolver_for
        from forensics.symbols.stops import symbol_address

        resolver = resolver_for(ck, rootfs, binary)
        found = symbol_address(ck.process(pid), resolver, symbol)
        if found is None:
            missing = f" (binaries not found: {', '.join(sorted(resolver.missing))})" if resolver.missing else ""
            raise ForensicsError(f"pid {pid}: no symbol {symbol!r} in the mapped binaries{missing}")
        addr, size = found
        if as_ is None and size in (1, 2, 4, 8):
            as_ = f"u{size * 8}"
        length = length or size or 64
    else:
        addr = parse_int(address)
    as_ = as_ or "hex"
    length = length or 64
    try:
        if as_ == "str":
            print(shown(space.read_cstring(addr, max(length, 1)).decode("utf-8", "backslashreplace")))
            return
        if as_ == "hex":
            print(hexdump(space.read(addr, length), addr))
            return
        if as_ not in FORMATS:
            raise ForensicsError(f"--as takes hex, str, {', '.join(FORMATS)}; not {as_!r}")
        fmt = FORMATS[as_]
        width = struct.calcsize(fmt)
        data = space.read(addr, max(width, length - length % width))
        for i in range(0, len(data), width):
            (value,) = struct.unpack_from(fmt, data, i)
            if as_ == "ptr":
                vma = space.vma_at(value)
                where = f"  -> {shown(vma.label or vma.kind)}" if vma else ""
                print(f"{addr + i:016x}  0x{value:016x}{where}")
            else:
                print(f"{addr + i:016x}  {value}")
    except MemoryGap as gap:
        raise ForensicsError(f"pid {pid}: {gap}") from None


def _context(ck: Checkpoint, m: Match, n: int) -> tuple[int, bytes]:
    space = ck.memory[m.pid]
    start = max(m.vma.start, m.address - n)
    end = min(m.vma.end, m.address + m.length + n)
    # Shrink to what is readable: context must never invent bytes.
    while start < m.address:
        try:
            return start, space.read(start, end - start)
        except MemoryGap:
            start = (start // 4096 + 1) * 4096
    try:
        return m.address, space.read(m.address, m.length)
    except MemoryGap:
        return m.address, b""


@memory_app.command("grep")
def grep_(
    pattern: str = typer.Argument(..., help="Fixed bytes (default), a regex with --regex, or hex with --hex."),
    checkpoint: str = typer.Argument(...),
    regex: bool = typer.Option(False, "--regex"), hex_: bool = typer.Option(False, "--hex"),
    ignore_case: bool = typer.Option(False, "--ignore-case", "-i"), utf16: bool = typer.Option(False, "--utf16"),
    context: int = typer.Option(0, "--context", "-C", help="Bytes of context around each match, as hexdump."),
    count: bool = typer.Option(False, "--count"), as_json: bool = typer.Option(False, "--json"),
    pid: Optional[list[int]] = PidOpt, prot: Optional[str] = ProtOpt, rng: Optional[str] = RangeOpt,
    kind: Optional[list[str]] = KindOpt, docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt,
) -> None:
    """Search every process's memory; each match with pid, address and mapping."""
    ck = load_checkpoint(checkpoint, docker_root=docker_root, container=container)
    flt = VmaFilter.parse(pid, prot, rng, kind)
    try:
        pat = compile_pattern(pattern, regex=regex, hex_bytes=hex_, ignore_case=ignore_case, utf16=utf16)
    except (ValueError, Exception) as e:  # re.error, bad hex
        raise ForensicsError(f"bad pattern: {e}") from None
    with scan_progress(scan_size(ck, flt), "grep", enabled=not as_json) as progress:
        matches = list(grep(ck, pat, flt, progress))
    if count:
        print(json.dumps({"count": len(matches)}) if as_json else len(matches))
        return
    if as_json:
        out = []
        for m in matches:
            doc = {"pid": m.pid, "address": m.address, "length": m.length, "vma_start": m.vma.start,
                   "vma_end": m.vma.end, "where": m.where, "kind": m.vma.kind}
            if context:
                start, data = _context(ck, m, context)
                doc["context_start"], doc["context_hex"] = start, data.hex()
            out.append(doc)
        print(json.dumps(out, indent=1))
        return
    for m in matches:
        print(f"pid {m.pid}  0x{m.address:x}  {shown(m.where)} [{m.vma.start:x}-{m.vma.end:x} {m.vma.prot_str}]")
        if context:
            start, data = _context(ck, m, context)
            print(hexdump(data, start))


@memory_app.command("strings")
def strings(
    checkpoint: str = typer.Argument(...),
    min_len: int = typer.Option(4, "--min-len"),
    encoding: str = typer.Option("ascii", "--encoding", help="ascii or utf16"),
    pid: Optional[list[int]] = PidOpt, prot: Optional[str] = ProtOpt, rng: Optional[str] = RangeOpt,
    kind: Optional[list[str]] = KindOpt, docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt,
) -> None:
    """Printable strings with their addresses."""
    if encoding not in ("ascii", "utf16"):
        raise ForensicsError("--encoding is ascii or utf16")
    ck = load_checkpoint(checkpoint, docker_root=docker_root, container=container)
    flt = VmaFilter.parse(pid, prot, rng, kind)
    pat = strings_pattern(max(min_len, 1), encoding)
    out = sys.stdout
    for m in grep(ck, pat, flt):
        data = ck.memory[m.pid].read(m.address, m.length)
        text = data.decode("utf-16-le" if encoding == "utf16" else "ascii", "replace")
        out.write(f"{m.pid} 0x{m.address:x} {shown(text)}\n")


@memory_app.command("dump")
def dump(
    checkpoint: str = typer.Argument(...),
    pid: int = typer.Option(..., "--pid"),
    output: Path = typer.Option(..., "-o", "--output"),
    vma: Optional[str] = typer.Option(None, "--vma", help="The mapping that contains this address."),
    rng: Optional[str] = typer.Option(None, "--range", help="START-END (hex)."),
    all_: bool = typer.Option(False, "--all", help="Every mapping, back to back; OUT.map.json says where each is."),
    docker_root: Optional[Path] = DockerRootOpt, container: Optional[str] = ContainerOpt,
) -> None:
    """Write raw memory to a file. Bytes CRIU did not dump are left as holes (a sparse file) and listed."""
    if sum(x is not None and x is not False for x in (vma, rng, all_ or None)) != 1:
        raise ForensicsError("give exactly one of --vma ADDR, --range A-B, --all")
    ck = load_checkpoint(checkpoint, docker_root=docker_root, container=container)
    space = _space(ck, pid)
    if vma is not None:
        v = space.vma_at(parse_int(vma))
        if v is None:
            raise ForensicsError(f"pid {pid}: no mapping contains {vma}")
        spans = [(v.start, v.end)]
    elif rng is not None:
        spans = [parse_range(rng)]
    else:
        # Every mapping back to back: one sparse file over the whole address space would be 128 TiB.
        spans = [(v.start, v.end) for v in space.vmas if v.kind not in ("vsyscall", "vvar")]
    written = 0
    gaps: list[tuple[int, int]] = []
    index = []
    try:
        with open(output, "wb") as out:
            base = 0
            for start, end in spans:
                out.truncate(base + end - start)
                addr = start
                for seg_addr, data, _v in space.segments():
                    if seg_addr + len(data) <= start or seg_addr >= end:
                        continue
                    lo, hi = max(seg_addr, start), min(seg_addr + len(data), end)
                    if lo > addr:
                        gaps.append((addr, lo))
                    out.seek(base + lo - start)
                    out.write(data[lo - seg_addr:hi - seg_addr])
                    written += hi - lo
                    addr = hi
                if addr < end:
                    gaps.append((addr, end))
                index.append({"start": start, "end": end, "file_offset": base})
                base += end - start
        if all_:
            Path(f"{output}.map.json").write_text(json.dumps(index, indent=1) + "\n")
    except OSError as e:
        raise ForensicsError(f"cannot write: {e.strerror}", output) from None
    err = make_console(stderr=True)
    err.print(f"wrote {written} dumped bytes of {len(spans)} range(s) to {output}"
              + (f" (where each mapping landed: {output}.map.json)" if all_ else ""))
    for lo, hi in gaps[:50]:
        err.print(f"  not in the checkpoint: 0x{lo:x}-0x{hi:x} (left as a hole)")
    if len(gaps) > 50:
        err.print(f"  ... and {len(gaps) - 50} more gaps")


@memory_app.command("yara")
def yara(
    rules: Path = typer.Argument(..., help="A YARA rules file."),
    checkpoint: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
    pid: Optional[list[int]] = PidOpt, prot: Optional[str] = ProtOpt, rng: Optional[str] = RangeOpt,
    kind: Optional[list[str]] = KindOpt, docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt,
) -> None:
    """YARA rules (yara-x) over every process's memory; matches with pid, address and mapping."""
    from forensics.memory.yara import compile_rules, scan

    try:
        text = rules.read_text()
    except OSError as e:
        raise ForensicsError(f"cannot read: {e.strerror}", rules) from None
    compiled = compile_rules(text, str(rules))
    ck = load_checkpoint(checkpoint, docker_root=docker_root, container=container)
    matches = list(scan(ck, compiled, VmaFilter.parse(pid, prot, rng, kind)))
    if as_json:
        print(json.dumps([{"rule": m.rule, "pattern": m.pattern, "pid": m.pid, "address": m.address,
                           "length": m.length, "where": m.vma.label or m.vma.kind} for m in matches], indent=1))
        return
    for m in matches:
        print(f"{shown(m.rule)} {shown(m.pattern)}  pid {m.pid}  0x{m.address:x}  {shown(m.vma.label or m.vma.kind)} "
              f"[{m.vma.start:x}-{m.vma.end:x} {m.vma.prot_str}]")
