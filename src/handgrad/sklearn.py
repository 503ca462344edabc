"""scikit-learn estimators on handgrad's Model and Trainer (``pip install handgrad[sklearn]``).

``LinearClassifier`` (softmax + cross-entropy, multi-class SVM, or sigmoid + multiple BCE) and
``MLPClassifier`` (ReLU hidden layers, dropout, constant or cyclical learning rate) are thin
adapters: the hyper-parameters become a validated config, and the network, the schedule and the
optimizer are built by the same functions ``handgrad train`` uses (the image classifier task's
``network``, ``handgrad.tasks.plan`` and ``optimizer``); ``handgrad.fit`` trains in float32. So a
result here is a result of the package, not of a second implementation.

scikit-learn conventions: hyper-parameters in ``__init__`` and validated in ``fit``; fitted
state ends in ``_`` (``classes_``, ``n_features_in_``, ``model_``, ``history_``, ``n_iter_``
epochs, ``t_`` updates); labels of any type (strings too); standardise in a ``Pipeline`` with a
``StandardScaler``. ``warm_start=True`` makes ``fit`` continue from the fitted parameters (and
the optimizer's state and the schedule's step); ``partial_fit`` trains one epoch over the batch
it is given (``classes`` required on the first call).
"""

from __future__ import annotations

import copy
import math
import re

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from handgrad.batches import EpochSampler
from handgrad.config import from_dict
from handgrad.errors import HandgradError
from handgrad.history import History
from handgrad.losses import sigmoid, softmax
from handgrad.rngs import Rngs
from handgrad.tasks import optimizer, plan
from handgrad.tasks.classifier import ImageClassifier
from handgrad.training import fit, steps_per_epoch

__all__ = ["LinearClassifier", "MLPClassifier"]


#: config keys -> the estimators' parameter names, for error messages
_PARAM_OF_KEY = {"train.lambda": "lam", "train.rho": "momentum", "train.schedule": "learning_rate",
                 "train.n_epochs": "max_iter", **{f"train.{k}": k for k in (
                     "n_batch", "eta", "eta_min", "eta_max", "n_s", "n_updates", "n_cycles", "optimizer")},
                 **{f"model.{k}": k for k in ("loss", "init", "hidden", "dropout")}}


class _Shifted:
    """A schedule continued from update ``offset`` (warm starts and partial_fit resume the cycle)."""

    def __init__(self, schedule, offset: int) -> None:
        self.schedule, self.offset = schedule, offset

    def __call__(self, t: int) -> float:
        return self.schedule(t + self.offset)


