"""``handgrad reproduce`` and ``report``: the published experiments and their reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from handgrad import families
from handgrad.cli.common import JobsOpt, SchedulerOpt, app, friendly
from handgrad.errors import Interrupted


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
    # reproduce() has said where each family's report is (once, as it wrote it)
    typer.echo(f"{len(paths)} report{'s' * (len(paths) != 1)}; wall time: {time.perf_counter() - t0:.1f} s")


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
