"""Command line: parse options, call one function, hand its result to one renderer.

Errors from inputs become one line on stderr and exit code 2; nothing else is caught here, and typer's
pretty exceptions never show locals, because locals can hold memory read from a checkpoint.

Start-up is part of every command's cost (a grep over 1 GiB takes about as long as importing
everything), so this module imports nothing heavy: typer is imported when `app` is first asked for
(by a command module, or by `main`), `--version` answers without it, and only the module of the command
being run is imported.
"""

from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING, Any

from forensics import __version__

if TYPE_CHECKING:
    import typer

# Which module holds each command: only the one being run is imported.
COMMANDS = {"inspect": "inspect", "memory": "memory", "diff": "diff", "timeline": "timeline", "doctor": "doctor",
            "report": "report", "capture": "report", "ls": "ls", "columns": "columns", "hunt": "hunt"}

_app: typer.Typer | None = None


def _make_app() -> typer.Typer:
    import typer

    app = typer.Typer(
        name="forensics",
        help="Forensic debugging of frozen containers: decode, inspect and diff CRIU checkpoints.",
        pretty_exceptions_show_locals=False,
        no_args_is_help=True,
        add_completion=True,
        context_settings={"help_option_names": ["-h", "--help"]},
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
            from forensics import loader

            loader.DEFAULT_PARENT = parent

    return app


def __getattr__(name: str) -> Any:
    """`from forensics.cli import app` builds the typer application on first use (PEP 562)."""
    global _app
    if name == "app":
        if _app is None:
            _app = _make_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register(argv: list[str] | None = None) -> None:
    """Import command modules; importing one adds its commands to `app`."""
    import importlib

    args = argv if argv is not None else sys.argv[1:]
    # The first word that is neither an option nor the value of --parent names the command.
    words = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "--parent")]
    wanted = words[0] if words else None
    modules = [COMMANDS[wanted]] if wanted in COMMANDS else sorted(set(COMMANDS.values()))
    for name in modules:
        importlib.import_module(f"forensics.cli.{name}")


def _tidy_help(typer_app: typer.Typer, words: set[str]) -> None:
    """Placeholders a person reads in --help and usage errors: none for flags, PATH, N, TEXT for values
    (typer would print the Python type, `<bool>` or `<list[Path]>`). Only for the commands named on the
    command line (`words`): only theirs are shown, and reading every command's type hints cost 7-15 ms of
    every start."""
    import inspect
    import typing

    from typer.models import ArgumentInfo, OptionInfo

    apps = [typer_app, *(g.typer_instance for g in typer_app.registered_groups if g.typer_instance)]
    for a in apps:
        for cmd in a.registered_commands:
            if cmd.callback is None or (cmd.name or cmd.callback.__name__.replace("_", "-")) not in words:
                continue
            try:
                hints = typing.get_type_hints(cmd.callback)
            except Exception:  # noqa: BLE001 - help text only; an odd annotation keeps typer's default
                hints = {}
            for name, param in inspect.signature(cmd.callback).parameters.items():
                info = param.default
                if not isinstance(info, (OptionInfo, ArgumentInfo)) or info.metavar is not None:
                    continue
                hint = str(hints.get(name, ""))
                if hint == "<class 'bool'>":
                    info.metavar = "" if isinstance(info, OptionInfo) else "BOOL"
                elif "Path" in hint:
                    info.metavar = "PATH"
                elif "int" in hint:
                    info.metavar = "N"
                elif "Format" in hint:
                    info.metavar = "text|json|jsonl|csv"
                elif isinstance(info, ArgumentInfo):
                    info.metavar = name.upper().rstrip("_")
                else:
                    info.metavar = "TEXT"


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # the one answer that needs no command line parser
        print(f"forensics {__version__}")
        return
    from forensics.errors import ForensicsError

    # A checkpoint decodes into many small objects and almost no reference cycles: at the default
    # threshold (a young collection every 700 allocations) the collector rescanned them ~35% of the time
    # of `inspect --json` on 100,000 processes. Collections still run, 70 times less often.
    gc.set_threshold(50_000, 20, 10)
    _register()
    app = __getattr__("app")
    _tidy_help(app, set(sys.argv[1:]))
    try:
        app()
    except ForensicsError as e:
        from forensics.records.format import printable

        print(f"forensics: {printable(str(e))}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("forensics: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # `forensics inspect ... | head`: the reader has what it wanted; stop quietly, as cat and grep do.
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        sys.exit(0)
    except OSError as e:
        # The machine said no (a full disk, a permission, a path that vanished): the user's to fix, not a bug.
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"forensics: {e.strerror or e}{where}", file=sys.stderr)
        sys.exit(2)
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
