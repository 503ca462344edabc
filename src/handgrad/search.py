"""Hyper-parameter search: grids, log grids and log-uniform random draws over config keys.

Every finished trial is appended to ``ledger.jsonl`` in the search folder, keyed by a hash of
the trial's fully resolved config; running the same search again skips what the ledger holds,
so an interrupted search resumes where it stopped. Trials run in this process or on a Dask
cluster (:mod:`handgrad.execution`); the ledger is written here, by the driver, as results arrive.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np

from handgrad import config as config_mod
from handgrad import execution, plots, readers
from handgrad.config import ConfigBase
from handgrad.config.tables import SearchConfig
from handgrad.errors import HandgradError
from handgrad.io import atomic_write_text, write_json
from handgrad.locks import folder_lock
from handgrad.tasks import runs

LEDGER = "ledger.jsonl"


def trial_overrides(sc: SearchConfig) -> list[dict]:
    """Every trial as {dotted key: value}: the product of grid and log-grid values, crossed with
    ``n_trials`` log-uniform draws when any are asked for (drawn from ``sc.seed``)."""
    axes = {k: list(v) for k, v in sc.grid.items()}
    for k, (lo, hi, n) in sc.log_grid.items():
        axes[k] = [float(10.0 ** l) for l in np.linspace(lo, hi, int(n))]
    keys = list(axes)
    combos = [dict(zip(keys, vals)) for vals in itertools.product(*axes.values())] or [{}]
    if not sc.log_uniform:
        return combos
    rng = np.random.default_rng(sc.seed)
    draws = [{k: float(10.0 ** rng.uniform(lo, hi)) for k, (lo, hi) in sc.log_uniform.items()}
             for _ in range(sc.n_trials)]
    return [{**c, **d} for c in combos for d in draws]


def trial_key(cfg: ConfigBase) -> str:
    """Identity of a trial: the hash of its resolved config (search table and name excluded)."""
    d = cfg.to_dict()
    d.pop("search", None)
    d.pop("name", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def read_ledger(folder: Path, warn=None) -> dict[str, dict]:
    """Finished trials by key. A last line cut short by a crash is dropped, a corrupted line is
    skipped; each is passed to ``warn`` (one message naming the file and the line) when given."""
    out, problems = readers.read_ledger(Path(folder) / LEDGER)
    for msg in problems:
        if warn is not None:
            warn(msg)
    return out


def _stderr(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def _append(folder: Path, rec: dict) -> None:
    # one short line per write, flushed and synced: a crash can only lose the line in flight
    path = Path(folder) / LEDGER
    lead = ""
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as f:  # a line cut short by a crash: start on a fresh line
            f.seek(-1, os.SEEK_END)
            lead = "" if f.read(1) == b"\n" else "\n"
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(lead + json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:  # a full disk, a read-only place: the trials already in the ledger stay
        raise HandgradError(f"cannot write {path}: {e.strerror or e}") from None


def _run_trial(raw: dict, overrides: dict, key: str, run_dir: str | None) -> dict:
    cfg = config_mod.from_dict(raw, overrides=overrides)
    metrics = runs.run(cfg, Path(run_dir) if run_dir else None, progress=False, figures=False,
                             desc=f"trial {key}")
    return {"key": key, "overrides": overrides, "metrics": metrics}


def run_search(base: ConfigBase, folder: Path, *, extra_overrides: list[dict] | None = None, jobs: int = 1,
               keep_runs: bool = False, on_done=None, layout=None, on_failed=None,
               progress: bool | None = False, echo=None, warn=_stderr) -> list[dict]:
    """Run the trials of ``base.search`` (or ``extra_overrides``) not yet in the ledger.

    Trials run where ``layout`` says (:mod:`handgrad.execution`; default: ``jobs`` local workers,
    1 = in this process). Each finished trial is appended to the ledger as it arrives, whichever
    worker ran it; a trial that raised is appended as failed (``error``: its message), reported
    to ``on_failed(rec)``, and runs again next time. Returns every finished trial of this search
    (done before or now), sorted by validation accuracy. Problems found in the ledger (a line cut
    short, a corrupted line) go to ``warn``.
    """
    with folder_lock(folder, "search folder"):  # one driver per ledger: a second search stops here
        return _run_search(base, Path(folder), extra_overrides, jobs, keep_runs, on_done, layout, on_failed,
                           progress, echo, warn)


def _run_search(base, folder: Path, extra_overrides, jobs, keep_runs, on_done, layout, on_failed, progress,
                echo, warn) -> list[dict]:
    raw = base.to_dict()
    trials = extra_overrides if extra_overrides is not None else trial_overrides(base.search)
    done = finished(read_ledger(folder, warn))
    todo, records, seen = [], [], set()
    for ov in trials:
        cfg = config_mod.from_dict(raw, "search trial", overrides=ov)
        key = trial_key(cfg)
        if key in seen:  # the same trial listed twice runs (and counts) once
            continue
        seen.add(key)
        if key in done:
            records.append(done[key])
        else:
            todo.append((ov, key))
    layout = layout or execution.choose_layout(jobs, None, len(todo))

    def record(task, rec):  # in this process, as each result arrives: the ledger is the truth
        _append(folder, rec)
        records.append(rec)
        if on_done:
            on_done(rec)

    def record_failure(task, message):
        ov, key = task.args[1], task.args[2]
        rec = {"key": key, "overrides": ov, "error": message}
        _append(folder, rec)
        if on_failed:
            on_failed(rec)

    tasks = [execution.Task(f"trial-{key}", _run_trial, (raw, ov, key, str(folder / "runs" / key) if keep_runs else None))
             for ov, key in todo]
    execution.run_tasks(tasks, layout, on_result=record, on_failure=record_failure, desc="trials", unit="trial",
                        progress=progress, echo=echo)
    records.sort(key=lambda r: -r["metrics"]["val_accuracy"])
    return records


def finished(ledger: dict[str, dict]) -> dict[str, dict]:
    """The ledger's finished trials (a failed trial, recorded with its ``error``, runs again)."""
    return {k: r for k, r in ledger.items() if "metrics" in r}


