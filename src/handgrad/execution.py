"""Where independent work runs: in this process, on an embedded Dask cluster, or on an existing one.

Searches (trials), repeated runs (seeds) and ``reproduce`` (experiments) hand their independent
tasks to :func:`run_tasks` with a :class:`Layout` from :func:`choose_layout`:

- ``--jobs 1``: in this process, one task after another, no cluster (as handgrad always ran);
- otherwise an embedded ``dask.distributed.LocalCluster`` of worker processes, started and closed
  here, sized so that workers x BLAS threads <= cores (small per-step GEMMs scale poorly across
  BLAS threads; separate processes do not share that limit);
- ``--scheduler ADDRESS`` (or ``HANDGRAD_SCHEDULER``): an existing Dask cluster, any size.

The driver (this process) receives each result as it arrives and hands it to ``on_result``, which
writes it down (a search appends it to its ledger), so an interruption loses only the tasks
running. A worker that dies mid-task has its task re-run elsewhere by the Dask scheduler; a task
that raises is reported to ``on_failure`` with its message and the others go on; Ctrl-C cancels
what is left, closes the embedded cluster (its worker processes with it) and re-raises.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tqdm.auto import tqdm

from handgrad.errors import HandgradError

#: environment variable naming the scheduler of an existing Dask cluster (tcp://host:8786)
ENV_SCHEDULER = "HANDGRAD_SCHEDULER"
#: how long to try reaching an existing cluster's scheduler
CONNECT_TIMEOUT = "10s"
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Layout:
    """Where tasks run. ``mode``: ``in-process``, ``local`` (an embedded LocalCluster of
    ``workers`` processes with ``threads`` BLAS threads each) or ``remote`` (the cluster at
    ``address``; its workers as they were started)."""

    mode: str
    workers: int = 1
    threads: int | None = None
    address: str | None = None
    cores: int = field(default_factory=cores)

    def describe(self) -> str:
        if self.mode == "in-process":
            return "in this process (--jobs 1, no cluster)"
        if self.mode == "local":
            return (f"local Dask cluster: {self.workers} worker processes x {self.threads} BLAS thread"
                    f"{'s' * (self.threads != 1)} ({self.cores} cores)")
        return f"Dask cluster at {self.address}"

    def to_dict(self) -> dict:
        return asdict(self)


def choose_layout(jobs: int | None = None, scheduler: str | None = None, n_tasks: int | None = None) -> Layout:
    """The layout for ``n_tasks`` independent tasks.

    ``scheduler`` (else ``$HANDGRAD_SCHEDULER``) selects an existing cluster; ``jobs`` the number
    of local worker processes (None: one per core); one worker, or one task, runs in this process.
    BLAS threads per worker: cores // workers, at least 1.
    """
    address = scheduler or os.environ.get(ENV_SCHEDULER) or None
    if address:
        if jobs is not None:
            raise HandgradError(f"--jobs {jobs} sets local workers; with a scheduler ({address}) the cluster's "
                                "own workers run the tasks: give one or the other")
        return Layout("remote", workers=0, address=address)
    if jobs is not None and jobs < 1:
        raise HandgradError(f"--jobs must be at least 1, got {jobs}")
    n = cores()
    workers = jobs if jobs is not None else n
    if n_tasks is not None:
        workers = min(workers, max(1, n_tasks))
    if workers <= 1:
        return Layout("in-process", 1, None, cores=n)
    return Layout("local", workers, max(1, n // workers), cores=n)


@dataclass(frozen=True)
class Task:
    """One independent piece of work: ``fn(*args, **kwargs)``; ``key`` names it (unique in a run)."""

    key: str
    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class Summary:
    """What :func:`run_tasks` did, and where (``dashboard``: the Dask dashboard's address, if one ran)."""

    finished: int = 0
    failed: int = 0
    layout: Layout | None = None
    dashboard: str | None = None


def _call(fn: Callable, args: tuple, kwargs: dict, threads: int | None) -> Any:
    """Run a task, its BLAS limited to ``threads`` (the worker's share of the cores)."""
    if not threads:
        return fn(*args, **kwargs)
    import numpy  # noqa: F401 - load BLAS first: threadpoolctl limits only libraries already loaded
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        return fn(*args, **kwargs)


def error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def run_tasks(tasks: Sequence[Task], layout: Layout, *, on_result: Callable[[Task, Any], None],
              on_failure: Callable[[Task, str], None] | None = None, desc: str = "tasks", unit: str = "task",
              progress: bool | None = None, echo: Callable[[str], None] | None = None,
              dashboard: bool = True) -> Summary:
    """Run ``tasks`` where ``layout`` says; ``on_result(task, value)`` for each as it finishes,
    ``on_failure(task, message)`` for each that raised (None: re-raise the first, after the others).

    One progress bar (on stderr when it is a terminal, or as ``progress`` says) counts finished,
    failed and running tasks. ``echo`` gets one line on the layout (and the dashboard's address).
    """
    echo = echo or (lambda s: print(s, file=sys.stderr))
    summary = Summary(layout=layout)
    if not tasks:
        return summary
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    errors: list[tuple[Task, BaseException]] = []
    with tqdm(total=len(tasks), desc=desc, unit=unit, disable=disable) as bar:
        def done(task: Task, value: Any = None, exc: BaseException | None = None, running: int = 0) -> None:
            if exc is None:
                summary.finished += 1
                on_result(task, value)
            else:
                summary.failed += 1
                if on_failure is None:
                    errors.append((task, exc))
                else:
                    on_failure(task, error_text(exc))
            bar.set_postfix_str(f"finished {summary.finished}, failed {summary.failed}, running {running}",
                                refresh=False)
            bar.update(1)

        if layout.mode == "in-process":
            for i, task in enumerate(tasks):
                bar.set_postfix_str(f"finished {summary.finished}, failed {summary.failed}, running 1")
                try:
                    value = _call(task.fn, task.args, task.kwargs, layout.threads)
                except Exception as e:  # noqa: BLE001 - a failed task is recorded; the others go on
                    done(task, exc=e, running=min(1, len(tasks) - i - 1))
                else:
                    done(task, value, running=min(1, len(tasks) - i - 1))
        else:
            with _client(layout, echo) as client:
                summary.dashboard = _dashboard(client) if dashboard else None
                if summary.dashboard:
                    echo(f"Dask dashboard: {summary.dashboard}")
                _run_on_cluster(client, tasks, layout, done)
    if errors:
        raise errors[0][1]
    return summary


@contextlib.contextmanager
def _client(layout: Layout, echo):
    """A Dask client: on a LocalCluster started (and closed, whatever happens) here, or connected
    to the scheduler at ``layout.address``."""
    import logging

    from distributed import Client, LocalCluster

    if layout.mode == "remote":
        try:
            client = Client(layout.address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise HandgradError(f"cannot reach the Dask scheduler at {layout.address}: {e}") from None
        info = client.scheduler_info()
        workers = info.get("workers", {}).values()
        echo(f"Dask cluster at {layout.address}: {len(workers)} workers, "
             f"{sum(w.get('nthreads', 0) for w in workers)} threads")
        try:
            yield client
        finally:
            client.close()
        return
    echo(f"{layout.describe()}")
    env = {k: str(layout.threads) for k in _BLAS_ENV}
    # the scheduler's web server on a free port, so that two runs do not collide (its dashboard
    # pages need bokeh, not a dependency). Worker logs stay quiet: failures are reported here, once.
    # Ctrl-C in a terminal reaches every process of the job: the workers ignore it (the preload
    # module, also in workers a nanny restarts) and leave it to this process, which cancels their
    # tasks and closes them. A Ctrl-C while the cluster starts is acted on once it has started.
    cluster = None
    try:
        with _sigint_deferred(), _without_malloc_trim():
            cluster = LocalCluster(n_workers=layout.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", env=env, preload=["handgrad.dask_worker"],
                                   silence_logs=logging.CRITICAL)
        with Client(cluster) as client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _without_malloc_trim():
    """Start workers without MALLOC_TRIM_THRESHOLD_. Dask's nannies set it to 65536 (to give memory
    back to the OS), and leave it in this process's environment for later clusters; glibc then maps
    and unmaps every large array anew, and a trial's NumPy code runs 40% slower in a worker than
    here (measured: 3.1 s against 2.2 s per sheet-fig3 trial, benchmarks/bench_execution.py)."""
    import dask

    key = "MALLOC_TRIM_THRESHOLD_"
    before = os.environ.pop(key, None)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": {}}):
            yield
    finally:
        os.environ.pop(key, None)
        if before is not None:
            os.environ[key] = before


@contextlib.contextmanager
def _sigint_deferred():
    """Hold a Ctrl-C back while the block runs (starting a cluster must not be cut half-way, or
    its processes could be left behind), then raise it."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _dashboard(client) -> str | None:
    """The dashboard's address when one is running (it needs bokeh, here or on the cluster), else None."""
    import importlib.util

    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        if client.cluster is not None and importlib.util.find_spec("bokeh") is None:
            return None  # our own cluster, without bokeh: the address would serve no dashboard
        return client.dashboard_link
    except Exception:  # noqa: BLE001 - the dashboard is a convenience; never fail a run over it
        return None


def _run_on_cluster(client, tasks: Sequence[Task], layout: Layout, done) -> None:
    from distributed import as_completed

    tag = uuid.uuid4().hex[:8]
    futures = {}
    for task in tasks:
        fut = client.submit(_call, task.fn, task.args, task.kwargs, layout.threads, key=f"{task.key}-{tag}",
                            pure=False)
        futures[fut] = task
    pending = set(futures)
    try:
        for fut in as_completed(list(futures)):
            if fut not in pending:  # yielded once already (recomputed after a worker died): recorded
                continue
            pending.discard(fut)
            task = futures[fut]
            try:
                # blocks while the scheduler re-runs a task whose worker died; raises what the task
                # raised (or KilledWorker when its workers kept dying, or CancelledError)
                value = fut.result()
            except Exception as e:  # noqa: BLE001 - a failed task is recorded; the others go on
                fut.release()
                done(task, exc=e, running=min(len(pending), _slots(client)))
                continue
            fut.release()  # the result is here now: no copy to keep (or re-compute) on the worker
            done(task, value, running=min(len(pending), _slots(client)))
    except BaseException:
        # Ctrl-C (or a failing callback): drop what is left; the caller closes the cluster
        with contextlib.suppress(Exception):
            client.cancel(list(pending), force=True)
        raise


def _slots(client) -> int:
    """Tasks the cluster can run at once (its worker threads)."""
    try:
        return sum(w.get("nthreads", 0) for w in client.scheduler_info().get("workers", {}).values())
    except Exception:  # noqa: BLE001 - a count for the progress bar only
        return 0
