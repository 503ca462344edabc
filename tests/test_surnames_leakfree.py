"""The leak-free surnames protocol (grouped split, de-duplication), the n-gram features and their sparse
linear model, ensembles, and ``handgrad predict --top / --file``, on small data written here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from handgrad import tasks
from handgrad.tasks import gradchecks, runs
from handgrad.cli import app
from handgrad.config import load_config
from handgrad.datasets.names.grouped import course_leak, deduplicate, grouped_split, holdout_size
from handgrad.datasets.names.ngrams import CharNgrams, char_ngrams
from handgrad.datasets.names.files import load_surnames
from handgrad.errors import HandgradError
from handgrad.gradcheck import check_model
from handgrad.networks import linear_classifier
from test_convnet_training import CLASSES, _config, tiny_surnames  # noqa: F401 (fixture)

runner = CliRunner()
GROUPED = "split = \"grouped\"\nholdout_min = 2\n"


def _grouped_config(tmp_path, extra_data: str = "", rest: str = ""):
    p = _config(tmp_path, rest)
    p.write_text(p.read_text().replace('dataset = "surnames"\n', 'dataset = "surnames"\n' + GROUPED + extra_data))
    return p


# -- de-duplication and the grouped split ---------------------------------------------------------
def _write_course(root, rows, classes, val):
    (root / "surnames").mkdir(parents=True)
    (root / "surnames" / "ascii_names.txt").write_text("".join(f"{n} {y + 1}\n" for n, y in rows))
    (root / "surnames" / "category_labels.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(classes, 1)))
    (root / "surnames" / "Validation_Inds.txt").write_text(" ".join(str(i + 1) for i in val) + "\n")
    return load_surnames(root / "surnames")


def test_dedup_and_leak_counts_on_a_small_file(tmp_path):
    rows = [("Abel", 0), ("abel", 0), ("Abel", 1), ("Khoury", 0), ("Khoury", 0), ("Khoury", 0),
            ("Smith", 1), ("Nahas", 0), ("Smith", 1), ("Brown", 1)]
    data = _write_course(tmp_path, rows, ["Arabic", "English"], val=[2, 4, 9])  # Abel/En, Khoury/Ar, Brown/En
    names, labels, dup = deduplicate(data.names, data.labels, 2)
    assert names == ["abel", "abel", "khoury", "smith", "nahas", "brown"]
    assert labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert dup.tolist() == [3, 1]  # abel/Ar once, khoury/Ar twice; smith/En once
    leak = course_leak(data.names, data.labels, data.val_idx, 2)
    # abel/En: the string is in training (as Arabic), not the pair; khoury/Ar: the pair is in training
    assert leak[0].tolist() == [1, 1] and leak[1].tolist() == [1, 0]


def _random_names(rng, n_classes=5, sizes=(60, 35, 25, 22, 80)):
    rows = []
    for y, n in enumerate(sizes[:n_classes]):
        rows += [("".join(rng.choice(list("abcdefgh"), 5)) + "xyzuv"[y], y) for _ in range(n)]
    rows += [(rows[i][0], (rows[i][1] + 1) % n_classes) for i in range(0, 60, 7)]  # multi-language names
    rows += rows[:30]  # duplicate lines
    return rows


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_split_keeps_names_apart_and_every_language_everywhere(seed):
    rng = np.random.default_rng(seed)
    rows = _random_names(rng)
    names, labels = [n for n, _ in rows], np.array([y for _, y in rows])
    gs = grouped_split(names, labels, 5, seed=seed, fraction=0.2, min_per_class=3, max_per_class=12)
    parts = [gs.subset(p) for p in ("train", "val", "test")]
    sets = [set(n) for n, _ in parts]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    for _, y in parts:
        assert set(y.tolist()) == set(range(5))
    pairs = list(zip(gs.names, gs.labels.tolist()))
    assert len(pairs) == len(set(pairs)) == len(set(zip(names, labels.tolist())))
    assert gs.n_duplicates == len(rows) - len(pairs)
    n_distinct = np.bincount(gs.labels, minlength=5)
    for y in range(5):  # each language gets its size in val and test (multi-language groups may add one)
        want = holdout_size(int(n_distinct[y]), 0.2, 3, 12)
        assert gs.sizes["val_per_class"][y] == want and gs.sizes["test_per_class"][y] == want
    again = grouped_split(names, labels, 5, seed=seed, fraction=0.2, min_per_class=3, max_per_class=12)
    assert np.array_equal(again.part, gs.part)


def test_grouped_split_small_languages_keep_a_training_name_and_too_small_is_an_error():
    names = [f"n{i}" for i in range(30)] + ["a", "b", "c", "a"]
    labels = np.array([0] * 30 + [1] * 4)
    gs = grouped_split(names, labels, 2, min_per_class=5)
    assert gs.sizes["val_per_class"] == [6, 1] and gs.sizes["train_per_class"] == [18, 1]
    with pytest.raises(HandgradError, match="too few distinct names.*: 1"):
        grouped_split(names[:32], labels[:32], 2)


def test_prepare_grouped_split_has_a_test_part_and_logs_its_summary(tiny_surnames, tmp_path, caplog):
    with caplog.at_level("INFO", logger="handgrad"):
        data = tasks.load_data(load_config(_grouped_config(tmp_path)))
    assert "duplicate lines removed" in caplog.text
    assert data.meta["split"]["summary"] in caplog.text
    assert data.X_test is not None and set(data.y_test.tolist()) == set(range(4))
    s = data.meta["split"]
    assert s["kind"] == "grouped" and s["n_pairs"] == len(data.y_train) + len(data.y_val) + len(data.y_test)
    assert sum(s["test_per_class"]) == len(data.y_test)
    json.dumps(data.meta)


def test_split_must_fit_the_dataset(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[data]\ndataset = "cifar10"\nsplit = "grouped"\n')
    with pytest.raises(HandgradError, match=r"data.split: Input should be 'a1' or 'all' \(got 'grouped'\)"):
        load_config(p)
    p.write_text('[data]\ndataset = "surnames"\n')
    assert load_config(p).data.split == "course"


# -- n-gram features and the sparse linear model --------------------------------------------------
def test_char_ngrams_pad_words_like_char_wb():
    assert char_ngrams("ab", 1, 2) == [" ", "a", "b", " ", " a", "ab", "b "]
    assert char_ngrams("de la", 3, 4) == [" de", "de ", " de ", " la", "la ", " la "]
    assert char_ngrams("x", 4, 5) == [" x "]


def test_ngram_rows_are_unit_tfidf_and_ignore_unseen_ngrams():
    f = CharNgrams(1, 3).fit(["abc", "abd", "xyz"])
    X = f.transform(["abc", "qqq"])
    assert X.shape == (2, f.n_features) and X.dtype == np.float32
    assert np.isclose(np.sqrt(X[0].multiply(X[0]).sum()), 1.0)
    assert X[1].nnz == 1  # only " " (the padding unigram) was seen in training
    g = CharNgrams.from_state(f.config(), f.state())
    assert (g.transform(["abc"]) != f.transform(["abc"])).nnz == 0


def test_sparse_dense_layer_passes_the_gradient_check(rng):
    import scipy.sparse as sp

    X = sp.random(6, 40, density=0.2, random_state=0, format="csr", dtype=np.float64)
    y = rng.integers(0, 3, 6)
    model = linear_classifier(40, 3, lam=0.5, rng=rng).astype(np.float64)
    dense = linear_classifier(40, 3, lam=0.5, rng=np.random.default_rng(0)).astype(np.float64)
    dense.set_params(model.get_params())
    assert max(r.max_rel for r in check_model(model, X, y)) < 1e-6
    model.loss_and_grads(X, y, train=False)
    dense.loss_and_grads(X.toarray(), y, train=False)
    np.testing.assert_allclose(model.layers[0].grads["W"], dense.layers[0].grads["W"], rtol=1e-12)


NGRAM = 'features = "ngrams"\n'
LINEAR = ('[model]\nkind = "linear"\n[train]\noptimizer = "adam"\neta = 0.05\nn_batch = 20\nn_updates = 200\n'
          'record_every = 100\nsampling = "balanced"\n[gradcheck]\nn_dims = 50\nbatch_sizes = [2]\n')


def _ngram_config(tmp_path, name="ngrams.toml"):
    p = tmp_path / name
    p.write_text('name = "tiny-ngrams"\n[data]\ndataset = "surnames"\n' + GROUPED + NGRAM + LINEAR)
    return p


def test_ngram_linear_trains_gradchecks_and_predicts(tiny_surnames, tmp_path):
    cfg = load_config(_ngram_config(tmp_path))
    assert all(c["max_rel"] < 1e-6 for c in gradchecks.gradcheck_cases(cfg))
    out = tmp_path / "run"
    m = runs.run(cfg, out, figures=False)
    assert m["test_balanced_accuracy"] > 0.6 and m["val_balanced_accuracy"] > 0.6
    r = runner.invoke(app, ["predict", str(out), "ivanov", "mcbride", "--top", "2"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].split()[:2] == ["ivanov", "Russian"] and len(lines[0].split()) == 5


# -- ensembles and predict ------------------------------------------------------------------------
def test_ensemble_of_seeds_and_the_ngram_model(tiny_surnames, tmp_path):
    _ngram_config(tmp_path, "member.toml")
    p = _grouped_config(tmp_path, rest='[ensemble]\nseeds = 2\nmembers = ["member.toml"]\nmembers_weight = 0.4\n')
    cfg = load_config(p, {"train.n_updates": 100})
    out = tmp_path / "ens"
    with pytest.raises(HandgradError, match="is an ensemble"):
        runs.run(cfg, out)
    from handgrad.tasks.ensemble import run_config

    m = run_config(cfg, out, figures=False)
    assert [e["member"] for e in m["ensemble"]] == ["seed-0", "seed-1", "tiny-ngrams"]
    assert [e["weight"] for e in m["ensemble"]] == pytest.approx([0.3, 0.3, 0.4])
    assert 0 <= m["test_balanced_accuracy"] <= 1 and (out / "ensemble.json").is_file()
    from handgrad.predict import predict_names

    res = predict_names(out, ["ivanov", "ramirez"], top=3)
    assert sum(res[0]["probabilities"].values()) == pytest.approx(1.0)
    assert [c for c, _ in res[0]["top"]][0] == res[0]["predicted"] and len(res[0]["top"]) == 3
    # the ensemble's probability is the weighted mean of its members'
    parts = [predict_names(out / "members" / n, ["ivanov"])[0]["probabilities"]["Russian"]
             for n in ("seed-0", "seed-1", "tiny-ngrams")]
    assert res[0]["probabilities"]["Russian"] == pytest.approx(0.3 * parts[0] + 0.3 * parts[1] + 0.4 * parts[2])
    from handgrad.config import load_config as reload

    assert reload(out / "config.json").ensemble.members  # a run folder's config.json reads back
    from handgrad.serve import model as served  # serve reads the ensemble like predict

    sm = served.load(out)
    assert served.predict_names(sm, ["ivanov"])[0]["probabilities"] == pytest.approx(res[0]["probabilities"])


def test_ensemble_members_follow_the_ensembles_split(tiny_surnames, tmp_path):
    from handgrad.tasks.ensemble import member_configs

    (tmp_path / "member.toml").write_text('name = "m"\n[data]\ndataset = "surnames"\n' + NGRAM + LINEAR)
    p = _grouped_config(tmp_path, rest='[ensemble]\nmembers = ["member.toml"]\n')
    members = member_configs(load_config(p, {"data.split_seed": 3}))
    assert [(m.data.split, m.data.split_seed, m.data.holdout_min, m.data.features) for _, m, _ in members] == [
        ("grouped", 3, 2, "indices"), ("grouped", 3, 2, "ngrams")]
    (tmp_path / "cifar.toml").write_text('name = "c"\n[data]\ndataset = "cifar10"\n')
    p.write_text(p.read_text().replace("member.toml", "cifar.toml"))
    with pytest.raises(HandgradError, match="same data"):
        member_configs(load_config(p))
    p.write_text(p.read_text().replace("cifar.toml", "missing.toml"))
    with pytest.raises(HandgradError, match="missing.toml.*not found"):
        load_config(p)


@pytest.fixture
def small_run(tiny_surnames, tmp_path):
    out = tmp_path / "run"
    runs.run(load_config(_grouped_config(tmp_path), {"train.n_updates": 60}), out, figures=False)
    return out


def test_predict_top_file_and_stdin(small_run, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("Ivanov\n\n  ramirez \nmcbride\n")
    r = runner.invoke(app, ["predict", str(small_run), "--file", str(names), "--top", "3", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert [x["name"] for x in res] == ["Ivanov", "ramirez", "mcbride"]
    for x in res:
        ps = [p for _, p in x["top"]]
        assert len(ps) == 3 and ps == sorted(ps, reverse=True) and x["top"][0][0] == x["predicted"]
    r2 = runner.invoke(app, ["predict", str(small_run), "lee", "--file", "-", "--top", "1"], input="Ivanov\nramirez\n")
    assert r2.exit_code == 0, r2.output
    lines = r2.stdout.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == ["lee", "Ivanov", "ramirez"] and all(len(ln.split()) == 3 for ln in lines)
    table = runner.invoke(app, ["predict", str(small_run), "--file", str(names)])
    assert table.exit_code == 0 and table.stdout.splitlines()[0].split()[1:] == ["Ivanov", "ramirez", "mcbride"]


@pytest.mark.parametrize("args,shown", [
    (["--file", "nope.txt"], "missing names file nope.txt"),
    ([], "give names as arguments or with --file"),
    (["--top", "0", "lee"], "--top must be at least 1"),
    (["ivan-ov", "--top", "2"], "outside the model's alphabet"),
])
def test_predict_input_errors_are_clear(small_run, tmp_path, monkeypatch, args, shown):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["predict", str(small_run), *args])
    assert r.exit_code == 2 and shown in r.stderr and "Traceback" not in r.output


def test_predict_empty_stdin_is_a_clear_error(small_run):
    r = runner.invoke(app, ["predict", str(small_run), "--file", "-"], input="\n  \n")
    assert r.exit_code == 2 and "no names in standard input" in r.stderr


# -- power sampling -----------------------------------------------------------------------------
def test_power_sampling_sizes_and_weights(rng):
    from handgrad.batches import EpochSampler

    y = np.repeat([0, 1, 2], [400, 100, 25])
    s = EpochSampler(y, "power", 0.5)
    assert s.counts.tolist() == [300, 150, 75] and s.epoch_size == 525  # N * sqrt(n_c) / sum sqrt(n)
    idx = s.indices(rng)
    assert np.bincount(y[idx]).tolist() == [300, 150, 75]
    assert len(set(idx[y[idx] == 1].tolist())) == 100  # whole passes before repeats
    # expected weight per class in an epoch is the same for every class: the balanced objective
    per_class = [s.weights[idx][y[idx] == c].sum() for c in range(3)]
    assert per_class == pytest.approx([per_class[0]] * 3)
    assert EpochSampler(y, "power", 1.0).counts.tolist() == [400, 100, 25]


# -- global max pooling ---------------------------------------------------------------------------
def test_global_max_pool_forward_backward_and_gradient(rng):
    from handgrad.gradcheck import numerical_gradient, relative_error
    from handgrad.nn import GlobalMaxPool1D

    N, L, C = 4, 6, 3
    x = rng.normal(size=(N, L * C))
    layer = GlobalMaxPool1D(C, L)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, x.reshape(N, L, C).max(axis=1))
    R = rng.normal(size=y.shape)
    dx = layer.backward(R)
    assert np.array_equal(layer.backward(R), dx)  # assigns, never accumulates
    gn = numerical_gradient(lambda: np.sum(layer.forward(x) * R), x)
    assert relative_error(dx, gn).max() < 1e-6


def test_convnet_with_max_pool_passes_the_gradient_check(tiny_surnames, tmp_path):
    cfg = load_config(_grouped_config(tmp_path), {"model.pool": "max", "model.bias": True, "model.dropout": 0.5,
                                                  "model.padding": "same", "gradcheck.convs": [[3, 4], [3, 4]],
                                                  "gradcheck.lambdas": [0.0, 1.0]})
    cases = gradchecks.gradcheck_cases(cfg)
    assert len(cases) == 2 and all(c["max_rel"] < 1e-6 for c in cases)
    assert [r["param"] for r in cases[0]["rows"]] == ["0.F", "0.b", "2.F", "2.b", "5.W", "5.b"]  # no dropout layer in gradient checks


# -- the real course files ------------------------------------------------------------------------
@pytest.mark.realdata
def test_realdata_grouped_split_counts():
    import os
    from pathlib import Path

    root = Path(os.environ.get("HANDGRAD_DATA", "")) / "surnames"
    if not (root / "ascii_names.txt").is_file():
        pytest.skip("HANDGRAD_DATA has no surnames/")
    data = load_surnames(root)
    gs = grouped_split(data.names, data.labels, data.K, val_idx=data.val_idx, classes=data.classes)
    assert (gs.n_lines, len(gs.names), gs.n_duplicates, gs.n_multilabel_names) == (20050, 17992, 2058, 480)
    assert gs.duplicates_per_class[data.classes.index("Arabic")] == 2000 - 108
    assert [len(gs.indices(p)) for p in ("train", "val", "test")] == [15196, 1398, 1398]
    sets = [set(gs.subset(p)[0]) for p in ("train", "val", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    leak = gs.course_leak_per_class
    assert int(leak[0].sum()) == 75 and int(leak[1].sum()) == 24
    assert leak[0, data.classes.index("Scottish")] == 14 and leak[1, data.classes.index("Arabic")] == 14


def test_char_noise_replaces_characters_only_inside_names(rng):
    from handgrad.augment import CharNoise

    X = np.full((200, 10), -1, dtype=np.int32)
    X[:, :6] = 3
    out = CharNoise(0.25, 28)(X, rng)
    assert (out[:, 6:] == -1).all() and (X[:, :6] == 3).all()  # padding kept, input untouched
    changed = (out[:, :6] != 3).mean()
    assert 0.18 < changed < 0.3 and out.max() < 28 and out.dtype == X.dtype


def test_shipped_predictor_and_ngram_configs():
    from pathlib import Path

    from handgrad.tasks.ensemble import member_configs

    root = Path(__file__).resolve().parents[1] / "configs" / "convnet"
    cfg = load_config(root / "predictor.toml")
    assert cfg.data.split == "grouped" and cfg.model.pool == "max" and cfg.is_ensemble
    members = member_configs(cfg)
    assert [n for n, _, _ in members] == ["seed-0", "seed-1", "seed-2", "seed-3", "ngram-linear"]
    assert [w for _, _, w in members] == pytest.approx([0.15] * 4 + [0.4])
    ng = members[-1][1]
    assert (ng.data.features, ng.model.kind, ng.data.split) == ("ngrams", "linear", "grouped")


def test_pooled_convnet_with_char_noise_saves_and_predicts(tiny_surnames, tmp_path):
    cfg = load_config(_grouped_config(tmp_path), {"model.pool": "max", "model.bias": True, "model.dropout": 0.5,
                                                  "train.char_noise": 0.1, "train.n_updates": 30})
    out = tmp_path / "pooled"
    runs.run(cfg, out, figures=False)
    r = runner.invoke(app, ["predict", str(out), "ivanov", "--top", "1"])
    assert r.exit_code == 0, r.output
    assert r.stdout.split()[0] == "ivanov" and r.stdout.split()[1] in CLASSES
