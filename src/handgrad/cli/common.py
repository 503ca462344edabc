"""What every command shares: the typer app, the error handling, the options."""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from handgrad.errors import HandgradError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Small neural networks with hand-derived gradients, checked numerically.")


def _log_to_stderr() -> None:
    """The library logs what it did to data (e.g. the leak-free split's summary) at INFO; a notebook
    shows nothing unless asked, the command line shows it on stderr."""
    logger = logging.getLogger("handgrad")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("handgrad: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def friendly(fn):
    """Turn HandgradError (and an OSError from a write: a full disk, a read-only place) into a one-line
    message and exit code 2, and Ctrl-C into one line on what was kept (``Interrupted.kept``, else
    nothing) and exit code 130, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _log_to_stderr()
        try:
            return fn(*args, **kwargs)
        except HandgradError as e:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        except OSError as e:  # a write the library did not wrap: still one line, naming the path
            where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
            typer.secho(f"error: {where + ': ' if where else ''}{e.strerror or e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as e:
            typer.secho(f"interrupted: {getattr(e, 'kept', None) or 'nothing was kept'}", err=True)
            raise typer.Exit(130) from None

    return wrapper


ConfigArg = Annotated[Path, typer.Argument(help="experiment config (TOML)")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", help="override a key: train.eta=0.01 (repeatable; KEY=null unsets it; `handgrad config keys` lists them)")]


def _load(config: Path, sets):
    from handgrad.config import load_config, parse_overrides

    return load_config(config, parse_overrides(sets))


def _default_out(kind: str, name: str) -> Path:
    return Path("runs") / kind / name


JobsOpt = Annotated[Optional[int], typer.Option(
    min=1, help="local worker processes (default: one per core; 1: in this process, no cluster)")]
SchedulerOpt = Annotated[Optional[str], typer.Option(
    envvar="HANDGRAD_SCHEDULER", help="address of an existing Dask scheduler (tcp://host:8786) to run on")]
