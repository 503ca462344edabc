"""The character-RNN task (A4): a vanilla RNN that learns to write like a book. It builds a
:class:`handgrad.CharRNN` for the text's alphabet, feeds it the sheet's way (``handgrad.fit_text``:
windows read in order with the state carried, reset each epoch, the smooth loss, samples along the
way), measures the smooth loss and the loss per character on the held-out end, and writes the
samples, a passage from the final (or best) model and the smooth-loss figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from handgrad import io, plots
from handgrad.batches import SequenceBatches
from handgrad.charrnn import (
    SHEET_STEPS,
    char_rnn,
    check_options,
    fit_text,
    held_out_evaluator,
)
from handgrad.config import register as register_config
from handgrad.config.tables import (
    ConfigBase,
    GradcheckBase,
    SearchConfig,
    Strict,
    TextData,
    TrainBase,
    f,
)
from handgrad.datasets import text
from handgrad.errors import HandgradError
from handgrad.modelfile import load
from handgrad.tasks import Task, optimizer, plan, register


class RNNModel(Strict):
    """[model]: a vanilla RNN with its output layer, over the text's characters."""

    kind: Literal["rnn"] = f("rnn", "the model: a character RNN")
    m: int = f(100, "hidden units", ge=1)
    std: float = f(0.01, "standard deviation of the initial U, W and V (biases start at zero)", gt=0)
    loss_per: Literal["sequence", "character"] = f(
        "sequence", "the loss of a sequence: summed over its characters (the A4 sheets to 2024; the smooth "
        "loss then starts near 25 ln K) or averaged over them (the 2025 sheet: near ln K)")


class RNNTrain(TrainBase):
    """[train] of a character RNN: how the text is read, the smooth loss and the samples."""

    sampling: Literal["sequential", "random"] = f(
        "sequential", "'sequential' (the text in order, n_batch streams side by side, the state carried) or "
        "'random' (every sequence at a random place, the state reset each update)")
    seq_length: int = f(25, "characters per sequence (the truncated BPTT length)", ge=1)
    smooth_every: int = f(100, "record the smooth loss every this many updates", ge=1)
    sample_every: int = f(10_000, "a sample_length-character sample every this many updates (0: none; a run "
                                  "shorter than this samples once, at the end)", ge=0)
    sample_length: int = f(200, "characters of each sample", ge=1)
    passage_length: int = f(1000, "characters of the passage written from the final (or best) model", ge=1)


class RNNGradcheck(GradcheckBase):
    """[gradcheck] of a character RNN; batch sizes count sequences."""

    m: int | None = f(None, "hidden units of the check's network (the sheet: 5)", ge=1)


class RNNConfig(ConfigBase):
    """A vanilla character RNN trained on a text (A4)."""

    data: TextData = f(..., TextData.__doc__)
    model: RNNModel = f(RNNModel, RNNModel.__doc__)
    train: RNNTrain = f(RNNTrain, RNNTrain.__doc__)
    gradcheck: RNNGradcheck = f(RNNGradcheck, RNNGradcheck.__doc__)
    search: SearchConfig = f(SearchConfig, SearchConfig.__doc__)


