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
) -> None:
    """checkpoint-forensics."""


def _register() -> None:
    """Command groups live in their own modules; importing them adds their commands to `app`."""
    from forensics.cli import diff, doctor, inspect, ls, memory, report, timeline  # noqa: F401


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
