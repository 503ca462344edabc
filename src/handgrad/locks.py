"""One handgrad process per folder: a run folder, a search folder or a reproduce family folder.

Two ``handgrad train --out X`` (or two ``search``, two ``make run``) on the same folder would write
over each other's files and append to the same ledger. :func:`folder_lock` takes an OS-level lock
(``fcntl.flock`` on ``FOLDER/.handgrad.lock``, which the kernel releases when the process ends, even
by SIGKILL) and records the holder's PID in that file, so that a second process stops at once with
:class:`FolderInUse` naming the folder and the PID, before it writes anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from handgrad.errors import HandgradError

LOCK_NAME = ".handgrad.lock"
#: folders this process holds (resolved path -> depth): taking one again from the same process is a
#: no-op, so that a command and the library function it calls can both hold the folder they write
_held: dict[Path, int] = {}


class FolderInUse(HandgradError):
    """Another process holds the folder's lock."""


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "folder") -> Iterator[Path]:
    """Hold ``folder`` (created if missing) for the ``with`` block; FolderInUse when another process
    holds it, HandgradError when the lock cannot be made there (a file in the way, a read-only place).
    A folder this call created that holds nothing but the lock file afterwards is removed again."""
    folder = Path(folder)
    key = folder.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield folder
        finally:
            _held[key] -= 1
        return
    created = not folder.exists()
    path = folder / LOCK_NAME
    if folder.exists() and not folder.is_dir():
        raise HandgradError(f"cannot use {folder} as a {what}: it is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise HandgradError(f"cannot use {folder} as a {what}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _holder(fd)
        os.close(fd)
        raise FolderInUse(f"{folder} is in use by another handgrad process (PID {pid}); wait for it to end, or "
                          f"stop it, then run this again (nothing was written)") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[key] = 1
        yield folder
    finally:
        _held.pop(key, None)
        if created:  # leave no empty folder behind (checked while the lock is still held)
            with contextlib.suppress(OSError):
                if [p.name for p in folder.iterdir()] == [LOCK_NAME]:
                    path.unlink()
                    folder.rmdir()
        os.close(fd)


@contextlib.contextmanager
def folder_locks(folders, what: str = "folder") -> Iterator[list[Path]]:
    """:func:`folder_lock` on several folders (in sorted order, so two processes never wait on each
    other: the second stops at the first folder it cannot take)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(folder_lock(f, what)) for f in sorted(Path(f) for f in folders)]
