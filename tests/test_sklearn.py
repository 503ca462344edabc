"""handgrad's scikit-learn estimators: scikit-learn's own conformance suite, and the estimators
where scikit-learn users put them (Pipeline, GridSearchCV, cross_val_score on digits)."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

# scikit-learn's array-API check (with NumPy arrays) runs only when SciPy's array API is switched on,
# which must happen before SciPy is first imported
os.environ.setdefault("SCIPY_ARRAY_API", "1")
pytest.importorskip("sklearn", reason="the sklearn extra is not installed (pip install -e '.[sklearn]')")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from handgrad.sklearn import LinearClassifier, MLPClassifier  # noqa: E402

# The fast setting for the check suite: few epochs on its small data sets, a learning rate that
# gets there in time.
FAST = [
    LinearClassifier(eta=0.05, n_batch=20, max_iter=20),
    LinearClassifier("svm", eta=0.01, n_batch=20, max_iter=20),
    LinearClassifier("bce", eta=0.1, n_batch=20, max_iter=20, lam=1e-3),
    MLPClassifier((16,), n_batch=20, max_iter=8, lam=1e-3, eta_max=0.1),
    MLPClassifier((16, 8), dropout=0.9, learning_rate="constant", eta=0.05, n_batch=20, max_iter=20,
                  optimizer="momentum"),
]


@parametrize_with_checks(FAST)
def test_sklearn_conformance(estimator, check):
    check(estimator)


def _digits():
    X, y = load_digits(return_X_y=True)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    return X, names[y]  # string labels: classes_ must carry them through


def test_grid_search_over_lambda_in_a_pipeline():
    X, y = _digits()
    pipe = make_pipeline(StandardScaler(), LinearClassifier(eta=0.05, n_batch=32, max_iter=10, random_state=0))
    search = GridSearchCV(pipe, {"linearclassifier__lam": [0.0, 0.01, 10.0]}, cv=3)
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    # a huge lambda shrinks W to almost nothing: clearly worse than the two sensible values
    assert scores[2] < min(scores[:2]) - 0.05
    assert search.best_params_["linearclassifier__lam"] in (0.0, 0.01)
    assert search.best_score_ > 0.9
    assert set(search.predict(X[:20])) <= set(y)


def test_cross_val_score_mlp_on_digits():
    X, y = _digits()
    pipe = make_pipeline(StandardScaler(), MLPClassifier((64,), n_batch=32, max_iter=12, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.9


def test_fitted_state_history_and_determinism():
    X, y = _digits()
    X = StandardScaler().fit_transform(X)
    a = MLPClassifier((32,), max_iter=4, random_state=3).fit(X, y)
    b = MLPClassifier((32,), max_iter=4, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert list(a.classes_) == sorted(set(y)) and a.n_features_in_ == 64
    assert a.n_iter_ == 4 and a.t_ == 4 * int(np.ceil(len(y) / 100))
    assert a.model_.dtype == np.float32
    assert a.history_["step"][-1] == a.t_ and len(a.history_) == 5  # step 0 and each epoch
    assert a.history_["train_accuracy"][-1] > a.history_["train_accuracy"][0]
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.predict(X), a.predict(X))


def test_warm_start_and_partial_fit_continue_training():
    X, y = _digits()
    X = StandardScaler().fit_transform(X)
    est = LinearClassifier(eta=0.01, max_iter=1, warm_start=True, random_state=0).fit(X, y)
    first = est.score(X, y)
    W0 = est.model_.layers[0].params["W"].copy()
    for _ in range(5):
        est.fit(X, y)
    assert est.n_iter_ == 6 and est.history_["step"][-1] == est.t_
    assert not np.array_equal(W0, est.model_.layers[0].params["W"]) and est.score(X, y) > first
    # the same six epochs in one fit give the same parameters (the schedule and sampling continue)
    once = LinearClassifier(eta=0.01, max_iter=6, random_state=0).fit(X, y)
    np.testing.assert_allclose(once.model_.layers[0].params["W"], est.model_.layers[0].params["W"], rtol=1e-5)

    pf = MLPClassifier((32,), learning_rate="constant", eta=0.05, n_batch=20, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        pf.partial_fit(X[:100], y[:100])
    for i in range(0, len(y), 300):
        pf.partial_fit(X[i:i + 300], y[i:i + 300], classes=np.unique(y))
    assert pf.n_iter_ == 6 and pf.score(X, y) > 0.85
    with pytest.raises(ValueError, match="not in classes_"):
        pf.partial_fit(X[:3], np.array(["eleven", "one", "two"]))


@pytest.mark.parametrize("params, message", [
    ({"lam": -1.0}, "  lam: Input should be greater than or equal to 0"),
    ({"loss": "hinge"}, "  loss: Input should be 'cross_entropy', 'svm' or 'bce'"),
    ({"n_batch": 0}, "  n_batch: "),
    ({"learning_rate": "adaptive"}, "  learning_rate: "),
    ({"max_iter": "ten"}, "  max_iter: "),
])
def test_bad_hyper_parameters_name_the_culprit(params, message):
    X, y = _digits()
    with pytest.raises(ValueError) as e:
        LinearClassifier(**params).fit(X[:50], y[:50])
    assert message in str(e.value) and "LinearClassifier hyper-parameters" in str(e.value)


def test_svm_has_no_probabilities_and_binary_decision_is_one_column():
    X, y = _digits()
    keep = np.isin(y, ["one", "seven"])
    X, y = StandardScaler().fit_transform(X[keep]), y[keep]
    svm = LinearClassifier("svm", eta=0.01, max_iter=5, random_state=0).fit(X, y)
    assert not hasattr(svm, "predict_proba")
    d = svm.decision_function(X)
    assert d.shape == (len(y),)
    np.testing.assert_array_equal(svm.classes_[(d > 0).astype(int)], svm.predict(X))
    assert svm.score(X, y) > 0.95


@pytest.mark.parametrize("make", [
    lambda: LinearClassifier(eta=0.05, n_batch=20, max_iter=5, random_state=0),
    lambda: LinearClassifier("bce", eta=0.1, n_batch=20, max_iter=5, random_state=0),
    lambda: MLPClassifier((16, 8), dropout=0.9, learning_rate="constant", eta=0.05, n_batch=20, max_iter=5,
                          optimizer="momentum", random_state=0),
])
def test_predictions_do_not_depend_on_the_batch(make):
    """A row's prediction is the same alone, in odd-sized batches and in the whole set (float64: to
    rounding), whatever BLAS kernel the CPU gets: float32 products round differently with the batch."""
    X, y = _digits()
    X = StandardScaler().fit_transform(X).astype(np.float32)
    est = make().fit(X[:600], y[:600])
    methods = [m for m in ("decision_function", "predict_proba") if hasattr(est, m)]
    whole = {m: getattr(est, m)(X) for m in methods}
    labels = est.predict(X)
    for size in (1, 7, 33, 257):
        for start in range(0, 300, size if size > 1 else 37):
            part = slice(start, start + size)
            for m in methods:
                np.testing.assert_allclose(getattr(est, m)(X[part]), whole[m][part], rtol=1e-12, atol=1e-14)
            np.testing.assert_array_equal(est.predict(X[part]), labels[part])
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(est.decision_function(X[order]), whole["decision_function"][order],
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make, param", [
    (lambda: MLPClassifier(hidden=(0,)), "hidden"),
    (lambda: MLPClassifier(hidden=(16, -2)), "hidden"),
    (lambda: MLPClassifier(hidden="50"), "hidden"),
    (lambda: MLPClassifier(dropout=0.0), "dropout"),
    (lambda: MLPClassifier(dropout=1.5), "dropout"),
    (lambda: MLPClassifier(n_cycles=0), "n_cycles"),
    (lambda: MLPClassifier(n_s=0), "n_s"),
    (lambda: MLPClassifier(eta_min=0.2, eta_max=0.1), "eta_min"),
    (lambda: MLPClassifier(momentum=1.0, optimizer="momentum"), "momentum"),
    (lambda: MLPClassifier(init="zeros"), "init"),
    (lambda: LinearClassifier(eta=0.0), "eta"),
    (lambda: LinearClassifier(n_batch=1.5), "n_batch"),
    (lambda: LinearClassifier(max_iter=0), "max_iter"),
    (lambda: LinearClassifier(n_updates=0), "n_updates"),
    (lambda: LinearClassifier(optimizer="lbfgs"), "optimizer"),
    (lambda: LinearClassifier(shuffle="no"), "shuffle"),
    (lambda: LinearClassifier(warm_start=2), "warm_start"),
    (lambda: LinearClassifier(random_state="seed"), "random_state"),
])
def test_every_parameter_domain_is_checked_with_a_value_error(make, param):
    X, y = _digits()
    with pytest.raises(ValueError) as e:
        make().fit(X[:60], y[:60])
    assert param in str(e.value)
