"""Helpers for tests that run handgrad in a real process and press Ctrl-C on it."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time


def sigint_default() -> None:
    """``preexec_fn`` for the child: SIGINT back to its default. A job that a shell starts in the
    background (``nohup ... &``, some CI runners) inherits SIGINT ignored, and Python then never
    raises KeyboardInterrupt: the Ctrl-C tests would wait on a process that cannot hear them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def handgrad_process(args: list[str], env: dict):
    """``handgrad ARGS`` in a real process (text pipes, SIGINT at its default); killed on the way
    out if it still runs, so a failed test leaves no process behind."""
    p = subprocess.Popen([sys.executable, "-m", "handgrad.cli", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, preexec_fn=sigint_default)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def press_ctrl_c(p: subprocess.Popen, delay: float = 1.0, timeout: float = 120) -> tuple[str, str]:
    """After ``delay`` seconds, SIGINT to ``p``; its remaining (stdout, stderr)."""
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    return p.communicate(timeout=timeout)
