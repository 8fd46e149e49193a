"""Every kind of row the toolkit shows, declared once (see forensics.records).

Column keys are the JSON keys (docs/json.md); headers are what text outputs print. A column that is not
`brief` is left out of terminal tables by default (--wide shows it) and is always in JSON, JSON Lines and
CSV.
"""

from __future__ import annotations

from forensics.records import Column as C
from forensics.records import Kind as K
from forensics.records import record

PROCESS = record(
    "processes", "processes",
    C("pid", "PID", K.PID), C("ppid", "PPID", K.PID), C("pgid", "PGID", K.PID, brief=False),
    C("sid", "SID", K.PID, brief=False), C("comm", "COMM", K.EVIDENCE), C("state", "STATE", K.WORD),
    C("uid", "UID", K.INT, "effective uid"),
    C("extra_caps", "EXTRA CAPS", K.WORDS, "effective capabilities beyond Docker's default set"),
    C("caps", "CAPS", K.WORDS, "effective capabilities", brief=False),
    C("seccomp", "SECCOMP", K.WORD), C("threads", "THR", K.INT),
    C("argv", "ARGV", K.EVIDENCE, "the command line read from memory, space-joined"),
    doc="One process of the container (pids inside its pid namespace).")

THREAD = record(
    "threads", "threads",
    C("pid", "PID", K.PID), C("tid", "TID", K.PID), C("comm", "COMM", K.EVIDENCE),
    C("ip", "IP", K.ADDRESS, "the instruction pointer: rip on x86_64, pc on aarch64"), C("sp", "SP", K.ADDRESS),
    C("syscall", "SYSCALL", K.WORD, "the system call it was in: number and name (aarch64: from x8, only where "
      "the code at pc proves a call)"),
    C("stopped_in", "STOPPED IN", K.EVIDENCE, "the symbol at ip, with file:line when known"),
    C("blocked_signals", "BLOCKED", K.WORDS, brief=False),
    C("arch", "ARCH", K.WORD, "x86_64, aarch64...: whose register names the registers column uses", brief=False),
    C("registers", "REGISTERS", K.WORDS, "every general register as name=value under its architecture's "
      "names (aarch64: x0-x30, sp, pc, pstate, tpidr_el0)", brief=False),
    doc="One thread and where it was stopped.")

FD = record(
    "fds", "file descriptors",
    C("pid", "PID", K.PID), C("fd", "FD", K.INT), C("type", "TYPE", K.WORD),
    C("target", "TARGET", K.EVIDENCE), C("detail", "DETAIL", K.EVIDENCE),
    C("flags", "FLAGS", K.WORDS, "open flags (O_WRONLY, O_APPEND...) and cloexec"),
    doc="One open file descriptor and what it points at.")

SOCKET = record(
    "sockets", "sockets",
    C("pid", "PID", K.PID), C("fd", "FD", K.INT), C("family", "FAMILY", K.WORD), C("type", "TYPE", K.WORD),
    C("state", "STATE", K.WORD), C("local", "LOCAL", K.EVIDENCE), C("peer", "PEER", K.EVIDENCE),
    C("queued_bytes", "QUEUED", K.INT, "bytes waiting in its queues"),
    C("backlog", "BACKLOG", K.INT, "accept backlog (listening sockets only)", brief=False),
    C("inode", "INODE", K.INT, brief=False),
    C("queued", "QUEUED DATA", K.BYTES, "the queued bytes themselves, where CRIU saved them", brief=False),
    doc="One socket.")

MAPPING = record(
    "mappings", "memory maps",
    C("pid", "PID", K.PID), C("start", "START", K.ADDRESS), C("end", "END", K.ADDRESS),
    C("prot", "PROT", K.WORD, "rwx and s(hared)/p(rivate), as /proc/PID/maps"),
    C("pgoff", "OFFSET", K.HEX, brief=False), C("kind", "KIND", K.WORD),
    C("pages", "PAGES", K.INT, "pages the mapping spans"),
    C("dumped_pages", "DUMPED", K.INT, "pages stored in this checkpoint"),
    C("parent_pages", "IN PARENT", K.INT, "pages stored in parent checkpoints (incremental dumps)",
      quiet_when_zero=True),
    C("missing_pages", "MISSING", K.INT, "pages in no image: never touched, or file pages CRIU did not dump",
      brief=False),
    C("path", "PATH", K.EVIDENCE),
    doc="One memory mapping with what the checkpoint holds of it.")

