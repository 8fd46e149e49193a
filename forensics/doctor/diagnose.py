"""`diagnose(path)`: why a checkpoint or restore failed, from CRIU's logs and the engines' error texts.

The input is a CRIU log (dump.log, restore.log, ...), an engine's error text (Docker, runc, Podman:
they name CRIU's log, which is read too when it is on this machine or saved next to the text), or a
directory: a CRIU image directory, a runtime work directory or a lab failure directory. Each text is
scanned once against the rule table (`rules.py`); matches become `Finding`s, ranked with the likely
cause first: causes (most specific, then earliest line), then an engine's pointer to CRIU's log when that
log is not here, then the first error line no rule knows. Lines CRIU prints on healthy runs too
(`rules.NOISE`) are listed apart and never ranked. A run that succeeded gets no finding.
"""

from __future__ import annotations

import re
from pathlib import Path

from forensics.doctor import inputs
from forensics.doctor.grammar import parse_version
from forensics.doctor.model import (
    BenignLines,
    Diagnosis,
    Finding,
    LogLine,
    Outcome,
    Source,
)
from forensics.doctor.rules import FALLBACK, IMAGES_INCOMPLETE, Rule
from forensics.doctor.scan import Hit, Scan, scan_text
from forensics.errors import ForensicsError
from forensics.images.decode import open_image

__all__ = ["BenignLines", "Diagnosis", "Finding", "LogLine", "Source", "diagnose"]

KIND_RANK = {"cause": 0, "pointer": 1, "fallback": 2}


def diagnose(path: Path) -> Diagnosis:
    """Read `path` (a log, an engine's error text or a directory) and explain what failed and what to do.

    Raises `ForensicsError` when the path does not exist or holds nothing the doctor can read.
    """
    path = Path(path)
    if not path.exists():
        raise ForensicsError("no such file or directory", path)
    plan = inputs.plan_directory(path) if path.is_dir() else inputs.plan_file(path)

    scans: list[Scan] = []
    i = 0
    while i < len(plan.texts):  # pairing an engine text can add the logs it names
        text_path, kind = plan.texts[i]
        scan = scan_text(text_path, kind)
        scans.append(scan)
        if kind == "engine-error":
            inputs.pair(plan, text_path, scan.log_paths)
        i += 1

    diag = Diagnosis(path=str(path), outcome="unknown")
    order: dict[str, int] = {}
    per_source: list[tuple[Scan, list[Hit]]] = []
    for scan in scans:
        order[scan.path] = len(order)
        diag.sources.append(_source(scan, plan.paired.get(Path(scan.path), [])))
        per_source.append((scan, _hits(scan)))

    # An engine's pointer to CRIU's log is moot when that log was read and explains the failure.
    explained = {scan.path for scan, hits in per_source if any(h.rule.kind != "pointer" for h in hits)}
    for engine, logs in plan.paired.items():
        if any(str(log) in explained for log in logs):
            for scan, hits in per_source:
                if scan.path == str(engine):
                    hits[:] = [h for h in hits if h.rule.kind != "pointer"]

    findings: dict[str, Finding] = {}
    ranks: dict[str, tuple[int, int, int, int]] = {}
    for scan, hits in per_source:
        for hit in hits:
            _merge(findings, ranks, scan, hit, order[scan.path])
    _noise(diag, scans)

    if plan.images is not None:
        _images(diag, plan.images, findings, ranks, len(order))
    for stats_path in plan.stats:
        _stats(diag, stats_path)

    diag.findings = sorted(findings.values(), key=lambda f: ranks[f.rule])
    for finding in diag.findings:
        finding.fix = _fill(finding.fix, finding.evidence)
    diag.outcome = _overall([s.outcome for s in diag.sources if s.outcome is not None])
    _versions(diag, scans)
    _summary(diag)
    return diag


# ------------------------------------------------------------------------------------------ per source


