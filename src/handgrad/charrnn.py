"""The character-level language model of the A4 sheet, with what is particular to training it and
writing with it: a :class:`CharRNN` (one RNN layer, the cross-entropy summed over each sequence, a
hidden state carried between training windows), :func:`fit_text` (the sheet's training loop: windows
of the text read in order, the state reset each epoch, the smooth loss, samples along the way) and
``CharRNN.sample`` (temperature and nucleus sampling after a priming string).
"""

from __future__ import annotations

import numpy as np

from handgrad.alphabet import Alphabet
from handgrad.batches import SequenceBatches
from handgrad.callbacks import Callback
from handgrad.errors import HandgradError
from handgrad.history import History
from handgrad.losses import SequenceCrossEntropy, softmax
from handgrad.model import Sequential
from handgrad.nn import RNN, Layer
from handgrad.training import fit

#: updates at which the sheets report their smooth loss (AdaGrad to 363,000; the 2025 sheet: Adam to 150,000)
SHEET_STEPS = (1, 1000, 4000, 30_000, 100_000, 150_000, 363_000)


class CharRNN(Sequential):
    """A character-level language model: one :class:`handgrad.RNN` layer and the cross-entropy summed
    over each sequence.

    Inputs X (B, T) character indices, targets y (B, T) the next characters. Stateful while training:
    the last hidden state of one ``loss_and_grads`` is the first of the next, so consecutive windows of
    a text continue each other; ``reset_state`` starts again from zeros. Evaluation (``cost``,
    ``evaluate``) never touches that state. ``seq_length`` is the unit of the reported loss (the loss of
    a seq_length-character sequence, like the smooth loss). ``alphabet`` and ``preamble`` (the text's
    opening, read before held-out or generated text) let the model ``sample`` text by itself.
    """

    def __init__(self, layers: list[Layer], loss="sequence_cross_entropy", lam: float = 0.0,
                 seq_length: int = 25, alphabet: Alphabet | str | None = None, preamble: str = "") -> None:
        super().__init__(layers, loss=loss, lam=lam)
        self.seq_length = seq_length
        self.state: np.ndarray | None = None
        self.alphabet = Alphabet(alphabet) if isinstance(alphabet, str) else alphabet
        self.preamble = preamble

    @property
    def rnn(self) -> RNN:
        return self.layers[0]

    @property
    def per_character(self) -> bool:
        """The loss is a mean per character (the 2025 sheet), not a sum per sequence."""
        return getattr(self.loss, "per", "sequence") == "character"

    def reset_state(self) -> None:
        self.state = None

    def forward(self, X: np.ndarray, y: np.ndarray | None = None, *, train: bool = False,
                sample_weight: np.ndarray | None = None):
        scores = self.rnn.forward(X, train, h0=self.state if train else None)
        if train:
            self.state = self.rnn.h_last
        if y is None:
            return scores
        loss, _ = self.loss(scores, y, sample_weight)
        return scores, loss + self.lam * self.l2()

    __call__ = forward

    def evaluate(self, X: np.ndarray, y: np.ndarray, n_streams: int = 1, chunk: int = 2000,
                 prefix: np.ndarray | None = None) -> dict[str, float]:
        """Loss on a whole text: X, y (N,) characters and their successors.

        The text is read as training reads it, with the state carried through, starting from zero or
        from the state after reading ``prefix`` (characters, not scored): a model trained with a carried
        state may need the state its training text's start sets (see ``handgrad.datasets.text``). With
        ``n_streams`` > 1 the text is cut into parts read side by side, each from that state.
        ``loss`` is in the training loss's unit: the mean per character times ``seq_length`` (a loss
        per sequence, the A4 sheet's), or per character (``SequenceCrossEntropy(per="character")``)."""
        n = len(X)
        S = max(1, min(n_streams, n))
        L = n // S
        Xs, ys = X[:S * L].reshape(S, L), y[:S * L].reshape(S, L)
        h = None
        if prefix is not None and len(prefix):
            self.rnn.forward(np.asarray(prefix)[None])
            h = np.repeat(self.rnn.h_last, S, axis=0)
        total, correct = 0.0, 0
        for j in range(0, L, chunk):
            s = self.rnn.forward(Xs[:, j:j + chunk], h0=h)
            h = self.rnn.h_last
            loss, _ = self.loss(s, ys[:, j:j + chunk])
            total += loss * S * (s.shape[1] if self.per_character else 1)  # back to a sum over characters
            correct += int(np.sum(s.argmax(axis=2) == ys[:, j:j + chunk]))
        per_char = total / (S * L)
        loss = per_char * (1 if self.per_character else self.seq_length)
        return {"cost": loss + self.lam * self.l2(), "loss": loss, "loss_per_char": per_char,
                "accuracy": correct / (S * L)}

    def sample(self, n: int, rng: np.random.Generator, *, prime: str = "", temperature: float = 1.0,
               top_p: float = 1.0) -> str:
        """``n`` new characters after ``prime``, read after the model's preamble (``prime`` itself is
        not repeated in the result); the same Generator state gives the same text."""
        if self.alphabet is None:
            raise HandgradError("this CharRNN has no alphabet: give CharRNN(..., alphabet=...) to sample text")
        return generate(self.rnn, self.alphabet, n, rng=rng, prime=prime, preamble=self.preamble,
                        temperature=temperature, top_p=top_p)

    def config(self) -> dict:
        return {**super().config(), "kind": "char_rnn", "seq_length": self.seq_length}

    @classmethod
    def from_config(cls, cfg: dict, params=None, buffers=None) -> "CharRNN":
        base = Sequential.from_config(cfg, params, buffers)
        return cls(base.layers, loss=base.loss, lam=base.lam, seq_length=cfg.get("seq_length", 25))


