"""``handgrad train``, ``gradcheck``, ``search`` and ``lrfind``: training and checking from configs."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from handgrad.cli.common import (
    ConfigArg,
    JobsOpt,
    SchedulerOpt,
    SetOpt,
    _default_out,
    _load,
    app,
    friendly,
)
from handgrad.errors import HandgradError, Interrupted


@app.command()
@friendly
def train(config: ConfigArg, set_: SetOpt = None,
          out: Annotated[Optional[Path], typer.Option(help="run folder (default runs/train/<name>)")] = None,
          repeat: Annotated[int, typer.Option(min=1, help="train with N seeds; report mean and std")] = 1,
          force: Annotated[bool, typer.Option(help="replace the run folder OUT if it already holds a run")] = False,
          jobs: JobsOpt = None, scheduler: SchedulerOpt = None,
          ) -> None:
    """Train a model and write a run folder (config, history, metrics, model, figures).

    With --repeat N the seeds run on a local Dask cluster (one worker per core), on an existing
    one (--scheduler), or in this process (--jobs 1).
    """
    from handgrad import io, locks

    cfg = _load(config, set_)
    out = out or _default_out("train", cfg.name)
    io.check_run_folder(out, force=force)  # before training: a bad --out fails now, not after an hour
    with locks.folder_lock(out, "run folder"):  # one process per run folder (another one stops here)
        io.check_run_folder(out, force=force)  # what the folder holds now that it is ours
        m = _train_into(cfg, out, repeat, jobs, scheduler)
    _print_train_summary(m, repeat, out)


def _train_into(cfg, out: Path, repeat: int, jobs, scheduler) -> dict:
    from handgrad import execution
    from handgrad.repeat import run_repeated
    from handgrad.tasks import ensemble

    typer.echo(f"training {cfg.name} into {out} (Ctrl-C stops; {out} is written only when training ends)", err=True)
    existed = (out / "metrics.json").is_file()
    try:
        if repeat > 1:
            layout = execution.choose_layout(jobs, scheduler, repeat)
            return run_repeated(cfg, out, repeat, layout=layout, echo=typer.echo)
        return ensemble.run_config(cfg, out)  # an [ensemble] table trains every member
    except KeyboardInterrupt:
        if repeat > 1:
            done = sorted(p.parent.name for p in out.glob("run-*/metrics.json"))
            raise Interrupted(f"{len(done)} of {repeat} runs complete in {out} ({', '.join(done) or 'none'}); "
                              "no mean and std were written") from None
        raise Interrupted(f"nothing was kept; {out} is as it was" if existed else
                          f"nothing was kept; no run folder was written at {out}") from None


def _print_train_summary(m: dict, repeat: int, out: Path) -> None:
    from handgrad.repeat import REPEATED_LOSSES
    from handgrad.tasks import runs

    for d in [m["diverged"]] if "diverged" in m else m.get("diverged_runs", []):
        typer.secho(f"warning: {'seed ' + str(d['seed']) + ': ' if 'seed' in d else ''}"
                    f"{runs.divergence_message(d)}", fg=typer.colors.YELLOW, err=True)
    if repeat > 1:
        for k in ("train_accuracy", "val_accuracy", "test_accuracy", "ensemble_val_accuracy", "ensemble_test_accuracy"):
            if f"{k}_mean" in m and "smooth_loss_mean" not in m:  # an RNN's next-character accuracy says little
                typer.echo(f"{k}: {100 * m[f'{k}_mean']:.2f}% +- {100 * m[f'{k}_std']:.2f} over {repeat} runs")
        for k in REPEATED_LOSSES:
            if f"{k}_mean" in m:
                typer.echo(f"{k}: {m[f'{k}_mean']:.4g} +- {m[f'{k}_std']:.2g} over {repeat} runs "
                           f"(min {min(m[f'{k}_runs']):.4g}, max {max(m[f'{k}_runs']):.4g})")
    elif "smooth_loss" in m:  # a character RNN: losses, not accuracies
        typer.echo(f"smooth loss: {m['smooth_loss']:.4g} at the end, {m['smooth_loss_min']:.4g} at the lowest "
                   f"(per sequence of {m['seq_length']} characters)")
        typer.echo(f"validation loss per character: {m['val_loss_per_char']:.4f} nats "
                   f"(training text: {m['train_loss_per_char']:.4f})")
        typer.echo(f"seconds: {m['seconds']:.1f}")
    else:
        for k in ("train_accuracy", "val_accuracy", "test_accuracy", "val_balanced_accuracy",
                  "test_balanced_accuracy", "ensemble_val_accuracy", "ensemble_test_accuracy"):
            if k in m:
                typer.echo(f"{k}: {100 * m[k]:.2f}%")
        for member in m.get("ensemble", []):
            typer.echo(f"  member {member['member']} (weight {member['weight']:.3g}): " + ", ".join(
                f"{k} {100 * v:.2f}%" for k, v in member.items() if k.endswith("balanced_accuracy")))
        typer.echo(f"seconds: {m['seconds']:.1f}")
    typer.echo(f"run folder: {out}")
    if "diverged" in m or "diverged_runs" in m:
        raise typer.Exit(1)


@app.command()
@friendly
def gradcheck(config: Annotated[Optional[Path], typer.Argument(help="experiment config (TOML)")] = None,
              set_: SetOpt = None,
              all_: Annotated[bool, typer.Option("--all", help="check every layer and loss of the package")] = False,
              json_: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
              tol: Annotated[Optional[float], typer.Option(help="fail above this relative error")] = None) -> None:
    """Compare analytic gradients with a complex-step reference; exit 1 above the tolerance."""
    from handgrad.tasks.gradchecks import check_all, format_all, format_cases, gradcheck_cases, passed

    if all_ == (config is not None):
        raise HandgradError("give a config, or --all (every layer and loss of the package)")
    if all_:
        tol = tol if tol is not None else 1e-6
        rows = check_all()
        ok = all(r["max_rel"] <= tol for r in rows)
        typer.echo(json.dumps({"tolerance": tol, "passed": ok, "rows": rows}, indent=2) if json_
                   else format_all(rows, tol))
    else:
        cfg = _load(config, set_)
        cases = gradcheck_cases(cfg)
        tol = tol if tol is not None else cfg.gradcheck.tol
        ok = passed(cases, tol)
        typer.echo(json.dumps({"tolerance": tol, "passed": ok, "cases": cases}, indent=2) if json_
                   else format_cases(cases, tol))
    if not ok:
        raise typer.Exit(1)


@app.command()
@friendly
def search(config: ConfigArg, set_: SetOpt = None,
           grid: Annotated[Optional[list[str]], typer.Option(help="key=v1,v2,... (repeatable; all combinations)")] = None,
           jobs: JobsOpt = None, scheduler: SchedulerOpt = None,
           out: Annotated[Optional[Path], typer.Option(help="search folder (default runs/search/<name>)")] = None,
           keep_runs: Annotated[bool, typer.Option(help="keep a run folder per trial")] = False) -> None:
    """Train every trial of a search; finished trials (in the folder's ledger) are skipped.

    Trials run on a local Dask cluster (one worker per core), on an existing one (--scheduler),
    or in this process (--jobs 1); the ledger is written as each trial finishes.
    """
    from handgrad import execution, locks
    from handgrad import search as search_mod
    from handgrad.tasks.runs import divergence_message

    cfg = _load(config, set_)
    if grid:
        cfg = cfg.model_copy(update={"search": cfg.search.model_copy(
            update={"grid": {**cfg.search.grid, **search_mod.parse_grid(grid)}})})
    trials = search_mod.trial_overrides(cfg.search)
    if trials == [{}]:
        raise HandgradError("nothing to search: give --grid key=v1,v2 or a [search] table in the config")
    out = out or _default_out("search", cfg.name)
    done_before = len(search_mod.finished(search_mod.read_ledger(out)))
    typer.echo(f"{len(trials)} trials ({done_before} in the ledger of {out} already)")
    layout = execution.choose_layout(jobs, scheduler, len(trials) - done_before)

    def report(rec):
        ov = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec["overrides"].items())
        div = rec["metrics"].get("diverged")
        note = f" ({divergence_message(div)})" if div else ""
        typer.echo(f"  {ov}: val {100 * rec['metrics']['val_accuracy']:.2f}%{note}")

    failed = []

    def report_failure(rec):
        failed.append(rec)
        ov = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec["overrides"].items())
        typer.secho(f"  {ov}: FAILED ({rec['error']})", fg=typer.colors.RED, err=True)

    warn = functools.partial(typer.secho, fg=typer.colors.YELLOW, err=True)
    with locks.folder_lock(out, "search folder"):  # the ledger has one writer; a second search stops here
        try:
            records = search_mod.run_search(cfg, out, extra_overrides=trials, keep_runs=keep_runs, layout=layout,
                                            on_done=report, on_failed=report_failure, progress=None,
                                            echo=typer.echo, warn=lambda msg: warn(f"warning: {msg}"))
        except KeyboardInterrupt:
            n = len(search_mod.finished(search_mod.read_ledger(out)))
            raise Interrupted(f"{n} finished trial{'s' * (n != 1)} kept in {out / search_mod.LEDGER}; "
                              "the same command goes on from them") from None
        table = search_mod.write_table(out, records) if records else None
    if table is not None:
        typer.echo(table.read_text())
        typer.echo(f"table: {table}")
    if failed:
        typer.secho(f"{len(failed)} trial{'s' * (len(failed) != 1)} failed (recorded in {out / search_mod.LEDGER}; "
                    "the same command runs them again)", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@app.command()
@friendly
def lrfind(config: ConfigArg, set_: SetOpt = None,
           out: Annotated[Optional[Path], typer.Option(help="output folder (default runs/lrfind/<name>)")] = None,
           eta_min: Annotated[Optional[float], typer.Option(help="sweep start (default train.eta_min)")] = None,
           eta_max: Annotated[Optional[float], typer.Option(help="sweep end (default train.eta_max)")] = None,
           steps: Annotated[Optional[int], typer.Option(min=1, help="updates of the sweep (default n_s, else 4 epochs)")] = None,
           points: Annotated[int, typer.Option(min=2, help="recording points")] = 50,
           n_eval: Annotated[int, typer.Option(min=1, help="images per split evaluated at each point")] = 2000,
           min_factor: Annotated[float, typer.Option(help="suggested eta_min = eta_max / this")] = 10.0,
           tol: Annotated[float, typer.Option(help="eta_max: first eta within this of the peak accuracy")] = 0.01) -> None:
    """Learning-rate range test: raise eta linearly over a short run; suggest eta_min and eta_max."""
    from handgrad import lrfind as lrfind_mod

    cfg = _load(config, set_)
    out = out or _default_out("lrfind", cfg.name)
    res = lrfind_mod.range_test(cfg, eta_min=eta_min, eta_max=eta_max, n_steps=steps, n_points=points,
                                n_eval=n_eval, min_factor=min_factor, tol=tol)
    paths = lrfind_mod.write(res, out, title=f"{cfg.name}: LR range test")
    s = res.suggestion
    typer.echo(f"swept eta {res.eta_min:g} .. {res.eta_max:g} over {res.step[-1]} updates ({res.seconds:.1f} s)")
    typer.echo(f"peak smoothed validation accuracy {100 * s['peak_accuracy']:.2f}% at eta {s['eta_peak']:.4g}; "
               f"within {100 * tol:g} points of it from eta {s['eta_max']:.4g}")
    if s.get("eta_rise") is not None:
        typer.echo(f"accuracy starts to rise at eta {s['eta_rise']:.4g}")
    typer.echo(f"suggested: --set train.eta_min={s['eta_min']:.3g} --set train.eta_max={s['eta_max']:.3g}")
    if s["at_end"]:
        typer.echo("note: accuracy was still rising at the end of the sweep; try a larger --eta-max")
    typer.echo(f"figure: {paths['figure']}")
