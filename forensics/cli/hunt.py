"""`forensics hunt QUESTION CKPT... [--from DIR-or-glob]`: one question over many checkpoints."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from forensics.cli import app
from forensics.cli.common import Format, FormatOpt
from forensics.errors import ForensicsError
from forensics.hunt.rows import SORT_COLUMNS, Status, sort_value

SPLIT_DEFAULT = "1GiB"


def _bytes(text: str) -> int:
    units = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}
    t = text.strip().lower()
    num = t.rstrip("kmgib")
    try:
        return int(num) * units[t[len(num):]]
    except (ValueError, KeyError):
        raise ForensicsError(f"--split takes a size such as 512MiB or 2GiB, not {text!r}") from None


def _reports(result, directory: Path, page: Path, reveal: bool, rootfs: list[Path] | None,  # noqa: ANN001
             binary: list[str] | None) -> dict[str, str]:
    """`forensics report` of every checkpoint with hits, as report-N.html (N its number on the page);
    {ref: URL relative to the page}. A checkpoint whose report cannot be made keeps the command instead."""
    import os

    from forensics.cli.report import make_report
    from forensics.hunt.open import close, load

    directory.mkdir(parents=True, exist_ok=True)
    links: dict[str, str] = {}
    for i, r in enumerate(result.results, 1):
        if not r.hits:
            continue
        out = directory / f"report-{i}.html"
        try:
            ck = load(r.target)
        except ForensicsError:
            continue
        try:
            make_report([r.target.ref], [ck], out, reveal, rootfs, binary)
        finally:
            close(ck)
        links[r.target.ref] = os.path.relpath(str(out), str(page.parent.resolve()))
    return links


@app.command()
def hunt(
    checkpoints: Optional[list[str]] = typer.Argument(None, help="Checkpoints, in any form inspect takes."),
    from_: Optional[list[str]] = typer.Option(
        None, "--from", help="A directory or glob to find checkpoints in (Docker roots, kubelet's checkpoint "
        "directory...); repeatable."),
    grep: Optional[str] = typer.Option(None, "--grep", help="QUESTION: these bytes in memory."),
    regex: bool = typer.Option(False, "--regex", help="--grep PATTERN is a regular expression."),
    hex_: bool = typer.Option(False, "--hex", help="--grep PATTERN is hex bytes."),
    ignore_case: bool = typer.Option(False, "--ignore-case", "-i"),
    utf16: bool = typer.Option(False, "--utf16", help="--grep PATTERN as UTF-16LE."),
    yara: Optional[Path] = typer.Option(None, "--yara", help="QUESTION: these YARA rules over memory."),
    findings: bool = typer.Option(False, "--findings", help="QUESTION: the ranked findings."),
    min_score: int = typer.Option(0, "--min-score", help="With --findings: only those scoring this or more."),
    diff_against: Optional[str] = typer.Option(
        None, "--diff-against", help="QUESTION: changes against this known-good checkpoint, without "
        "those every checkpoint shares."),
    reveal: bool = typer.Option(False, "--reveal", help="Show secrets (masked by default)."),
    rootfs: Optional[list[Path]] = typer.Option(None, "--rootfs", help="Where the containers' binaries are."),
    binary: Optional[list[str]] = typer.Option(None, "--binary", help="PATH_IN_CONTAINER=LOCAL_FILE."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Local worker processes (default: cores)."),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help="A Dask scheduler, tcp://HOST:8786: run the tasks on that cluster "
        "(workers read the same paths)."),
    split: str = typer.Option(SPLIT_DEFAULT, "--split", help="Checkpoints with more pages than this are "
                              "spread over several tasks."),
    per_checkpoint: bool = typer.Option(False, "--per-checkpoint", "--count",
                                        help="One row per checkpoint with its number of hits."),
    show_all: bool = typer.Option(False, "--all", help="Also a row for each checkpoint without hits."),
    sort: Optional[list[str]] = typer.Option(None, "--sort", help=f"Sort by: {', '.join(SORT_COLUMNS)} "
                                             "(repeatable; '-' before a column for descending)."),
    fmt: Format = FormatOpt,
    wide: bool = typer.Option(False, "--wide", "-w", help="Every column of the text table (ref, engine, kind, "
                              "length, where, score, error)."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json: one JSON document."),
    as_jsonl: bool = typer.Option(False, "--jsonl", help="Same as --format jsonl: one JSON object per row, "
                                  "as checkpoints finish."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Also write a self-contained page."),
    reports: Optional[Path] = typer.Option(
        None, "--reports", help="With -o: also write the full report of each checkpoint with hits into "
        "this directory (made here, not on the cluster) and link the page's rows to them."),
    docker_root: Optional[Path] = typer.Option(None, "--docker-root"),
    container: Optional[str] = typer.Option(None, "--container"),
) -> None:
    """Ask every checkpoint one question (grep, YARA, findings, diff against a baseline), in parallel."""
    from forensics.hunt import question as q
    from forensics.hunt.backends import Backend, DaskBackend, InProcessBackend, LocalBackend, default_jobs
    from forensics.hunt.run import hunt as run_hunt
    from forensics.hunt.run import rows as make_rows
    from forensics.hunt.targets import Unusable, expand
    from forensics.cli import hunt_output as render
    from forensics.render.progress import count_progress
    from forensics.render.terminal import make_console

    asked = [x for x in (grep is not None, yara is not None, findings, diff_against is not None) if x]
    if len(asked) != 1:
        raise ForensicsError("give exactly one question: --grep PATTERN, --yara RULES, --findings or "
                             "--diff-against BASELINE")
    if reports is not None and output is None:
        raise ForensicsError("--reports DIR goes with -o PAGE.html: the page is what links to the reports")
    if as_json and as_jsonl:
        raise ForensicsError("give --json or --jsonl, not both")
    as_json = as_json or fmt is Format.JSON
    as_jsonl = as_jsonl or fmt is Format.JSONL
    for col in sort or []:
        if col.lstrip("-") not in SORT_COLUMNS:
            raise ForensicsError(f"--sort takes {', '.join(SORT_COLUMNS)}; not {col!r}")
    if not checkpoints and not from_:
        raise ForensicsError("name checkpoints, or directories or globs to find them in with --from")
    binaries = q.Binaries(tuple(str(p) for p in rootfs or ()), tuple(binary or ()))
    question: q.Question
    if grep is not None:
        question = q.GrepQuestion(grep, regex, hex_, ignore_case, utf16)
    elif yara is not None:
        try:
            text = yara.read_text()
        except OSError as e:
            raise ForensicsError(f"cannot read: {e.strerror}", yara) from None
        question = q.YaraQuestion(text, str(yara))
    elif findings:
        question = q.FindingsQuestion(min_score, reveal, binaries)
    else:
        assert diff_against is not None
        base = expand([diff_against], [], docker_root, container)
        if len(base) != 1 or isinstance(base[0], Unusable):
            why = base[0].error if base and isinstance(base[0], Unusable) else "names several checkpoints"
            raise ForensicsError(f"--diff-against {diff_against}: {why}")
        question = q.DiffQuestion(base[0], binaries, reveal)
    q.check(question)

    items = expand(checkpoints or [], from_ or [], docker_root, container)
    if not items:
        raise ForensicsError("no checkpoints found in " + ", ".join([*(checkpoints or []), *(from_ or [])]))
    backend: Backend
    if scheduler:
        backend = DaskBackend(scheduler)
    else:
        n = jobs if jobs is not None else default_jobs()
        if n < 1:
            raise ForensicsError("--jobs takes 1 or more")
        n = min(n, len(items))
        backend = InProcessBackend() if n == 1 else LocalBackend(n)

    stream = as_jsonl and not sort
    with count_progress(len(items), "hunt", enabled=fmt is Format.TEXT and not (as_json or as_jsonl)) as progress:
        def done(r) -> None:  # noqa: ANN001 - CheckpointResult
            if stream:
                from forensics.hunt.run import Hunt

                for line in render.jsonl(make_rows(Hunt("", [r]), per_checkpoint, not show_all),
                                         per_checkpoint):
                    sys.stdout.write(line + "\n")
                sys.stdout.flush()

        try:
            result = run_hunt(items, question, backend, split_bytes=_bytes(split), on_done=done,
                              progress=progress)
        finally:
            backend.close()

    rows = make_rows(result, per_checkpoint, not show_all)
    for col in reversed(sort or []):   # stable sorts, last key first: the first --sort wins
        name = col.lstrip("-")
        rows.sort(key=lambda r: sort_value(r, name), reverse=col.startswith("-"))
    if output is not None:
        links = _reports(result, reports, output, reveal, rootfs, binary) if reports is not None else None
        try:
            output.write_text(render.page(result, rows, per_checkpoint, links))
        except OSError as e:
            raise ForensicsError(f"cannot write: {e.strerror}", output) from None
    if as_json:
        print(json.dumps(render.document(result, rows, per_checkpoint), indent=1, default=str))
    elif as_jsonl and not stream:
        for line in render.jsonl(rows, per_checkpoint):
            print(line)
    elif fmt is Format.CSV:
        from forensics.render.machine import write_csv

        write_csv([render.table(rows, per_checkpoint)], sys.stdout)
    elif not as_jsonl:
        from forensics.render.table import write

        write([render.table(rows, per_checkpoint, result.question)], wide=wide)
        failed = sum(1 for r in result.results if r.status is Status.FAILED)
        folded = sum(r.folded for r in result.results)
        tail = f"{len(result.results)} checkpoints, {sum(1 for r in result.results if r.hits)} with hits"
        tail += f", {failed} failed" if failed else ""
        tail += f", {folded} changes shared by every checkpoint folded away" if folded else ""
        make_console(stderr=True).print(tail)
    if result.partial:
        raise typer.Exit(2)
