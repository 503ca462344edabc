"""Losses on class scores, as objects: ``loss(scores, y)`` returns ``(loss, dscores)`` for a mini-batch.

``scores`` is (N, K), ``y`` is (N,) integer labels in 0..K-1. The loss is the mean over the batch,
and ``dscores`` (N, K) is its gradient with respect to ``scores`` (the 1/N included). The L2 term is
not here: it lives beside the loss in the model's cost (``Sequential.cost``), once.

Every loss follows the same protocol (:class:`Loss`): ``__call__`` for training, ``terms`` (small
pieces that sum to the loss, which the gradient check differentiates), ``probs`` (what the scores
mean as probabilities, or None for the hinge), ``name`` and ``config()`` (how a saved model names
it). ``handgrad.check_loss(loss, scores, y)`` checks a loss you write against the complex step.
"""

from __future__ import annotations

import numpy as np


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) scores, shifted by the row max so exp never overflows."""
    z = scores - scores.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def sigmoid(s: np.ndarray) -> np.ndarray:
    """Logistic function, computed without overflow for large |s|."""
    out = np.empty_like(s)
    pos = s >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-s[pos]))
    e = np.exp(s[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def softplus(s: np.ndarray) -> np.ndarray:
    """log(1 + e^s) without overflow, analytic (complex input too: no abs, no logaddexp).

    max(s, 0) + log1p(e^-|s|), with |s| written as s * sign(Re s) so a complex step passes through.
    """
    pos = s.real > 0
    return s * pos + np.log1p(np.exp(-s * np.where(pos, 1.0, -1.0)))


def _check(scores: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    n, k = scores.shape
    if y.shape != (n,):
        raise ValueError(f"labels have shape {y.shape}, expected ({n},) to match scores {scores.shape}")
    return n, k


class Loss:
    """The loss protocol. Subclasses set ``name`` and implement ``__call__`` and ``terms``."""

    name = "loss"

    def __call__(self, scores: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None):
        """(mean loss over the batch, dscores), with optional per-example weights."""
        raise NotImplementedError

    def terms(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Small terms that sum to the loss (complex input too: the complex-step check)."""
        raise NotImplementedError

    def probs(self, scores: np.ndarray) -> np.ndarray | None:
        return None

    def config(self) -> dict:
        """The constructor arguments a saved model records beside ``name``."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class CrossEntropy(Loss):
    """Softmax + cross-entropy: l = -log p_y with p = softmax(s). dl/ds = p - onehot(y).

    ``label_smoothing`` eps (the 2025 A3 sheet: .1): the target puts 1 - eps on the true class and
    eps / (K - 1) on each other one, l = -sum_k t_k log p_k and dl/ds = p - t.
    """

    name = "cross_entropy"

    def __init__(self, label_smoothing: float = 0.0) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def config(self) -> dict:
        return {"label_smoothing": self.label_smoothing} if self.label_smoothing else {}

    def targets(self, y: np.ndarray, k: int, dtype) -> np.ndarray:
        """(N, K) target distributions: one-hot, or smoothed."""
        eps = self.label_smoothing
        t = np.full((len(y), k), eps / (k - 1) if k > 1 else 0.0, dtype=dtype)
        t[np.arange(len(y)), y] = 1.0 - eps
        return t

    def __call__(self, scores: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None):
        n, k = _check(scores, y)
        if self.label_smoothing:
            return self._smoothed(scores, y, sample_weight, n, k)
        p = softmax(scores)
        rows = np.arange(n)
        # tiny floor keeps log finite when a probability underflows to 0 in float32
        nll = -np.log(np.maximum(p[rows, y], np.finfo(p.dtype).tiny))
        w = np.full(n, 1.0 / n, dtype=scores.dtype) if sample_weight is None else sample_weight / sample_weight.sum()
        loss = float(nll @ w)
        p[rows, y] -= 1.0
        p *= w[:, None].astype(p.dtype, copy=False)
        return loss, p

    def _smoothed(self, scores, y, sample_weight, n: int, k: int):
        z = scores - scores.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        t = self.targets(y, k, scores.dtype)
        w = np.full(n, 1.0 / n, dtype=scores.dtype) if sample_weight is None else sample_weight / sample_weight.sum()
        loss = float(-(t * logp).sum(axis=1) @ w)
        return loss, (np.exp(logp) - t) * w[:, None].astype(scores.dtype, copy=False)

    def terms(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-example contributions l_i / N whose sum is the loss (for gradient checks; complex too):
        log-sum-exp minus the target-weighted scores (the targets sum to 1)."""
        n = len(y)
        mx = scores.real.max(axis=1)
        lse = np.log(np.exp(scores - mx[:, None]).sum(axis=1)) + mx
        if self.label_smoothing:
            return (lse - (self.targets(y, scores.shape[1], np.float64) * scores).sum(axis=1)) / n
        return (lse - scores[np.arange(n), y]) / n

    def probs(self, scores: np.ndarray) -> np.ndarray:
        return softmax(scores)


