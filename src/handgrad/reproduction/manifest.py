"""The manifest of a report: the machine and packages (:func:`environment`), the data files the runs
read with their checksums, and per run its seeds and durations."""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

from handgrad import io
from handgrad.datasets import sources
from handgrad.datasets.textfile import resolve
from handgrad.errors import HandgradError
from handgrad.reproduction.plan import repo_root
from handgrad.reproduction.runstate import RunState, read_json


def environment() -> dict:
    """Python, package versions, BLAS and the machine."""
    from importlib import metadata

    import numpy  # noqa: F401 - load BLAS so threadpoolctl can see it

    pkgs = {}
    for name in ("handgrad", "numpy", "matplotlib", "pydantic", "typer", "jinja2", "tqdm", "threadpoolctl", "pooch"):
        try:
            pkgs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pkgs[name] = "not installed"
    try:
        from threadpoolctl import threadpool_info

        blas = [{k: i.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "filepath")}
                for i in threadpool_info()]
    except Exception:  # noqa: BLE001 - the manifest must not fail on an odd BLAS
        blas = []
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "packages": pkgs, "blas": blas, "git_commit": git_commit()}


def git_commit() -> str | None:
    """The checkout's commit, read from .git without running git."""
    git = repo_root() / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            p = git / ref
            if p.is_file():
                return p.read_text().strip()
            packed = git / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0]
            return None
        return head
    except OSError:
        return None


def _md5(path: Path, cache: dict) -> str:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if key not in cache:
        h = hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        cache[key] = h.hexdigest()
    return cache[key]


def data_files(configs: list[dict]) -> list[Path]:
    """The data files the runs' configs read, as far as they can be located without downloading."""
    files: list[Path] = []
    cifar_splits = {c["data"]["split"] for c in configs if c and c["data"]["dataset"] == "cifar10"}
    if cifar_splits:
        try:
            root = sources.cifar10_dir(download=False)
        except HandgradError:
            root = None
        if root is not None and root.is_file():
            files.append(root)
        elif root is not None:
            if not (root / "data_batch_1").is_file() and (root / sources.CIFAR10_FOLDER).is_dir():
                root = root / sources.CIFAR10_FOLDER
            names = {"data_batch_1", "data_batch_2", "test_batch"}
            if "all" in cifar_splits:
                names |= {f"data_batch_{i}" for i in range(3, 6)}
            files += [root / n for n in sorted(names) if (root / n).is_file()]
    if any(c and c["data"]["dataset"] == "surnames" for c in configs):
        try:
            folder = sources.data_home() / "surnames" if sources.data_home() is not None else None
        except HandgradError:
            folder = None
        if folder is not None and Path(folder).is_dir():
            files += sorted(p for p in Path(folder).iterdir() if p.is_file())
    texts = {resolve(c["data"]["path"]) for c in configs if c and c["data"]["dataset"] == "text" and c["data"].get("path")}
    files += sorted(p for p in texts if p.is_file())
    return files


def checksums(files: list[Path], cache_path: Path) -> list[dict]:
    """md5 of each file, cached by (path, size, mtime) in ``cache_path``."""
    try:
        cache = {k: v for k, v in (read_json(cache_path) or {}).items() if isinstance(v, str)}
    except HandgradError:  # a broken cache is rebuilt
        cache = {}
    before = dict(cache)
    out = [{"file": str(p), "bytes": p.stat().st_size, "md5": _md5(p, cache)} for p in files]
    if cache != before:
        io.write_json(cache_path, cache)
    return out


def seeds(rs: RunState) -> str:
    m, c = rs.metrics or {}, rs.config or {}
    if "seeds" in m:
        return ", ".join(str(s) for s in m["seeds"])
    if rs.exp.kind == "search" and c:
        return f"{c.get('seed')} (search seed {c.get('search', {}).get('seed')})"
    seed = c.get("seed", m.get("seed"))
    return "-" if seed is None else str(seed)


def duration(s) -> str:
    if s is None:
        return "-"
    s = float(s)
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"
