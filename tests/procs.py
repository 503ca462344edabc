"""Helpers for tests that run handgrad in a real process and press Ctrl-C on it."""

from __future__ import annotations

import signal


def sigint_default() -> None:
    """``preexec_fn`` for the child: SIGINT back to its default. A job that a shell starts in the
    background (``nohup ... &``, some CI runners) inherits SIGINT ignored, and Python then never
    raises KeyboardInterrupt: the Ctrl-C tests would wait on a process that cannot hear them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
