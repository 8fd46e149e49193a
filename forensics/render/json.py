"""The model as one stable JSON document (documented in docs/json.md).

Addresses and register values are integers, not hex strings, so scripts can compute with them; names
follow docs/json.md and only ever gain keys.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any, TextIO

from forensics.model import files as f
from forensics.model.checkpoint import Checkpoint
from forensics.model.flags import capability_names, open_flag_words, signal_names
from forensics.model.process import Process, Thread
from forensics.model.secrets import Masker
from forensics.model.vma import Vma
from forensics.records import Timestamp
from forensics.render.jsontext import dumps_indented

# 2: times are objects with their source ({"utc", "what", "source", "origin", "trust"}); pod, namespace and
# runtime in "checkpoint"; env and argv masked unless --reveal; unix sockets carry their queued data.
SCHEMA_VERSION = 2


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _all_field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names in declaration order, looked up once per class (dataclasses.fields per
    fd was a tenth of the document's time for 10,000 fds)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(x.name for x in dataclasses.fields(cls))
    return names


_FILE_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A file object class's fields but its id."""
    names = _FILE_FIELDS.get(cls)
    if names is None:
        names = _FILE_FIELDS[cls] = tuple(n for n in _all_field_names(cls) if n != "id")
    return names


def _asdict(obj: Any) -> dict[str, Any]:
    """dataclasses.asdict(obj) without its deep copy when every field is a scalar (1,414 image records:
    16 -> 3 ms); any list, dict, tuple or dataclass inside takes asdict itself."""
    doc = {n: getattr(obj, n) for n in _all_field_names(type(obj))}
    if any(isinstance(v, (list, tuple, dict)) or dataclasses.is_dataclass(v) for v in doc.values()):
        return dataclasses.asdict(obj)
    return doc


def fd_doc(fd: f.Fd) -> dict[str, Any]:
    doc: dict[str, Any] = {"fd": fd.fd, "type": fd.type, "cloexec": fd.cloexec}
    obj = fd.file
    if obj is None:
        doc["missing_file_id"] = fd.missing_file_id
        return doc
    doc["file_id"] = obj.id
    doc["description"] = obj.describe()
    for name in _field_names(type(obj)):
        value = getattr(obj, name)
        if name == "data":
            doc["data_b64"] = base64.b64encode(value).decode() if value else None
            continue
        if name == "backlog" and getattr(obj, "state", None) != "LISTEN":
            continue  # CRIU's backlog of a connected socket is its queue length, not an accept backlog
        if name == "sock_type":
            doc["socket_type"] = value
            continue
        if isinstance(value, list):
            value = [dataclasses.asdict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v
                     for v in value]
        doc[name] = value
    if isinstance(obj, f.RegularFile):
        doc["flag_words"] = open_flag_words(obj.flags)
    if isinstance(obj, f.OtherFile):
        doc["kind"] = obj.kind.lower()
    return doc


def stop_doc(stop: Any) -> dict[str, Any] | None:
    if stop is None:
        return None
    loc = stop.location
    return {"address": loc.address, "module": loc.module, "symbol": loc.symbol, "offset": loc.offset,
            "line": str(loc.line) if loc.line else None, "build_id": loc.build_id, "note": loc.note,
            "text": str(loc),
            "instructions": [{"address": i.address, "bytes": i.bytes_hex, "text": f"{i.mnemonic} {i.op_str}".strip(),
                              "current": i.current} for i in stop.instructions],
            # `heuristic` stays for schema 1 readers: frames are now only proven ones, guesses are stack_hits.
            "frames": [{"ip": fr.ip, "sp": fr.sp, "method": str(fr.method), "heuristic": False,
                        "return_address": fr.is_return_address, "text": str(floc)} for fr, floc in stop.frames],
            "unwind": None if stop.unwind is None else {"end": str(stop.unwind.end), "detail": stop.unwind.detail,
                                                        "complete": stop.unwind.complete},
            "stack_hits": [{"slot": h.slot, "value": h.value, "text": str(hloc)} for h, hloc in stop.stack_hits]}


def thread_doc(t: Thread, stop: Any = None) -> dict[str, Any]:
    regs: dict[str, Any] | None = None
    if t.registers is not None:
        regs = dict(t.registers.gp)
        regs["arch"] = str(t.registers.arch)
        if t.registers.fpu is not None:
            regs["fpu"] = t.registers.fpu
    return {"tid": t.tid, "comm": t.comm, "syscall": t.syscall, "syscall_evidence": t.syscall_evidence,
            "blocked_signals": signal_names(t.blocked_signals),
            "seccomp": t.seccomp_mode, "registers": regs, "stop": stop_doc(stop)}