def _source(scan: Scan, paired: list[Path]) -> Source:
    src = Source(scan.path, scan.kind, outcome=scan.outcome, action=scan.action,
                 criu_version=scan.criu_version, kernel=scan.kernel, task=scan.task,
                 log_paths=list(scan.log_paths))
    if scan.kind == "criu-log":
        if scan.verdict is not None:
            src.note = f"ends with \"{_message(scan.verdict.text)}\" (line {scan.verdict.number})"
        elif scan.first_error is not None:
            src.note = "no verdict: the log ends without CRIU's final line (killed, or cut short)"
        else:
            src.note = "no verdict and no error: the log may be cut short"
    elif scan.outcome == "succeeded":
        src.note = (f"\"{scan.whole_text}\" is what `docker checkpoint create` prints when it succeeds "
                    "(the checkpoint's name)")
    elif paired:
        src.note = "the engine's summary; CRIU's log read: " + ", ".join(p.name for p in paired)
    elif scan.log_paths:
        src.note = "names CRIU's log, which is not on this machine: " + ", ".join(scan.log_paths)
    elif scan.outcome == "unknown":
        src.note = "no error in this text"
    return src


def _message(line: str) -> str:
    """A log line without its timestamp and pid prefix."""
    return re.sub(r"^\s*(?:\(\s*\d+\.\d+\)\s*)?(?:\d+: )?", "", line).strip()


def _hits(scan: Scan) -> list[Hit]:
    """The rule hits that count for one input: none for a run that succeeded; otherwise causes, the
    engine's pointer, and the fallback when no cause matched."""
    if scan.outcome == "succeeded":
        return []
    hits = list(scan.hits.values())
    if any(h.rule.kind == "cause" for h in hits):
        return hits
    # No rule knows the cause: quote the first error line, unless an engine text already points at
    # CRIU's log (its own error line is only the summary the pointer explains).
    quoted = scan.first_real_error or scan.first_error
    if quoted is not None and (scan.kind == "criu-log" or not hits):
        hits.append(Hit(FALLBACK, lines=[quoted], evidence={"line": str(quoted.number)}, count=1))
    return hits


def _merge(findings: dict[str, Finding], ranks: dict[str, tuple[int, int, int, int]], scan: Scan,
           hit: Hit, index: int) -> None:
    rule = hit.rule
    finding = findings.get(rule.id)
    if finding is None:
        finding = findings[rule.id] = Finding(rule.id, rule.title, rule.kind, rule.explanation, rule.fix)
        ranks[rule.id] = (KIND_RANK[rule.kind], -rule.priority, index, hit.first)
    finding.sources.append(scan.path)
    finding.lines.extend(hit.lines)
    seen = {(ln.source, ln.number) for ln in finding.lines}
    finding.context.extend(ln for ln in hit.context if (ln.source, ln.number) not in seen)
    for key, value in hit.evidence.items():
        finding.evidence.setdefault(key, value)
    if hit.count > len(hit.lines):
        finding.notes.append(f"{hit.count} matching lines in {Path(scan.path).name}; the first "
                             f"{len(hit.lines)} are quoted.")
    for note in _version_notes(rule, scan):
        if note not in finding.notes:
            finding.notes.append(note)


def _version_notes(rule: Rule, scan: Scan) -> list[str]:
    notes = []
    if rule.fixed_in and scan.criu_version:
        if parse_version(scan.criu_version) < parse_version(rule.fixed_in):
            notes.append(f"This log's CRIU is {scan.criu_version}, older than {rule.fixed_in}, the first "
                         "release that handles this.")
        else:
            notes.append(f"This log's CRIU {scan.criu_version} should already handle this (fixed in "
                         f"{rule.fixed_in}); look for another cause too.")
    if rule.kernel_from and scan.kernel:
        newer = parse_version(scan.kernel) >= parse_version(rule.kernel_from)
        notes.append(f"Kernel {scan.kernel} is {'' if newer else 'older than '}{rule.kernel_from}"
                     f"{' or newer, where this arises' if newer else ', where this usually arises'}.")
    return notes