MOUNT = record(
    "mounts", "mounts",
    C("mnt_id", "ID", K.INT), C("parent_mnt_id", "PARENT", K.INT), C("mountpoint", "MOUNTPOINT", K.EVIDENCE),
    C("fstype", "FSTYPE", K.WORD), C("source", "SOURCE", K.EVIDENCE), C("external", "EXTERNAL", K.EVIDENCE),
    C("options", "OPTIONS", K.EVIDENCE, brief=False), C("propagation", "PROPAGATION", K.WORD, brief=False),
    doc="One mount point.")

ENV = record(
    "environment", "environment",
    C("pid", "PID", K.PID), C("name", "NAME", K.EVIDENCE), C("value", "VALUE", K.EVIDENCE),
    doc="One environment variable, read from the process's memory (secrets masked unless --reveal).")

MATCH = record(
    "matches", "matches",
    C("pid", "PID", K.PID), C("address", "ADDRESS", K.ADDRESS), C("length", "LEN", K.INT),
    C("match", "MATCH", K.BYTES, "the matched bytes"),
    C("where", "MAPPING", K.EVIDENCE), C("vma_start", "VMA START", K.ADDRESS, brief=False),
    C("vma_end", "VMA END", K.ADDRESS, brief=False), C("prot", "PROT", K.WORD, brief=False),
    C("kind", "KIND", K.WORD, brief=False),
    doc="One search hit in process memory.")

YARA_MATCH = record(
    "yara_matches", "YARA matches",
    C("rule", "RULE", K.EVIDENCE), C("pattern", "PATTERN", K.EVIDENCE), C("pid", "PID", K.PID),
    C("address", "ADDRESS", K.ADDRESS), C("length", "LEN", K.INT), C("match", "MATCH", K.BYTES),
    C("where", "MAPPING", K.EVIDENCE), C("vma_start", "VMA START", K.ADDRESS, brief=False),
    C("vma_end", "VMA END", K.ADDRESS, brief=False),
    doc="One YARA pattern hit in process memory.")

STRING = record(
    "strings", "strings",
    C("pid", "PID", K.PID), C("address", "ADDRESS", K.ADDRESS), C("text", "TEXT", K.EVIDENCE),
    doc="One printable string in process memory.")

CHANGE = record(
    "changes", "changes",
    C("section", "SECTION", K.WORD), C("pid", "PID", K.PID), C("what", "WHAT", K.WORD),
    C("subject", "SUBJECT", K.EVIDENCE), C("field", "FIELD", K.WORD), C("old", "OLD", K.EVIDENCE),
    C("new", "NEW", K.EVIDENCE), C("note", "NOTE", K.EVIDENCE),
    doc="One difference in the decoded model between two checkpoints.")

PAGE_CHANGE = record(
    "memory", "changed pages",
    C("pid", "PID", K.PID), C("vma_start", "START", K.ADDRESS), C("vma_end", "END", K.ADDRESS),
    C("where", "MAPPING", K.EVIDENCE), C("changed_pages", "CHANGED", K.INT),
    C("appeared_pages", "APPEARED", K.INT), C("vanished_pages", "VANISHED", K.INT),
    doc="Pages of one mapping that differ between two checkpoints.")

VALUE_CHANGE = record(
    "values", "values that moved",
    C("pid", "PID", K.PID), C("address", "ADDRESS", K.ADDRESS), C("symbol", "NAME", K.EVIDENCE),
    C("type", "TYPE", K.WORD), C("old", "OLD", K.VALUE), C("new", "NEW", K.VALUE),
    C("trend", "TREND", K.WORD, "grew or shrank (integers)"),
    C("noise", "NOISE", K.WORD, "why it changes in every checkpoint (thread stack, vDSO data), if it does"),
    C("where", "MAPPING", K.EVIDENCE, brief=False),
    doc="One value in memory that changed between two checkpoints.")

FINDING = record(
    "findings", "findings",
    C("score", "SCORE", K.INT), C("rule", "RULE", K.WORD), C("title", "FINDING", K.EVIDENCE),
    C("detail", "DETAIL", K.EVIDENCE), C("pids", "PIDS", K.WORDS, "the processes it concerns"),
    doc="Something to look at first, ranked.")