def char_rnn(alphabet: Alphabet | str | int, m: int = 100, *, seq_length: int = 25, lam: float = 0.0,
             std: float = 0.01, preamble: str = "", loss_per: str = "sequence",
             rng: np.random.Generator | None = None, dtype=np.float32) -> CharRNN:
    """The A4 RNN for an alphabet (or its size K): m hidden units, U, W, V ~ N(0, std^2), zero biases;
    the loss summed over each sequence (``loss_per="sequence"``, the A4 sheets to 2024) or averaged
    over its characters (``"character"``, the 2025 sheet)."""
    chars = None if isinstance(alphabet, int) else alphabet
    K = alphabet if isinstance(alphabet, int) else len(alphabet)
    return CharRNN([RNN(K, m, std=std, rng=rng, dtype=dtype)], loss=SequenceCrossEntropy(loss_per), lam=lam,
                   seq_length=seq_length, alphabet=chars, preamble=preamble)


# ---------------------------------------------------------------------------------------------
# Training: the sheet's loop
# ---------------------------------------------------------------------------------------------
class ResetState(Callback):
    """Start the model from a zero state at every epoch, or after every update when nothing continues
    from one batch to the next (sequences at random locations)."""

    def __init__(self, every_step: bool = False) -> None:
        self.every_step = every_step

    def on_epoch_begin(self, trainer, epoch):
        trainer.model.reset_state()

    def on_step_end(self, trainer, step):
        if self.every_step:
            trainer.model.reset_state()


class SmoothLoss(Callback):
    """The A4 sheet's smooth loss: the first update's loss, then .999 smooth + .001 loss; recorded in
    the history (``smooth_loss``, with the update's own ``loss``) every ``every`` updates and kept as
    ``trainer.smooth_loss``."""

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


