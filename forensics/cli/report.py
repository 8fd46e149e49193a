"""`forensics report` (checkpoints -> one HTML file) and `forensics capture` (checkpoint a running Docker
container with `docker checkpoint create --leave-running`, then write its report beside the checkpoint)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Optional

import typer

from forensics import __version__
from forensics.cli import app
from forensics.cli.common import check_binaries, check_paths, warn
from forensics.errors import ForensicsError, UsageError
from forensics.tables.order import order_problems
from forensics.memory.grep import scan_size
from forensics.memory.select import VmaFilter
from forensics.model.checkpoint import Checkpoint
from forensics.loader import load_checkpoint
from forensics.render import html
from forensics.report import assemble
from forensics.render.progress import scan_progress
from forensics.symbols.resolve import resolver_for

DOCKER_TIMEOUT = 60
CHECKPOINT_TIMEOUT = 900


def make_report(targets: list[str], checkpoints: list[Checkpoint], output: Path | None, reveal: bool,
                rootfs: list[Path] | None, binary: list[str] | None) -> assemble.Report:
    """Assemble and write the report (to stdout when `output` is None)."""
    resolvers = [resolver_for(ck, rootfs, binary) for ck in checkpoints]
    symbols = [None if r.empty else assemble.BinarySymbols(ck, r) for ck, r in zip(checkpoints, resolvers)]
    try:
        total = sum(scan_size(ck, VmaFilter()) for ck in checkpoints[1:])
        with scan_progress(total, "diff") as progress:
            report = assemble.assemble(targets, checkpoints, reveal=reveal, symbols=symbols,
                                   command=shlex.join(["forensics", *sys.argv[1:]]), version=__version__,
                                   progress=progress)
        if output is None:
            sys.stdout.write(html.render(report))
        else:
            html.write(report, output)
    finally:
        for s in symbols:
            if s is not None:
                s.close()
    return report


@app.command(epilog="Examples:\n\n  forensics report checkpoint1 checkpoint2 -o incident-42.html\n"
             "  forensics report export.tar.zst --rootfs ./image -o - > report.html")
def report(
    checkpoints: list[str] = typer.Argument(..., help="Checkpoints of one container, oldest first (any form "
                                                      "inspect takes)."),
    output: str = typer.Option("report.html", "-o", "--output", help="The HTML file to write, or - for stdout."),
    reveal: bool = typer.Option(False, "--reveal", help="Show secret-looking values instead of masking them."),
    docker_root: Optional[Path] = typer.Option(None, "--docker-root", help="Docker data root to find checkpoints "
                                                                            "by name in."),
    container: Optional[str] = typer.Option(None, "--container", help="Container name or id, when a checkpoint "
                                                                      "name is ambiguous."),
    rootfs: Optional[list[Path]] = typer.Option(None, "--rootfs", help="Where the container's binaries are "
                                                "(repeatable): names thread stops and changed variables."),
    binary: Optional[list[str]] = typer.Option(None, "--binary", help="PATH_IN_CONTAINER=LOCAL_FILE (repeatable)."),
) -> None:
    """One self-contained HTML file: findings, processes, memory maps, mounts; and what changed over time.

    With several checkpoints (oldest first) it also shows the changes between consecutive ones and a timeline
    of every value that moved. The page loads nothing from anywhere; open it in any browser."""
    check_paths(rootfs, "--rootfs")
    check_binaries(binary)
    out = None if output == "-" else Path(output)
    if out is not None and out.is_dir():
        raise UsageError(f"-o {output} is a directory", f"give a file name, e.g. -o {out / 'report.html'}")
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"-o {output}: no directory {out.parent}")
    cks = [load_checkpoint(c, docker_root=docker_root, container=container) for c in checkpoints]
    for problem in order_problems(cks):
        warn(problem)
    make_report(checkpoints, cks, out, reveal, rootfs, binary)
    if out is not None:
        print(f"report: {output}")
    if any(ck.partial for ck in cks):
        print("forensics: partial result: some evidence could not be read (listed at the top of the report)",
              file=sys.stderr)
        raise typer.Exit(2)


# ------------------------------------------------------------------ capture

def _docker(*args: str, timeout: float = DOCKER_TIMEOUT) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    if docker is None:
        raise ForensicsError("docker is not installed (no `docker` on PATH): install the Docker CLI "
                             "(Debian: apt-get install docker.io, or docker-ce-cli from Docker's repository)")
    try:
        return subprocess.run([docker, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ForensicsError(f"`docker {' '.join(args)}` did not finish within {timeout:.0f} s") from None


def _last_line(p: subprocess.CompletedProcess[str]) -> str:
    lines = [x.strip() for x in (p.stderr or p.stdout or "").splitlines() if x.strip()]
    return lines[-1] if lines else f"exit code {p.returncode}"


def checkpoint_error(output: str) -> str:
    """What a failed `docker checkpoint create` means, with the fix, from doctor's rule table."""
    from forensics.doctor.rules import explain

    rule = explain(output)
    if rule is not None:
        return f"{rule.title}: {rule.fix}"
    lines = [x.strip() for x in output.splitlines() if x.strip()]
    return "docker checkpoint create failed: " + (lines[-1] if lines else "no output") + \
        " (forensics doctor explains CRIU's dump.log)"


