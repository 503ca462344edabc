"""Writing files so that a crash or Ctrl-C never leaves one half-written.

Every file handgrad writes for the user (results, checkpoints, reports) goes
through these helpers: the bytes go to a temporary file in the same directory,
which is then renamed over the target with ``os.replace``. A rename within one
file system is atomic, so readers see either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from handgrad.errors import HandgradError


def _current_umask() -> int:
    # os.umask can only be read by setting it; done once, at import time.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent directories.

    Returns the path written, as a ``Path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same directory as the target: os.replace is only atomic within one file system.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _cannot_write(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates files with mode 0600; give the result the usual permissions.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _cannot_write(path, e) from None
        raise
    return path


def _cannot_write(path: Path, e: OSError):
    return HandgradError(f"cannot write {path}: {e.strerror or e}")


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write the string ``text`` to ``path`` atomically (encoded with ``encoding``)."""
    return atomic_write_bytes(path, text.encode(encoding))


def check_run_folder(folder: str | os.PathLike, *, force: bool = False) -> Path:
    """Check, before any work, that a run can be written at ``folder``: refuse a path that is a file,
    a folder that already holds a run (unless ``force``), and a place that cannot be written (the
    nearest existing parent must be a writable folder). Nothing is created."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise HandgradError(f"cannot write a run folder at {folder}: it is a file")
    if not force and folder.is_dir() and any((folder / f).exists() for f in ("metrics.json", "model.json",
                                                                            "run-00")):
        raise HandgradError(f"{folder} already holds a run; give another --out, or --force to replace it")
    parent = folder
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise HandgradError(f"cannot write a run folder at {folder}: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise HandgradError(f"cannot write a run folder at {folder}: {parent} is not writable")
    return folder


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike, last: str = "metrics.json") -> Iterator[Path]:
    """Write a set of files into ``folder`` all or nothing.

    Yields an empty staging folder inside ``folder``; when the block ends normally, every file
    written there is moved into place with ``os.replace`` (``last``, the file whose presence says
    the folder is complete, moved last). When it ends with an exception or Ctrl-C, the staging
    folder is removed and ``folder`` is left as it was (a folder this call created is removed).
    Other files in ``folder`` are never touched.
    """
    folder = Path(folder)
    created = not folder.exists()
    if folder.exists() and not folder.is_dir():
        raise HandgradError(f"cannot write a run folder at {folder}: it is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(dir=folder, prefix=".staging-"))
    except OSError as e:
        raise _cannot_write(folder, e) from None
    ok = False
    try:
        yield stage
        files = sorted((p for p in stage.rglob("*") if p.is_file()), key=lambda p: (p.name == last, str(p)))
        for p in files:
            dest = folder / p.relative_to(stage)
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(p, dest)
            except OSError as e:  # e.g. a folder where the file goes
                raise _cannot_write(dest, e) from None
        ok = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not ok:
            shutil.rmtree(folder, ignore_errors=True)


def write_json(path: str | os.PathLike, obj) -> Path:
    """Pretty JSON, written atomically; NumPy scalars and arrays become plain numbers/lists."""
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    return atomic_write_text(path, json.dumps(obj, indent=2, default=default) + "\n")
