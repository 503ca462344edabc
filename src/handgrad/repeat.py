"""One config trained with several seeds (``handgrad train --repeat N``): seed, seed+1, ..., each into
``OUT/run-00``, ``run-01``, ..., on a local Dask cluster or in this process (:mod:`handgrad.execution`),
and the mean, std and every run of each accuracy (and the character RNN's losses) in
``OUT/metrics.json``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handgrad import execution, io
from handgrad.config import ConfigBase
from handgrad.tasks import runs

#: losses summarised over seeds besides the accuracies (the character RNN's: its smooth loss
#: swings by several nats with the seed, so one run says little)
REPEATED_LOSSES = ("smooth_loss", "smooth_loss_min", "val_loss_per_char")


def run_repeated(cfg: ConfigBase, run_dir: Path, n: int, *, progress: bool | None = None, layout=None,
                 echo=None) -> dict:
    """Train with seeds seed, seed+1, ..., seed+n-1 (sub-folders run-00, ...); aggregate metrics.

    The seeds run where ``layout`` says (:mod:`handgrad.execution`; default: in this process);
    when one fails the others still finish, then the first failure is raised.
    """
    layout = layout or execution.choose_layout(1)
    here = layout.mode == "in-process"
    tasks = [execution.Task(f"seed-{cfg.seed + i}", runs.run, (cfg.model_copy(update={"seed": cfg.seed + i}),
                                                          Path(run_dir) / f"run-{i:02d}"),
                            {"progress": progress if here else False, "figures": i == 0,
                             "desc": f"{cfg.name} [{i + 1}/{n}]"}) for i in range(n)]
    results: dict[str, dict] = {}
    execution.run_tasks(tasks, layout, on_result=lambda task, m: results.__setitem__(task.key, m), desc="seeds",
                        unit="run", progress=False if here else progress, echo=echo)
    done = [results[t.key] for t in tasks]
    agg: dict = {"name": cfg.name, "repeat": n, "seeds": [cfg.seed + i for i in range(n)],
                 "seconds": float(sum(r["seconds"] for r in done))}
    diverged = [{"seed": cfg.seed + i, **r["diverged"]} for i, r in enumerate(done) if "diverged" in r]
    if diverged:
        agg["diverged_runs"] = diverged
    keys = [k for k, v in done[0].items()
            if (k.endswith("accuracy") or k in REPEATED_LOSSES) and isinstance(v, float)]
    for k in keys:
        vals = np.array([r[k] for r in done])
        agg[f"{k}_mean"], agg[f"{k}_std"], agg[f"{k}_runs"] = float(vals.mean()), float(vals.std(ddof=1) if n > 1 else 0.0), vals.tolist()
    io.write_json(Path(run_dir) / "config.json", cfg.to_dict())
    io.write_json(Path(run_dir) / "metrics.json", agg)
    return agg
