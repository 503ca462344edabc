"""Tasks: what is particular to one kind of experiment, behind one small protocol (:class:`Task`).

A task says what it builds (a model from a config), how it is fed (its data set, its batches and
callbacks), what it measures (metrics.json) and what it writes (files and figures beside the run
folder's common files). The pipeline (``tasks/runs.py``: train, run folders; search, repeat,
reproduce, the command line) knows no task in particular. The tasks:

- ``classifier.py``: the image classifier (linear, k-layer MLP with batch norm) on CIFAR-10;
- ``surnames.py``: the surname language classifiers (the ConvNet, the n-gram linear model);
- ``charrnn.py``: the character RNN on a text.

Each task module registers its model kinds' config classes (``handgrad.config.register``); adding
a task touches its own module, its configs and, if it needs one, a layer.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass, field

import numpy as np

from handgrad import schedules
from handgrad.config import ConfigBase
from handgrad.config.tables import TrainBase
from handgrad.datasets import Dataset
from handgrad.errors import HandgradError
from handgrad.history import History
from handgrad.model import Sequential
from handgrad.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer
from handgrad.training import steps_per_epoch


@dataclass
class Plan:
    """How long to train and when to record, in update steps, and the learning-rate schedule."""

    schedule: object
    n_updates: int
    record_every: int
    steps_per_epoch: int
    n_s: int | None = None


@dataclass
class Fitted:
    """A trained model and what its training recorded."""

    model: Sequential
    history: History
    plan: Plan
    seconds: float
    #: snapshot states (Sequential.copy_state) for a snapshot ensemble
    snapshots: list = field(default_factory=list)


class Task:
    """The protocol: a task module subclasses it and registers an instance for its kinds."""

    name = "task"

    def load(self, cfg: ConfigBase) -> Dataset:
        """The data set the [data] table names (``handgrad.datasets``)."""
        raise NotImplementedError

    def build(self, cfg: ConfigBase, data: Dataset, rng: np.random.Generator) -> Sequential:
        """The network the [model] table describes, for this data (float32)."""
        raise NotImplementedError

    def train(self, cfg: ConfigBase, data: Dataset, model: Sequential, rngs: tuple, *,
              progress: bool | None = None, desc: str = "train") -> tuple[History, Plan, list]:
        """Train ``model`` in place with ``handgrad.fit`` (or the task's own loop on it); returns the
        history, the plan and snapshot states. ``rngs``: (train, sample) Generators."""
        raise NotImplementedError

    def measure(self, cfg: ConfigBase, data: Dataset, fitted: Fitted) -> dict:
        """metrics.json's dict (beside name, seconds and n_updates, which the pipeline adds)."""
        raise NotImplementedError

    def write(self, folder, cfg: ConfigBase, data: Dataset, fitted: Fitted, metrics: dict, figures: bool) -> None:
        """Files and figures the task adds to a run folder (config, history, metrics and the model
        file are written by the pipeline)."""

    def model_meta(self, cfg: ConfigBase, data: Dataset) -> dict:
        """JSON-able facts saved with the model (class names, the alphabet, ...)."""
        return dict(data.meta, classes=list(data.classes), seed=cfg.seed)

    def gradcheck_inputs(self, cfg: ConfigBase, data: Dataset, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The gradient check's n examples (float64 features, or integer indices)."""
        X = data.X_train[:n]
        if hasattr(X, "tocsr"):  # n-gram rows
            X = X.astype(np.float64)
        elif not np.issubdtype(X.dtype, np.integer):  # index inputs stay integers (exact one-hot)
            X = np.asarray(X, dtype=np.float64)
        return X, data.y_train[:n]

    def slice_inputs(self, cfg: ConfigBase) -> bool:
        """Whether the gradient check may keep only the first ``n_dims`` input features."""
        return True

    def gradcheck_config(self, cfg: ConfigBase) -> dict:
        """[model] overrides for the check's smaller network, from the [gradcheck] table."""
        return {}

    def gradcheck_setup(self, model: Sequential, cfg: ConfigBase, rng: np.random.Generator) -> None:
        """Adjust the float64 model before its gradients are checked (nothing by default)."""


_TASKS: dict[tuple[str, str | None], Task] = {}
_discovered = False


def register(kind: str, task: Task, dataset: str | None = None) -> Task:
    """``task`` runs configs of model kind ``kind`` (on data set ``dataset`` only, when given: a linear
    model is an image classifier on CIFAR-10 and a surname classifier on n-grams). The kind's config
    class is registered with ``handgrad.config.register``."""
    _TASKS[(kind, dataset)] = task
    return task


def discover() -> None:
    """Import every task module of this package (each registers its kinds)."""
    global _discovered
    if not _discovered:
        _discovered = True
        for mod in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{mod.name}")


def task_for(cfg: ConfigBase) -> Task:
    """The task that runs a config: by its model kind, and its data set where that decides."""
    discover()
    task = _TASKS.get((cfg.kind, cfg.data.dataset)) or _TASKS.get((cfg.kind, None))
    if task is None:
        raise HandgradError(f"no task runs model kind {cfg.kind!r} on {cfg.data.dataset!r}")
    return task


# ---------------------------------------------------------------------------------------------
# What every task shares: the data in memory, the schedule and the optimiser a [train] table gives
# ---------------------------------------------------------------------------------------------
_cache: dict[tuple, Dataset] = {}


def load_data(cfg: ConfigBase) -> Dataset:
    """The config's data set, kept in memory for the next run that asks (searches, repeats)."""
    key = (cfg.train.dtype, tuple(sorted(cfg.data.model_dump().items())))
    if key not in _cache:
        data = task_for(cfg).load(cfg)
        _cache.clear()  # one data set in memory at a time: 49,000 CIFAR images are 600 MB
        _cache[key] = data
    return _cache[key]


def plan(tc: TrainBase, epoch_size: int, n_train: int) -> Plan:
    """Turn the [train] table's epochs / cycles / updates into steps and a schedule."""
    spe = steps_per_epoch(epoch_size, tc.n_batch)
    n_s = None
    if tc.schedule == "cyclical":
        n_s = tc.n_s or int(round((tc.n_s_factor or 2.0) * math.floor(n_train / tc.n_batch)))
        sched = schedules.Cyclical(tc.eta_min, tc.eta_max, n_s, tc.n_s_growth)
    elif tc.schedule == "step":
        sched = schedules.StepDecay(tc.eta, tc.decay_factor, tc.decay_every, spe)
    elif tc.schedule == "exponential":
        sched = schedules.ExponentialDecay(tc.eta, tc.gamma, spe)
    else:
        sched = schedules.Constant(tc.eta)
    if tc.n_updates is not None:
        n_updates = tc.n_updates
    elif tc.n_cycles is not None:
        n_updates = sched.updates(tc.n_cycles)
    else:
        n_updates = int(round(tc.n_epochs * spe))
    if tc.record_every:
        every = tc.record_every
    elif tc.records_per_cycle and n_s:
        every = max(1, (2 * n_s) // tc.records_per_cycle)
    else:
        every = spe
    return Plan(sched, n_updates, every, spe, n_s)


def optimizer(tc: TrainBase) -> Optimizer:
    """The [train] table's optimiser, with its gradient clipping."""
    if tc.optimizer == "sgd":
        return SGD(clip=tc.clip)
    if tc.optimizer == "momentum":
        return Momentum(tc.rho, clip=tc.clip)
    if tc.optimizer == "nesterov":
        return Nesterov(tc.rho, clip=tc.clip)
    if tc.optimizer == "adagrad":
        return AdaGrad(clip=tc.clip)
    return Adam(tc.beta1, tc.beta2, clip=tc.clip)


discover()  # every task module registers its kinds (and their config classes) on import
