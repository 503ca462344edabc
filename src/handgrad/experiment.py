"""From a validated config to a trained model and a run folder.

This is the glue the CLI, searches and reports share: prepare the data, build the model,
schedule and optimizer the config describes, train, evaluate, and write the run folder.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handgrad import io, kinds, schedules
from handgrad.augment import CharNoise, ImageAugmenter
from handgrad.config import Config, TrainConfig
from handgrad.data.prepared import Prepared
from handgrad.errors import HandgradError
from handgrad.models import Model
from handgrad.nn.linear import is_sparse
from handgrad.optim import SGD, AdaGrad, Adam, ClipGrads, Momentum
from handgrad.train import ProgressBar, Snapshots, Trainer, WeightAveraging, steps_per_epoch


_cache: dict[tuple, Prepared] = {}


def prepare_data(cfg: Config) -> Prepared:
    """Load and preprocess the data the config names (kept in memory for the next run that asks)."""
    dc = cfg.data
    dtype = np.dtype(cfg.train.dtype)
    key = (str(dtype), tuple(sorted(dc.model_dump().items())))
    if key in _cache:
        return _cache[key]
    prepared = kinds.dataset(dc.dataset)(dc, dtype)
    _cache.clear()  # one data set in memory at a time: 49,000 CIFAR images are 600 MB
    _cache[key] = prepared
    return prepared


def default_init(cfg: Config) -> str:
    return cfg.model.init or kinds.model_kind(cfg.model.kind).init


def build_model(cfg: Config, d: int, K: int, rng: np.random.Generator, meta: dict | None = None) -> Model:
    """The network the [model] table describes, for inputs of size d and K classes."""
    return kinds.model_kind(cfg.model.kind).build(cfg, d, K, rng, meta)


@dataclass
class Plan:
    """How long to train and when to record, in update steps."""

    schedule: object
    n_updates: int
    record_every: int
    steps_per_epoch: int
    n_s: int | None = None


def plan(tc: TrainConfig, epoch_size: int, n_train: int) -> Plan:
    """Turn the [train] table's epochs / cycles / updates into steps and a schedule."""
    spe = steps_per_epoch(epoch_size, tc.n_batch)
    n_s = None
    if tc.schedule == "cyclical":
        n_s = tc.n_s or int(round((tc.n_s_factor or 2.0) * math.floor(n_train / tc.n_batch)))
        sched = schedules.Cyclical(tc.eta_min, tc.eta_max, n_s)
    elif tc.schedule == "step":
        sched = schedules.StepDecay(tc.eta, tc.decay_factor, tc.decay_every, spe)
    elif tc.schedule == "exponential":
        sched = schedules.ExponentialDecay(tc.eta, tc.gamma, spe)
    else:
        sched = schedules.Constant(tc.eta)
    if tc.n_updates is not None:
        n_updates = tc.n_updates
    elif tc.n_cycles is not None:
        n_updates = int(round(tc.n_cycles * 2 * n_s))
    else:
        n_updates = int(round(tc.n_epochs * spe))
    if tc.record_every:
        every = tc.record_every
    elif tc.records_per_cycle and n_s:
        every = max(1, (2 * n_s) // tc.records_per_cycle)
    else:
        every = spe
    return Plan(sched, n_updates, every, spe, n_s)


def build_optimizer(tc: TrainConfig):
    if tc.optimizer == "sgd":
        opt = SGD()
    elif tc.optimizer in ("momentum", "nesterov"):
        opt = Momentum(tc.rho, nesterov=tc.optimizer == "nesterov")
    elif tc.optimizer == "adagrad":
        opt = AdaGrad()
    else:
        opt = Adam(tc.beta1, tc.beta2)
    return opt if tc.clip is None else ClipGrads(opt, tc.clip)


def evaluator_for(cfg: Config):
    """f(model, X, y) -> dict recorded in the history; ConvNet runs add balanced accuracy."""
    if cfg.data.dataset != "surnames":
        return None
    from handgrad.metrics import balanced_accuracy

    def evaluate(model, X, y):  # Model.evaluate's numbers plus balanced accuracy, from one forward pass
        s = model.scores(X)
        return {**model.evaluate_scores(s, y), "balanced_accuracy": balanced_accuracy(y, s.argmax(axis=1), model_k(model))}

    return evaluate


def model_k(model: Model) -> int:
    """Number of classes: the width of the last layer's output."""
    return model.layers[-1].params["W"].shape[0]


@dataclass
class Fitted:
    model: Model
    history: object
    plan: Plan
    seconds: float
    snapshots: list = field(default_factory=list)
    #: what a model family's callbacks collected (e.g. the RNN's text samples)
    extras: dict = field(default_factory=dict)


def fit(cfg: Config, data: Prepared, *, progress: bool | None = None, desc: str | None = None) -> Fitted:
    """Train the configured model on prepared data; randomness from ``cfg.seed`` only."""
    tc = cfg.train
    init_rng, train_rng, sample_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(3))
    model = build_model(cfg, data.d, data.K, init_rng, data.meta).astype(np.dtype(tc.dtype))
    prepare = kinds.model_kind(cfg.model.kind).prepare
    if prepare is not None:
        prepare(model, cfg, data.X_train)
    from handgrad.data.sampling import EpochSampler

    callbacks = [ProgressBar(desc or cfg.name, disable=None if progress is None else not progress)]
    batches, extras, evaluate = None, {}, evaluator_for(cfg)
    training = kinds.model_kind(cfg.model.kind).training
    if training is not None:
        batches, kind_callbacks, extras, evaluate = training(cfg, data, sample_rng)
        callbacks += kind_callbacks
        epoch_size = batches.steps_per_epoch * tc.n_batch
    else:
        epoch_size = EpochSampler(data.y_train, tc.sampling, tc.sampling_power).epoch_size
    p = plan(tc, epoch_size, len(data.y_train))
    snaps = None
    if tc.average_from is not None:
        callbacks.append(WeightAveraging(int(tc.average_from * p.n_updates)))
    if tc.snapshot_ensemble:
        snaps = Snapshots(2 * p.n_s if p.n_s else p.steps_per_epoch)
        callbacks.append(snaps)
    augment = None
    if tc.flip or tc.translate:
        if "image_shape" not in data.meta:
            raise HandgradError("train.flip / train.translate apply to images only (dataset cifar10)")
        augment = ImageAugmenter(flip=tc.flip, translate=tc.translate, shape=tuple(data.meta["image_shape"]))
    if tc.char_noise:
        if data.meta.get("input") != "indices":
            raise HandgradError("train.char_noise applies to surnames as character indices (a ConvNet)")
        augment = CharNoise(tc.char_noise, data.meta["d"])
    trainer = Trainer(model, optimizer=build_optimizer(tc), schedule=p.schedule, n_batch=tc.n_batch,
                      sampling=tc.sampling, sampling_power=tc.sampling_power, record_every=p.record_every,
                      keep_best=tc.keep_best, best_metric=tc.best_metric, evaluate=evaluate, augment=augment,
                      callbacks=callbacks, rng=train_rng, batches=batches,
                      evaluate_train=training is None)  # such kinds record a running loss instead
    t0 = time.perf_counter()
    history = trainer.fit(data.X_train, data.y_train, data.X_val, data.y_val, n_updates=p.n_updates)
    seconds = time.perf_counter() - t0
    # a snapshot taken as the run was diverging would poison the ensemble
    snapshots = [q for q in (snaps.states if snaps else [])
                 if all(np.isfinite(v).all() for v in q["params"].values())]
    return Fitted(model, history, p, seconds, snapshots, extras)


