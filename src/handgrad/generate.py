"""New text from a character RNN: temperature and nucleus (top-p) sampling, a priming string.

One character at a time: the RNN's scores for the next character, divided by the temperature,
softmax, then (nucleus sampling, Holtzman et al. 2020) only the most probable characters whose
probabilities add up to ``top_p`` are kept, and one is drawn by inverse CDF with a uniform from
the Generator (the sheet's method), so a seed gives the same text every time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handgrad.data.text import Alphabet
from handgrad.errors import HandgradError
from handgrad.losses import softmax
from handgrad.train import Callback


def next_char_probs(scores: np.ndarray, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
    """(K,) probabilities of the next character from its scores."""
    p = softmax((scores / temperature)[None])[0]
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        keep = np.searchsorted(np.cumsum(p[order]), top_p) + 1  # smallest set reaching top_p
        q = np.zeros_like(p)
        q[order[:keep]] = p[order[:keep]]
        p = q / q.sum()
    return p


def check_options(n: int, temperature: float, top_p: float) -> None:
    if n < 0:
        raise HandgradError(f"--n must be >= 0, got {n}")
    if not temperature > 0:
        raise HandgradError(f"--temperature must be > 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise HandgradError(f"--top-p must be in (0, 1], got {top_p}")


def generate(rnn, alphabet: Alphabet, n: int, *, rng: np.random.Generator, prime: str = "",
             preamble: str = "", temperature: float = 1.0, top_p: float = 1.0) -> str:
    """``n`` characters following ``preamble + prime`` (at least one character in all), read from a
    zero hidden state: all but the last character set the state, the last is the first input."""
    check_options(n, temperature, top_p)
    if not preamble + prime:
        raise HandgradError("give a priming string of at least one character")
    ids = alphabet.encode(preamble + prime)
    h = np.zeros(rnn.m)
    for x in ids[:-1]:
        _, h = rnn.step(int(x), h)
    x = int(ids[-1])
    out = []
    for _ in range(n):
        s, h = rnn.step(x, h)
        cdf = np.cumsum(next_char_probs(s, temperature, top_p))
        x = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(cdf) - 1)
        out.append(x)
    return alphabet.decode(out)


class TextSamples(Callback):
    """A ``length``-character sample every ``every`` updates (0: none; the sheet's progress log; a run
    shorter than ``every`` gets one at its end) and
    a ``passage_length``-character passage from the final model (the best one when the trainer
    keeps the best), each continuing the text's preamble, drawn with ``rng``."""

    def __init__(self, alphabet: Alphabet, every: int, length: int, preamble: str,
                 rng: np.random.Generator, passage_length: int = 1000) -> None:
        self.alphabet, self.every, self.length, self.rng = alphabet, every, length, rng
        self.preamble = preamble
        self.passage_length = passage_length
        self.samples: list[dict] = []
        self.passage = ""

    def on_train_end(self, trainer):
        if self.every and not self.samples:  # a run shorter than ``every``: one sample, at its end
            self._sample(trainer, trainer.n_updates)
        self.passage = generate(trainer.model.rnn, self.alphabet, self.passage_length, rng=self.rng,
                                preamble=self.preamble)

    def on_step_end(self, trainer, step):
        if self.every and step % self.every == 0:
            self._sample(trainer, step)

    def _sample(self, trainer, step: int) -> None:
        text = generate(trainer.model.rnn, self.alphabet, self.length, rng=self.rng, preamble=self.preamble)
        self.samples.append({"step": step, "smooth_loss": getattr(trainer, "smooth_loss", None), "text": text})


def sample_run(run_dir: str | Path, n: int = 1000, *, temperature: float = 1.0, top_p: float = 1.0,
               prime: str | None = None, seed: int | None = None) -> str:
    """Text from the model of an RNN run folder: ``prime`` followed by ``n`` new characters, read
    after the text's preamble saved with the model (not printed)."""
    from handgrad.io import load_model

    check_options(n, temperature, top_p)
    model, _, meta = load_model(run_dir)
    if "alphabet" not in meta or getattr(model, "rnn", None) is None:
        raise HandgradError(f"{run_dir} does not hold a character RNN (no alphabet saved with its model)")
    alphabet = Alphabet(meta["alphabet"])
    rng = np.random.default_rng(seed)
    text = generate(model.rnn, alphabet, n, rng=rng, prime=prime or "", preamble=meta.get("preamble", ""),
                    temperature=temperature, top_p=top_p)
    return (prime or "") + text
