"""``handgrad config keys`` and ``config show``: the configuration reference."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from handgrad.cli.common import ConfigArg, SetOpt, _load, app, friendly
from handgrad.errors import HandgradError

config_app = typer.Typer(no_args_is_help=True, help="Every config key, its type, default and meaning; a config resolved.")
app.add_typer(config_app, name="config")


@config_app.command("keys")
@friendly
def config_keys(kind: Annotated[Optional[str], typer.Argument(
        help="only this model kind's keys (linear, mlp, convnet, rnn, ...)")] = None) -> None:
    """List every config key of every model kind (or one) with its type, default and meaning."""
    from handgrad.config import kinds
    from handgrad.config.reference import format_keys

    if kind is not None and kind not in kinds():
        raise HandgradError(f"unknown model kind {kind!r}; choose one of {', '.join(kinds())}")
    typer.echo(format_keys(kind))


@config_app.command("show")
@friendly
def config_show(config: ConfigArg, set_: SetOpt = None) -> None:
    """Print CONFIG resolved (defaults filled in, --set applied): every key with its value, type,
    default and meaning; '*' marks the values the file or --set gave."""
    from handgrad.config.reference import format_resolved

    typer.echo(format_resolved(_load(config, set_), str(config)))
