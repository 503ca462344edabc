"""The ``handgrad`` command: train, gradcheck, search, lrfind, predict, sample, serve, reproduce, report,
config. Every command is a thin layer over the library (``handgrad.tasks``, ``handgrad.search``, ...).

Errors the user can cause are printed as one clear message (no traceback), exit status 2. Each
command imports what it needs when it runs, so that ``handgrad --help`` starts at once. The commands
live in this package by group: ``experiment_cmds`` (train, gradcheck, search, lrfind),
``report_cmds`` (reproduce, report), ``model_cmds`` (predict, sample, serve) and ``config_cmds``.
"""

from __future__ import annotations

import sys

# the commands, one module per group; each registers itself on ``app``
from handgrad.cli import config_cmds, experiment_cmds, model_cmds, report_cmds  # noqa: F401
from handgrad.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
