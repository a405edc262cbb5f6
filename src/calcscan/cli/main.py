"""Entry point of the ``calcscan`` command.

Each sub-command lives in its own module of :mod:`calcscan.cli` and exposes
``register(app)``; heavy libraries are imported inside the command functions so that
``calcscan --help`` stays fast.

Exit codes (CONTRACTS.md): 0 success, 1 usage/configuration error, 2 unusable input (or, for
``cohort run``, some studies failed). Errors are one line on stderr, never a traceback
(``--debug`` shows it).
"""

from __future__ import annotations

import logging
import sys

import typer

from calcscan import __version__
from calcscan.errors import CalcscanError

__all__ = ["app", "main"]

app = typer.Typer(
    name="calcscan",
    help="Soft-tissue calcification on CT: detect facial dermal calcified nodules, run cohort "
    "statistics, rank the differential diagnosis. A research tool, never a diagnosis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"calcscan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More log output (-vv: debug)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """calcscan command line."""
    from rich.logging import RichHandler

    from calcscan.cli.console import err_console

    _state["debug"] = debug
    level = logging.WARNING if quiet else (logging.INFO if verbose < 2 else logging.DEBUG)
    if verbose == 0 and not quiet:
        level = logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
        force=True,
    )
    for noisy in ("matplotlib", "PIL", "distributed", "asyncio", "numexpr", "pydicom"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


# Sub-commands: each module defines register(app).
from calcscan.cli import info as _info  # noqa: E402

_info.register(app)

from calcscan.cli import insert as _insert  # noqa: E402
from calcscan.cli import phantom as _phantom  # noqa: E402
from calcscan.cli import validate as _validate  # noqa: E402

_phantom.register(app)
_insert.register(app)
_validate.register(app)

from calcscan.cli import stats as _stats  # noqa: E402

_stats.register(app)


from calcscan.cli import cohort as _cohort  # noqa: E402

_cohort.register(app)

from calcscan.cli import ddx as _ddx  # noqa: E402

_ddx.register(app)

from calcscan.cli import detect as _detect  # noqa: E402

_detect.register(app)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI with contract exit codes and one-line errors."""
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="calcscan", standalone_mode=False)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        _fail("aborted", 130)
    except typer.TyperException as exc:  # bad option or argument: a usage error
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            sys.stdout.write(ctx.get_help() + "\n")
            raise SystemExit(0) from None
        if ctx is not None:
            sys.stderr.write(ctx.get_usage() + "\n")
        _fail(exc.format_message(), 1)
    except CalcscanError as exc:
        if _state["debug"]:
            raise
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if _state["debug"]:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", 1)
    raise SystemExit(rv if isinstance(rv, int) else 0)
