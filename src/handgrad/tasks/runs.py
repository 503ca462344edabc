"""From a config to a trained model and a run folder, for any task: the one path to a trained model
that ``handgrad train``, searches, repeats, ensembles and ``reproduce`` share.

A run folder holds ``config.json`` (resolved), ``history.json``, ``metrics.json``, the model file
(``model.json`` + ``model.npz``, :mod:`handgrad.modelfile`), ``figures/`` and what its task adds; it is
written all or nothing. Randomness comes from the config's ``seed``: three Generators spawned from it
(``handgrad.Rngs``) draw the initialisation, the training (sampling, dropout, augmentation) and, for a
character RNN, the samples, so changing one never changes the others.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from handgrad import io, modelfile, readers
from handgrad.config import ConfigBase
from handgrad.errors import HandgradError
from handgrad.history import History
from handgrad.rngs import Rngs
from handgrad.tasks import Fitted, load_data, task_for


def train(cfg: ConfigBase, data=None, *, progress: bool | None = None, desc: str | None = None) -> Fitted:
    """Build the configured model and train it on its data (loaded unless given)."""
    task = task_for(cfg)
    data = load_data(cfg) if data is None else data
    rngs = Rngs(cfg.seed, cfg.rng)
    model = task.build(cfg, data, rngs.init).astype(np.dtype(cfg.train.dtype))
    t0 = time.perf_counter()
    history, plan, snapshots = task.train(cfg, data, model, (rngs.train, rngs.sample), progress=progress,
                                          desc=desc or cfg.name)
    return Fitted(model, history, plan, time.perf_counter() - t0, snapshots)


def measure(cfg: ConfigBase, data, fitted: Fitted) -> dict:
    """metrics.json's dict: name, seconds, n_updates, then what the task measures."""
    m = {"name": cfg.name, "seconds": fitted.seconds, "n_updates": fitted.plan.n_updates}
    m.update(task_for(cfg).measure(cfg, data, fitted))
    if fitted.history.best_step is not None:
        m.setdefault("best_step", fitted.history.best_step)
    if fitted.history.diverged is not None:
        m["diverged"] = fitted.history.diverged
    return m


def write_run(run_dir: Path, cfg: ConfigBase, data, fitted: Fitted, metrics: dict, figures: bool = True) -> None:
    """Everything a run leaves behind: config, history, metrics, model, figures and the task's files;
    all or nothing (an interruption while writing leaves ``run_dir`` as it was, see
    :func:`io.staged_folder`)."""
    task = task_for(cfg)
    with io.staged_folder(run_dir) as stage:
        io.write_json(stage / "config.json", cfg.to_dict())
        io.atomic_write_text(stage / "history.json", json.dumps(fitted.history.to_dict()))
        modelfile.save(stage, fitted.model, arrays=data.state, meta=task.model_meta(cfg, data))
        task.write(stage, cfg, data, fitted, metrics, figures)
        io.write_json(stage / "metrics.json", metrics)


def run(cfg: ConfigBase, run_dir: Path | None, *, progress: bool | None = None, figures: bool = True,
        desc: str | None = None) -> dict:
    """Train one config; write its run folder when ``run_dir`` is given. Returns metrics.json's dict
    (with ``diverged`` when the loss became NaN or infinite). A config with an [ensemble] table is
    trained by ``handgrad.tasks.ensemble.run``, which calls this for each member."""
    if cfg.is_ensemble:
        raise HandgradError(f"{cfg.name} is an ensemble ([ensemble] table): train it with "
                            "handgrad.tasks.ensemble.run (handgrad train does)")
    data = load_data(cfg)
    fitted = train(cfg, data, progress=progress, desc=desc)
    metrics = measure(cfg, data, fitted)
    if run_dir is not None:
        write_run(Path(run_dir), cfg, data, fitted, metrics, figures=figures)
    return metrics


def divergence_message(d: dict) -> str:
    """One line on a run that stopped on a NaN/infinite loss (``metrics['diverged']``)."""
    return (f"training diverged at step {d['step']} (learning rate {d['lr']:.4g}): the loss became {d['loss']}; "
            f"kept the parameters of step {d['kept_step']}, the best recorded before it")


def read_history(path: Path) -> History:
    """A run folder's history.json as a History (read as hostile input)."""
    return History.from_dict(readers.read_history(path))
