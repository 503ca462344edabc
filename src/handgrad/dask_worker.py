"""What handgrad sets up in the Dask worker processes it starts: loaded there as a preload module
(``LocalCluster(preload=[...])``), so that it holds from the worker's start and for any worker a
nanny restarts."""

from __future__ import annotations

import signal
import threading


def dask_setup(worker) -> None:
    """The worker process ignores SIGINT: Ctrl-C in a terminal reaches every process of the job,
    and the driver stops the workers itself (no traceback from each of them)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
