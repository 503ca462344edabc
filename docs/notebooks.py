"""Execute the tutorials: Jupytext percent-format sources in, executed notebooks out.

The documentation build (``docs/gen_pages.py``) and the test suite (``tests/test_docs.py``) both call
:func:`execute`, so the notebook a reader sees on the site is the one the tests ran. An executed
notebook is cached under ``HANDGRAD_DOCS_CACHE`` (default ``.cache/docs`` in the checkout), keyed by
the tutorial's source, handgrad's source, the budget and the data folder, so that building the site
after the tests (or twice in a row) does not run a tutorial again.

    python docs/notebooks.py [--budget reduced|full] [NAME ...]   # execute, print times
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
BUDGETS = ("reduced", "full")


@dataclass
class Executed:
    name: str
    path: Path  # the executed .ipynb in the cache
    seconds: float  # execution time (of the run that made the cached file)
    cached: bool


class TutorialFailed(RuntimeError):
    """A tutorial cell raised: the message names the tutorial, the cell and the error."""


def sources() -> list[Path]:
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def cache_dir() -> Path:
    return Path(os.environ.get("HANDGRAD_DOCS_CACHE") or ROOT / ".cache" / "docs")


def budget() -> str:
    b = os.environ.get("HANDGRAD_BUDGET", "full")
    if b not in BUDGETS:
        raise SystemExit(f"HANDGRAD_BUDGET={b!r}: expected one of {', '.join(BUDGETS)}")
    return b


def _key(src: Path, budget: str) -> str:
    """What an executed notebook depends on: its source, handgrad's code, the budget and the data."""
    h = hashlib.sha256()
    for f in [src, *sorted((ROOT / "src" / "handgrad").rglob("*.py"))]:
        h.update(f.relative_to(ROOT).as_posix().encode())
        h.update(f.read_bytes())
    h.update(f"budget={budget} data={os.environ.get('HANDGRAD_DATA', '')}".encode())
    return h.hexdigest()[:16]


def execute(src: Path, *, budget: str = "reduced", timeout: int = 1800, force: bool = False) -> Executed:
    """Execute the tutorial ``src`` at ``budget`` (``HANDGRAD_BUDGET`` in its kernel) and return the
    cached executed notebook; a failing cell raises :class:`TutorialFailed`."""
    import jupytext
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    out = cache_dir() / budget / f"{src.stem}.{_key(src, budget)}.ipynb"
    if out.exists() and not force:
        nb = nbformat.read(out, as_version=4)
        return Executed(src.stem, out, nb.metadata.get("handgrad", {}).get("seconds", 0.0), cached=True)
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    # The kernel inherits this process's environment: the budget, the data folder, one BLAS setting.
    previous = os.environ.get("HANDGRAD_BUDGET")
    os.environ["HANDGRAD_BUDGET"] = budget
    t0 = time.perf_counter()
    try:
        # local sockets, not TCP: nothing to reach from outside (and no warning about it on stderr)
        with tempfile.TemporaryDirectory(prefix="handgrad-kernel-") as sockets:
            km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
            try:
                NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(ROOT)}}).execute()
            finally:  # a kernel manager we made is ours to stop (nbclient stops only the ones it makes)
                if km.has_kernel:
                    km.shutdown_kernel(now=True)
    except CellExecutionError as e:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # the kernel colours its traceback
        raise TutorialFailed(f"{src.relative_to(ROOT)} (budget {budget}) failed:\n{plain}") from None
    finally:
        if previous is None:
            os.environ.pop("HANDGRAD_BUDGET", None)
        else:
            os.environ["HANDGRAD_BUDGET"] = previous
    seconds = time.perf_counter() - t0
    nb.metadata["handgrad"] = {"budget": budget, "seconds": round(seconds, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    for old in out.parent.glob(f"{src.stem}.*.ipynb"):  # one cached version per tutorial and budget
        old.unlink()
    tmp = out.with_suffix(".tmp")
    nbformat.write(nb, tmp)
    tmp.replace(out)
    return Executed(src.stem, out, seconds, cached=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="tutorials to run (file stems or their number prefix); default all")
    p.add_argument("--budget", choices=BUDGETS, default=budget())
    p.add_argument("--force", action="store_true", help="execute even when a cached notebook is current")
    a = p.parse_args(argv)
    chosen = [s for s in sources() if not a.names or any(s.stem.startswith(n) for n in a.names)]
    if not chosen:
        p.error(f"no tutorial matches {a.names}; have {[s.stem for s in sources()]}")
    for src in chosen:
        r = execute(src, budget=a.budget, force=a.force)
        print(f"{r.name}: {r.seconds:.0f} s at the {a.budget} budget{' (cached)' if r.cached else ''} -> {r.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
