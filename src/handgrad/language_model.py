"""The character-level language model of the A4 sheet: a Model whose one layer is an RNN, with the
cross-entropy summed over each sequence and a hidden state carried between training windows."""

from __future__ import annotations

import numpy as np

from handgrad.models import Model
from handgrad.nn.layer import Layer


class CharRNN(Model):
    """A character-level language model (the A4 sheet): one :class:`handgrad.nn.RNN` layer and the
    cross-entropy summed over each sequence.

    Inputs X (B, T) character indices, targets y (B, T) the next characters. Stateful while
    training: the last hidden state of one ``loss_and_grads`` is the first of the next, so
    consecutive windows of a text continue each other; ``reset_state`` starts again from zeros.
    Evaluation (``cost``, ``evaluate``) never touches that state. ``seq_length`` is the unit of
    the reported loss (the loss of a seq_length-character sequence, like the smooth loss).
    """

    def __init__(self, layers: list[Layer], loss: str = "sequence_cross_entropy", lam: float = 0.0,
                 seq_length: int = 25) -> None:
        super().__init__(layers, loss=loss, lam=lam)
        self.seq_length = seq_length
        self.state: np.ndarray | None = None

    @property
    def rnn(self):
        return self.layers[0]

    def reset_state(self) -> None:
        self.state = None

    def forward(self, X: np.ndarray, train: bool = False) -> np.ndarray:
        scores = self.rnn.forward(X, train, h0=self.state if train else None)
        if train:
            self.state = self.rnn.h_last
        return scores

    def evaluate(self, X: np.ndarray, y: np.ndarray, n_streams: int = 1, chunk: int = 2000,
                 prefix: np.ndarray | None = None) -> dict[str, float]:
        """Loss on a whole text: X, y (N,) characters and their successors.

        The text is read as training reads it, with the state carried through, starting from zero
        or from the state after reading ``prefix`` (characters, not scored): a model trained with a
        carried state may need the state its training text's start sets (see data/text.py). With
        ``n_streams`` > 1 the text is cut into parts read side by side, each from that state.
        ``loss`` is the mean per character times ``seq_length``."""
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
            total += loss * S  # the loss object averages over the S streams
            correct += int(np.sum(s.argmax(axis=2) == ys[:, j:j + chunk]))
        per_char = total / (S * L)
        loss = per_char * self.seq_length
        return {"cost": loss + self.lam * self.l2(), "loss": loss, "loss_per_char": per_char,
                "accuracy": correct / (S * L)}

    def config(self) -> dict:
        return {**super().config(), "kind": "char_rnn", "seq_length": self.seq_length}

    @classmethod
    def from_config(cls, cfg: dict, params: dict[str, np.ndarray] | None = None,
                    buffers: dict[str, np.ndarray] | None = None, source: str = "saved model") -> "CharRNN":
        from handgrad.errors import HandgradError
        from handgrad.nn.layer import config_int

        base = Model.from_config(cfg, params, buffers, source=source)
        if len(base.layers) != 1 or type(base.layers[0]).__name__ != "RNN":
            raise HandgradError(f"{source}: a char_rnn model has exactly one RNN layer")
        try:
            seq_length = config_int(cfg, "seq_length", default=25)
        except ValueError as e:
            raise HandgradError(f"{source}: {e}") from None
        return cls(base.layers, loss=base.loss_name, lam=base.lam, seq_length=seq_length)


def char_rnn(K: int, m: int = 100, *, seq_length: int = 25, lam: float = 0.0, std: float = 0.01,
             rng: np.random.Generator | None = None, dtype=np.float32) -> CharRNN:
    """The A4 RNN for an alphabet of K characters: m hidden units, U, W, V ~ N(0, std^2), zero biases."""
    from handgrad.nn.rnn import RNN

    return CharRNN([RNN(K, m, std=std, rng=rng, dtype=dtype)], lam=lam, seq_length=seq_length)