def ensemble_predict(model: Model, snapshots: list[dict], X: np.ndarray) -> np.ndarray:
    """Average the class probabilities (or scores) of the snapshots (``Model.copy_state``); returns labels."""
    current = model.copy_state()
    total = None
    for state in snapshots:
        model.set_state(state)
        s = model.scores(X)
        p = model.loss.probs(s)
        p = s if p is None else p
        total = p if total is None else total + p
    model.set_state(current)
    return total.argmax(axis=1)


def final_metrics(cfg: Config, data: Prepared, fitted: Fitted) -> dict:
    """Accuracies (fractions) and costs of the final model on every split, plus extras."""
    model = fitted.model
    m: dict = {"name": cfg.name, "seconds": fitted.seconds, "n_updates": fitted.plan.n_updates}
    metrics = kinds.model_kind(cfg.model.kind).metrics
    if metrics is not None:
        return metrics(cfg, data, fitted, m)
    splits = [("train", data.X_train, data.y_train), ("val", data.X_val, data.y_val)]
    if data.X_test is not None:
        splits.append(("test", data.X_test, data.y_test))
    preds = {}
    for name, X, y in splits:
        s = model.scores(X)
        preds[name] = s.argmax(axis=1)
        ev = model.evaluate_scores(s, y)
        m[f"{name}_accuracy"], m[f"{name}_loss"], m[f"{name}_cost"] = ev["accuracy"], ev["loss"], ev["cost"]
    if fitted.history.best_step is not None:
        m["best_step"] = fitted.history.best_step
    if fitted.history.diverged is not None:
        m["diverged"] = fitted.history.diverged
    if fitted.snapshots:
        m["n_snapshots"] = len(fitted.snapshots)
        for name, X, y in splits:
            m[f"ensemble_{name}_accuracy"] = float(np.mean(ensemble_predict(model, fitted.snapshots, X) == y))
    if cfg.data.dataset == "surnames":
        from handgrad.metrics import balanced_accuracy, per_class_accuracy

        for name, _X, y in splits[1:]:  # validation, and the leak-free split's test part
            m[f"{name}_balanced_accuracy"] = balanced_accuracy(y, preds[name], data.K)
            m[f"{name}_per_class_accuracy"] = dict(zip(data.classes, per_class_accuracy(y, preds[name], data.K).tolist()))
        m["split"] = cfg.data.split
        m["split_info"] = data.meta.get("split", {})  # sizes, duplicates, the course split's leak
    return m