def _noise(diag: Diagnosis, scans: list[Scan]) -> None:
    merged: dict[str, BenignLines] = {}
    for scan in scans:
        for nid, nh in scan.noise.items():
            bl = merged.setdefault(nid, BenignLines(nid, nh.noise.why))
            bl.count += nh.count
            bl.lines.extend(nh.lines[: max(0, 3 - len(bl.lines))])
    diag.benign = list(merged.values())


def _fill(template: str, evidence: dict[str, str]) -> str:
    """`{name}` -> the evidence value, or `<name>` when the log did not say."""
    return re.sub(r"\{(\w+)\}", lambda m: evidence.get(m.group(1), f"<{m.group(1)}>"), template)


# ------------------------------------------------------------------------------- images and stats


def _images(diag: Diagnosis, directory: Path, findings: dict[str, Finding],
            ranks: dict[str, tuple[int, int, int, int]], index: int) -> None:
    cores = sorted(p.name for p in directory.glob("core-*.img"))
    has_inventory = (directory / "inventory.img").is_file()
    has_pstree = (directory / "pstree.img").is_file()
    src = Source(str(directory), "images")
    if has_inventory and has_pstree and cores:
        src.outcome = "succeeded"
        src.note = (f"the images look complete: inventory.img, pstree.img and {len(cores)} core image(s) "
                    "(CRIU writes inventory.img last)")
    elif cores or has_pstree:
        src.outcome = "failed"
        missing = [n for n, ok in (("inventory.img", has_inventory), ("pstree.img", has_pstree)) if not ok]
        src.note = f"incomplete: {', '.join(missing)} missing"
        rule = IMAGES_INCOMPLETE
        finding = Finding(rule.id, rule.title, rule.kind, rule.explanation, rule.fix,
                          evidence={"missing": ", ".join(missing)}, sources=[str(directory)])
        findings[rule.id] = finding
        ranks[rule.id] = (KIND_RANK[rule.kind], -rule.priority, index, 0)
    else:
        src.outcome = "unknown"
        src.note = "inventory.img only: no task images"
    diag.sources.append(src)


def _stats(diag: Diagnosis, path: Path) -> None:
    """The counters of stats-dump / stats-restore, when they decode."""
    src = Source(str(path), "stats")
    try:
        image = open_image(path)
        entries = image.load()
    except ForensicsError as exc:
        src.note = f"does not decode: {exc}"
        diag.sources.append(src)
        return
    if image.errors:
        src.note = f"damaged: {image.errors[0]}"
    for entry in entries:
        for part, fields in entry.message.ListFields():
            counters = {f.name: int(v) for f, v in fields.ListFields()}
            diag.stats[part.name] = counters
    if diag.stats and src.note is None:
        src.note = "decoded: " + ", ".join(sorted(diag.stats))
    diag.sources.append(src)


# ------------------------------------------------------------------------------------------- overall


def _overall(outcomes: list[Outcome]) -> Outcome:
    if "failed" in outcomes:
        return "failed"
    if outcomes and all(o == "succeeded" for o in outcomes):
        return "succeeded"
    return "unknown"


def _versions(diag: Diagnosis, scans: list[Scan]) -> None:
    versions = list(dict.fromkeys(s.criu_version for s in scans if s.criu_version))
    kernels = list(dict.fromkeys(s.kernel for s in scans if s.kernel))
    diag.criu_version = versions[0] if versions else None
    diag.kernel = kernels[0] if kernels else None
    if len(versions) > 1:
        diag.notes.append(f"The logs come from different CRIU versions: {', '.join(versions)}.")
    if len(kernels) > 1:
        diag.notes.append(f"The logs come from different kernels: {', '.join(kernels)}.")


def _summary(diag: Diagnosis) -> None:
    if diag.findings:
        top = diag.findings[0]
        if top.kind == "pointer":
            diag.notes.append("Only the engine's summary is here: the cause is in the CRIU log it names.")
        return
    if diag.outcome == "succeeded":
        diag.notes.append("Nothing failed: every input that states an outcome reports success.")
    elif diag.outcome == "unknown":
        diag.notes.append("No failure found, but no input states that the run succeeded either.")