class CharRNNTask(Task):
    name = "character RNN"

    def load(self, cfg):
        return text(cfg.data.path, n_val=cfg.data.n_val, n_train=cfg.data.n_train)

    def build(self, cfg, data, rng, d=None):
        return char_rnn(data.alphabet, cfg.model.m, seq_length=cfg.train.seq_length, lam=cfg.train.lam,
                        std=cfg.model.std, preamble=data.preamble, loss_per=cfg.model.loss_per, rng=rng)

    def train(self, cfg, data, model, rngs, *, progress=None, desc="train"):
        tc = cfg.train
        batches = SequenceBatches(len(data.X_train), tc.seq_length, tc.n_batch, tc.sampling)
        p = plan(tc, batches.steps_per_epoch * tc.n_batch, len(data.y_train))
        history = fit_text(model, data, optimizer=optimizer(tc), schedule=p.schedule, n_updates=p.n_updates,
                           n_batch=tc.n_batch, sampling=tc.sampling, smooth_every=tc.smooth_every,
                           sample_every=tc.sample_every, sample_length=tc.sample_length,
                           passage_length=tc.passage_length, record_every=p.record_every, keep_best=tc.keep_best,
                           best_metric=tc.best_metric, rng=rngs[0], sample_rng=rngs[1], progress=progress,
                           desc=desc)
        return history, p, []

    def measure(self, cfg, data, fitted) -> dict:
        """Smooth loss (last, lowest, at the sheet's steps), loss per sequence and per character and
        next-character accuracy of the final model on the training and validation text."""
        steps, values = smooth_series(fitted.history)
        m: dict = {"smooth_loss": values[-1], "smooth_loss_min": float(min(values)),
                   "smooth_loss_at": {str(s): smooth_at(steps, values, s) for s in SHEET_STEPS
                                      if smooth_at(steps, values, s) is not None},
                   "epochs": fitted.plan.n_updates / fitted.plan.steps_per_epoch,
                   "updates_per_second": fitted.plan.n_updates / fitted.seconds,
                   "seq_length": cfg.train.seq_length}
        held_out = held_out_evaluator(data.X_train[:len(data.preamble)])
        for name, ev in (("train", fitted.model.evaluate(data.X_train, data.y_train)),  # starts at the start
                         ("val", held_out(fitted.model, data.X_val, data.y_val))):
            for k in ("loss", "loss_per_char", "accuracy"):
                m[f"{name}_{k}"] = ev[k]
        if fitted.history.best_step is not None:
            m["best_step"] = fitted.history.best_step
        return m

    def write(self, folder, cfg, data, fitted, metrics, figures):
        """samples.md (and .json), passage.txt and figures/smooth_loss.png."""
        folder, samples = Path(folder), fitted.history.text["samples"]
        lines = [f"# {cfg.name}: samples during training", ""]
        if not samples:
            lines += ["No samples: train.sample_every = 0 asks for none (set it to N for a sample every N updates).", ""]
        elif len(samples) == 1 and samples[0]["step"] % (cfg.train.sample_every or 1):
            lines += [f"The run ({fitted.plan.n_updates:,} updates) was shorter than train.sample_every = "
                      f"{cfg.train.sample_every:,}: one sample, at its end.", ""]
        for s in samples:
            loss = f", smooth loss {s['smooth_loss']:.2f}" if s["smooth_loss"] is not None else ""
            lines += [f"## update {s['step']:,}{loss}", "", "```", s["text"], "```", ""]
        io.atomic_write_text(folder / "samples.md", "\n".join(lines))
        io.write_json(folder / "samples.json", samples)
        io.atomic_write_text(folder / "passage.txt", fitted.history.text["passage"] + "\n")
        if figures:
            plots.save(plots.smooth_loss(fitted.history, title=cfg.name), folder / "figures" / "smooth_loss.png")

    def slice_inputs(self, cfg) -> bool:
        return False

    def gradcheck_inputs(self, cfg, data, n):
        """The text's first n sequences of seq_length characters."""
        T = cfg.train.seq_length
        return data.X_train[:n * T].reshape(n, T), data.y_train[:n * T].reshape(n, T)

    def gradcheck_config(self, cfg) -> dict:
        return {"m": cfg.gradcheck.m} if cfg.gradcheck.m is not None else {}


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


def sample_run(run_dir: str | Path, n: int = 1000, *, temperature: float = 1.0, top_p: float = 1.0,
               prime: str | None = None, seed: int | None = None) -> str:
    """Text from the model of an RNN run folder (``handgrad sample``): ``prime`` followed by ``n`` new
    characters, read after the text's preamble saved with the model (not printed). The same as
    ``model.sample(n, numpy.random.default_rng(seed), prime=prime)`` on the loaded model."""
    check_options(n, temperature, top_p)
    model, _, meta = load(run_dir)
    if "alphabet" not in meta or getattr(model, "rnn", None) is None:
        raise HandgradError(f"{run_dir} does not hold a character RNN (no alphabet saved with its model)")
    text_ = model.sample(n, np.random.default_rng(seed), prime=prime or "", temperature=temperature, top_p=top_p)
    return (prime or "") + text_


RNN_TASK = CharRNNTask()
register_config("rnn", RNNConfig)
register("rnn", RNN_TASK)