def _seed(random_state) -> int:
    """One integer seed from sklearn's random_state (None, int, RandomState or Generator)."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    raise ValueError(f"random_state must be None, an int, a RandomState or a Generator, got {random_state!r}")


class _HandgradClassifier(ClassifierMixin, BaseEstimator):
    """What both estimators share; subclasses say which [model] table their hyper-parameters give."""

    _kind = "linear"

    # -- the config the hyper-parameters describe ------------------------------------------
    def _model_table(self) -> dict:
        raise NotImplementedError

    def _config(self, n_samples: int):
        n_batch = self.n_batch
        if isinstance(n_batch, (int, np.integer)) and not isinstance(n_batch, bool) and n_batch > n_samples:
            n_batch = n_samples  # as sklearn's MLPClassifier: a batch is at most the whole set
        train = {"n_batch": n_batch, "lambda": self.lam, "optimizer": self.optimizer, "rho": self.momentum,
                 "sampling": "shuffle" if self.shuffle else "sequential", "dtype": "float32"}
        if self.learning_rate == "cyclical":
            train.update(schedule="cyclical", eta_min=self.eta_min, eta_max=self.eta_max)
            if self.n_s is not None:
                train["n_s"] = self.n_s
        else:
            train.update(schedule=self.learning_rate, eta=self.eta)
        if self.n_updates is not None:
            train["n_updates"] = self.n_updates
        elif getattr(self, "n_cycles", None) is not None:
            train["n_cycles"] = self.n_cycles
        else:
            train["n_epochs"] = self.max_iter
        for param in ("shuffle", "warm_start"):  # pydantic would read any truthy value as True
            if not isinstance(getattr(self, param), (bool, np.bool_)):
                raise ValueError(f"{type(self).__name__}: {param} must be True or False, got {getattr(self, param)!r}")
        raw = {"name": type(self).__name__, "model": {"kind": self._kind, **self._model_table()}, "train": train}
        try:
            return from_dict(raw, f"{type(self).__name__} hyper-parameters")
        except HandgradError as e:  # sklearn users expect ValueError, naming their parameter
            msg = str(e).replace("invalid config ", "invalid ", 1)
            for key, param in _PARAM_OF_KEY.items():
                msg = re.sub(rf"^  {re.escape(key)}(\.\d+)*:", f"  {param}:", msg, flags=re.M)
            raise ValueError(msg) from None

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X, y):
        """Train on X (n_samples, n_features) and labels y; returns self."""
        fitted = hasattr(self, "model_")
        reset = not (self.warm_start and fitted)
        X, y = validate_data(self, X, y, dtype=np.float32, reset=reset)
        check_classification_targets(y)
        if reset:
            classes = np.unique(y)
            if len(classes) < 2:
                raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in the data, "
                                 f"but the data contain only one class: {classes[0]!r}")
            self._init_state(classes, X.shape[1], X.shape[0])
        self._train(X, self._encode(y), epochs=None)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y) from the current parameters; ``classes`` (every label that will
        ever be seen) is required on the first call."""
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=np.float32, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            classes = np.unique(np.asarray(classes))
            if len(classes) < 2:
                raise ValueError(f"classes must hold at least 2 labels, got {classes!r}")
            self._init_state(classes, X.shape[1], X.shape[0])
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes={classes!r} differs from the classes of the first call {self.classes_!r}")
        self._train(X, self._encode(y), epochs=1)
        return self

    def _init_state(self, classes: np.ndarray, d: int, n: int) -> None:
        cfg = self._config(n)
        rngs = Rngs(_seed(self.random_state))
        self._train_rng = rngs.train
        self.classes_ = classes
        self.model_ = ImageClassifier.network(cfg, d, len(classes), rngs.init).astype(np.float32)
        self._optimizer = optimizer(cfg.train)
        self.history_ = History()
        self.n_iter_ = 0
        self.t_ = 0

    def _encode(self, y: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.classes_, y)
        idx = np.minimum(idx, len(self.classes_) - 1)
        unknown = self.classes_[idx] != y
        if np.any(unknown):
            raise ValueError(f"y has labels not in classes_ {self.classes_!r}: {np.unique(y[unknown])!r}")
        return idx.astype(np.int64)

    def _train(self, X: np.ndarray, y: np.ndarray, epochs: int | None) -> None:
        cfg = self._config(len(y))
        tc = cfg.train
        self.model_.lam = tc.lam  # a warm start may change lambda between fits
        epoch_size = EpochSampler(y, tc.sampling).epoch_size
        p = plan(tc, epoch_size, len(y))
        n_updates = p.n_updates if epochs is None else epochs * p.steps_per_epoch
        history = fit(self.model_, X, y, optimizer=self._optimizer, schedule=_Shifted(p.schedule, self.t_),
                      n_batch=tc.n_batch, n_updates=n_updates, sampling=tc.sampling, rng=self._train_rng,
                      progress=False)
        self._append_history(history)
        for layer in self.model_.layers:  # the last batch's activations need not live on with the model
            layer.cache, layer.grads = None, {}
        # predictions use a float64 copy (see _scores), made here: predict must not change the estimator
        self._model64 = copy.deepcopy(self.model_).astype(np.float64)
        self.t_ += n_updates
        self.n_iter_ += math.ceil(n_updates / steps_per_epoch(epoch_size, tc.n_batch))

    def _append_history(self, history: History) -> None:
        """Continue history_ across warm starts and partial_fit: steps count from the first fit."""
        offset, first = self.t_, len(self.history_) == 0
        epoch0 = self.history_.last("epoch") if not first else 0.0
        for i in range(len(history)):
            row = {k: v[i] for k, v in history.columns.items()}
            if i == 0 and not first:
                continue  # the starting point is the previous fit's last row
            row["step"] += offset
            row["epoch"] += epoch0
            self.history_.record(**row)

    # -- prediction ------------------------------------------------------------------------
    def _scores(self, X) -> np.ndarray:
        """Scores in float64, from a float64 copy of the trained (float32) parameters.

        A float32 matrix product rounds differently with the batch size and the CPU's BLAS kernel
        (a row's scores moved by ~1e-7 between a subset and the whole set on OpenBLAS's Haswell
        kernel); in float64 that is ~1e-16, so a row's prediction does not depend on what else is
        in the batch, on any CPU."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self._model64.scores(X.astype(np.float64))

    def decision_function(self, X) -> np.ndarray:
        """Class scores (n_samples, n_classes); for two classes the score of classes_[1] minus
        that of classes_[0] (the log-odds for probabilistic losses), shape (n_samples,)."""
        s = self._scores(X)
        if len(self.classes_) != 2:
            return s
        if self.model_.loss_name == "bce":  # log p1 - log p0 of the normalised sigmoids
            return -np.logaddexp(0.0, -s[:, 1]) + np.logaddexp(0.0, -s[:, 0])
        return s[:, 1] - s[:, 0]

    def predict(self, X) -> np.ndarray:
        s = self._scores(X)
        return self.classes_[s.argmax(axis=1)]

    def _has_proba(self) -> bool:  # the hinge loss's scores have no probabilistic reading
        return self.loss != "svm"

    @available_if(_has_proba)
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in the order of classes_: the softmax
        for cross-entropy, the sigmoids normalised to sum to 1 for multiple BCE."""
        s = self._scores(X)
        if self.model_.loss_name == "bce":
            p = sigmoid(s)
            return p / p.sum(axis=1, keepdims=True)
        return softmax(s)

    @available_if(_has_proba)
    def predict_log_proba(self, X) -> np.ndarray:
        return np.log(self.predict_proba(X))


