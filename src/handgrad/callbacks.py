"""Callbacks: what ``handgrad.fit`` calls at each stage of training (Keras style).

Override the hooks you need: ``on_train_begin``, ``on_epoch_begin``, ``on_step_end`` (after each
update), ``on_record`` (after each evaluation, with the recorded row) and ``on_train_end``. Every hook
gets the :class:`handgrad.Trainer`, whose ``model``, ``history``, ``loss`` (the last batch's) and
``n_updates`` it may read.
"""

from __future__ import annotations

import sys

import numpy as np


class Callback:
    """Hooks the trainer calls; override the ones you need."""

    def on_train_begin(self, trainer) -> None: ...
    def on_epoch_begin(self, trainer, epoch: int) -> None: ...
    def on_step_end(self, trainer, step: int) -> None: ...
    def on_record(self, trainer, row: dict) -> None: ...
    def on_train_end(self, trainer) -> None: ...


class ProgressBar(Callback):
    """A tqdm bar over update steps (tqdm is optional: without it, no bar); silent when stderr is
    not a terminal (logs, CI) unless ``disable=False``."""

    def __init__(self, desc: str = "train", disable: bool | None = None) -> None:
        self.desc = desc
        self.disable = (not sys.stderr.isatty()) if disable is None else disable
        self.bar = None

    def on_train_begin(self, trainer):
        if self.disable:
            return
        try:
            from tqdm.auto import tqdm  # optional: the core needs NumPy alone
        except ImportError:
            return
        self.bar = tqdm(total=trainer.n_updates, desc=self.desc, unit="step", leave=False)

    def on_step_end(self, trainer, step):
        if self.bar is not None:
            self.bar.update(1)

    def on_record(self, trainer, row):
        if self.bar is not None and "val_accuracy" in row:
            self.bar.set_postfix(val_acc=f"{row['val_accuracy']:.4f}")

    def on_train_end(self, trainer):
        if self.bar is not None:
            self.bar.close()


class Snapshots(Callback):
    """Keep a copy of the model's state (parameters and buffers) every ``every`` steps (e.g. the end
    of each learning-rate cycle) for a snapshot ensemble (Huang et al. 2017); ``states`` after training
    holds those that are finite (a snapshot taken as a run diverged would poison the ensemble)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.states: list[dict] = []

    def on_step_end(self, trainer, step):
        if step % self.every == 0:
            self.states.append(trainer.model.copy_state())

    def on_train_end(self, trainer):
        self.states = [q for q in self.states if all(np.isfinite(v).all() for v in q["params"].values())]


class WeightAveraging(Callback):
    """Polyak-Ruppert averaging: from step ``start`` on, keep the running mean of the parameters after
    every update and put it in the model when training ends. For a linear model the averaged weights
    give exactly the averaged scores of all those iterates."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.mean: dict[str, np.ndarray] | None = None
        self.count = 0

    def on_step_end(self, trainer, step):
        if step < self.start:
            return
        params = trainer.model.get_params()
        self.count += 1
        if self.mean is None:
            self.mean = {k: v.astype(np.float64) for k, v in params.items()}
        else:
            for k, v in params.items():
                self.mean[k] += (v - self.mean[k]) / self.count

    def on_train_end(self, trainer):
        if self.mean is not None and trainer.diverged_ is None:  # a diverged run keeps its best instead
            dtype = trainer.model.dtype  # the mean was kept in float64; the model keeps its own type
            trainer.model.set_params({k: v.astype(dtype) for k, v in self.mean.items()})
