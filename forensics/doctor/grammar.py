"""What CRIU's logs and the container engines' error texts say about themselves, as declarations.

Not causes (those are in `rules.py`) but the frame around them: which CRIU and kernel wrote a log, what
it was doing (dump, pre-dump, restore, check), how it ended, which lines are errors, and where an
engine's error text says CRIU's log is. Message texts are CRIU 3.17-4.2's (criu/cr-dump.c,
criu/cr-restore.c, criu/crtools.c) and Docker's, runc's and Podman's.
"""

from __future__ import annotations

import re

# A line of a CRIU log: "(00.000075) Version: ...", "(00.018387)  76033: tty: ..." in restore logs,
# "pie: 1: ..." from the parasite, and at low verbosity bare "Error (criu/x.c:12): ...".
CRIU_LINE = re.compile(r"^\s*(?:\(\s*\d+\.\d+\)|pie: \d+: |(?:Error|Warn) +\()")

# "(00.000075) Version: 4.2.1 (gitid 0)"; the GitID line of old releases has no version of its own.
VERSION = re.compile(r"\bVersion: (?P<version>\d+(?:\.\d+)+)")
# "Running on vm Linux 6.18.44-fc-v595 #1 SMP ..." (uname: nodename sysname release version machine).
KERNEL = re.compile(r"\bRunning on \S+ \S+ (?P<kernel>\d+\.\d+\S*)")
# "Dumping processes (pid: 25234 comm: service)": the root task of a dump.
TASK = re.compile(r"\b(?:Dumping processes|Pre-dumping task) \(pid: (?P<pid>\d+) comm: (?P<comm>[^)]*)\)")

# What the log's CRIU was doing, tried in this order (a pre-dump log never says "Dumping processes");
# each with substrings a line needs before its regex is worth running.
ACTIONS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("pre-dump", ("re-dump", "Pre-dumping"),
     re.compile(r"Pre-dumping (?:task \(pid|FAILED|finished)|Enforcing memory tracking for pre-dump")),
    ("dump", ("Dumping",), re.compile(r"Dumping processes \(pid|Dumping (?:FAILED|finished successfully)")),
    ("restore", ("Reading image tree", "Restor"),
     re.compile(r"Reading image tree|Restoring FAILED|Restore finished successfully")),
    ("check", ("Looks good", "criu check", "kernel features"),
     re.compile(r"^Looks good|criu check|kernel features are missing")),
)

# How the run ended. A BUG is an assertion: CRIU aborts right after printing it (exit -6, SIGABRT).
SUCCEEDED = re.compile(
    r"(?:Pre-)?[Dd]umping finished successfully|Restore finished successfully"
    r"|Lazy pages transfer finished successfully|^Looks good"
)
FAILED = re.compile(
    r"(?:Pre-)?[Dd]umping FAILED|Restoring FAILED|Lazy pages transfer FAILED|\bBUG at \S+:\d+"
)
# Substrings a line needs before the verdict and error regexes are worth running (logs are long).
SUCCEEDED_HINTS = ("successfully", "Looks good")
FAILED_HINTS = ("FAILED", "BUG at")

# An error line, for the fallback finding: "Error (criu/x.c:12): ...", "pie: 1: Error (...)", "BUG at ...",
# the parasite's bare "Error: ...", and engine texts ("Error response from daemon: ...", "Error: ...").
ERROR_LINE = re.compile(r"\bError\b(?: \([^)]*\))?:|\bBUG at |\bError response from daemon\b")
ERROR_HINTS = ("Error", "BUG at")

# Where an engine's error text says CRIU's log is (shared with the `engine-criu-failed` rule):
#   Docker/containerd: "criu failed: type NOTIFY errno 0 path= /run/containerd/.../criu-dump.log: unknown"
#   runc (older):      "criu failed: type NOTIFY errno 0\nlog file: /run/runc/<id>/criu.work/dump.log"
#   Podman/crun:       "CRIU checkpointing failed -52.  Please check CRIU logfile /var/lib/.../dump.log"
LOG_PATH_PATTERNS: tuple[str, ...] = (
    r"path= ?(?P<log>/\S+?\.log)\b",
    r"log file: (?P<log>/\S+?\.log)\b",
    r"[Cc]heck CRIU logfile (?P<log>/\S+?\.log)\b",
)

# An engine's text that reports a failure at all.
ENGINE_FAILED = re.compile(r"(?i)\berror\b|\bfailed\b|\bcannot\b|\bnot running\b|\bno such\b|\bimproper\b")
# `docker checkpoint create` prints only the checkpoint's name when it succeeds.
CHECKPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def parse_version(text: str) -> tuple[int, ...]:
    """"4.2.1" -> (4, 2, 1); "6.18.44-fc-v595" -> (6, 18, 44): the leading dotted numbers."""
    m = re.match(r"\d+(?:\.\d+)*", text)
    return tuple(int(p) for p in m.group(0).split(".")) if m else ()
