"""Issue 14: the execution layer. Layout choice; tasks in this process; a search on a real Dask
LocalCluster of 2 single-threaded worker processes: it completes, survives a worker killed by its
PID mid-run (every trial once in the ledger), and resumes after an interruption without repeating
finished trials; Ctrl-C on the command line stops it cleanly and leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import make_fake_cifar
from procs import sigint_default

from handgrad import execution, search
from handgrad.config import from_dict
from handgrad.errors import HandgradError

TRIALS = {
    "name": "dask-search",
    "data": {"dataset": "cifar10", "split": "all", "n_val": 20},
    "model": {"kind": "mlp", "hidden": [8]},
    "train": {"n_batch": 10, "schedule": "cyclical", "n_s": 20, "n_cycles": 1, "eta_min": 1e-4, "eta_max": 0.05},
    "search": {"log_grid": {"train.lambda": [-4.0, -1.0, 6]}},
}
#: the same search with trials long enough (about a second) to be killed in the middle
SLOW = {**TRIALS, "train": {**TRIALS["train"], "n_s": 1000}}


# -- layouts -------------------------------------------------------------------------------------
def test_default_layout_fills_the_cores_without_oversubscribing(monkeypatch):
    monkeypatch.delenv(execution.ENV_SCHEDULER, raising=False)
    monkeypatch.setattr(execution, "cores", lambda: 8)
    for jobs, n_tasks, workers, threads in [(None, 100, 8, 1), (4, 100, 4, 2), (3, 100, 3, 2), (None, 2, 2, 4),
                                            (16, 100, 16, 1)]:
        lay = execution.choose_layout(jobs, None, n_tasks)
        assert (lay.mode, lay.workers, lay.threads) == ("local", workers, threads)
        assert lay.workers * lay.threads <= max(8, lay.workers)
        assert f"{workers} worker processes x {threads} BLAS thread" in lay.describe()
    assert execution.choose_layout(1, None, 100).mode == "in-process"
    assert execution.choose_layout(None, None, 1).mode == "in-process"  # one task: no cluster for it


def test_scheduler_from_option_or_environment(monkeypatch):
    monkeypatch.setenv(execution.ENV_SCHEDULER, "tcp://10.0.0.1:8786")
    lay = execution.choose_layout(None, None, 10)
    assert (lay.mode, lay.address) == ("remote", "tcp://10.0.0.1:8786")
    assert execution.choose_layout(None, "tcp://h:1", 10).address == "tcp://h:1"
    with pytest.raises(HandgradError, match="--jobs 2 sets local workers"):
        execution.choose_layout(2, None, 10)


def test_unreachable_scheduler_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(execution, "CONNECT_TIMEOUT", "1s")
    lay = execution.Layout("remote", workers=0, address="tcp://127.0.0.1:9")
    with pytest.raises(HandgradError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        execution.run_tasks([execution.Task("a", abs, (-1,))], lay, on_result=lambda t, v: None, progress=False,
                            echo=lambda s: None)


def _half(x):
    if x == 3:
        raise ValueError("three is odd")
    return x / 2


def test_in_process_failure_is_reported_and_the_others_go_on():
    got, failed = {}, {}
    tasks = [execution.Task(f"t{i}", _half, (i,)) for i in range(5)]
    s = execution.run_tasks(tasks, execution.choose_layout(1), on_result=lambda t, v: got.__setitem__(t.key, v),
                            on_failure=lambda t, m: failed.__setitem__(t.key, m), progress=False)
    assert got == {"t0": 0, "t1": 0.5, "t2": 1, "t4": 2} and failed == {"t3": "ValueError: three is odd"}
    assert (s.finished, s.failed) == (4, 1)
    with pytest.raises(ValueError, match="three"):  # no on_failure: the first error, after the others ran
        execution.run_tasks(tasks, execution.choose_layout(1), on_result=lambda t, v: got.__setitem__(t.key, -v),
                            progress=False)
    assert got["t4"] == -2


def test_one_progress_bar_counts_finished_failed_and_running(capsys):
    tasks = [execution.Task(f"t{i}", _half, (i,)) for i in (1, 3, 5)]
    execution.run_tasks(tasks, execution.choose_layout(1), on_result=lambda t, v: None,
                        on_failure=lambda t, m: None, desc="trials", unit="trial", progress=True)
    err = capsys.readouterr().err
    assert "trials: 100%" in err and "3/3" in err
    assert "finished 1, failed 1, running 1" in err and "finished 2, failed 1, running 0" in err


# -- a real cluster: 2 worker processes, 1 thread each --------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The cluster and its data: workers read HANDGRAD_DATA on their own machine, as set when
    they start (here: a small fake CIFAR-10 written first)."""
    from distributed import Client, LocalCluster

    data = tmp_path_factory.mktemp("data")
    make_fake_cifar(data, n_per_batch=20, seed=5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HANDGRAD_DATA", str(data))
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c, \
                Client(c) as client:
            yield c, client, data


@pytest.fixture
def dask_layout(cluster, monkeypatch):
    c, client, data = cluster
    monkeypatch.setenv("HANDGRAD_DATA", str(data))  # the same data here, for the driver's own runs
    client.wait_for_workers(2, timeout=60)
    return execution.Layout("remote", workers=0, address=c.scheduler_address)


def _ledger_keys(folder: Path) -> list[str]:
    return [json.loads(line)["key"] for line in (folder / search.LEDGER).read_text().splitlines() if line]


def test_search_of_six_trials_on_two_workers(tmp_path, dask_layout):
    base = from_dict(TRIALS)
    records = search.run_search(base, tmp_path / "s", layout=dask_layout, echo=lambda s: None)
    assert len(records) == 6
    keys = _ledger_keys(tmp_path / "s")
    assert len(keys) == 6 == len(set(keys))
    # the same trials as in this process, number for number (the seed fixes everything)
    here = search.run_search(base, tmp_path / "here", jobs=1)
    assert {r["key"]: r["metrics"]["val_accuracy"] for r in records} == \
        {r["key"]: r["metrics"]["val_accuracy"] for r in here}


def _worker_pids() -> list[int]:
    """This process's Dask worker processes (multiprocessing children, not its resource tracker)."""
    import psutil

    return [p.pid for p in psutil.Process().children(recursive=True)
            if any("spawn_main" in part for part in p.cmdline())]


def test_search_survives_a_worker_killed_mid_run(fake_cifar_with, tmp_path):
    fake_cifar_with(n_per_batch=20, seed=5)
    killed, before = [], set(_worker_pids())  # (the module's cluster's workers)

    def kill_a_worker(rec):  # at the first result: both workers are busy with the next trials
        if not killed:
            killed.append(sorted(set(_worker_pids()) - before)[0])
            os.kill(killed[0], signal.SIGKILL)

    base = from_dict(SLOW)
    failed = []
    layout = execution.choose_layout(2, None, 6)
    assert (layout.mode, layout.workers, layout.threads) == ("local", 2, 1)
    records = search.run_search(base, tmp_path / "s", layout=layout, on_done=kill_a_worker,
                                on_failed=failed.append, echo=lambda s: None)
    assert killed and not failed
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)  # that worker is gone (its nanny started a new one)
    keys = _ledger_keys(tmp_path / "s")
    assert len(records) == 6 and len(keys) == 6 == len(set(keys))
    assert set(_worker_pids()) <= before  # the embedded cluster was closed with its processes


