"""Run one planned experiment into its folder, by kind: a run, repeated seeds, a search, gradient
checks, or a timing benchmark. Each runner writes metrics.json and returns its dict."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
from io import StringIO
from pathlib import Path

from tqdm.auto import tqdm

from handgrad import io, readers, repeat, search
from handgrad.config import from_dict
from handgrad.errors import HandgradError
from handgrad.reproduction.plan import benchmark_argv, case_overrides
from handgrad.reproduction.spec import GRADCHECK_BOUND, Experiment
from handgrad.tasks import ensemble
from handgrad.tasks.gradchecks import gradcheck_cases, passed


def run_one(exp: Experiment, plan: dict, folder: Path, quick: bool, progress: bool | None) -> dict:
    return ensemble.run_config(plan["cfg"], folder, progress=progress, desc=exp.id)


def run_repeat(exp: Experiment, plan: dict, folder: Path, quick: bool, progress: bool | None) -> dict:
    return repeat.run_repeated(plan["cfg"], folder, plan["repeat"], progress=progress)


def run_search(exp: Experiment, plan: dict, folder: Path, quick: bool, progress: bool | None) -> dict:
    cfg = plan["cfg"]
    trials = search.trial_overrides(cfg.search)
    t0 = time.perf_counter()
    with tqdm(total=len(trials), desc=f"{exp.id} trials", unit="trial", leave=False,
              disable=(not sys.stderr.isatty()) if progress is None else not progress) as bar:
        # "keep_runs": every trial keeps its run folder (and a search over one or two keys draws their
        # loss curves side by side, e.g. the batch-norm sensitivity study)
        records = search.run_search(cfg, folder, extra_overrides=trials, keep_runs=bool(exp.extra("keep_runs")),
                                    on_done=lambda rec: bar.update(1))
    search.write_table(folder, records)
    io.write_json(folder / "config.json", cfg.to_dict())
    best = records[0]
    lam_key = next((k for k in best["overrides"] if k in ("train.lambda", "train.lam")), None)
    m = {"name": cfg.name, "n_trials": len(records),
         "seconds": float(sum(r["metrics"]["seconds"] for r in records)),
         "wall_seconds": time.perf_counter() - t0,
         "best_overrides": best["overrides"],
         "best_train_accuracy": best["metrics"]["train_accuracy"],
         "best_val_accuracy": best["metrics"]["val_accuracy"],
         "best_test_accuracy": best["metrics"].get("test_accuracy")}
    if lam_key:
        m["best_lambda"] = best["overrides"][lam_key]
    io.write_json(folder / "metrics.json", m)
    return m


def run_gradcheck(exp: Experiment, plan: dict, folder: Path, quick: bool, progress: bool | None) -> dict:
    cfg = plan["cfg"]
    t0 = time.perf_counter()
    out = []
    for case in plan["cases"]:
        c = from_dict(cfg.to_dict(), "gradcheck case", case_overrides(case, cfg, exp.extra("method", "centred")))
        out.extend(gradcheck_cases(c))
    m = {"name": cfg.name, "cases": out, "max_rel": max(c["max_rel"] for c in out),
         "reference_max_rel": max(c["reference"]["max_rel"] for c in out),
         "bound": GRADCHECK_BOUND, "passed": passed(out, GRADCHECK_BOUND),
         "seconds": time.perf_counter() - t0, "seed": cfg.seed}
    io.write_json(folder / "config.json", cfg.to_dict())
    io.write_json(folder / "metrics.json", m)
    return m


def load_script(path: Path):
    """A benchmark script as a module (it is a script, not part of the package)."""
    if not path.is_file():
        raise HandgradError(f"the timing benchmark {path} is not available")
    spec = importlib.util.spec_from_file_location(f"handgrad_bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_timing(exp: Experiment, plan: dict, folder: Path, quick: bool, progress: bool | None) -> dict:
    """The script's ``main(argv)`` writes its numbers to --json: rows {impl, total_s, speedup_total, ...}
    (the ConvNet's timing table), or any dict, kept as it is (the targets name its keys)."""
    bench = load_script(Path(plan["config_path"]))
    folder.mkdir(parents=True, exist_ok=True)
    js = folder / "timing.json"
    t0 = time.perf_counter()
    log = StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = bench.main([*benchmark_argv(exp, quick), "--json", str(js)])
    finally:  # the log, whole, even when the benchmark fails or is interrupted
        io.atomic_write_text(folder / "bench.log", log.getvalue())
    if code:
        raise HandgradError(f"the timing benchmark failed (exit {code}); see {folder / 'bench.log'}")
    res = readers.read_json(js)
    if "rows" not in res:
        m = {**res, "name": "timing", "seconds": time.perf_counter() - t0}
        io.write_json(folder / "metrics.json", m)
        return m
    rows = {r["impl"]: r for r in res["rows"]}
    m = {"name": "timing", "updates": res["updates"], "rows": res["rows"],
         "speedup": {k: r["speedup_total"] for k, r in rows.items()},
         "total_s": {k: r["total_s"] for k, r in rows.items()},
         "labels": dict(getattr(bench, "LABEL", {})),
         "seconds": time.perf_counter() - t0, "seed": res["setting"].get("seed")}
    io.write_json(folder / "metrics.json", m)
    return m


RUNNERS = {"run": run_one, "repeat": run_repeat, "search": run_search, "gradcheck": run_gradcheck,
           "timing": run_timing}


def execute(exp: Experiment, plan: dict, folder: Path, quick: bool, progress: bool | None) -> dict:
    """Run the experiment into ``folder``; returns its metrics.json dict."""
    return RUNNERS[exp.kind](exp, plan, folder, quick, progress)