class TextSamples(Callback):
    """A ``length``-character sample every ``every`` updates (0: none; the sheet's progress log; a run
    shorter than ``every`` gets one at its end) and a ``passage_length``-character passage from the
    final model (the best one when the trainer keeps the best), each continuing the model's preamble,
    drawn with ``rng``. They end up in ``history.text``: {"samples": [...], "passage": str}."""

    def __init__(self, every: int, length: int, rng: np.random.Generator, passage_length: int = 1000) -> None:
        self.every, self.length, self.rng, self.passage_length = every, length, rng, passage_length
        self.samples: list[dict] = []

    def on_step_end(self, trainer, step):
        if self.every and step % self.every == 0:
            self._sample(trainer, step)

    def on_train_end(self, trainer):
        if self.every and not self.samples:  # a run shorter than ``every``: one sample, at its end
            self._sample(trainer, trainer.n_updates)
        trainer.history.text = {"samples": self.samples,
                                "passage": trainer.model.sample(self.passage_length, self.rng)}

    def _sample(self, trainer, step: int) -> None:
        text = trainer.model.sample(self.length, self.rng)
        self.samples.append({"step": step, "smooth_loss": getattr(trainer, "smooth_loss", None), "text": text})


def held_out_evaluator(preamble_ids: np.ndarray):
    """f(model, X, y): the loss on held-out text read after the preamble (the training text's start)."""
    return lambda model, X, y: model.evaluate(X, y, prefix=preamble_ids)


def fit_text(model: CharRNN, data, *, optimizer=None, schedule=None, n_updates: int | None = None,
             n_epochs: float | None = None, n_batch: int = 1, sampling: str = "sequential",
             smooth_every: int = 100, sample_every: int = 10_000, sample_length: int = 200,
             passage_length: int = 1000, record_every: int | None = None, keep_best: bool = False,
             best_metric: str = "val_loss", rng: np.random.Generator | None = None,
             sample_rng: np.random.Generator | None = None, callbacks=(), progress: bool | None = None,
             desc: str = "train") -> History:
    """Train a CharRNN on a text the sheet's way; returns the History (``smooth_loss`` by update,
    the loss on the training and held-out text at recording points, and ``history.text``: the samples
    and the final passage).

    ``data``: a text data set (``handgrad.datasets.text``): ``X_train``/``y_train`` the characters and
    their successors, ``X_val``/``y_val`` the held-out end, ``preamble``. The model reads windows of
    ``model.seq_length`` characters, ``n_batch`` streams side by side, in order (``sampling``
    'sequential', the state carried and reset each epoch) or at random places ('random', reset each
    update). ``rng`` draws random windows; ``sample_rng`` the samples.
    """
    batches = SequenceBatches(len(data.X_train), model.seq_length, n_batch, sampling)
    sample_rng = sample_rng if sample_rng is not None else np.random.default_rng(0)
    preamble_ids = data.X_train[:len(data.preamble)]
    cbs = [ResetState(every_step=not batches.carries_state), SmoothLoss(smooth_every),
           TextSamples(sample_every, sample_length, sample_rng, passage_length), *callbacks]
    return fit(model, data.X_train, data.y_train, (data.X_val, data.y_val), optimizer=optimizer, schedule=schedule,
               n_updates=n_updates, n_epochs=n_epochs, batches=batches, callbacks=cbs, record_every=record_every,
               keep_best=keep_best, best_metric=best_metric, evaluate=held_out_evaluator(preamble_ids),
               evaluate_train=False, rng=rng, progress=progress, desc=desc)


# ---------------------------------------------------------------------------------------------
# Writing: temperature and nucleus sampling
# ---------------------------------------------------------------------------------------------
def next_char_probs(scores: np.ndarray, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
    """(K,) probabilities of the next character from its scores: divided by the temperature, softmax,
    then (nucleus sampling, Holtzman et al. 2020) only the most probable characters whose
    probabilities add up to ``top_p`` kept."""
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
        raise HandgradError(f"the number of characters (--n) must be >= 0, got {n}")
    if not temperature > 0:
        raise HandgradError(f"the temperature (--temperature) must be > 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise HandgradError(f"top_p (--top-p) must be in (0, 1], got {top_p}")


def generate(rnn: RNN, alphabet: Alphabet, n: int, *, rng: np.random.Generator, prime: str = "",
             preamble: str = "", temperature: float = 1.0, top_p: float = 1.0) -> str:
    """``n`` characters following ``preamble + prime`` (at least one character in all), read from a
    zero hidden state: all but the last character set the state, the last is the first input. Each
    character is drawn by inverse CDF with a uniform from ``rng`` (the sheet's method)."""
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
