"""Command line: parse options, call one function, hand its result to one renderer.

Errors from inputs become one line on stderr and exit code 2; nothing else is caught here, and typer's
pretty exceptions never show locals, because locals can hold memory read from a checkpoint.
"""

from __future__ import annotations

import sys
import typer

from forensics import __version__
from forensics.errors import ForensicsError

app = typer.Typer(
    name="forensics",
    help="Forensic debugging of frozen containers: decode, inspect and diff CRIU checkpoints.",
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"forensics {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    parent: str = typer.Option(None, "--parent", metavar="PATH",
                               help="The parent of an incremental checkpoint that its own `parent` link "
                                    "cannot reach (e.g. the --pre-checkpoint export of a Podman "
                                    "--with-previous export): forensics --parent PRE.tar.gz inspect FINAL.tar.gz"),
) -> None:
    """checkpoint-forensics."""
    if parent is not None:
        from forensics.model import load

        load.DEFAULT_PARENT = parent


# Which module holds each command: only the one being run is imported (start-up time is part of every
# command's cost; a grep over 1 GiB takes about as long as importing everything).
COMMANDS = {"inspect": "inspect", "memory": "memory", "diff": "diff", "timeline": "timeline", "doctor": "doctor",
            "report": "report", "capture": "report", "ls": "ls"}


def _register(argv: list[str] | None = None) -> None:
    """Import command modules; importing one adds its commands to `app`."""
    import importlib

    wanted = next((a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("-")), None)
    modules = [COMMANDS[wanted]] if wanted in COMMANDS else sorted(set(COMMANDS.values()))
    for name in modules:
        importlib.import_module(f"forensics.cli.{name}")


def main() -> None:
    _register()
    try:
        app()
    except ForensicsError as e:
        print(f"forensics: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("forensics: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, no traceback, no locals
        where = ""
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            where = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 2)[-1]}:{tb.tb_lineno}"
        print(f"forensics: internal error ({type(e).__name__}{where}); this is a bug, please report it",
              file=sys.stderr)
        sys.exit(70)
