"""Schedules, sampling, the trainer, configs and the experiment pipeline on fake data."""

import json

import numpy as np
import pytest

from handgrad import repeat, schedules, tasks
from handgrad.tasks import runs
from handgrad.config import from_dict, load_config, parse_overrides
from handgrad.batches import EpochSampler
from handgrad.errors import HandgradError
from handgrad.networks import linear_classifier
from handgrad.optim import SGD, Adam, Momentum
from handgrad.training import Trainer


def test_schedules():
    assert schedules.Constant(0.1)(1000) == 0.1
    s = schedules.StepDecay(0.05, 0.1, every=10, steps_per_epoch=100)
    assert s(999) == 0.05 and np.isclose(s(1000), 0.005) and np.isclose(s(2000), 0.0005)
    e = schedules.ExponentialDecay(1.0, 0.9, steps_per_epoch=10)
    assert e(9) == 1.0 and np.isclose(e(10), 0.9) and np.isclose(e(25), 0.81)
    c = schedules.Cyclical(1e-5, 1e-1, n_s=500)
    assert c(0) == 1e-5 and np.isclose(c(500), 1e-1) and np.isclose(c(1000), 1e-5)
    assert np.isclose(c(250), (1e-5 + 1e-1) / 2) and np.isclose(c(750), (1e-5 + 1e-1) / 2)
    assert np.isclose(c(1500), 1e-1)


def test_balanced_sampler_draws_the_smallest_class_size_from_each():
    y = np.array([0] * 50 + [1] * 7 + [2] * 20)
    s = EpochSampler(y, "balanced")
    idx = s.indices(np.random.default_rng(0))
    assert s.epoch_size == 21 and len(idx) == 21 and len(set(idx)) == 21
    assert np.array_equal(np.bincount(y[idx]), [7, 7, 7])
    assert EpochSampler(y, "sequential").indices(np.random.default_rng(0)) is None


def _toy(rng, n=400, d=10, k=3):
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X @ rng.normal(size=(d, k))).argmax(axis=1)
    return X, y


@pytest.mark.parametrize("opt", [SGD(), Momentum(0.9), Adam()])
def test_trainer_learns_and_records(opt, rng):
    X, y = _toy(rng)
    model = linear_classifier(10, 3, rng=rng)
    eta = 0.01 if isinstance(opt, Adam) else 0.1
    h = Trainer(model, optimizer=opt, schedule=schedules.Constant(eta), n_batch=40,
                sampling="shuffle").fit(X, y, X, y, n_epochs=5)
    assert h["step"] == [0, 10, 20, 30, 40, 50]
    assert h.last("train_loss") < h["train_loss"][0]
    assert h.last("val_accuracy") > 0.8


def test_same_seed_same_numbers_and_keep_best(rng):
    X, y = _toy(rng)
    runs = []
    for _ in range(2):
        model = linear_classifier(10, 3, rng=np.random.default_rng(3))
        h = Trainer(model, schedule=schedules.Constant(2.0), n_batch=20, sampling="shuffle", keep_best=True,
                    record_every=3, rng=np.random.default_rng(4)).fit(X, y, X[:50], y[:50], n_updates=30)
        runs.append((h.to_dict(), model.copy_params()))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    h = runs[0][0]["columns"]
    best = int(np.argmax(h["val_accuracy"]))
    assert runs[0][0]["best_step"] == h["step"][best]


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(HandgradError, match=r"train\.etta: unknown key"):
        from_dict({"train": {"etta": 0.1}}, "x.toml")
    with pytest.raises(HandgradError, match=r"train\.n_batch: .*integer.*'many'"):
        from_dict({"train": {"n_batch": "many"}}, "x.toml")
    with pytest.raises(HandgradError, match="only one of n_epochs"):
        from_dict({"train": {"n_epochs": 2, "n_updates": 5}})
    with pytest.raises(HandgradError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\neta = ")
    with pytest.raises(HandgradError, match="cannot parse"):
        load_config(bad)
    cfg = from_dict({}, overrides=parse_overrides(["train.lambda=0.5", "model.loss=svm", "train.n_epochs=3"]))
    assert (cfg.train.lam, cfg.model.loss, cfg.train.n_epochs) == (0.5, "svm", 3)
    with pytest.raises(HandgradError, match="key=value"):
        parse_overrides(["train.eta"])


def test_plan_converts_cycles_and_records():
    cfg = from_dict({"train": {"schedule": "cyclical", "n_cycles": 2, "n_s_factor": 2, "records_per_cycle": 10}})
    p = tasks.plan(cfg.train, epoch_size=10_000, n_train=10_000)
    assert p.n_s == 200 and p.n_updates == 800 and p.record_every == 40


def test_experiment_run_writes_a_complete_run_folder(fake_cifar, tmp_path):
    cfg = from_dict({"name": "t", "train": {"n_epochs": 3, "eta": 0.01, "n_batch": 20}})
    m = runs.run(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for f in ("config.json", "history.json", "metrics.json", "model.npz", "model.json",
              "figures/learning_curves.png", "figures/templates.png", "figures/probability_histograms.png"):
        assert (run / f).is_file(), f
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["test_accuracy"] == m["test_accuracy"] and 0 <= m["test_accuracy"] <= 1 and m["seconds"] > 0
    assert m["train_accuracy"] > 0.3  # the fake classes differ in mean colour
    from handgrad.modelfile import load as load_model

    model, extra, meta = load_model(run)
    data = tasks.load_data(cfg)
    assert np.isclose(model.evaluate(data.X_test, data.y_test)["accuracy"], m["test_accuracy"])
    assert set(extra) == {"mean", "std", "scale"} and meta["classes"][0] == "airplane"


def test_svm_run_has_no_histogram(fake_cifar, tmp_path):
    cfg = from_dict({"model": {"loss": "svm"}, "train": {"n_epochs": 1, "n_batch": 30}})
    runs.run(cfg, tmp_path / "svm", progress=False)
    assert not (tmp_path / "svm/figures/probability_histograms.png").exists()


def test_repeat_reports_mean_and_std(fake_cifar, tmp_path):
    cfg = from_dict({"model": {"kind": "mlp", "hidden": [8]},
                     "train": {"n_updates": 20, "schedule": "cyclical", "n_s": 5, "n_batch": 30}})
    m = repeat.run_repeated(cfg, tmp_path / "rep", 3, progress=False)
    assert len(m["test_accuracy_runs"]) == 3 and m["seeds"] == [0, 1, 2]
    assert np.isclose(m["test_accuracy_mean"], np.mean(m["test_accuracy_runs"]))
    assert np.isclose(m["test_accuracy_std"], np.std(m["test_accuracy_runs"], ddof=1))
    assert (tmp_path / "rep/run-02/metrics.json").is_file()


def test_weight_averaging_puts_the_mean_of_the_iterates_in_the_model(rng):
    from handgrad.callbacks import Callback, WeightAveraging

    X, y = _toy(rng)
    seen = []

    class Spy(Callback):
        def on_step_end(self, trainer, step):
            if step > 6:
                seen.append(trainer.model.copy_params())

    model = linear_classifier(10, 3, rng=np.random.default_rng(0))
    Trainer(model, schedule=schedules.Constant(0.5), n_batch=50, callbacks=[Spy(), WeightAveraging(7)]
            ).fit(X, y, n_updates=12)
    for k, v in model.get_params().items():
        assert np.allclose(v, np.mean([p[k] for p in seen], axis=0), atol=1e-6)
    with pytest.raises(HandgradError, match="average_from and keep_best"):
        from_dict({"train": {"average_from": 0.5, "keep_best": True}})
