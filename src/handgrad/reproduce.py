"""``handgrad reproduce``: run every published experiment of a family and report ours beside theirs.

The families (:mod:`handgrad.families`) declare the experiments: a config file, what to do with it
(``run``, ``repeat`` N seeds, ``search``, ``gradcheck``, ``timing``) and the published numbers to
compare with, each with its source and a tolerance. This module runs them.

Every experiment is run into ``OUT/<family>/runs/<id>/`` (a normal run folder plus
``reproduce.json``: the fingerprint of what was run, the command, the wall time). An experiment whose
folder holds ``metrics.json`` with the same fingerprint is not run again unless ``force``; one
whose config file does not exist is listed in the report as "not available". Then
:mod:`handgrad.report` renders ``OUT/<family>/index.html`` and ``report.md`` from the run folders.
``quick`` runs the same pipeline on the family's reduced budgets (:mod:`handgrad.reproduction.quick`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from handgrad import families, io, report
from handgrad.errors import HandgradError
from handgrad.reproduction.manifest import environment
from handgrad.reproduction.plan import commands, configs_root, is_done, plan_experiment, run_dir, shell_command
from handgrad.reproduction.quick import QuickBudget
from handgrad.reproduction.runners import execute
from handgrad.reproduction.spec import Experiment


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def reproduce(which: str = "all", *, out: str | os.PathLike = "reports", quick: bool = False, force: bool = False,
              configs: str | os.PathLike | None = None, progress: bool | None = None,
              command: str | None = None, echo=None, threads: int | None = 1) -> dict[str, Path]:
    """Run the experiments of one family (or all) into OUT/<family>/runs/ and render the reports.

    Returns {family: path of index.html}. Finished experiments (same fingerprint) are skipped unless
    ``force``; a failing experiment is recorded and reported, and the others still run. BLAS runs
    on ``threads`` threads (None: the library's default): the matrices here are small, and on a busy
    machine one thread is several times faster than two.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    out = Path(out)
    fams = families.select(which)
    root = configs_root(configs)
    echo = echo or (lambda s: print(s, file=sys.stderr))
    command = command or shell_command(["handgrad", "reproduce", which, *(["--quick"] if quick else []), "--out",
                                        str(out), *(["--force"] if force else [])])
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    env = environment()
    results: dict[str, Path] = {}
    bar = tqdm(total=sum(len(f.experiments) for f in fams), desc="experiments", unit="exp", disable=disable)
    import numpy  # noqa: F401 - load BLAS first: threadpoolctl limits only libraries already loaded

    limits = threadpool_limits(threads) if threads else contextlib.nullcontext()
    try:
        with limits:
            for fam in fams:
                fam_dir = out / fam.name
                fam_dir.mkdir(parents=True, exist_ok=True)
                t_fam = time.perf_counter()
                status = {}
                for exp in fam.experiments:
                    bar.set_postfix_str(exp.id)
                    status[exp.id] = run_or_skip(exp, root, out, quick, force, progress, echo, fam.quick)
                    bar.update(1)
                manifest = {"family": fam.name, "quick": quick, "command": command, "configs": str(root),
                            "cwd": str(Path.cwd()), "finished": _now(),
                            "wall_seconds_this_call": time.perf_counter() - t_fam,
                            "environment": env, "status": status,
                            "data_env": os.environ.get("HANDGRAD_DATA"),
                            "blas_threads": threads}
                io.write_json(fam_dir / "manifest.json", manifest)
                results[fam.name] = report.render(fam_dir)
                echo(f"{fam.name}: report {results[fam.name]} (and {results[fam.name].with_name('report.md')})")
    finally:
        bar.close()
    return results


def run_or_skip(exp: Experiment, root: Path, out: Path, quick: bool, force: bool, progress, echo,
                budget: QuickBudget = QuickBudget()) -> dict:
    """Plan, skip or run one experiment; returns its status for the manifest."""
    try:
        plan = plan_experiment(exp, root, quick, budget)
    except HandgradError as e:
        echo(f"  {exp.id}: not available ({e})")
        return {"state": "not available", "reason": str(e)}
    if not plan["available"]:
        echo(f"  {exp.id}: not available ({plan['reason']})")
        return {"state": "not available", "reason": plan["reason"]}
    folder = run_dir(out, exp)
    cmds = commands(exp, plan, folder, quick)
    if not force and is_done(folder, plan["fingerprint"]):
        return {"state": "done", "skipped": True, "commands": cmds}
    if folder.exists():
        # stale (another config or budget), interrupted or --force: start clean
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    meta = {"id": exp.id, "family": exp.family, "kind": exp.kind, "config": exp.config,
            "config_path": str(plan["config_path"]), "overrides": plan["overrides"], "quick": quick,
            "repeat": plan["repeat"], "fingerprint": plan["fingerprint"], "commands": cmds, "started": _now()}
    t0 = time.perf_counter()
    try:
        execute(exp, plan, folder, quick, progress)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - record it, report it, go on with the others
        meta.update(error=f"{type(e).__name__}: {e}", wall_seconds=time.perf_counter() - t0, finished=_now())
        io.atomic_write_text(folder / "error.txt", traceback.format_exc())
        (folder / "metrics.json").unlink(missing_ok=True)
        io.write_json(folder / "reproduce.json", meta)
        echo(f"  {exp.id}: FAILED ({type(e).__name__}: {e})")
        return {"state": "failed", "error": meta["error"], "commands": cmds}
    meta.update(wall_seconds=time.perf_counter() - t0, finished=_now())
    io.write_json(folder / "reproduce.json", meta)
    return {"state": "done", "skipped": False, "commands": cmds}