class LinearClassifier(_HandgradClassifier):
    """s = Wx + b trained by mini-batch gradient descent (the DD2424 A1 classifier).

    Parameters
    ----------
    loss : 'cross_entropy' (softmax), 'svm' (multi-class hinge; no predict_proba) or 'bce'
        (sigmoid outputs with multiple binary cross-entropy).
    lam : L2 weight lambda on W (the cost adds lam * ||W||^2).
    eta : learning rate of the 'constant', 'step' or 'exponential' schedule.
    n_batch : mini-batch size (clipped to the number of samples).
    max_iter : epochs (passes over the training data); n_updates, when given, replaces it.
    learning_rate : 'constant', 'exponential' (eta * 0.9 ** epoch) or 'cyclical' (eta_min .. eta_max,
        half-cycle n_s updates, default 2 epochs).
    optimizer : 'sgd', 'momentum', 'nesterov' or 'adam'; momentum is rho of the momentum methods.
    shuffle : a new order every epoch (else the data's order, as the A1 sheet).
    init : 'normal' N(0, 0.01^2) (A1), 'xavier', 'he' or 'fan_in'.
    random_state : seed of the initialisation and the sampling (None: a fresh one each fit).
    warm_start : fit continues from the fitted parameters.
    """

    _kind = "linear"

    def __init__(self, loss="cross_entropy", *, lam=0.0, eta=0.001, n_batch=100, max_iter=40,
                 n_updates=None, learning_rate="constant", eta_min=1e-5, eta_max=1e-1, n_s=None,
                 optimizer="sgd", momentum=0.9, shuffle=True, init="normal", random_state=None,
                 warm_start=False):
        self.loss = loss
        self.lam = lam
        self.eta = eta
        self.n_batch = n_batch
        self.max_iter = max_iter
        self.n_updates = n_updates
        self.learning_rate = learning_rate
        self.eta_min = eta_min
        self.eta_max = eta_max
        self.n_s = n_s
        self.optimizer = optimizer
        self.momentum = momentum
        self.shuffle = shuffle
        self.init = init
        self.random_state = random_state
        self.warm_start = warm_start

    def _model_table(self) -> dict:
        return {"loss": self.loss, "init": self.init}


class MLPClassifier(_HandgradClassifier):
    """Dense -> ReLU (-> dropout) per hidden layer, then Dense to the class scores, softmax +
    cross-entropy (the DD2424 A2 network), by default with the sheet's cyclical learning rate.

    Parameters
    ----------
    hidden : sizes of the hidden layers.
    dropout : keep probability after each hidden ReLU (1 = no dropout).
    lam : L2 weight lambda on every weight matrix.
    learning_rate : 'cyclical' (eta_min .. eta_max, half-cycle n_s updates; default
        2 * floor(n_samples / n_batch), the A2 sheet's choice), 'constant' or 'exponential' (eta).
    max_iter : epochs; n_cycles or n_updates, when given, replace it.
    loss : 'cross_entropy' or 'bce'; init: 'fan_in' N(0, 1/fan_in) (A2), 'he' or 'xavier'.
    Others as in LinearClassifier.
    """

    _kind = "mlp"

    def __init__(self, hidden=(50,), *, dropout=1.0, lam=0.01, n_batch=100, max_iter=20, n_updates=None,
                 n_cycles=None, learning_rate="cyclical", eta=0.01, eta_min=1e-5, eta_max=1e-1, n_s=None,
                 optimizer="sgd", momentum=0.9, loss="cross_entropy", init="fan_in", shuffle=True,
                 random_state=None, warm_start=False):
        self.hidden = hidden
        self.dropout = dropout
        self.lam = lam
        self.n_batch = n_batch
        self.max_iter = max_iter
        self.n_updates = n_updates
        self.n_cycles = n_cycles
        self.learning_rate = learning_rate
        self.eta = eta
        self.eta_min = eta_min
        self.eta_max = eta_max
        self.n_s = n_s
        self.optimizer = optimizer
        self.momentum = momentum
        self.loss = loss
        self.init = init
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start

    def _model_table(self) -> dict:
        hidden = [self.hidden] if isinstance(self.hidden, (int, np.integer)) else self.hidden
        if isinstance(hidden, str) or not hasattr(hidden, "__iter__"):
            raise ValueError(f"MLPClassifier: hidden must be a sequence of layer sizes such as (50,) or (64, 32), "
                             f"got {self.hidden!r}")
        return {"loss": self.loss, "init": self.init, "dropout": self.dropout,
                "hidden": [int(h) if isinstance(h, np.integer) else h for h in hidden]}
