"""The ``handgrad`` command: train, gradcheck, search, lrfind, predict, sample, serve, reproduce, report.

Errors the user can cause are printed as one clear message (no traceback), exit status 2.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from handgrad import families
from handgrad.errors import HandgradError, Interrupted

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Small neural networks with hand-derived gradients, checked numerically.")


def friendly(fn):
    """Turn HandgradError into a one-line message and exit code 2, and Ctrl-C into one line on
    what was kept (``Interrupted.kept``, else nothing) and exit code 130, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HandgradError as e:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as e:
            typer.secho(f"interrupted: {getattr(e, 'kept', None) or 'nothing was kept'}", err=True)
            raise typer.Exit(130) from None

    return wrapper


ConfigArg = Annotated[Path, typer.Argument(help="experiment config (TOML)")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", help="override a key: train.eta=0.01 (repeatable; KEY=null unsets it; `handgrad config keys` lists them)")]


def _load(config: Path, sets):
    from handgrad.config import load_config, parse_overrides

    return load_config(config, parse_overrides(sets))


def _default_out(kind: str, name: str) -> Path:
    return Path("runs") / kind / name


JobsOpt = Annotated[Optional[int], typer.Option(
    min=1, help="local worker processes (default: one per core; 1: in this process, no cluster)")]
SchedulerOpt = Annotated[Optional[str], typer.Option(
    envvar="HANDGRAD_SCHEDULER", help="address of an existing Dask scheduler (tcp://host:8786) to run on")]


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
    from handgrad import ensemble, execution, experiment, io

    cfg = _load(config, set_)
    out = out or _default_out("train", cfg.name)
    io.check_run_folder(out, force=force)  # before training: a bad --out fails now, not after an hour
    typer.echo(f"training {cfg.name} into {out} (Ctrl-C stops; {out} is written only when training ends)", err=True)
    existed = (out / "metrics.json").is_file()
    try:
        if repeat > 1:
            layout = execution.choose_layout(jobs, scheduler, repeat)
            m = experiment.run_repeated(cfg, out, repeat, layout=layout, echo=typer.echo)
        else:
            m = ensemble.run_config(cfg, out)  # an [ensemble] table trains every member
    except KeyboardInterrupt:
        if repeat > 1:
            done = sorted(p.parent.name for p in out.glob("run-*/metrics.json"))
            raise Interrupted(f"{len(done)} of {repeat} runs complete in {out} ({', '.join(done) or 'none'}); "
                              "no mean and std were written") from None
        raise Interrupted(f"nothing was kept; {out} is as it was" if existed else
                          f"nothing was kept; no run folder was written at {out}") from None
    for d in [m["diverged"]] if "diverged" in m else m.get("diverged_runs", []):
        typer.secho(f"warning: {'seed ' + str(d['seed']) + ': ' if 'seed' in d else ''}"
                    f"{experiment.divergence_message(d)}", fg=typer.colors.YELLOW, err=True)
    if repeat > 1:
        for k in ("train_accuracy", "val_accuracy", "test_accuracy", "ensemble_val_accuracy", "ensemble_test_accuracy"):
            if f"{k}_mean" in m and "smooth_loss_mean" not in m:  # an RNN's next-character accuracy says little
                typer.echo(f"{k}: {100 * m[f'{k}_mean']:.2f}% +- {100 * m[f'{k}_std']:.2f} over {repeat} runs")
        for k in experiment.REPEATED_LOSSES:
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
    from handgrad import experiment
    from handgrad import gradcheck as gc

    if all_ == (config is not None):
        raise HandgradError("give a config, or --all (every layer and loss of the package)")
    if all_:
        from handgrad import testing

        tol = tol if tol is not None else 1e-6
        rows = testing.check_all()
        ok = all(r["max_rel"] <= tol for r in rows)
        typer.echo(json.dumps({"tolerance": tol, "passed": ok, "rows": rows}, indent=2) if json_
                   else testing.format_all(rows, tol))
    else:
        cfg = _load(config, set_)
        cases = experiment.gradcheck_cases(cfg)
        tol = tol if tol is not None else cfg.gradcheck.tol
        ok = gc.passed(cases, tol)
        typer.echo(json.dumps({"tolerance": tol, "passed": ok, "cases": cases}, indent=2) if json_
                   else gc.format_cases(cases, tol))
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
    from handgrad import execution, experiment
    from handgrad import search as search_mod

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
        note = f" ({experiment.divergence_message(div)})" if div else ""
        typer.echo(f"  {ov}: val {100 * rec['metrics']['val_accuracy']:.2f}%{note}")

    failed = []

    def report_failure(rec):
        failed.append(rec)
        ov = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec["overrides"].items())
        typer.secho(f"  {ov}: FAILED ({rec['error']})", fg=typer.colors.RED, err=True)

    warn = functools.partial(typer.secho, fg=typer.colors.YELLOW, err=True)
    try:
        records = search_mod.run_search(cfg, out, extra_overrides=trials, keep_runs=keep_runs, layout=layout,
                                        on_done=report, on_failed=report_failure, progress=None, echo=typer.echo,
                                        warn=lambda msg: warn(f"warning: {msg}"))
    except KeyboardInterrupt:
        n = len(search_mod.finished(search_mod.read_ledger(out)))
        raise Interrupted(f"{n} finished trial{'s' * (n != 1)} kept in {out / search_mod.LEDGER}; "
                          "the same command goes on from them") from None
    if records:
        table = search_mod.write_table(out, records)
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


