"""The character RNN's hooks into the experiment pipeline (the A4 sheet; registered in kinds.py): how
it is fed and watched during training, what its run folder records, and the files it adds to it.

A run folder of an RNN holds, beside the usual config/history/model files: ``samples.md`` (a
sample every ``train.sample_every`` updates, as the sheet's progress log), ``passage.txt`` (a
``train.passage_length``-character passage from the final model, which is the best one when
``train.keep_best`` is set) and ``figures/smooth_loss.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handgrad import io
from handgrad.data.sampling import SequenceBatches
from handgrad.data.text import Alphabet
from handgrad.generate import TextSamples
from handgrad.train import ResetState, SmoothLoss

#: updates at which the sheet reports its smooth loss (m = 100, AdaGrad, eta .1)
SHEET_STEPS = (1, 1000, 4000, 30_000, 100_000, 363_000)


def training_pieces(cfg, data, rng: np.random.Generator):
    """(batches, callbacks, extras, evaluate) for ``Trainer``: windows of the text, the state reset
    per epoch (or per update for random locations), the smooth loss, samples and the final passage,
    and the validation loss read after the preamble."""
    tc = cfg.train
    batches = SequenceBatches(len(data.X_train), tc.seq_length, tc.n_batch, tc.sampling)
    samples = TextSamples(Alphabet(data.meta["alphabet"]), tc.sample_every or 0, tc.sample_length,
                          data.meta["preamble"], rng, passage_length=tc.passage_length)
    callbacks = [ResetState(every_step=not batches.carries_state), SmoothLoss(tc.smooth_every), samples]
    return batches, callbacks, {"text": samples}, held_out_evaluator(data)


def held_out_evaluator(data):
    """f(model, X, y): the loss on held-out text read after the preamble (the training text's start)."""
    prefix = data.X_train[:len(data.meta["preamble"])]
    return lambda model, X, y: model.evaluate(X, y, prefix=prefix)


def smooth_series(history) -> tuple[list[int], list[float]]:
    """(steps, smooth losses) recorded in a run's history."""
    cols = history.columns
    pairs = [(s, v) for s, v in zip(cols["step"], cols.get("smooth_loss", [])) if v is not None]
    return [s for s, _ in pairs], [v for _, v in pairs]


def smooth_at(steps: list[int], values: list[float], step: int) -> float | None:
    """The smooth loss recorded at ``step`` exactly, or None."""
    for s, v in zip(steps, values):
        if s == step:
            return v
    return None


def final_metrics(cfg, data, fitted, m: dict) -> dict:
    """Smooth loss (last, lowest, at the sheet's steps), loss per sequence and per character and
    next-character accuracy of the final model on the training and validation text."""
    steps, values = smooth_series(fitted.history)
    m["smooth_loss"] = values[-1]
    m["smooth_loss_min"] = float(min(values))
    m["smooth_loss_at"] = {str(s): smooth_at(steps, values, s) for s in SHEET_STEPS
                           if smooth_at(steps, values, s) is not None}
    m["epochs"] = fitted.plan.n_updates / fitted.plan.steps_per_epoch
    m["updates_per_second"] = fitted.plan.n_updates / fitted.seconds
    m["seq_length"] = cfg.train.seq_length
    held_out = held_out_evaluator(data)
    for name, X, y, f in (("train", data.X_train, data.y_train, fitted.model.evaluate),  # starts at the start
                          ("val", data.X_val, data.y_val, held_out)):
        ev = f(fitted.model, X, y) if f is held_out else f(X, y)
        for k in ("loss", "loss_per_char", "accuracy"):
            m[f"{name}_{k}"] = ev[k]
    if fitted.history.best_step is not None:
        m["best_step"] = fitted.history.best_step
    return m


def gradcheck_inputs(cfg, data, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The gradient check's inputs: the text's first n sequences of seq_length characters."""
    T = cfg.train.seq_length
    return data.X_train[:n * T].reshape(n, T), data.y_train[:n * T].reshape(n, T)


def figures(run_dir: Path, cfg, data, fitted) -> None:
    from handgrad import plots

    plots.smooth_loss(fitted.history, Path(run_dir) / "figures" / "smooth_loss.png", title=cfg.name)


def write_files(run_dir: Path, cfg, data, fitted) -> None:
    """samples.md (and .json) and passage.txt."""
    text = fitted.extras["text"]
    lines = [f"# {cfg.name}: samples during training", ""]
    if not text.samples:
        lines += ["No samples: train.sample_every = 0 asks for none (set it to N for a sample every N updates).", ""]
    elif len(text.samples) == 1 and text.samples[0]["step"] % (cfg.train.sample_every or 1):
        lines += [f"The run ({fitted.plan.n_updates:,} updates) was shorter than train.sample_every = "
                  f"{cfg.train.sample_every:,}: one sample, at its end.", ""]
    for s in text.samples:
        loss = f", smooth loss {s['smooth_loss']:.2f}" if s["smooth_loss"] is not None else ""
        lines += [f"## update {s['step']:,}{loss}", "", "```", s["text"], "```", ""]
    io.atomic_write_text(Path(run_dir) / "samples.md", "\n".join(lines))
    io.write_json(Path(run_dir) / "samples.json", text.samples)
    io.atomic_write_text(Path(run_dir) / "passage.txt", text.passage + "\n")