def write_run(run_dir: Path, cfg: Config, data: Prepared, fitted: Fitted, metrics: dict,
              figures: bool = True) -> None:
    """Everything a run leaves behind: config, history, metrics, model, figures; all or nothing
    (an interruption while writing leaves ``run_dir`` as it was, see :func:`io.staged_folder`)."""
    with io.staged_folder(run_dir) as stage:
        io.write_json(stage / "config.json", cfg.to_dict())
        fitted.history.save(stage / "history.json")
        meta = dict(data.meta, classes=list(data.classes), seed=cfg.seed)
        io.save_model(stage, fitted.model, arrays=data.state, meta=meta)
        write_files = kinds.model_kind(cfg.model.kind).write_files
        if write_files is not None:
            write_files(stage, cfg, data, fitted)
        if figures:
            from handgrad import plots

            (kinds.model_kind(cfg.model.kind).figures or plots.run_figures)(stage, cfg, data, fitted)
        if "val_per_class_accuracy" in metrics:
            io.atomic_write_text(stage / "per_class_accuracy.md", per_class_table(metrics))
        io.write_json(stage / "metrics.json", metrics)


def per_class_table(metrics: dict) -> str:
    """Markdown table of the per-class validation (and, on the leak-free split, test) accuracy (%)
    and their means (balanced accuracy)."""
    parts = [p for p in ("val", "test") if f"{p}_per_class_accuracy" in metrics]
    title = {"val": "validation", "test": "test"}
    fmt = lambda a: "-" if a is None or a != a else f"{100 * a:.2f}"  # noqa: E731
    lines = [f"# {metrics.get('name', '')}: {' and '.join(title[p] for p in parts)} accuracy per class", "",
             "| class | " + " | ".join(f"{title[p]} accuracy (%)" for p in parts) + " |",
             "|---|" + "---:|" * len(parts)]
    for cls in metrics["val_per_class_accuracy"]:
        lines.append(f"| {cls} | " + " | ".join(fmt(metrics[f"{p}_per_class_accuracy"][cls]) for p in parts) + " |")
    lines.append("| **mean (balanced accuracy)** | "
                 + " | ".join(f"**{fmt(metrics.get(f'{p}_balanced_accuracy'))}**" for p in parts) + " |")
    lines.append("| overall (all names of the part) | "
                 + " | ".join(fmt(metrics.get(f"{p}_accuracy")) for p in parts) + " |")
    return "\n".join(lines) + "\n"


def divergence_message(d: dict) -> str:
    """One line on a run that stopped on a NaN/infinite loss (``metrics['diverged']``)."""
    return (f"training diverged at step {d['step']} (learning rate {d['lr']:.4g}): the loss became {d['loss']}; "
            f"kept the parameters of step {d['kept_step']}, the best recorded before it")


def run(cfg: Config, run_dir: Path | None, *, progress: bool | None = None, figures: bool = True,
        desc: str | None = None) -> dict:
    """Train one config; write its run folder when ``run_dir`` is given. Returns metrics.json's dict
    (with ``diverged`` when the loss became NaN or infinite: see :class:`handgrad.train.Trainer`).

    A config with an [ensemble] table is trained by ``handgrad.ensemble.run_config``, which calls
    this function for each member."""
    if cfg.is_ensemble:
        raise HandgradError(f"{cfg.name} is an ensemble ([ensemble] table): train it with "
                            "handgrad.ensemble.run_config (handgrad train does)")
    data = prepare_data(cfg)
    fitted = fit(cfg, data, progress=progress, desc=desc)
    metrics = final_metrics(cfg, data, fitted)
    if run_dir is not None:
        write_run(Path(run_dir), cfg, data, fitted, metrics, figures=figures)
    return metrics


