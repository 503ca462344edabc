"""Learning-rate range test (Smith 2015, "Cyclical learning rates for training neural networks").

Train the configured model for a short run while the learning rate grows linearly from a small
value to a large one (:class:`handgrad.schedules.LinearRange`), and evaluate it every few steps on
fixed subsets of the training and validation data. Accuracy first rises with the learning rate,
then flattens, turns ragged and falls once the steps are too large. Smith's rule: the learning
rate where accuracy stops improving is a good ``eta_max``; ``eta_min`` a small fraction of it
(he suggests a third to a quarter; the cyclical runs here use a tenth by default).

The suggestion here is made on the smoothed validation accuracy (moving average over
``window`` recording points): ``eta_max`` is the first learning rate where it comes within ``tol``
(default one point) of its peak, i.e. where it stops improving; ``eta_min`` is
``eta_max / min_factor``. The peak's own learning rate is reported as ``eta_peak``. ``eta_rise`` (where smoothed accuracy first gains ``rise`` over its
starting value, Smith's lower bound) is reported as well.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from handgrad import plots
from handgrad.batches import EpochSampler
from handgrad.config import ConfigBase
from handgrad.errors import HandgradError
from handgrad.io import write_json
from handgrad.rngs import Rngs
from handgrad.schedules import LinearRange
from handgrad.tasks import load_data, optimizer, plan, task_for
from handgrad.tasks.classifier import Classifier
from handgrad.training import fit


@dataclass
class RangeTest:
    """The range test's curves (one entry per recording point) and its suggestion."""

    step: list[int]
    lr: list[float]
    train_loss: list[float]
    train_accuracy: list[float]
    val_loss: list[float]
    val_accuracy: list[float]
    eta_min: float
    eta_max: float
    suggestion: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average with the window shrunk at the ends (same length as x)."""
    x = np.asarray(x, dtype=np.float64)
    if window <= 1 or len(x) < 2:
        return x.copy()
    half = window // 2
    c = np.concatenate([[0.0], np.cumsum(x)])
    lo = np.clip(np.arange(len(x)) - half, 0, len(x))
    hi = np.clip(np.arange(len(x)) + half + 1, 0, len(x))
    return (c[hi] - c[lo]) / (hi - lo)


def suggest(lr, accuracy, loss=None, *, window: int = 5, min_factor: float = 10.0,
            rise: float = 0.02, tol: float = 0.01) -> dict:
    """eta_max where the smoothed accuracy first comes within ``tol`` of its peak (accuracy stops
    improving); eta_min = eta_max / min_factor.

    Also returns ``eta_rise`` (first lr where the smoothed accuracy exceeds its start by
    ``rise``), ``eta_min_loss`` (lr of the lowest smoothed loss, when ``loss`` is given), the peak
    accuracy, and ``at_end`` when the peak is the last point (the range should be widened).
    """
    lr = np.asarray(lr, dtype=np.float64)
    acc = smooth(accuracy, window)
    if len(lr) == 0:
        raise HandgradError("range test recorded nothing")
    i = int(np.argmax(acc))
    j = int(np.nonzero(acc >= acc[i] - tol)[0][0])
    out = {"eta_max": float(lr[j]), "eta_min": float(lr[j] / min_factor), "eta_peak": float(lr[i]),
           "peak_accuracy": float(acc[i]), "accuracy_at_eta_max": float(acc[j]), "peak_step_index": i,
           "at_end": bool(i == len(lr) - 1), "window": window, "min_factor": min_factor, "tol": tol}
    above = np.nonzero(acc >= acc[0] + rise)[0]
    out["eta_rise"] = float(lr[above[0]]) if len(above) else None
    if loss is not None:
        ls = smooth(np.nan_to_num(np.asarray(loss, dtype=np.float64), nan=np.inf, posinf=np.inf), window)
        out["eta_min_loss"] = float(lr[int(np.argmin(ls))])
    return out


def range_test(cfg: ConfigBase, *, eta_min: float | None = None, eta_max: float | None = None,
               n_steps: int | None = None, n_points: int = 50, n_eval: int = 2000,
               window: int = 5, min_factor: float = 10.0, tol: float = 0.01,
               progress: bool | None = None) -> RangeTest:
    """Run the range test for the configured model, data, optimizer, dropout and augmentation.

    eta_min / eta_max: the sweep's ends (default the config's train.eta_min and train.eta_max);
    n_steps: updates of the sweep (default one half cycle n_s of a cyclical config, else 4
    epochs); n_points: recording points; n_eval: images of each split evaluated per point.
    """
    task = task_for(cfg)
    if not isinstance(task, Classifier):
        raise HandgradError(f"the learning-rate range test is for classifiers; {cfg.name} is a {task.name}")
    tc = cfg.train
    lo = tc.eta_min if eta_min is None else eta_min
    hi = tc.eta_max if eta_max is None else eta_max
    if not 0 < lo < hi:
        raise HandgradError(f"range test needs 0 < eta_min < eta_max (got {lo:g}, {hi:g})")
    data = load_data(cfg)
    epoch_size = EpochSampler(data.y_train, tc.sampling, tc.sampling_power).epoch_size
    p = plan(tc, epoch_size, len(data.y_train))
    if n_steps is None:
        n_steps = p.n_s if p.n_s else 4 * p.steps_per_epoch
    if n_steps < 1:
        raise HandgradError("range test needs at least one step")
    every = max(1, n_steps // max(1, n_points))
    rngs = Rngs(cfg.seed, cfg.rng)
    model = task.build(cfg, data, rngs.init).astype(np.dtype(tc.dtype))
    # fixed evaluation subsets: a spread of the training data, the first n_eval validation images
    idx = np.linspace(0, len(data.y_train) - 1, min(n_eval, len(data.y_train))).astype(int)
    X_tr, y_tr = data.X_train[idx], data.y_train[idx]
    X_va, y_va = data.X_val[:n_eval], data.y_val[:n_eval]

    def evaluate(m, X, y):
        # the trainer passes the full sets; evaluate the matching fixed subset instead
        return m.evaluate(X_tr, y_tr) if X is data.X_train else m.evaluate(X_va, y_va)

    sched = LinearRange(lo, hi, n_steps)
    t0 = time.perf_counter()
    h = fit(model, data.X_train, data.y_train, (data.X_val, data.y_val), optimizer=optimizer(tc), schedule=sched,
            n_batch=tc.n_batch, n_updates=n_steps, sampling=tc.sampling, sampling_power=tc.sampling_power,
            record_every=every, evaluate=evaluate, augment=task.augmenter(cfg, data), rng=rngs.train,
            progress=progress, desc=f"lrfind {cfg.name}", stop_on_divergence=False)
    seconds = time.perf_counter() - t0
    cols = h.columns
    # the learning rate a recording point has just been trained with (step 0: the start)
    lr = [sched(max(s - 1, 0)) for s in cols["step"]]
    res = RangeTest(step=list(cols["step"]), lr=lr,
                    train_loss=[_finite(v) for v in cols["train_loss"]],
                    train_accuracy=list(cols["train_accuracy"]),
                    val_loss=[_finite(v) for v in cols["val_loss"]],
                    val_accuracy=list(cols["val_accuracy"]), eta_min=lo, eta_max=hi, seconds=seconds)
    res.suggestion = suggest(res.lr, res.val_accuracy, res.val_loss, window=window, min_factor=min_factor, tol=tol)
    return res


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def write(res: RangeTest, out: Path, title: str = "") -> dict[str, Path]:
    """lrfind.json and lrfind.png in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "lrfind.json", res.to_dict())
    return {"json": out / "lrfind.json",
            "figure": plots.save(plots.lr_range(res, smooth(res.val_accuracy, res.suggestion.get("window", 5)), title),
                                 out / "lrfind.png")}
