"""handgrad's scikit-learn estimators against scikit-learn's own, with matched settings.

Two data sets: scikit-learn's digits (1,797 8x8 images; a stratified 2/3 - 1/3 split, standardised
on the training part) and CIFAR-10's A1 split (data_batch_1 for training, test_batch for testing,
standardised float32 from ``handgrad.tasks.load_data``; needs HANDGRAD_DATA). Three pairs:

- ``handgrad.sklearn.LinearClassifier`` (softmax + cross-entropy, mini-batch SGD, constant eta)
  against ``sklearn.linear_model.LogisticRegression`` (the same multinomial objective and the same
  L2 term, minimised by L-BFGS: C = 1 / (2 * lambda * n_train));
- the same handgrad classifier against ``sklearn.linear_model.SGDClassifier(loss="log_loss")``
  (one-vs-rest logistic regression by per-example SGD): the same epochs and shuffling, alpha =
  2 * lambda, and eta0 = eta / n_batch so each example moves the weights as far per epoch;
- ``handgrad.sklearn.MLPClassifier`` (one ReLU hidden layer, constant eta, plain SGD) against
  ``sklearn.neural_network.MLPClassifier(solver="sgd", momentum=0)``: the same hidden size,
  batch size, learning rate and epochs (no early stopping), alpha = 2 * lambda * n_batch (sklearn
  divides its L2 term by the batch size).

Everything runs in one process; the two sides of a pair alternate for ``--repeats`` rounds (order
swapped every round) and the script prints median fit times, the ratio handgrad / sklearn, and the
test accuracies. Fit time only: data loading and standardisation are shared and not timed.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sklearn.py [--repeats 3]
        [--only digits|cifar] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

#: per data set: (lambda, eta, n_batch, epochs) of the linear pair, and of the MLP pair (+ hidden)
SETTINGS = {
    "digits": {"linear": dict(lam=1e-3, eta=0.05, n_batch=32, epochs=30),
               "mlp": dict(lam=1e-3, eta=0.05, n_batch=32, epochs=30, hidden=50)},
    "cifar10-a1": {"linear": dict(lam=0.1, eta=0.001, n_batch=100, epochs=40),
                   "mlp": dict(lam=0.01, eta=0.01, n_batch=100, epochs=20, hidden=50)},
}


def load_digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=1 / 3, stratify=y, random_state=0)
    sc = StandardScaler().fit(X_tr)
    return (sc.transform(X_tr).astype(np.float32), y_tr, sc.transform(X_te).astype(np.float32), y_te)


def load_cifar_a1():
    from handgrad.config import from_dict
    from handgrad.tasks import load_data as prepare_data

    data = prepare_data(from_dict({"data": {"dataset": "cifar10", "split": "a1"}}))
    return data.X_train, data.y_train, data.X_test, data.y_test


def estimators(s_lin: dict, s_mlp: dict, n_train: int) -> list[tuple[str, object, str, object]]:
    """(handgrad name, estimator, sklearn name, estimator) for the three pairs."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.neural_network import MLPClassifier as SkMLP

    from handgrad.sklearn import LinearClassifier, MLPClassifier

    lin = LinearClassifier(lam=s_lin["lam"], eta=s_lin["eta"], n_batch=s_lin["n_batch"],
                           max_iter=s_lin["epochs"], random_state=0)
    logreg = LogisticRegression(C=1.0 / (2 * s_lin["lam"] * n_train), max_iter=1000)
    sgd = SGDClassifier(loss="log_loss", alpha=2 * s_lin["lam"], learning_rate="constant",
                        eta0=s_lin["eta"] / s_lin["n_batch"], max_iter=s_lin["epochs"], tol=None,
                        shuffle=True, random_state=0)
    mlp = MLPClassifier((s_mlp["hidden"],), lam=s_mlp["lam"], learning_rate="constant", eta=s_mlp["eta"],
                        n_batch=s_mlp["n_batch"], max_iter=s_mlp["epochs"], random_state=0)
    skmlp = SkMLP((s_mlp["hidden"],), solver="sgd", learning_rate="constant", learning_rate_init=s_mlp["eta"],
                  momentum=0.0, nesterovs_momentum=False, batch_size=s_mlp["n_batch"],
                  alpha=2 * s_mlp["lam"] * s_mlp["n_batch"], max_iter=s_mlp["epochs"], tol=0.0,
                  n_iter_no_change=s_mlp["epochs"] + 1, shuffle=True, random_state=0)
    return [("handgrad LinearClassifier", lin, "LogisticRegression (lbfgs)", logreg),
            ("handgrad LinearClassifier", lin, "SGDClassifier (log_loss)", sgd),
            ("handgrad MLPClassifier", mlp, "MLPClassifier (sgd)", skmlp)]


def bench_pair(a_name, a_est, b_name, b_est, data, repeats: int) -> dict:
    from sklearn.base import clone

    X_tr, y_tr, X_te, y_te = data
    fits = {}

    def fitter(est):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning: the budget is fixed on purpose
                return clone(est).fit(X_tr, y_tr)
        return run

    times, last = common.alternate({"handgrad": fitter(a_est), "sklearn": fitter(b_est)}, repeats)
    s = common.summary(times, "handgrad", "sklearn")
    for key, est in last.items():
        fits[key] = {"test_accuracy": float(est.score(X_te, y_te)),
                     "n_iter": int(np.max(est.n_iter_))}
    out = {"handgrad_estimator": a_name, "sklearn_estimator": b_name, "params": {
        "handgrad": {k: v for k, v in a_est.get_params().items() if v is not None},
        "sklearn": {k: v for k, v in b_est.get_params().items() if v is not None}},
        "fit_seconds": s, **{f"{k}_test_accuracy": v["test_accuracy"] for k, v in fits.items()},
        **{f"{k}_n_iter": v["n_iter"] for k, v in fits.items()}}
    print(f"\n== {a_name} vs {b_name}")
    print(f"  fit time median: handgrad {s['handgrad']['median']:.3f} s, sklearn {s['sklearn']['median']:.3f} s, "
          f"ratio {s['ratio']:.3f} (per-round {s['paired_ratio']:.3f})")
    print(f"  test accuracy: handgrad {100 * fits['handgrad']['test_accuracy']:.2f}%, "
          f"sklearn {100 * fits['sklearn']['test_accuracy']:.2f}% (sklearn n_iter_ {fits['sklearn']['n_iter']})",
          flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=["digits", "cifar"], default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    import sklearn

    print(f"machine: {common.machine_line()}; scikit-learn {sklearn.__version__}", flush=True)
    results = {}
    sets = {"digits": load_digits_split, "cifar10-a1": load_cifar_a1}
    for name, loader in sets.items():
        if args.only and not name.startswith(args.only):
            continue
        data = loader()
        print(f"\n#### {name}: {len(data[1])} training, {len(data[3])} test examples, {data[0].shape[1]} features",
              flush=True)
        st = SETTINGS[name]
        results[name] = [bench_pair(*pair, data, args.repeats)
                         for pair in estimators(st["linear"], st["mlp"], len(data[1]))]
    if args.json:
        args.json.write_text(json.dumps({"machine": common.machine_line(), "results": results}, indent=2,
                                        default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
