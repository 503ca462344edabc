"""Writes that fail for real: a full disk, a read-only place, a path that is a file. The user gets
one line naming the path and the reason (exit status 2, no traceback); what was there stays intact
and what was finished stays usable.

The full disk and the read-only file system are a tmpfs the test mounts (as root, as in CI: root
writes through permissions, not through a read-only mount or a full disk). Without root, the
read-only case uses a folder without write permission, and the full ledger is injected at its write.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakes import make_fake_cifar
from handgrad import search as search_mod
from handgrad.cli import app

QUICK = 'name = "quick"\n[train]\nn_epochs = 2\nn_batch = 30\neta = 0.01\n'


class SmallFs:
    """A tmpfs mounted at ``path``: ``fill()`` it to the last byte, ``free()`` it, ``resize()`` it,
    make it ``read_only()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / ".filler"

    def _remount(self, opts: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{opts}", str(self.path)], check=True)

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def resize(self, size: str) -> None:
        self._remount(f"size={size}")

    def read_only(self) -> None:
        self._remount("ro")


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield SmallFs(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def env(tmp_path):
    make_fake_cifar(tmp_path / "data", n_per_batch=60)
    (tmp_path / "quick.toml").write_text(QUICK)
    return {**os.environ, "HANDGRAD_DATA": str(tmp_path / "data")}


def handgrad(args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "handgrad.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


def one_line_error(r: subprocess.CompletedProcess, *parts: str) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and all(p in last for p in parts), r.stderr
    return last


def files(folder: Path) -> dict[str, bytes]:
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()
            and f.name not in (".handgrad.lock", ".filler")}


# -- a full disk ----------------------------------------------------------------------------------
def test_train_on_a_full_disk_names_the_file_and_keeps_the_run_that_was_there(tmp_path, env, small_fs):
    out = small_fs.path / "run"
    assert handgrad(["train", tmp_path / "quick.toml", "--out", out], env).returncode == 0
    before = files(out)
    small_fs.fill()
    r = handgrad(["train", tmp_path / "quick.toml", "--out", out, "--force"], env)
    one_line_error(r, f"cannot write {out}", "No space left on device")
    assert files(out) == before  # all or nothing: the earlier run is intact
    assert not list(out.glob(".staging-*"))


def test_a_search_on_a_full_disk_keeps_its_ledger_and_goes_on_once_there_is_room(tmp_path, env, small_fs):
    out = small_fs.path / "search"
    quick = tmp_path / "quick.toml"
    assert handgrad(["search", quick, "--grid", "train.lambda=0", "--jobs", "1", "--out", out], env).returncode == 0
    ledger = (out / "ledger.jsonl").read_text()
    small_fs.fill()
    grid = ["--grid", "train.lambda=0,0.01,0.1", "--jobs", "1", "--out", out]
    r = handgrad(["search", quick, *grid], env)
    # the ledger's last page may still hold a line or two; then the table is what finds the disk full
    one_line_error(r, f"cannot write {out}/", "No space left on device")
    now = (out / "ledger.jsonl").read_text()
    assert now.startswith(ledger)  # the finished trial is still there, whole, and so is any line added
    assert all(json.loads(line)["key"] for line in now.splitlines())
    small_fs.free()
    r = handgrad(["search", quick, *grid], env)
    assert r.returncode == 0, r.stderr
    done = len(now.splitlines())
    assert f"3 trials ({done} in the ledger" in r.stdout  # it goes on from what the ledger kept
    assert len((out / "ledger.jsonl").read_text().splitlines()) == 3


def test_a_reproduce_that_fills_the_disk_keeps_its_finished_experiments(tmp_path, env, small_fs):
    small_fs.resize("700k")  # room for a few of the family's experiments, not for all
    out = small_fs.path / "reports"
    args = ["reproduce", "linear", "--quick", "--out", out, "--jobs", "1"]
    r = handgrad(args, env)
    one_line_error(r, f"cannot write {out}", "No space left on device")
    runs = out / "linear" / "runs"
    finished = {p.parent.name: p.read_text() for p in runs.glob("*/reproduce.json")
                if (p.parent / "metrics.json").is_file()}
    assert finished  # some finished before the disk was full ...
    for exp in finished:  # ... and they are whole: their metrics read back
        assert json.loads((runs / exp / "metrics.json").read_text())
    for p in runs.glob("*/reproduce.json"):  # one that could not write its files is a failure, not done
        if p.parent.name not in finished:
            assert "No space left on device" in json.loads(p.read_text())["error"]
    small_fs.resize("64m")
    r = handgrad(args, env)
    assert r.returncode == 0, r.stderr
    for exp, record in finished.items():  # not run again
        assert (runs / exp / "reproduce.json").read_text() == record
    assert (out / "linear" / "index.html").is_file()


# -- a read-only place ----------------------------------------------------------------------------
@pytest.fixture
def read_only(tmp_path, request):
    """A folder nothing can be written in: a read-only tmpfs as root, a folder without write
    permission otherwise."""
    if os.geteuid() == 0:
        fs = request.getfixturevalue("small_fs")
        fs.read_only()
        return fs.path
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    request.addfinalizer(lambda: folder.chmod(0o755))
    return folder


@pytest.mark.parametrize("command, what", [
    (["train", "{cfg}", "--out", "{ro}/run"], "cannot write a run folder at {ro}/run"),
    (["search", "{cfg}", "--grid", "train.lambda=0,0.1", "--jobs", "1", "--out", "{ro}/search"],
     "cannot use {ro}/search as a search folder"),
    (["reproduce", "linear", "--quick", "--jobs", "1", "--out", "{ro}/reports"],
     "cannot use {ro}/reports/linear as a reproduce folder"),
])
def test_a_read_only_place_is_one_line_before_any_work(tmp_path, env, read_only, command, what):
    fill = {"cfg": tmp_path / "quick.toml", "ro": read_only}
    r = handgrad([c.format(**fill) for c in command], env)
    one_line_error(r, what.format(**fill))
    assert "training" not in r.stderr  # refused before any work


# -- a path that is a file ------------------------------------------------------------------------
@pytest.mark.parametrize("command, what", [
    (["train", "{cfg}", "--out", "{file}"], "cannot write a run folder at {file}: it is a file"),
    (["search", "{cfg}", "--grid", "train.lambda=0,0.1", "--jobs", "1", "--out", "{file}"],
     "cannot use {file} as a search folder: it is a file"),
    (["reproduce", "linear", "--quick", "--jobs", "1", "--out", "{file}"], "cannot use {file}/linear as a reproduce folder"),
])
def test_a_path_that_is_a_file_is_one_line(tmp_path, env, command, what):
    (tmp_path / "taken").write_text("mine\n")
    fill = {"cfg": tmp_path / "quick.toml", "file": tmp_path / "taken"}
    r = handgrad([c.format(**fill) for c in command], env)
    one_line_error(r, what.format(**fill))
    assert (tmp_path / "taken").read_text() == "mine\n"


# -- anywhere: the ledger's write failing, injected -------------------------------------------------
def test_a_ledger_write_that_fails_is_one_line_and_the_earlier_trials_stay(tmp_path, env, monkeypatch):
    monkeypatch.setenv("HANDGRAD_DATA", env["HANDGRAD_DATA"])
    out = tmp_path / "search"
    grid = ["--grid", "train.lambda=0,0.01,0.1", "--jobs", "1", "--out", str(out)]
    real_open, appended = open, []

    def failing_open(path, mode="r", *a, **kw):  # the second trial's append finds the disk full
        if "a" in mode and str(path).endswith("ledger.jsonl"):
            appended.append(path)
            if len(appended) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr(search_mod, "open", failing_open, raising=False)
    r = CliRunner().invoke(app, ["search", str(tmp_path / "quick.toml"), *grid])
    assert r.exit_code == 2, r.output
    assert f"error: cannot write {out / 'ledger.jsonl'}: No space left on device" in r.output
    assert len((out / "ledger.jsonl").read_text().splitlines()) == 1
    monkeypatch.setattr(search_mod, "open", real_open, raising=False)
    r = CliRunner().invoke(app, ["search", str(tmp_path / "quick.toml"), *grid])
    assert r.exit_code == 0, r.output
    assert len((out / "ledger.jsonl").read_text().splitlines()) == 3