def vma_doc(v: Vma) -> dict[str, Any]:
    return {"start": v.start, "end": v.end, "prot": v.prot_str, "shared": v.shared, "kind": v.kind,
            "path": v.label or None, "pgoff": v.pgoff, "flags": v.flag_words, "status": v.status_words,
            "dumped_pages": v.dumped_pages, "parent_pages": v.parent_pages, "lazy_pages": v.lazy_pages}


def process_doc(p: Process, stops: dict | None = None, masker: Masker | None = None) -> dict[str, Any]:
    masker = masker or Masker()
    c = p.creds
    creds = None
    if c is not None:
        creds = {"uid": list(c.uids), "gid": list(c.gids), "groups": c.groups,
                 "cap_eff": capability_names(c.cap_eff), "cap_prm": capability_names(c.cap_prm),
                 "cap_inh": capability_names(c.cap_inh), "cap_bnd": capability_names(c.cap_bnd),
                 "cap_amb": capability_names(c.cap_amb), "secbits": c.secbits, "no_new_privs": c.no_new_privs,
                 "lsm_profile": c.lsm_profile}
    return {
        "pid": p.pid, "ppid": p.ppid, "pgid": p.pgid, "sid": p.sid, "comm": p.comm, "state": p.state,
        "exit_code": p.exit_code, "exe": p.exe, "argv": masker.texts(p.argv) if p.argv is not None else None,
        "env": {k: masker.value(k, v) for k, v in p.env.items()} if p.env is not None else None, "cwd": p.cwd, "root": p.root,
        "umask": p.umask, "creds": creds, "seccomp": p.seccomp_mode, "personality": p.personality,
        "rlimits": {k: {"soft": s, "hard": h} for k, (s, h) in p.rlimits.items()},
        "sigactions": [{"signal": s.signo, "disposition": s.disposition, "handler": s.handler, "flags": s.flags}
                       for s in p.sigactions if s.handler != 0],
        "namespaces": p.namespaces, "cgroup_set": p.cgroup_set, "children": p.children,
        "threads": [thread_doc(t, (stops or {}).get((p.pid, t.tid))) for t in p.threads],
        "fds": [fd_doc(fd) for fd in p.fds],
        "vmas": [vma_doc(v) for v in p.vmas],
    }


def findings_doc(found: list[Any]) -> list[dict[str, Any]]:
    return [{"rule": x.rule, "score": x.score, "title": x.title, "detail": x.detail,
             "evidence": [dataclasses.asdict(e) for e in x.evidence]} for x in found]


def _time(t: Timestamp | None) -> dict[str, Any] | None:
    return t.doc() if t is not None else None


def document(ck: Checkpoint, found: list[Any] | None = None, stops: dict | None = None,
             masker: Masker | None = None, pids: set[int] | None = None, processes: bool = True) -> dict[str, Any]:
    """The whole document; with `processes=False` its "processes" is None, for `write` to stream."""
    info = ck.info
    masker = masker or Masker()
    return {
        "schema": SCHEMA_VERSION,
        "checkpoint": {
            "path": info.path, "layout": info.layout, "engine": info.engine, "name": info.checkpoint_name,
            "criu_version": info.criu_version, "criu_version_source": info.criu_version_source,
            "img_version": info.img_version, "pre_dump": info.pre_dump, "parent": info.parent,
            "time": _time(info.checkpoint_time), "dump_uptime_us": info.dump_uptime,
            "total_size": info.total_size, "pages_size": info.pages_size,
            "container": {"id": info.container_id, "name": info.container_name, "image": info.image,
                          "created": _time(info.container_created), "runtime": info.runtime,
                          "pod": info.pod, "namespace": info.namespace, "pod_uid": info.pod_uid,
                          "image_ref": info.image_ref},
            "images": [_asdict(i) for i in info.images],
        },
        "hostname": ck.hostname,
        "domainname": ck.domainname,
        "processes": [process_doc(p, stops, masker) for p in ck.processes if pids is None or p.pid in pids]
        if processes else None,
        "mounts": [dict(dataclasses.asdict(m), propagation=m.propagation) for m in ck.mounts],
        "namespaces": [_asdict(n) for n in ck.namespaces],
        "cgroups": [_asdict(c) for c in ck.cgroups],
        "tmpfs": [_asdict(t) for t in ck.tmpfs],
        "stdio": ck.stdio,
        "wrapper": _wrapper(ck, masker),
        "findings": findings_doc(found or []),
        "warnings": ck.warnings,
        "errors": ck.errors,
        "partial": ck.partial,
    }


