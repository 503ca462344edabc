"""The training loop: batches -> forward -> loss -> backward -> optimizer step, with evaluation
hooks. ``Trainer.fit`` returns a :class:`History` (Keras style); callbacks see every stage."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence

import numpy as np

from handgrad.data.sampling import ExampleBatches
from handgrad.history import History
from handgrad.optim import SGD
from handgrad.schedules import Constant

Evaluator = Callable[[object, np.ndarray, np.ndarray], dict]


class Callback:
    """Hooks the trainer calls; override the ones you need."""

    def on_train_begin(self, trainer: "Trainer") -> None: ...
    def on_epoch_begin(self, trainer: "Trainer", epoch: int) -> None: ...
    def on_step_end(self, trainer: "Trainer", step: int) -> None: ...
    def on_record(self, trainer: "Trainer", row: dict) -> None: ...
    def on_train_end(self, trainer: "Trainer") -> None: ...


class ProgressBar(Callback):
    """A tqdm bar over update steps; silent when stderr is not a terminal (logs, CI)."""

    def __init__(self, desc: str = "train", disable: bool | None = None) -> None:
        self.desc = desc
        self.disable = (not sys.stderr.isatty()) if disable is None else disable

    def on_train_begin(self, trainer):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=trainer.n_updates, desc=self.desc, unit="step", disable=self.disable, leave=False)

    def on_step_end(self, trainer, step):
        self.bar.update(1)

    def on_record(self, trainer, row):
        if "val_accuracy" in row:
            self.bar.set_postfix(val_acc=f"{row['val_accuracy']:.4f}")

    def on_train_end(self, trainer):
        self.bar.close()


class Snapshots(Callback):
    """Keep a copy of the model's state (parameters and buffers) every ``every`` steps (e.g. the
    end of each LR cycle) for a snapshot ensemble (Huang et al. 2017)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.states: list[dict] = []

    def on_step_end(self, trainer, step):
        if step % self.every == 0:
            self.states.append(trainer.model.copy_state())


class WeightAveraging(Callback):
    """Polyak-Ruppert averaging: from step ``start`` on, keep the running mean of the parameters
    after every update and put it in the model when training ends. For a linear model the
    averaged weights give exactly the averaged scores of all those iterates."""

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
            trainer.model.set_params(self.mean)


class ResetState(Callback):
    """Start a stateful model (e.g. a CharRNN) from a zero state at every epoch, or after every
    update when nothing continues from one batch to the next (sequences at random locations)."""

    def __init__(self, every_step: bool = False) -> None:
        self.every_step = every_step

    def on_epoch_begin(self, trainer, epoch):
        trainer.model.reset_state()

    def on_step_end(self, trainer, step):
        if self.every_step:
            trainer.model.reset_state()


class SmoothLoss(Callback):
    """The A4 sheet's smooth loss: the first update's loss, then .999 smooth + .001 loss; recorded
    in the history (``smooth_loss``, with the update's own ``loss``) every ``every`` updates and
    kept as ``trainer.smooth_loss``."""

    def __init__(self, every: int = 100, decay: float = 0.999) -> None:
        self.every, self.decay = every, decay

    def on_train_begin(self, trainer):
        trainer.smooth_loss = None

    def on_step_end(self, trainer, step):
        s = trainer.smooth_loss
        trainer.smooth_loss = trainer.loss if s is None else self.decay * s + (1.0 - self.decay) * trainer.loss
        if step % self.every == 0 or step == 1 or step == trainer.n_updates:
            trainer.history.record(step=step, epoch=step / trainer.steps_per_epoch,
                                   smooth_loss=trainer.smooth_loss, loss=trainer.loss)


def steps_per_epoch(epoch_size: int, n_batch: int) -> int:
    """Updates per epoch; a last, smaller batch counts as an update."""
    return math.ceil(epoch_size / n_batch)


class Trainer:
    """Mini-batch training of a :class:`handgrad.models.Model`.

    Parameters
    ----------
    optimizer, schedule: the update rule and the learning rate as a function of the step.
    n_batch: batch size. sampling: 'sequential' | 'shuffle' | 'balanced' | 'power' (see EpochSampler),
        sampling_power: the power of 'power' sampling.
    record_every: evaluate on the training and validation sets every this many updates
        (and at step 0 and at the end); default once per epoch.
    keep_best: restore, at the end, the parameters with the best ``best_metric`` seen at a
        recording point (a key of the recorded row, e.g. 'val_accuracy'; a '...loss' or
        '...cost' is best when lowest).
    evaluate: f(model, X, y) -> dict of scalars; default ``model.evaluate`` (cost, loss, accuracy).
    evaluate_train: evaluate on the training set at recording points too (off when that is too
        slow and a running training loss is recorded instead).
    augment: f(X_batch, rng) -> X_batch applied to every training batch.
    rng: the Generator for sampling, dropout masks and augmentation.
    stop_on_divergence: when a batch loss is NaN or infinite, stop at that step (before the
        update), put back the best parameters recorded so far (whatever ``keep_best`` says), and
        record the step, the learning rate, the loss and the step kept in ``history.diverged``.
        The LR range test turns it off: it runs into divergence on purpose.
    batches: what makes the batches of an epoch (``epoch(X, y, rng)`` and ``steps_per_epoch``);
        default ``ExampleBatches(y, sampling, n_batch)``; ``SequenceBatches`` for a text.

    During ``fit``, ``history`` is the History being written (callbacks may record rows of their
    own) and ``loss`` the last batch's training loss.
    """

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
