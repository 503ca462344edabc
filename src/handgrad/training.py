"""The training loop: batches -> forward -> loss -> backward -> optimizer step, with evaluations at
recording points. ``fit`` returns a :class:`History` (Keras style); callbacks see every stage."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from handgrad.batches import ExampleBatches
from handgrad.callbacks import Callback, ProgressBar
from handgrad.history import History
from handgrad.optim import SGD
from handgrad.schedules import Constant

Evaluator = Callable[[object, np.ndarray, np.ndarray], dict]


def fit(model, X, y, validation_data: tuple | None = None, *, optimizer=None, schedule=None,
        n_batch: int = 100, n_epochs: float | None = None, n_updates: int | None = None,
        sampling: str = "sequential", sampling_power: float = 0.5, batches=None, augment=None,
        callbacks: Sequence[Callback] = (), record_every: int | None = None, keep_best: bool = False,
        best_metric: str = "val_accuracy", evaluate: Evaluator | None = None, evaluate_train: bool = True,
        rng: np.random.Generator | None = None, progress: bool | None = None, desc: str = "train",
        stop_on_divergence: bool = True) -> History:
    """Train ``model`` on (X, y) by mini-batch gradient descent; returns the :class:`History`.

    Parameters
    ----------
    validation_data : (X_val, y_val), evaluated at every recording point (``val_*`` in the history).
    optimizer : ``handgrad.SGD()`` (default), ``Momentum``, ``Nesterov``, ``AdaGrad`` or ``Adam``.
    schedule : the learning rate as a function of the update step (default ``Constant(0.01)``).
    n_batch, n_epochs or n_updates : batch size and training length (epochs of the sampler).
    sampling : 'sequential' (the data's order), 'shuffle', 'balanced' or 'power' (see
        ``handgrad.batches.EpochSampler``); ``batches`` replaces it (e.g. ``SequenceBatches`` for a text).
    augment : f(X_batch, rng) -> X_batch, applied to every training batch.
    record_every : evaluate every this many updates (and at step 0 and at the end); default once per epoch.
    keep_best : put back, at the end, the parameters with the best ``best_metric`` seen at a recording
        point (a key of the recorded row, e.g. 'val_accuracy'; a '...loss' or '...cost' is best lowest).
    evaluate : f(model, X, y) -> dict of scalars; default ``model.evaluate`` (cost, loss, accuracy).
    rng : the Generator for sampling, dropout masks and augmentation (give one built from your seed).
    progress, desc : a progress bar (default: when stderr is a terminal) and its label.
    stop_on_divergence : stop when a batch loss is NaN or infinite, put back the best parameters
        recorded before it, and record what happened in ``history.diverged``.
    """
    X_val, y_val = validation_data if validation_data is not None else (None, None)
    trainer = Trainer(model, optimizer=optimizer, schedule=schedule, n_batch=n_batch, sampling=sampling,
                      sampling_power=sampling_power, record_every=record_every, keep_best=keep_best,
                      best_metric=best_metric, evaluate=evaluate, augment=augment,
                      callbacks=[ProgressBar(desc, disable=None if progress is None else not progress), *callbacks],
                      rng=rng, stop_on_divergence=stop_on_divergence, batches=batches,
                      evaluate_train=evaluate_train)
    return trainer.fit(X, y, X_val, y_val, n_epochs=n_epochs, n_updates=n_updates)


class Trainer:
    """Mini-batch training of a model; ``fit`` (the function) builds one. Its arguments are those of
    :func:`fit`. During ``Trainer.fit``, ``history`` is the History being written (callbacks may
    record rows of their own), ``loss`` the last batch's training loss, ``n_updates`` and
    ``steps_per_epoch`` the run's length; after it, ``best_state_`` / ``best_step_`` the best
    recorded state and ``diverged_`` what stopped a diverging run (or None)."""

    def __init__(self, model, *, optimizer=None, schedule=None, n_batch: int = 100,
                 sampling: str = "sequential", sampling_power: float = 0.5, record_every: int | None = None,
                 keep_best: bool = False, best_metric: str = "val_accuracy",
                 evaluate: Evaluator | None = None, augment=None,
                 callbacks: Sequence[Callback] = (), rng: np.random.Generator | None = None,
                 stop_on_divergence: bool = True, batches=None, evaluate_train: bool = True) -> None:
        self.model = model
        self.optimizer = optimizer if optimizer is not None else SGD()
        self.schedule = schedule if schedule is not None else Constant(0.01)
        self.n_batch = n_batch
        self.sampling = sampling
        self.sampling_power = sampling_power
        self.record_every = record_every
        self.keep_best = keep_best
        self.best_metric = best_metric
        self.evaluate = evaluate if evaluate is not None else (lambda m, X, y: m.evaluate(X, y))
        self.augment = augment
        self.callbacks = list(callbacks)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.stop_on_divergence = stop_on_divergence
        self.batches = batches
        self.evaluate_train = evaluate_train

    @property
    def best_params_(self) -> dict | None:
        """The parameters of ``best_state_``, the best recorded so far (its buffers beside them)."""
        return None if self.best_state_ is None else self.best_state_["params"]

    def _record(self, history, step, epoch, X, y, X_val, y_val):
        row = {"step": step, "epoch": epoch, "lr": self.schedule(max(step - 1, 0))}
        if self.evaluate_train:
            row.update({f"train_{k}": v for k, v in self.evaluate(self.model, X, y).items()})
        if X_val is not None:
            row.update({f"val_{k}": v for k, v in self.evaluate(self.model, X_val, y_val).items()})
        history.record(**row)
        # the best parameters so far are kept even without keep_best: a diverging run falls back
        # on them (with no validation metric, the latest recorded parameters count as the best)
        value = row.get(self.best_metric)
        sign = -1.0 if self.best_metric.endswith(("loss", "cost")) else 1.0
        better = value is not None and value == value and (
            self.best_value_ is None or sign * value > sign * self.best_value_)
        if better or value is None or self.best_step_ is None:
            self.best_state_ = self.model.copy_state()  # batch norm: with its running averages
            self.best_step_ = step
            if better:
                self.best_value_ = value
                if self.keep_best:
                    history.best_step = step
        for cb in self.callbacks:
            cb.on_record(self, row)

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, n_epochs: float | None = None,
            n_updates: int | None = None) -> History:
        """Train for ``n_updates`` steps, or ``n_epochs`` passes of the sampler; returns the History."""
        batches = self.batches or ExampleBatches(y, self.sampling, self.n_batch, self.sampling_power)
        spe = self.steps_per_epoch = batches.steps_per_epoch
        if n_updates is None:
            if n_epochs is None:
                raise ValueError("give n_epochs or n_updates")
            n_updates = int(round(n_epochs * spe))
        self.n_updates = n_updates
        record_every = self.record_every or spe
        history = self.history = History()
        self.best_value_, self.best_state_, self.best_step_, self.diverged_ = None, None, None, None
        for cb in self.callbacks:
            cb.on_train_begin(self)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected below, by step
            self._loop(history, X, y, X_val, y_val, batches, spe, n_updates, record_every)
        if self.diverged_ is not None:
            history.diverged = {**self.diverged_, "kept_step": self.best_step_}
            self.model.set_state(self.best_state_)
        elif self.keep_best and self.best_state_ is not None and history.best_step is not None:
            self.model.set_state(self.best_state_)
        for cb in self.callbacks:
            cb.on_train_end(self)
        return history

    def _loop(self, history, X, y, X_val, y_val, batches, spe, n_updates, record_every) -> None:
        self._record(history, 0, 0.0, X, y, X_val, y_val)
        step, epoch = 0, 0
        while step < n_updates:
            for cb in self.callbacks:
                cb.on_epoch_begin(self, epoch)
            for Xb, yb, wb in batches.epoch(X, y, self.rng):
                if step >= n_updates:
                    break
                if self.augment is not None:
                    Xb = self.augment(Xb, self.rng)
                loss = self.loss = self.model.loss_and_grads(Xb, yb, sample_weight=wb)
                lr = self.schedule(step)
                if self.stop_on_divergence and not math.isfinite(loss):  # stop before the step spreads it
                    self.diverged_ = {"step": step + 1, "lr": float(lr), "loss": str(float(loss))}
                    return
                self.optimizer.step(self.model, lr)
                step += 1
                for cb in self.callbacks:
                    cb.on_step_end(self, step)
                if step % record_every == 0 or step == n_updates:
                    self._record(history, step, step / spe, X, y, X_val, y_val)
            epoch += 1


def steps_per_epoch(epoch_size: int, n_batch: int) -> int:
    """Updates per epoch; a last, smaller batch counts as an update."""
    return math.ceil(epoch_size / n_batch)
