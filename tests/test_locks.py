"""Two handgrad processes on the same folder: the second stops at once, naming the folder and the
first one's PID, and writes nothing; a process killed with SIGKILL frees the folder; what the folder
held stays intact, and a later run succeeds.

The first process is frozen with SIGSTOP once it holds the folder, so that the second always meets
it there, however fast or slow the machine is.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes import make_fake_cifar
from handgrad import locks
from handgrad.errors import HandgradError

QUICK = 'name = "quick"\n[train]\nn_epochs = 2\nn_batch = 30\neta = 0.01\n'
SLOW = 'name = "slow"\n[train]\nn_updates = 10000000\nrecord_every = 5000000\nn_batch = 60\neta = 0.001\n'


@pytest.fixture
def env(tmp_path):
    make_fake_cifar(tmp_path / "data", n_per_batch=60)
    return {**os.environ, "HANDGRAD_DATA": str(tmp_path / "data")}


def _cfg(tmp_path, name, text):
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


def handgrad(args, env, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "handgrad.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300, **kw)


def start(args, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "handgrad.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def hold_until(p: subprocess.Popen, ready, timeout: float = 120) -> None:
    """Wait until ``ready()`` (the first process holds the folder, or has got far enough), then
    freeze it with SIGSTOP."""
    deadline = time.monotonic() + timeout
    while not ready():
        if p.poll() is not None:
            raise AssertionError(f"the first process ended early ({p.returncode}): {p.stderr.read()}")
        if time.monotonic() > deadline:
            p.kill()
            raise AssertionError("the first process never got there")
        time.sleep(0.05)
    p.send_signal(signal.SIGSTOP)


def holds(folder: Path, p: subprocess.Popen):
    return lambda: (folder / locks.LOCK_NAME).is_file() and (folder / locks.LOCK_NAME).read_text().strip() == str(p.pid)


def kill(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGKILL)  # a SIGSTOPped process dies of SIGKILL too
    p.wait(30)


def digest(folder: Path) -> dict[str, str]:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file() and f.name != locks.LOCK_NAME}


def assert_refused(r: subprocess.CompletedProcess, folder: Path, pid: int) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == (f"error: {folder} is in use by another handgrad process (PID {pid}); wait for it to end, "
                         "or stop it, then run this again (nothing was written)"), r.stderr
    assert "Traceback" not in r.stderr


# -- the lock itself ------------------------------------------------------------------------------
def test_a_lock_names_its_holder_is_reentrant_and_dies_with_its_process(tmp_path):
    folder = tmp_path / "f"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from handgrad.locks import folder_lock\n"
        f"with folder_lock({str(folder)!r}):\n    print('held', flush=True); time.sleep(300)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(locks.FolderInUse, match=f"{folder} is in use by another handgrad process "
                                                    rf"\(PID {holder.pid}\)"):
            with locks.folder_lock(folder):
                pass
    finally:
        kill(holder)
    with locks.folder_lock(folder) as f, locks.folder_lock(folder):  # free again; the same process may nest
        assert (f / locks.LOCK_NAME).read_text().strip() == str(os.getpid())
    with locks.folder_lock(tmp_path / "new"):
        pass
    assert not (tmp_path / "new").exists()  # a folder made only for the lock is not left behind
    (tmp_path / "file").write_text("x")
    with pytest.raises(HandgradError, match="cannot use .*file as a folder: it is a file"):
        with locks.folder_lock(tmp_path / "file"):
            pass


# -- train ----------------------------------------------------------------------------------------
def test_a_second_train_on_the_same_folder_stops_and_a_killed_first_frees_it(tmp_path, env):
    out = tmp_path / "run"
    assert handgrad(["train", _cfg(tmp_path, "quick", QUICK), "--out", out], env).returncode == 0
    before = digest(out)
    slow = _cfg(tmp_path, "slow", SLOW)
    first = start(["train", slow, "--out", out, "--force"], env)
    try:
        hold_until(first, holds(out, first))
        second = handgrad(["train", slow, "--out", out, "--force"], env)
        assert_refused(second, out, first.pid)
        assert digest(out) == before
    finally:
        kill(first)
    assert digest(out) == before  # killed while training: the run that was there is intact
    assert not list(out.glob(".staging-*"))
    third = handgrad(["train", _cfg(tmp_path, "quick", QUICK), "--out", out, "--force"], env)
    assert third.returncode == 0, third.stderr
    assert json.loads((out / "metrics.json").read_text())["name"] == "quick"


# -- search ---------------------------------------------------------------------------------------
def test_a_second_search_on_the_same_folder_stops_and_the_ledger_has_one_writer(tmp_path, env):
    out = tmp_path / "search"
    quick = _cfg(tmp_path, "quick", QUICK)
    grid = ["--grid", "train.lambda=0,0.01,0.1", "--jobs", "1", "--out", out]
    first = start(["search", quick, *grid], env)
    ledger = out / "ledger.jsonl"
    try:  # frozen once a trial is in the ledger and the next one runs
        hold_until(first, lambda: ledger.is_file() and ledger.read_text().count("\n") >= 1)
        lines = ledger.read_text()
        second = handgrad(["search", quick, *grid], env)
        assert_refused(second, out, first.pid)
        assert ledger.read_text() == lines  # the second never appended
    finally:
        kill(first)
    third = handgrad(["search", quick, *grid], env)  # goes on from the ledger the killed one left
    assert third.returncode == 0, third.stderr
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert len(records) == len({r["key"] for r in records}) == 3  # every trial once, none twice
    assert all("metrics" in r for r in records)


# -- reproduce ------------------------------------------------------------------------------------
def test_a_second_reproduce_stops_and_what_a_killed_one_left_unfinished_runs_again(tmp_path, env):
    out = tmp_path / "reports"
    args = ["reproduce", "linear", "--quick", "--out", out, "--jobs", "1"]
    first = start(args, env)
    runs = out / "linear" / "runs"
    try:  # frozen once an experiment has finished
        hold_until(first, lambda: any(runs.glob("*/reproduce.json")))
        finished = {p.parent.name: p.read_text() for p in runs.glob("*/reproduce.json")}
        second = handgrad(args, env)
        assert_refused(second, out / "linear", first.pid)
    finally:
        kill(first)
    third = handgrad(args, env)
    assert third.returncode == 0, third.stderr
    for exp, record in finished.items():  # what the killed one finished is kept, not run again
        assert (runs / exp / "reproduce.json").read_text() == record
    # every experiment is finished now: the one the killed process was in the middle of ran again
    manifest = json.loads((out / "linear" / "manifest.json").read_text())
    states = {k: v["state"] for k, v in manifest["status"].items()}
    assert all(s in ("done", "not available") for s in states.values()), states
    assert sum(1 for v in manifest["status"].values() if v.get("skipped")) >= len(finished)


def test_an_experiment_is_finished_only_with_its_record_and_metrics(tmp_path):
    """What a killed reproduce leaves (metrics.json without reproduce.json, or the reverse, or a cut
    file) is never taken as finished."""
    from handgrad.reproduction.plan import is_done

    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "metrics.json").write_text('{"test_accuracy": 0.5}')
    assert not is_done(folder, "abc")
    (folder / "reproduce.json").write_text('{"fingerprint": "abc"')  # cut short
    assert not is_done(folder, "abc")
    (folder / "reproduce.json").write_text(json.dumps({"id": "exp", "fingerprint": "abc"}))
    assert is_done(folder, "abc") and not is_done(folder, "other")
    (folder / "metrics.json").unlink()
    assert not is_done(folder, "abc")