def python_doc(procs: list[Any], masker: Masker) -> list[dict[str, Any]]:
    """`inspect --python --json`: forensics.symbols.python.PyProcess records; a secret-looking local's value
    is masked (and says so) unless --reveal."""
    def local(v: Any) -> dict[str, Any]:
        masked = v.secret and not masker.reveal
        return {"name": v.name, "type": v.type, "value": masker.value(v.name, v.value) if v.secret else
                masker.text(v.value), "length": v.length, "masked": masked, "truncated": v.truncated}

    return [{"pid": p.pid, "binary": p.binary, "status": str(p.status), "partial": p.partial,
             "version": ".".join(map(str, p.version)) if p.version else None, "note": p.note,
             "layout_verified": p.layout_verified,
             "gil": {"locked": p.gil.locked, "holder_tid": p.gil.holder_tid} if p.gil is not None else None,
             "threads": [{"tid": t.tid, "pthread_id": t.pthread_id, "note": t.note,
                          "frames": [{"function": fr.function, "qualname": fr.qualname, "file": fr.file,
                                      "line": fr.line, "note": fr.note, "locals": [local(v) for v in fr.locals]}
                                     for fr in t.frames]}
                         for t in p.threads]} for p in procs]


def _wrapper(ck: Checkpoint, masker: Masker) -> dict[str, Any]:
    w = ck.wrapper
    return {"files": w.files,
            "rootfs_diff": [{"path": e.path, "type": e.type, "size": e.size, "mode": e.mode,
                             "mtime": _time(e.mtime)} for e in w.rootfs_diff] if w.rootfs_diff is not None else None,
            "deleted_files": w.deleted_files, "bind_mounts": w.bind_mounts,
            "logs": {k: masker.texts(v) for k, v in w.logs.items()}}


# Above this many rows (processes, threads, fds, mappings) the document is written without indentation,
# by the C encoder alone (json.dumps with `indent` runs the pure-Python one, ~70 s for 1M mappings;
# dumps_indented is ~2x faster than that, still ~4x the C encoder).
INDENT_ROWS = 20_000


def render(ck: Checkpoint, found: list[Any] | None = None, stops: dict | None = None,
           masker: Masker | None = None, pids: set[int] | None = None, python: list[Any] | None = None) -> str:
    doc = _with_python(document(ck, found, stops, masker, pids), python, masker, pids)
    if _rows(ck) <= INDENT_ROWS:
        return dumps_indented(doc, 1, default=str)  # json.dumps(indent=1), byte for byte, faster
    return json.dumps(doc, default=str)


def write(out: TextIO, ck: Checkpoint, found: list[Any] | None = None, stops: dict | None = None,
          masker: Masker | None = None, pids: set[int] | None = None, python: list[Any] | None = None) -> None:
    """`render(...)` and a newline, written to `out`. A document past INDENT_ROWS rows is written as it is
    encoded, one process at a time, so neither the whole document nor its text is ever held: for 100,000
    processes those were ~110 MiB of dicts and three copies of 46 MB of text (the peak went from 365 MiB
    to that of loading the checkpoint). The bytes are json.dumps's: the same C encoder writes every piece
    with the same separators."""
    if _rows(ck) <= INDENT_ROWS:
        out.write(render(ck, found, stops, masker, pids, python))
        out.write("\n")
        return
    masker = masker or Masker()
    doc = _with_python(document(ck, found, stops, masker, pids, processes=False), python, masker, pids)
    encode = json.JSONEncoder(default=str).encode
    sep = "{"
    for key, value in doc.items():
        out.write(sep + encode(key) + ": ")
        sep = ", "
        if key != "processes":
            out.write(encode(value))
            continue
        item = "["
        for p in ck.processes:
            if pids is None or p.pid in pids:
                out.write(item + encode(process_doc(p, stops, masker)))
                item = ", "
        out.write("[]" if item == "[" else "]")
    out.write("}\n")


def _rows(ck: Checkpoint) -> int:
    return sum(1 + len(p.threads) + len(p.fds) + len(p.vmas) for p in ck.processes)


def _with_python(doc: dict[str, Any], python: list[Any] | None, masker: Masker | None,
                 pids: set[int] | None) -> dict[str, Any]:
    if python is not None:
        doc["python"] = python_doc([p for p in python if pids is None or p.pid in pids], masker or Masker())
        doc["partial"] = doc["partial"] or any(p.partial for p in python)
    return doc
