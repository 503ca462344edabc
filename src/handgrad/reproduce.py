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

from threadpoolctl import threadpool_limits

from handgrad import execution, families, io, report
from handgrad.errors import HandgradError
from handgrad.locks import folder_locks
from handgrad.reproduction.manifest import environment
from handgrad.reproduction.plan import (
    commands,
    configs_root,
    is_done,
    plan_experiment,
    run_dir,
    shell_command,
)
from handgrad.reproduction.quick import QuickBudget
from handgrad.reproduction.runners import execute
from handgrad.reproduction.spec import Experiment


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def reproduce(which: str = "all", *, out: str | os.PathLike = "reports", quick: bool = False, force: bool = False,
              configs: str | os.PathLike | None = None, progress: bool | None = None,
              command: str | None = None, echo=None, threads: int | None = 1, layout=None) -> dict[str, Path]:
    """Run the experiments of one family (or all) into OUT/<family>/runs/ and render the reports.

    Returns {family: path of index.html}. Finished experiments (same fingerprint) are skipped unless
    ``force``; a failing experiment is recorded and reported, and the others still run. The
    experiments run where ``layout`` says (:mod:`handgrad.execution`; default: in this process),
    independent of each other; timing benchmarks run last, here, alone, so that nothing else
    competes for the cores they time. Here BLAS runs on ``threads`` threads (None: the library's
    default): the matrices are small, and on a busy machine one thread is several times faster
    than two; workers of a cluster get their share of the cores.
    """
    out = Path(out)
    fams = families.select(which)
    root = configs_root(configs)
    echo = echo or (lambda s: print(s, file=sys.stderr))
    layout = layout or execution.choose_layout(1)
    command = command or shell_command(["handgrad", "reproduce", which, *(["--quick"] if quick else []), "--out",
                                        str(out), *(["--force"] if force else [])])

    # one process per family folder: a second reproduce (or make run) on the same folders stops here
    with folder_locks([out / fam.name for fam in fams], "reproduce folder"):
        return _reproduce(fams, out, quick, force, root, progress, command, echo, threads, layout)


def _reproduce(fams, out: Path, quick, force, root, progress, command, echo, threads, layout) -> dict[str, Path]:
    env = environment()
    t0 = time.perf_counter()
    status: dict[str, dict] = {}
    tasks, timing = [], []
    for fam in fams:
        for exp in fam.experiments:
            state, job = prepare(exp, root, out, quick, force, echo, fam.quick)
            if job is None:
                status[exp.id] = state
            else:
                # in this process each run shows its own progress bar; on a cluster, one bar for all
                kw = {"progress": progress if layout.mode == "in-process" or exp.kind == "timing" else False}
                (timing if exp.kind == "timing" else tasks).append(execution.Task(exp.id, run_prepared, job, kw))

    def finished(task, state):
        status[task.key] = state
        if state["state"] == "failed":
            echo(f"  {task.key}: FAILED ({state['error']})")

    def crashed(task, message):  # the worker itself was lost, again and again (run_prepared catches the rest)
        finished(task, {"state": "failed", "error": message, "commands": task.args[4]})

    with threadpool_limits(threads) if threads else contextlib.nullcontext():
        for batch, where in ((tasks, layout), (timing, execution.choose_layout(1))):
            execution.run_tasks(batch, where, on_result=finished, on_failure=crashed, desc="experiments",
                                unit="exp", progress=progress, echo=echo)
        results: dict[str, Path] = {}
        for fam in fams:
            manifest = {"family": fam.name, "quick": quick, "command": command, "configs": str(root),
                        "cwd": str(Path.cwd()), "finished": _now(),
                        "wall_seconds_this_call": time.perf_counter() - t0,
                        "environment": env, "status": {e.id: status[e.id] for e in fam.experiments},
                        "data_env": os.environ.get("HANDGRAD_DATA"),
                        "blas_threads": threads, "workers": {**layout.to_dict(), "description": layout.describe()}}
            io.write_json(out / fam.name / "manifest.json", manifest)
            results[fam.name] = report.render(out / fam.name)
            echo(f"{fam.name}: report {results[fam.name]} (and {results[fam.name].with_name('report.md')})")
    return results


def prepare(exp: Experiment, root: Path, out: Path, quick: bool, force: bool, echo,
            budget: QuickBudget = QuickBudget()) -> tuple[dict, tuple | None]:
    """Plan one experiment: (its status, None) when it is not available or already done, else
    (None, the arguments of :func:`run_prepared`)."""
    try:
        plan = plan_experiment(exp, root, quick, budget)
    except HandgradError as e:
        echo(f"  {exp.id}: not available ({e})")
        return {"state": "not available", "reason": str(e)}, None
    if not plan["available"]:
        echo(f"  {exp.id}: not available ({plan['reason']})")
        return {"state": "not available", "reason": plan["reason"]}, None
    folder = run_dir(out, exp)
    cmds = commands(exp, plan, folder, quick)
    if not force and is_done(folder, plan["fingerprint"]):
        return {"state": "done", "skipped": True, "commands": cmds}, None
    return None, (exp, plan, folder, quick, cmds)


def run_prepared(exp: Experiment, plan: dict, folder: Path, quick: bool, cmds: list, progress=False) -> dict:
    """Run one planned experiment into its (cleaned) folder, in whatever process this is; returns
    its status for the manifest (a failure is recorded in the folder, not raised)."""
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
        try:
            io.atomic_write_text(folder / "error.txt", traceback.format_exc())
            (folder / "metrics.json").unlink(missing_ok=True)
            io.write_json(folder / "reproduce.json", meta)
        except (HandgradError, OSError):  # nothing can be written here (a full disk): say what failed first
            raise e from None
        return {"state": "failed", "error": meta["error"], "commands": cmds}
    meta.update(wall_seconds=time.perf_counter() - t0, finished=_now())
    io.write_json(folder / "reproduce.json", meta)
    return {"state": "done", "skipped": False, "commands": cmds}