@app.command()
@friendly
def predict(run_dir: Annotated[Path, typer.Argument(help="run folder of a surnames model (ConvNet, n-gram or ensemble)")],
            names: Annotated[Optional[list[str]], typer.Argument(help="surnames to classify")] = None,
            file: Annotated[Optional[str], typer.Option("--file", "-f", help="read names from FILE, one per line ('-': standard input)")] = None,
            top: Annotated[Optional[int], typer.Option("--top", help="print each name's K most probable languages")] = None,
            json_: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
            fold: Annotated[bool, typer.Option("--fold", help="map accented letters to their base letter first")] = False,
            ) -> None:
    """Probability of every language for each name, and the predicted one (report 000, table 3).

    Names come from the arguments and/or --file (one per line; '-' reads standard input)."""
    from handgrad import predict as predict_mod

    names = list(names or [])
    if file is not None:
        names += predict_mod.read_names(file)
    if not names:
        raise HandgradError("give names as arguments or with --file FILE (one per line, '-' for standard input)")
    results = predict_mod.predict_names(run_dir, names, fold=fold, top=top)
    for r in results:
        if r["truncated"]:
            typer.echo(f"note: {r['name']!r} is longer than the model's {len(r['encoded'])} characters; "
                       f"only its first {len(r['encoded'])} ({r['encoded']!r}) were used", err=True)
    if json_:
        typer.echo(json.dumps(results, indent=2))
    elif top is not None:
        typer.echo(predict_mod.format_top(results))
    else:
        typer.echo(predict_mod.format_table(results))


@app.command()
@friendly
def sample(run_dir: Annotated[Path, typer.Argument(help="run folder of a trained character RNN")],
           n: Annotated[int, typer.Option("--n", help="characters to generate")] = 1000,
           temperature: Annotated[float, typer.Option(help="divide the scores by this before the softmax")] = 1.0,
           top_p: Annotated[float, typer.Option("--top-p", help="nucleus sampling: keep the most probable characters up to this mass")] = 1.0,
           prime: Annotated[Optional[str], typer.Option(help="start from this text (printed first)")] = None,
           seed: Annotated[Optional[int], typer.Option(help="seed of the sampling Generator (same seed, same text)")] = None,
           ) -> None:
    """Print new text from a character RNN (train it with a configs/rnn/ config)."""
    from handgrad.generate import sample_run

    typer.echo(sample_run(run_dir, n, temperature=temperature, top_p=top_p, prime=prime, seed=seed))


@app.command()
@friendly
def serve(run_dir: Annotated[Path, typer.Argument(help="run folder of a surnames ConvNet or a CIFAR-10 classifier")],
          host: Annotated[str, typer.Option(help="address to bind (the default serves this machine only)")] = "127.0.0.1",
          port: Annotated[int, typer.Option(min=0, max=65535, help="port")] = 8000) -> None:
    """A web page (and JSON API) to try a trained model: type a surname, or drop an image."""
    try:
        from handgrad.serve.app import create_app, serve as serve_app
    except ImportError as e:
        raise HandgradError(f"handgrad serve needs the serve extra ({e.name} is missing): "
                            "pip install 'handgrad[serve]'") from None
    app_ = create_app(run_dir)  # reads and checks the run folder: a bad one fails here, before the banner
    typer.echo(f"serving {run_dir} on http://{host}:{port}/ (Ctrl-C stops)")
    serve_app(app_, host=host, port=port)