def test_interrupted_search_on_the_cluster_resumes_without_repeating(tmp_path, dask_layout):
    base = from_dict(TRIALS)
    folder = tmp_path / "s"
    seen = []

    def interrupt_at_two(rec):
        seen.append(rec["key"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        search.run_search(base, folder, layout=dask_layout, on_done=interrupt_at_two, echo=lambda s: None)
    assert _ledger_keys(folder) == seen  # each written as it arrived
    rerun = []
    records = search.run_search(base, folder, layout=dask_layout, on_done=lambda r: rerun.append(r["key"]),
                                echo=lambda s: None)
    assert len(rerun) == 4 and not set(rerun) & set(seen)
    keys = _ledger_keys(folder)
    assert len(records) == 6 and len(keys) == 6 == len(set(keys))


def test_failing_trial_is_recorded_and_run_again_next_time(tmp_path, dask_layout):
    # more training images than the data has: the trial raises in the worker, the other finishes
    base = from_dict({**TRIALS, "search": {"grid": {"data.n_train": [40, 100000]}}})
    failed = []
    records = search.run_search(base, tmp_path / "s", layout=dask_layout, on_failed=failed.append,
                                echo=lambda s: None)
    assert len(records) == 1 and len(failed) == 1
    assert failed[0]["overrides"]["data.n_train"] == 100000
    assert failed[0]["error"] == "HandgradError: n_train=100000 is more than the 80 training images of split 'all'"
    warnings = []
    ledger = search.read_ledger(tmp_path / "s", warnings.append)
    assert len(ledger) == 2 and len(search.finished(ledger)) == 1
    assert warnings == []  # a failed trial is a valid ledger record
    again = []
    search.run_search(base, tmp_path / "s", layout=execution.choose_layout(1), on_failed=again.append)
    assert len(again) == 1  # the failed trial ran again; the finished one did not


def test_repeated_runs_on_the_cluster_equal_those_run_here(tmp_path, dask_layout):
    from handgrad import repeat

    cfg = from_dict({k: v for k, v in TRIALS.items() if k != "search"})
    there = repeat.run_repeated(cfg, tmp_path / "there", 3, layout=dask_layout, echo=lambda s: None)
    here = repeat.run_repeated(cfg, tmp_path / "here", 3, progress=False)
    assert there["val_accuracy_runs"] == here["val_accuracy_runs"] and there["seeds"] == [0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "there").glob("run-*")) == ["run-00", "run-01", "run-02"]
    assert (tmp_path / "there" / "run-00" / "figures").is_dir()  # the first seed's figures, as here


def _square(x):
    return x * x


def test_embedded_cluster_prints_its_layout_and_a_live_dashboard():
    pytest.importorskip("bokeh")  # the dashboard's pages need it (the dev extra installs it)
    import urllib.request

    lines, got, pages = [], {}, []

    def fetch_dashboard(task, value):  # while the cluster runs
        got[task.key] = value
        if not pages:
            link = next(line.split(": ", 1)[1] for line in lines if line.startswith("Dask dashboard: "))
            with urllib.request.urlopen(link, timeout=30) as r:
                pages.append(r.status)

    layout = execution.Layout("local", workers=2, threads=1)
    s = execution.run_tasks([execution.Task(f"t{i}", _square, (i,)) for i in range(4)], layout,
                            on_result=fetch_dashboard, echo=lines.append, progress=False)
    assert lines[0].startswith("local Dask cluster: 2 worker processes x 1 BLAS thread (")
    assert s.dashboard and s.dashboard.startswith("http://") and pages == [200]
    assert got == {"t0": 0, "t1": 1, "t2": 4, "t3": 9}


def test_cli_search_with_a_failing_trial_exits_1_after_the_others(fake_cifar_with, tmp_path):
    from typer.testing import CliRunner

    from handgrad.cli import app

    fake_cifar_with(n_per_batch=20, seed=5)
    cfg = tmp_path / "c.toml"
    cfg.write_text('name = "c"\n[data]\nsplit = "all"\nn_val = 20\n[model]\nkind = "mlp"\nhidden = [6]\n'
                   '[train]\nn_batch = 20\nschedule = "cyclical"\nn_s = 3\nn_cycles = 1\n')
    r = CliRunner().invoke(app, ["search", str(cfg), "--grid", "data.n_train=40,100000", "--grid", "train.lambda=0,0.1",
                                 "--jobs", "1", "--out", str(tmp_path / "s")])
    assert r.exit_code == 1, r.output
    assert "2 trials failed (recorded in" in r.output and "FAILED (HandgradError: n_train=100000" in r.output
    assert "| **1** | **40** |" in r.output  # the table of the trials that finished
    assert len(search.finished(search.read_ledger(tmp_path / "s"))) == 2


# -- the command line: an embedded cluster, Ctrl-C --------------------------------------------------
def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_ctrl_c_stops_the_search_keeps_the_ledger_and_leaves_no_process(fake_cifar_with, tmp_path):
    import psutil

    data = fake_cifar_with(n_per_batch=20, seed=5)
    cfg = tmp_path / "slow.toml"
    cfg.write_text("\n".join([
        'name = "slow"', "[data]", 'split = "all"', "n_val = 20", "[model]", 'kind = "mlp"', "hidden = [8]",
        "[train]", "n_batch = 10", 'schedule = "cyclical"', "n_s = 300", "n_cycles = 1",
        "[search.log_grid]", '"train.lambda" = [-4.0, -1.0, 8]']) + "\n")
    out = tmp_path / "s"
    env = dict(os.environ, HANDGRAD_DATA=str(data), OMP_NUM_THREADS="1")
    env.pop(execution.ENV_SCHEDULER, None)
    # its own process group, as a terminal's job
    proc = subprocess.Popen([sys.executable, "-m", "handgrad.cli", "search", str(cfg), "--jobs", "2", "--out",
                             str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=sigint_default)
    try:
        deadline = time.monotonic() + 120
        children: set[int] = set()
        while time.monotonic() < deadline and not (out / search.LEDGER).is_file():
            children |= set(_descendants(proc.pid))
            time.sleep(0.2)
        assert (out / search.LEDGER).is_file(), proc.stderr.read1().decode() if proc.poll() is not None else ""
        children |= set(_descendants(proc.pid))
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert "Traceback" not in err.decode(), err.decode()[-2000:]
    assert err.decode().strip().splitlines()[-1].startswith("interrupted: ")
    assert "finished trial" in err.decode().strip().splitlines()[-1]
    assert len(children) >= 2  # the cluster's worker processes were there
    time.sleep(1)
    alive = [p for p in children if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left behind: {alive}"
    keys = _ledger_keys(out)
    assert 1 <= len(keys) < 8 and len(keys) == len(set(keys))
    assert all("metrics" in json.loads(line) for line in (out / search.LEDGER).read_text().splitlines())


def _worker_environment(names):
    return {k: os.environ.get(k) for k in names}


def test_embedded_workers_get_the_blas_limits_and_no_malloc_trim():
    """Dask's nannies would set MALLOC_TRIM_THRESHOLD_ in the workers, which makes NumPy code 40%
    slower there (benchmarks/bench_execution.py); handgrad's own cluster leaves it out."""
    layout = execution.Layout("local", workers=1, threads=1)
    names = ("MALLOC_TRIM_THRESHOLD_", "OPENBLAS_NUM_THREADS")
    got = {}
    execution.run_tasks([execution.Task("env", _worker_environment, (names,))], layout,
                        on_result=lambda t, v: got.update(v), echo=lambda s: None)
    assert got == {"MALLOC_TRIM_THRESHOLD_": None, "OPENBLAS_NUM_THREADS": "1"}