def parse_grid(items: list[str]) -> dict[str, list]:
    """['train.lambda=0,0.1', ...] -> {'train.lambda': [0, 0.1]}."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise HandgradError(f"--grid expects key=v1,v2,..., got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = [config_mod.parse_value(x.strip()) for x in v.split(",") if x.strip()]
        if not out[k.strip()]:
            raise HandgradError(f"--grid {k}: no values given")
    return out


def write_table(folder: Path, records: list[dict]) -> Path:
    """results.md (sorted by validation accuracy, top 3 in bold), results.json, and a plot of
    validation accuracy against lambda when lambda varied."""
    folder = Path(folder)
    keys = sorted({k for r in records for k in r["overrides"]})
    cols = ["rank", *keys, "train acc", "val acc", "test acc", "seconds"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for i, r in enumerate(records):
        m = r["metrics"]
        vals = [str(i + 1)] + [_fmt(r["overrides"].get(k)) for k in keys] + [
            f"{m['train_accuracy']:.4f}", f"{m['val_accuracy']:.4f}",
            f"{m['test_accuracy']:.4f}" if "test_accuracy" in m else "-", f"{m['seconds']:.1f}"]
        if i < 3:
            vals = [f"**{v}**" for v in vals]
        lines.append("| " + " | ".join(vals) + " |")
    atomic_write_text(folder / "results.md", "\n".join(lines) + "\n")
    write_json(folder / "results.json", records)
    lam_key = next((k for k in keys if k in ("train.lambda", "train.lam")), None)
    if lam_key and len(records) > 1:
        plots.save(plots.search_scatter(records, lam_key), folder / "val_accuracy_vs_lambda.png")
    if len(keys) in (1, 2) and all((folder / "runs" / r["key"] / "history.json").is_file() for r in records):
        curves_side_by_side(folder, records, keys)
    return folder / "results.md"


def curves_side_by_side(folder: Path, records: list[dict], keys: list[str]) -> Path:
    """``loss_curves.png``: the kept runs' loss curves (search --keep-runs), one panel per trial, the
    last key's values across and the first key's down (e.g. sigma across, batch norm on/off down)."""
    across, down = keys[-1], keys[0] if len(keys) == 2 else None

    def values(k):
        return sorted({r["overrides"][k] for r in records}, key=lambda v: (isinstance(v, str), v))

    by = {tuple(r["overrides"].get(k) for k in keys): r for r in records}
    panels = []
    for dv in values(down) if down else [None]:
        row = []
        for av in values(across):
            r = by.get((dv, av) if down else (av,))
            title = ", ".join(f"{k.split('.')[-1]}={_fmt(v)}" for k, v in zip(keys, (dv, av) if down else (av,)))
            row.append(None if r is None else (title, runs.read_history(Path(folder) / "runs" / r["key"] / "history.json")))
        panels.append(row)
    return plots.save(plots.curve_grid(panels, metric="loss"), Path(folder) / "loss_curves.png")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)
