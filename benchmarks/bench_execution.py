"""A 12-trial lambda search with ``--jobs 1`` (in this process) against ``--jobs 2`` (a local Dask
cluster of 2 single-threaded worker processes), alternating in one process run.

The search: configs/mlp/sheet-fig3.toml (3072-50-10 MLP on data_batch_1, one cycle of n_s = 500,
1,000 updates of batch 100) over 12 values of lambda, log-spaced from 1e-5 to 1e-1. Every round
runs the whole search from an empty folder (no ledger to skip from) and an empty data cache, so
the ``--jobs 1`` time includes loading the data once and the ``--jobs 2`` time starting and
closing the cluster and each worker loading the data once. BLAS runs on one
thread in both (``--jobs 1`` limits this process to 1 thread; the workers get cores // workers).
Prints the medians, the ratio jobs2 / jobs1 (target <= 0.65 on 2 cores), the per-round ratios,
and the CPU seconds each search took in all (this process and its worker processes): on a shared
machine the wall times depend on the CPU share the scheduler grants, the CPU seconds do not.

    HANDGRAD_DATA=... .venv/bin/python benchmarks/bench_execution.py [--repeats 3] [--trials 12] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET = 0.65
CONFIG = common.CONFIGS / "mlp" / "sheet-fig3.toml"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(CONFIG))
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import numpy as np
    from threadpoolctl import threadpool_limits

    from handgrad import execution, search, tasks
    from handgrad.config import load_config

    cfg = load_config(args.config)
    trials = [{"train.lambda": float(v)} for v in np.logspace(-5, -1, args.trials)]
    work = Path(tempfile.mkdtemp(prefix="bench-execution-"))
    limits = threadpool_limits(1)  # --jobs 1 on one BLAS thread, as the workers  # noqa: F841
    print(f"machine: {common.machine_line()}", flush=True)
    print(f"search: {args.trials} trials of {Path(args.config).name} over train.lambda 1e-5..1e-1", flush=True)
    best, child_cpu = {}, {1: [], 2: []}

    def children_cpu() -> float:  # worker processes, once they have ended and been waited for
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def run(jobs: int):
        def go():
            folder = work / f"jobs{jobs}"
            shutil.rmtree(folder, ignore_errors=True)
            layout = execution.choose_layout(jobs, None, len(trials))
            tasks._cache.clear()  # each search loads its data, as a fresh `handgrad search` would
            c0 = children_cpu()
            records = search.run_search(cfg, folder, extra_overrides=trials, layout=layout, echo=lambda s: None)
            child_cpu[jobs].append(children_cpu() - c0)
            best[jobs] = records[0]["metrics"]["val_accuracy"]
            assert len(records) == len(trials)
        return go

    try:
        times, _ = common.alternate({"jobs1": run(1), "jobs2": run(2)}, args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    s = common.summary(times, a="jobs2", b="jobs1")
    print(f"\n== {args.trials}-trial lambda search, wall seconds ({args.repeats} rounds, alternated)")
    for n in ("jobs1", "jobs2"):
        print(f"  {n}: median {s[n]['median']:.2f} s (runs {', '.join(f'{t:.2f}' for t in s[n]['runs'])})")
    print(f"  ratio jobs2/jobs1 (medians): {s['ratio']:.3f}  target <= {TARGET}: "
          f"{'met' if s['ratio'] <= TARGET else 'NOT met'}")
    print(f"  median of per-round ratios: {s['paired_ratio']:.3f}")
    for jobs in (1, 2):  # all the CPU a search took: this process and its worker processes
        total = [a + b for a, b in zip(times[f"jobs{jobs}:cpu"], child_cpu[jobs])]
        s[f"jobs{jobs}"]["total_cpu_runs"] = total
        print(f"  jobs{jobs}: CPU seconds, this process + workers: median {statistics.median(total):.2f} "
              f"(runs {', '.join(f'{t:.2f}' for t in total)})")
    print(f"  best validation accuracy: jobs1 {100 * best[1]:.2f}%, jobs2 {100 * best[2]:.2f}% (the same trials)")
    if args.json:
        from handgrad.io import atomic_write_text  # a crash never leaves half a JSON file

        atomic_write_text(args.json, json.dumps({"setting": {"config": args.config, "trials": args.trials},
                                                 "machine": common.machine_line(), "summary": s}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