@app.command()
@friendly
def reproduce(family: Annotated[str, typer.Argument(help=f"{', '.join(families.names())} or all")] = "all",
              quick: Annotated[bool, typer.Option(help="reduced budgets: the pipeline in a few minutes")] = False,
              out: Annotated[Path, typer.Option(help="reports folder: OUT/<family>/index.html, report.md")] = Path("reports"),
              force: Annotated[bool, typer.Option(help="run finished experiments again")] = False,
              configs: Annotated[Optional[Path], typer.Option(help="configs folder (default: the checkout's configs/)")] = None,
              threads: Annotated[int, typer.Option(min=0, help="BLAS threads in this process, where --jobs 1 and "
                                                   "the timing benchmarks run (0: the library's default)")] = 1,
              jobs: JobsOpt = None, scheduler: SchedulerOpt = None,
              ) -> None:
    """Run the shipped configs of a family and report ours beside the published numbers.

    Independent experiments run in parallel on a local Dask cluster (one worker per core), on an
    existing one (--scheduler), or one after another in this process (--jobs 1).
    """
    import time

    from handgrad import execution
    from handgrad import reproduce as reproduce_mod

    t0 = time.perf_counter()
    argv = ["handgrad", "reproduce", family, *(["--quick"] if quick else []), "--out", str(out),
            *(["--force"] if force else []), *(["--configs", str(configs)] if configs else []),
            *(["--jobs", str(jobs)] if jobs else [])]
    layout = execution.choose_layout(jobs, scheduler, sum(len(f.experiments) for f in families.select(family)))
    try:
        paths = reproduce_mod.reproduce(family, out=out, quick=quick, force=force, configs=configs,
                                        command=" ".join(argv), echo=typer.echo, threads=threads or None,
                                        layout=layout)
    except KeyboardInterrupt:
        n = sum(1 for _ in out.glob("*/runs/*/reproduce.json"))  # written when an experiment ends
        raise Interrupted(f"{n} finished experiment{'s' * (n != 1)} kept in {out}/*/runs (the same command "
                          "skips them; the ones running start again); no report was written for this call") from None
    for fam, p in paths.items():
        typer.echo(f"{fam}: {p}")
    typer.echo(f"wall time: {time.perf_counter() - t0:.1f} s")


@app.command()
@friendly
def report(run_dirs: Annotated[list[Path], typer.Argument(
        help="run folders written by train, or OUT / OUT/<family> folders written by reproduce")]) -> None:
    """Write an HTML page for a run folder (metrics, figures, config), or re-render a reproduce report
    (index.html and report.md) from its saved runs. Never trains."""
    from handgrad import report as report_mod

    for d in run_dirs:
        if report_mod.is_run_folder(d):
            typer.echo(f"{report_mod.render_run(d)}")
            continue
        fams = [d / f for f in families.names() if (d / f / "manifest.json").is_file()]
        for fam_dir in fams if fams and not (d / "manifest.json").is_file() else [d]:  # OUT itself: every family
            typer.echo(f"{report_mod.render(fam_dir)}")


config_app = typer.Typer(no_args_is_help=True, help="Every config key, its type, default and meaning; a config resolved.")
app.add_typer(config_app, name="config")


@config_app.command("keys")
@friendly
def config_keys() -> None:
    """List every config key with its type, default and meaning, table by table."""
    from handgrad.config_reference import format_keys

    typer.echo(format_keys())


@config_app.command("show")
@friendly
def config_show(config: ConfigArg, set_: SetOpt = None) -> None:
    """Print CONFIG resolved (defaults filled in, --set applied): every key with its value, type,
    default and meaning; '*' marks the values the file or --set gave."""
    from handgrad.config_reference import format_resolved

    typer.echo(format_resolved(_load(config, set_), str(config)))


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
