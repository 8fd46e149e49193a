"""Which files the doctor reads for a path, and what each one is.

A file is a CRIU log or an engine's error text (told apart by content). An engine text also brings the
CRIU log it names, when that file exists here, and the logs saved next to it under the same stem
(`established-tcp.docker-error.txt` -> `established-tcp.dump.log`). A directory is an image directory,
a runtime work directory or a lab failure directory: its logs, engine texts, images and stats, plus the
logs saved next to it (`dump1/` -> `dump1.dump.log`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from forensics.doctor import grammar
from forensics.doctor.model import SourceKind
from forensics.errors import ForensicsError
from forensics.locate.views import open_evidence

LOG_NAMES = ("dump.log", "pre-dump.log", "restore.log", "criu-dump.log", "criu-restore.log")
LOG_SUFFIXES = (".dump.log", ".pre-dump.log", ".restore.log", ".failed-dump.log", ".failed-restore.log")
ENGINE_SUFFIXES = ("docker-error.txt", "runc-error.txt", "podman-error.txt", "engine-error.txt")
STATS_NAMES = ("stats-dump", "stats-restore")
# Subdirectories where runtimes keep CRIU's logs (runc's and old Docker's work directory).
WORK_DIRS = ("criu.work", "work")
SNIFF_BYTES = 64 << 10


class NotADoctorInput(ForensicsError):
    """A path that holds no CRIU log, engine error text or checkpoint images."""


@dataclass(slots=True)
class Plan:
    """What to read, in order: text inputs with their kind, an image directory, stats files."""

    texts: list[tuple[Path, SourceKind]] = field(default_factory=list)
    images: Path | None = None
    stats: list[Path] = field(default_factory=list)
    # engine text -> the CRIU logs read on its behalf
    paired: dict[Path, list[Path]] = field(default_factory=dict)

    def add_text(self, path: Path, kind: SourceKind) -> bool:
        if any(_same(path, p) for p, _ in self.texts):
            return False
        self.texts.append((path, kind))
        return True


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def classify(path: Path) -> SourceKind:
    """"criu-log" if the text reads like CRIU's log, else "engine-error"; binary files are refused."""
    try:
        with open_evidence(path, follow=True) as fh:
            head = fh.read(SNIFF_BYTES)
    except ForensicsError as exc:
        raise NotADoctorInput(exc.message, path) from None
    except OSError as exc:
        raise NotADoctorInput(f"cannot read: {exc.strerror}", path) from None
    if b"\0" in head:
        raise NotADoctorInput("binary file: not a CRIU log or an engine's error text", path)
    lines = head.decode("utf-8", errors="replace").splitlines()[:200]
    if any(grammar.CRIU_LINE.match(line) or grammar.VERSION.search(line) for line in lines):
        return "criu-log"
    return "engine-error"


def _stem(name: str) -> str:
    """`established-tcp.docker-error.txt` -> `established-tcp`; `docker-error.txt` -> ``."""
    return re.sub(r"\.?(?:(?:docker|runc|podman|engine)-)?error\.txt$|\.txt$|\.err$", "", name)


def _sibling_logs(directory: Path, stem: str) -> list[Path]:
    names = [stem + s for s in LOG_SUFFIXES] if stem else list(LOG_NAMES)
    return [directory / n for n in names if (directory / n).is_file()]


def pair(plan: Plan, engine: Path, log_paths: list[str]) -> None:
    """Add to `plan` the CRIU logs an engine text belongs with: the ones it names (`log_paths`, from its
    scan), if they exist on this machine, and the ones saved next to it under its stem."""
    logs = [Path(p) for p in log_paths if Path(p).is_file()]
    logs += _sibling_logs(engine.parent, _stem(engine.name))
    paired = plan.paired.setdefault(engine, [])
    for log in logs:
        plan.add_text(log, "criu-log")
        if not any(_same(log, p) for p in paired):
            paired.append(log)


def plan_file(path: Path) -> Plan:
    """The plan for one file (an engine text's logs are added by `pair` once it has been scanned)."""
    plan = Plan()
    plan.add_text(path, classify(path))
    return plan


def _is_image_dir(directory: Path) -> bool:
    return (directory / "inventory.img").is_file() or (directory / "pstree.img").is_file() or any(
        directory.glob("core-*.img"))


def plan_directory(directory: Path) -> Plan:
    """The plan for a directory (engine texts are paired by `pair` once they have been scanned)."""
    plan = Plan()
    places = [directory] + [directory / w for w in WORK_DIRS if (directory / w).is_dir()]
    for place in places:
        for entry in sorted(place.iterdir()):
            if not entry.is_file():
                continue
            name = entry.name
            if name in LOG_NAMES or name.endswith(LOG_SUFFIXES):
                plan.add_text(entry, "criu-log")
            elif name.endswith(ENGINE_SUFFIXES):
                plan.add_text(entry, "engine-error")
            elif name in STATS_NAMES:
                plan.stats.append(entry)
    for log in _sibling_logs(directory.parent, directory.name):
        plan.add_text(log, "criu-log")
    if _is_image_dir(directory):
        plan.images = directory
    if not plan.texts and plan.images is None and not plan.stats:
        raise NotADoctorInput("no CRIU log (dump.log, restore.log, *.dump.log, ...), engine error text "
                              "(*docker-error.txt) or checkpoint images here", directory)
    return plan
