"""Character n-gram features of names: a vocabulary, TF-IDF weights and sparse rows for a linear model.

What a name becomes (close to scikit-learn's ``TfidfVectorizer(analyzer='char_wb')``):

- each whitespace-separated word is padded with one space on each side (" smith "), so n-grams
  at the start and end of a word are told apart from the same letters inside it;
- every n-gram of lengths ``n_min..n_max`` of the padded words is counted (a word shorter than n
  gives the whole padded word once, as scikit-learn does);
- term frequency is the raw count (``tf="count"``) or ``1 + log(count)`` (``tf="log"``);
- idf = ln((1 + N) / (1 + df)) + 1 over the N training names (smoothed, never zero);
- each row is scaled to unit L2 norm, so long and short names weigh the same.

The vocabulary and idf come from the training names only; an n-gram never seen in training is
ignored at prediction time. Rows are ``scipy.sparse`` CSR matrices (a name has ~40 of ~40,000
n-grams), which ``Dense`` multiplies without densifying.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from handgrad.errors import HandgradError

TF_KINDS = ("count", "log")


def char_ngrams(name: str, n_min: int, n_max: int) -> list[str]:
    """The n-grams of one (already lowercased) name, word by word, words padded with spaces."""
    out = []
    for word in name.split():
        w = f" {word} "
        for n in range(n_min, n_max + 1):
            if len(w) <= n:
                out.append(w)
                break
            out.extend(w[i:i + n] for i in range(len(w) - n + 1))
    return out


class CharNgrams:
    """Fit on training names, then map names to L2-normalised TF-IDF rows (N, n_features) CSR.

    ``n_min``/``n_max``: n-gram lengths; ``tf``: 'count' or 'log' (sublinear); ``dtype`` of the rows.
    """

    def __init__(self, n_min: int = 1, n_max: int = 4, tf: str = "count") -> None:
        if not 1 <= n_min <= n_max:
            raise HandgradError(f"n-gram lengths must satisfy 1 <= n_min <= n_max, got {n_min}..{n_max}")
        if tf not in TF_KINDS:
            raise HandgradError(f"unknown n-gram term frequency {tf!r}; choose one of {', '.join(TF_KINDS)}")
        self.n_min, self.n_max, self.tf = int(n_min), int(n_max), tf
        self.vocabulary: dict[str, int] = {}
        self.idf: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return len(self.vocabulary)

    def fit(self, names: Sequence[str]) -> "CharNgrams":
        df: Counter = Counter()
        for name in names:
            df.update(set(char_ngrams(name, self.n_min, self.n_max)))
        if not df:
            raise HandgradError("no n-grams in the training names (are they empty?)")
        vocab = sorted(df)
        self.vocabulary = {g: i for i, g in enumerate(vocab)}
        n = len(names)
        self.idf = np.array([math.log((1 + n) / (1 + df[g])) + 1.0 for g in vocab])
        return self

    def transform(self, names: Sequence[str], dtype=np.float32):
        """CSR (N, n_features): TF-IDF of the known n-grams of each name, rows of unit L2 norm."""
        import scipy.sparse as sp

        if self.idf is None:
            raise HandgradError("CharNgrams.transform before fit")
        indptr, indices, values = [0], [], []
        for name in names:
            counts = Counter(g for g in char_ngrams(name, self.n_min, self.n_max) if g in self.vocabulary)
            cols = np.fromiter((self.vocabulary[g] for g in counts), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            if self.tf == "log":
                tf = 1.0 + np.log(tf)
            v = tf * self.idf[cols]
            norm = np.sqrt(v @ v)
            order = np.argsort(cols)
            indices.append(cols[order])
            values.append(v[order] / norm if norm > 0 else v[order])
            indptr.append(indptr[-1] + len(cols))
        X = sp.csr_matrix((np.concatenate(values) if values else np.zeros(0),
                           np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64), indptr),
                          shape=(len(names), self.n_features), dtype=dtype)
        return X

    # -- saving with a model (arrays in model.npz, no pickle) ----------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Arrays saved beside the model: the vocabulary as code points (V, n_max) int32, zero-padded
        (model.npz holds numbers only), and the idf (V,)."""
        vocab = sorted(self.vocabulary, key=self.vocabulary.get)
        codes = np.zeros((len(vocab), self.n_max), dtype=np.int32)
        for i, g in enumerate(vocab):
            codes[i, :len(g)] = [ord(c) for c in g]
        return {"ngram_vocabulary": codes, "ngram_idf": np.asarray(self.idf)}

    def config(self) -> dict:
        return {"n_min": self.n_min, "n_max": self.n_max, "tf": self.tf}

    @classmethod
    def from_state(cls, config: dict, state: dict[str, np.ndarray]) -> "CharNgrams":
        try:
            self = cls(int(config["n_min"]), int(config["n_max"]), str(config["tf"]))
            vocab, idf = state["ngram_vocabulary"], state["ngram_idf"]
        except KeyError as e:
            raise HandgradError(f"saved n-gram features are missing {e.args[0]!r}") from None
        if len(vocab) != len(idf):
            raise HandgradError(f"saved n-gram vocabulary ({len(vocab)}) and idf ({len(idf)}) differ in length")
        vocab = np.asarray(vocab)
        if vocab.ndim != 2 or not np.issubdtype(vocab.dtype, np.integer) or vocab.min(initial=0) < 0:
            raise HandgradError("saved n-gram vocabulary must be a 2-D array of code points")
        self.vocabulary = {"".join(chr(c) for c in row if c): i for i, row in enumerate(vocab.tolist())}
        self.idf = np.asarray(idf, dtype=np.float64)
        return self