#: losses summarised over seeds besides the accuracies (the character RNN's: its smooth loss
#: swings by several nats with the seed, so one run says little)
REPEATED_LOSSES = ("smooth_loss", "smooth_loss_min", "val_loss_per_char")


def run_repeated(cfg: Config, run_dir: Path, n: int, *, progress: bool | None = None, layout=None,
                 echo=None) -> dict:
    """Train with seeds seed, seed+1, ..., seed+n-1 (sub-folders run-00, ...); aggregate metrics.

    The seeds run where ``layout`` says (:mod:`handgrad.execution`; default: in this process);
    when one fails the others still finish, then the first failure is raised.
    """
    from handgrad import execution

    layout = layout or execution.choose_layout(1)
    here = layout.mode == "in-process"
    tasks = [execution.Task(f"seed-{cfg.seed + i}", run, (cfg.model_copy(update={"seed": cfg.seed + i}),
                                                          Path(run_dir) / f"run-{i:02d}"),
                            {"progress": progress if here else False, "figures": i == 0,
                             "desc": f"{cfg.name} [{i + 1}/{n}]"}) for i in range(n)]
    results: dict[str, dict] = {}
    execution.run_tasks(tasks, layout, on_result=lambda task, m: results.__setitem__(task.key, m), desc="seeds",
                        unit="run", progress=False if here else progress, echo=echo)
    runs = [results[t.key] for t in tasks]
    agg: dict = {"name": cfg.name, "repeat": n, "seeds": [cfg.seed + i for i in range(n)],
                 "seconds": float(sum(r["seconds"] for r in runs))}
    diverged = [{"seed": cfg.seed + i, **r["diverged"]} for i, r in enumerate(runs) if "diverged" in r]
    if diverged:
        agg["diverged_runs"] = diverged
    keys = [k for k, v in runs[0].items()
            if (k.endswith("accuracy") or k in REPEATED_LOSSES) and isinstance(v, float)]
    for k in keys:
        vals = np.array([r[k] for r in runs])
        agg[f"{k}_mean"], agg[f"{k}_std"], agg[f"{k}_runs"] = float(vals.mean()), float(vals.std(ddof=1) if n > 1 else 0.0), vals.tolist()
    io.write_json(Path(run_dir) / "config.json", cfg.to_dict())
    io.write_json(Path(run_dir) / "metrics.json", agg)
    return agg


def gradcheck_cases(cfg: Config) -> list[dict]:
    """The sheet's gradient tests on the configured data: for each batch size and lambda, a
    float64 model (on the first ``n_dims`` features) is checked parameter by parameter, by
    ``gradcheck.method`` as shown and by the complex-step reference for the verdict
    (``handgrad.gradcheck.check_case``)."""
    from handgrad.gradcheck import check_case

    gc = cfg.gradcheck
    data = prepare_data(cfg)
    lambdas = sorted(set(gc.lambdas) | {cfg.train.lam})
    cases = []
    for n in gc.batch_sizes:
        X = data.X_train[:n]
        if is_sparse(X):  # n-gram rows
            X = X.astype(np.float64)
        elif not np.issubdtype(X.dtype, np.integer):  # ConvNet index inputs stay integers (exact one-hot)
            X = np.asarray(X, dtype=np.float64)
        y = data.y_train[:n]
        meta = dict(data.meta)
        inputs = kinds.model_kind(cfg.model.kind).gradcheck_inputs
        if inputs is not None:
            X, y = inputs(cfg, data, n)
        elif kinds.model_kind(cfg.model.kind).slice_inputs and gc.n_dims is not None:
            X = X[:, :gc.n_dims]
        # no dropout: evaluation mode ignores it, and batch-norm nets are checked in training mode
        update = {"model": cfg.model.model_copy(update={"dropout": 1.0, **{
            k: v for k, v in (("hidden", gc.hidden), ("convs", gc.convs), ("m", gc.m)) if v is not None}})}
        for lam in lambdas:
            c = cfg.model_copy(update={**update, "train": cfg.train.model_copy(update={"lam": lam})})
            rng = np.random.default_rng(cfg.seed)
            model = build_model(c, X.shape[1], data.K, rng, meta).astype(np.float64)
            setup = kinds.model_kind(c.model.kind).gradcheck_setup
            if setup is not None:
                setup(model, c, rng)
            case = check_case(model, X, y, method=gc.method, h=gc.h, eps=gc.eps)
            cases.append({"batch_size": int(len(y)), "lambda": lam, "n_dims": int(X.shape[1]), **case})
    return cases
