"""How a surname becomes a model's input (the sheet's encoding): X (d x n_len), one-hot columns, zero
columns after the name, vectorised column-major, so the vector index of (char c, position p) is
``p*d + c``; or, cheaper, the character indices (N, n_len) with -1 after the name, which the first
Conv1D reads directly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handgrad.alphabet import describe, show_char
from handgrad.errors import HandgradError

#: the training input representation: character indices (N, n_len), -1 after the name. The first
#: Conv1D reads them directly (a gather on the fast path, expanded to one-hot for the other impls)
INPUT_FORMAT = "indices"


class Encoder:
    """Maps names to one-hot vectors of length d*n_len (column-major d x n_len matrices).

    ``alphabet``: the characters in index order (sorted on the data); ``n_len``: the longest name.
    Names are lowercased before encoding. Saved with a model through ``to_dict``/``from_dict``.
    """

    def __init__(self, alphabet: str, n_len: int) -> None:
        if not alphabet or len(set(alphabet)) != len(alphabet):
            raise HandgradError(f"encoder alphabet must be non-empty with unique characters, got {alphabet!r}")
        if int(n_len) < 1:
            raise HandgradError(f"encoder n_len must be >= 1, got {n_len!r}")
        self.alphabet = alphabet
        self.n_len = int(n_len)
        self.index = {c: i for i, c in enumerate(alphabet)}

    @property
    def d(self) -> int:
        return len(self.alphabet)

    @property
    def dim(self) -> int:
        """Length of an encoded vector, d * n_len."""
        return self.d * self.n_len

    @staticmethod
    def normalize(name: str) -> str:
        """What the encoder sees of a name: lowercased (accents are not folded; see ``to_ascii``)."""
        return name.lower()

    def indices(self, names: Sequence[str], *, return_truncated: bool = False):
        """Character indices (N, n_len) int32, -1 after the end of each name.

        A name longer than n_len keeps its first n_len characters; with ``return_truncated`` the
        call returns ``(idx, truncated)`` where ``truncated`` (N,) bool says which names were cut.
        A character outside the alphabet raises HandgradError naming the name and the character.
        """
        if isinstance(names, str):
            raise HandgradError(f"expected a list of names, got the single string {names!r}")
        idx = np.full((len(names), self.n_len), -1, dtype=np.int32)
        truncated = np.zeros(len(names), dtype=bool)
        for i, raw in enumerate(names):
            name = self.normalize(raw)
            if not name:
                raise HandgradError(f"empty name at position {i} of the input")
            for ch in name:
                if ch not in self.index:
                    raise HandgradError(f"name {raw!r} has the character {show_char(ch)}, which is not in the "
                                        f"model's alphabet {describe(self.alphabet)}")
            if len(name) > self.n_len:
                truncated[i] = True
                name = name[: self.n_len]
            idx[i, : len(name)] = [self.index[ch] for ch in name]
        return (idx, truncated) if return_truncated else idx

    def encode(self, names: Sequence[str], *, dtype=np.float32, return_truncated: bool = False):
        """One-hot vectors (N, d*n_len) in ``dtype``; entry ``p*d + c`` is 1 if name[p] is char c.

        ``return_truncated`` as in ``indices``.
        """
        idx, truncated = self.indices(names, return_truncated=True)
        X = onehot_from_indices(idx, self.d, dtype=dtype)
        return (X, truncated) if return_truncated else X

    def decode(self, idx: np.ndarray) -> list[str]:
        """Inverse of ``indices`` (for tests and debugging)."""
        return ["".join(self.alphabet[c] for c in row if c >= 0) for row in np.atleast_2d(idx)]

    def to_dict(self) -> dict:
        return {"alphabet": self.alphabet, "n_len": self.n_len}

    @classmethod
    def from_dict(cls, d: dict) -> "Encoder":
        try:
            return cls(str(d["alphabet"]), int(d["n_len"]))
        except KeyError as e:
            raise HandgradError(f"saved encoder is missing the key {e.args[0]!r} (has {sorted(d)})") from None
        except (TypeError, ValueError) as e:
            raise HandgradError(f"saved encoder has a bad value: {e}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Encoder) and (self.alphabet, self.n_len) == (other.alphabet, other.n_len)

    def __repr__(self) -> str:
        return f"Encoder(alphabet={self.alphabet!r}, n_len={self.n_len})"


def onehot_from_indices(idx: np.ndarray, d: int, dtype=np.float32) -> np.ndarray:
    """(N, n_len) indices with -1 padding -> (N, n_len*d) one-hot, index p*d + c (column-major X)."""
    n, n_len = idx.shape
    X = np.zeros((n, n_len, d), dtype=dtype)
    rows, pos = np.nonzero(idx >= 0)
    X[rows, pos, idx[rows, pos]] = 1
    return X.reshape(n, n_len * d)