class MultiClassHinge(Loss):
    """Multi-class SVM loss: l = sum_{j != y} max(0, s_j - s_y + margin)."""

    name = "svm"

    def __init__(self, margin: float = 1.0) -> None:
        self.margin = margin

    def config(self) -> dict:
        return {} if self.margin == 1.0 else {"margin": self.margin}

    def __call__(self, scores: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None):
        n, _ = _check(scores, y)
        rows = np.arange(n)
        m = scores - scores[rows, y][:, None] + self.margin
        m[rows, y] = 0.0
        active = m > 0
        w = np.full(n, 1.0 / n, dtype=scores.dtype) if sample_weight is None else sample_weight / sample_weight.sum()
        loss = float(np.where(active, m, 0.0).sum(axis=1) @ w)
        ds = active.astype(scores.dtype)
        ds[rows, y] = -ds.sum(axis=1)
        ds *= w[:, None].astype(ds.dtype, copy=False)
        return loss, ds

    def terms(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-margin contributions max(0, s_j - s_y + margin) / N whose sum is the loss.

        Each active margin is split into (s_j - s_y) and the constant margin: adding 1 to a small
        score difference would round away the digits a finite difference needs.
        """
        n = len(y)
        diff = scores - scores[np.arange(n), y][:, None]
        active = diff.real + self.margin > 0  # the real part: complex-step checks too
        active[np.arange(n), y] = False
        return np.concatenate([np.where(active, diff, 0.0).ravel(), active.ravel() * self.margin]) / n

    def kink_inputs(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The margins s_j - s_y + margin, j != y: the loss has a kink where one is 0."""
        n = len(y)
        m = scores - scores[np.arange(n), y][:, None] + self.margin
        keep = np.ones(m.shape, dtype=bool)
        keep[np.arange(n), y] = False
        return m[keep]

    def probs(self, scores: np.ndarray) -> None:
        return None  # hinge scores have no probabilistic reading


class MultiBCE(Loss):
    """Sigmoid outputs + multiple binary cross-entropy, averaged over the K outputs.

    l = -(1/K) sum_k [(1 - y_k) log(1 - p_k) + y_k log p_k], p = sigmoid(s); dl/ds = (p - y)/K.
    """

    name = "bce"

    def __call__(self, scores: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None):
        n, k = _check(scores, y)
        rows = np.arange(n)
        # log sigmoid(s) = -softplus(-s), log(1 - sigmoid(s)) = -softplus(s): stable for any s
        sp = np.logaddexp(0.0, scores)  # softplus(s)
        per = sp.sum(axis=1) - scores[rows, y]  # -sum_k log(1-p_k) corrected for the true class
        w = np.full(n, 1.0 / n, dtype=scores.dtype) if sample_weight is None else sample_weight / sample_weight.sum()
        loss = float(per @ w) / k
        ds = sigmoid(scores)
        ds[rows, y] -= 1.0
        ds *= (w / k)[:, None].astype(ds.dtype, copy=False)
        return loss, ds

    def terms(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-output contributions -log p_k or -log(1 - p_k), over N*K; their sum is the loss."""
        n, k = scores.shape
        t = softplus(scores)
        t[np.arange(n), y] -= scores[np.arange(n), y]
        return t / (n * k)

    def probs(self, scores: np.ndarray) -> np.ndarray:
        return sigmoid(scores)


class SequenceCrossEntropy(CrossEntropy):
    """Cross-entropy summed over the T steps of each sequence and averaged over the B sequences
    (the A4 sheet's loss, per sequence): scores (B, T, K), y (B, T) -> (loss, dscores (B, T, K)).
    Scores (T, K) with y (T,) are one sequence. ``per="character"`` averages over the characters
    instead (the 2025 A4 sheet's loss, per character)."""

    name = "sequence_cross_entropy"

    def __init__(self, per: str = "sequence") -> None:
        super().__init__()
        if per not in ("sequence", "character"):
            raise ValueError(f"per must be 'sequence' or 'character', got {per!r}")
        self.per = per

    def config(self) -> dict:
        return {"per": self.per} if self.per != "sequence" else {}

    def __call__(self, scores: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None):
        if scores.ndim == 2:
            loss, d = self(scores[None], np.asarray(y)[None])
            return loss, d[0]
        B, T, K = scores.shape
        loss, d = super().__call__(scores.reshape(B * T, K), y.reshape(B * T))
        if self.per == "character":
            return loss, d.reshape(B, T, K)
        d *= T  # the mean over B*T rows times T: a sum over time, a mean over sequences
        return loss * T, d.reshape(B, T, K)

    def terms(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-character contributions, with log-sum-exp written as log(mean exp) + log K and the
        constant log K its own term: near the sheet's initialisation the scores are ~0.01, so each
        term is then ~0.01 instead of ~log K, and a finite difference of the terms keeps the digits
        the gradient check needs. Branches (the max) are decided on the real part."""
        B, T, K = scores.shape if scores.ndim == 3 else (1, *scores.shape)
        n = B * T
        s, yy = scores.reshape(n, K), np.asarray(y).reshape(n)
        mx = np.real(s).max(axis=1)
        lme = np.log(np.exp(s - mx[:, None]).mean(axis=1)) + mx
        unit = n if self.per == "character" else B
        per = (lme - s[np.arange(n), yy]) / unit
        return np.concatenate([per, np.full(1, n * np.log(K) / unit)])

    def probs(self, scores: np.ndarray) -> np.ndarray:
        return softmax(scores.reshape(-1, scores.shape[-1])).reshape(scores.shape)


#: a saved model's loss name -> its class
LOSSES: dict[str, type[Loss]] = {"cross_entropy": CrossEntropy, "svm": MultiClassHinge, "bce": MultiBCE,
                                 "sequence_cross_entropy": SequenceCrossEntropy}


def make_loss(loss: str | Loss, **kwargs) -> Loss:
    """A loss object from its name (``"cross_entropy"``, ``"svm"``, ``"bce"``) or the object itself."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        return LOSSES[loss](**kwargs)
    return loss