def default_name() -> str:
    return "forensics-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


@app.command(epilog="Examples:\n\n  forensics capture my-container              # a checkpoint (kept running) + its report\n"
             "  forensics capture web-1 --name incident-42 --rootfs ./image")
def capture(
    container: str = typer.Argument(..., help="The running container to checkpoint (name or id)."),
    name: Optional[str] = typer.Option(None, "--name", help="Checkpoint name (default forensics-<UTC time>)."),
    docker_root: Optional[Path] = typer.Option(None, "--docker-root", help="The daemon's data root as seen from "
                                                                            "here (default: what `docker info` says)."),
    reveal: bool = typer.Option(False, "--reveal", help="Show secret-looking values in the report."),
    rootfs: Optional[list[Path]] = typer.Option(None, "--rootfs", help="Where the container's binaries are "
                                                "(repeatable)."),
    binary: Optional[list[str]] = typer.Option(None, "--binary", help="PATH_IN_CONTAINER=LOCAL_FILE (repeatable)."),
) -> None:
    """Checkpoint a running container (it keeps running) and write its report beside the checkpoint."""
    name = name or default_name()
    p = _docker("inspect", "--type", "container", "--format", "{{json .Id}}", container)
    if p.returncode != 0:
        raise ForensicsError(f"docker inspect {container}: {_last_line(p)}")
    container_id = json.loads(p.stdout.strip())
    if docker_root is None:
        p = _docker("info", "--format", "{{json .DockerRootDir}}")
        if p.returncode != 0:
            raise ForensicsError(f"docker info: {_last_line(p)}")
        docker_root = Path(json.loads(p.stdout.strip()))
    checkpoints_dir = docker_root / "containers" / container_id / "checkpoints"
    p = _docker("checkpoint", "create", "--leave-running", container, name, timeout=CHECKPOINT_TIMEOUT)
    if p.returncode != 0:
        raise ForensicsError(checkpoint_error(p.stderr + "\n" + p.stdout))
    ckdir = checkpoints_dir / name
    if not (ckdir / "inventory.img").is_file():
        raise ForensicsError(f"the checkpoint was made but is not at {ckdir}: give --docker-root, the daemon's data "
                             "root as seen from this machine")
    ck = load_checkpoint(ckdir)
    out = checkpoints_dir / f"{name}.report.html"
    make_report([str(ckdir)], [ck], out, reveal, rootfs, binary)
    print(f"checkpoint: {ckdir}")
    print(f"report: {out}")
    if ck.partial:
        print("forensics: partial result: some evidence could not be read (listed at the top of the report)",
              file=sys.stderr)