CHECKPOINT = record(
    "checkpoints", "checkpoints",
    C("container", "CONTAINER", K.EVIDENCE), C("pod", "POD", K.EVIDENCE), C("namespace", "NAMESPACE", K.EVIDENCE),
    C("name", "CHECKPOINT", K.EVIDENCE), C("engine", "ENGINE", K.WORD), C("time", "TIME", K.TIME),
    C("size", "SIZE", K.SIZE), C("path", "PATH", K.EVIDENCE),
    C("container_id", "CONTAINER ID", K.EVIDENCE, brief=False), C("layout", "LAYOUT", K.WORD, brief=False),
    doc="One checkpoint found on disk.")

TIMELINE_POINT = record(
    "points", "timeline",
    C("index", "#", K.INT), C("checkpoint", "CHECKPOINT", K.EVIDENCE), C("time", "TIME", K.TIME),
    C("value", "VALUE", K.VALUE), C("missing", "MISSING", K.EVIDENCE),
    doc="One value in one checkpoint of a series.")

PYTHON_FRAME = record(
    "python_frames", "python frames",
    C("pid", "PID", K.PID), C("tid", "TID", K.PID), C("depth", "#", K.INT, "0 is the innermost frame"),
    C("function", "FUNCTION", K.EVIDENCE), C("file", "FILE", K.EVIDENCE),
    C("line", "LINE", K.INT, "what sys._current_frames() would report; empty for an instruction without one"),
    C("qualname", "QUALNAME", K.EVIDENCE, brief=False),
    C("locals", "LOCALS", K.WORDS, "name = value of each local (with --locals; secret-looking values masked)",
      brief=False),
    C("python", "PYTHON", K.WORD, "the CPython version the interpreter binary states", brief=False),
    doc="One Python frame of one thread of a CPython 3.11-3.13 process (inspect --python).")

# A hunt's rows: the checkpoint's identity (pod and namespace drop out of text when no row has one: plain
# Docker or Podman fleets), then either one hit or one checkpoint's count. Text, JSON, JSON Lines and CSV
# all carry these columns.
_HUNT_WHERE = (
    C("checkpoint", "CHECKPOINT", K.EVIDENCE, "the checkpoint's label: container/checkpoint, or its file name"),
    C("container", "CONTAINER", K.EVIDENCE),
    C("pod", "POD", K.EVIDENCE, quiet_when_zero=True), C("namespace", "NAMESPACE", K.EVIDENCE, quiet_when_zero=True),
    C("time", "TIME (UTC)", K.WORD, "when the checkpoint was taken, ISO 8601"),
    C("time_source", "TIME SOURCE", K.WORD, "where that time was read (engine metadata, CRIU log, file mtime...)"),
    C("status", "STATUS", K.WORD, "ok, partial (decoded with damage) or failed (not decoded: see error)"),
    C("ref", "REF", K.EVIDENCE, "what was opened: an absolute path, or a Docker checkpoint name", brief=False),
    C("engine", "ENGINE", K.WORD, brief=False))

HUNT_HIT = record(
    "hunt", "hunt", *_HUNT_WHERE,
    C("pid", "PID", K.PID), C("address", "ADDRESS", K.ADDRESS),
    C("kind", "KIND", K.WORD, "grep, yara, finding, change or value; empty for a checkpoint without hits",
      brief=False),
    C("what", "WHAT", K.EVIDENCE, "the pattern, rule, finding or changed field"),
    C("detail", "DETAIL", K.EVIDENCE, "one line about the hit (secrets masked unless --reveal)"),
    C("length", "LENGTH", K.INT, "bytes matched", brief=False),
    C("where", "WHERE", K.EVIDENCE, "the mapping the address lies in", brief=False),
    C("score", "SCORE", K.INT, "a finding's score", brief=False),
    C("error", "ERROR", K.EVIDENCE, "why the checkpoint failed or is partial", brief=False),
    doc="One answer to a hunt's question in one checkpoint of the fleet (forensics hunt).")

HUNT_COUNT = record(
    "hunt_counts", "hunt", *_HUNT_WHERE,
    C("count", "HITS", K.INT), C("error", "ERROR", K.EVIDENCE, "why the checkpoint failed or is partial"),
    doc="One checkpoint of the fleet and how many answers it gave (forensics hunt --per-checkpoint).")

ALL = (PROCESS, THREAD, FD, SOCKET, MAPPING, MOUNT, ENV, MATCH, YARA_MATCH, STRING, CHANGE, PAGE_CHANGE,
       VALUE_CHANGE, FINDING, CHECKPOINT, TIMELINE_POINT, PYTHON_FRAME, HUNT_HIT, HUNT_COUNT)
