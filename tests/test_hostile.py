"""Every file handgrad reads is hostile input: model folders, metrics, history, configs, ledgers,
manifests give one clear HandgradError naming the file; no pickle ever runs; Ctrl-C and diverging
runs end cleanly."""

from __future__ import annotations

import io as _io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from handgrad import io, readers, search, modelfile
from handgrad.config import read_run_config
from handgrad.cli import app
from handgrad.errors import HandgradError
from handgrad.model import Sequential as Model
from handgrad.networks import convnet, mlp
from procs import handgrad_process, press_ctrl_c

runner = CliRunner()


def _model_folder(tmp_path: Path, name: str = "run") -> Path:
    """A small ConvNet model folder as a surnames run writes it (alphabet, n_len, classes)."""
    folder = tmp_path / name
    model = convnet(5, 6, 3, [(3, 4)], rng=np.random.default_rng(0))
    modelfile.save(folder, model, arrays={"mean": np.zeros(3)},
                  meta={"dataset": "surnames", "alphabet": "abcde", "n_len": 6, "d": 5,
                        "classes": ["x", "y", "z"], "seed": 0})
    return folder


def _npz_bytes(**arrays) -> bytes:
    buf = _io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _edit_json(path: Path, fn) -> None:
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


# -- model folders: version, checksum, shapes ------------------------------------------------------

def test_model_round_trip_records_version_arrays_and_checksum(tmp_path):
    folder = _model_folder(tmp_path)
    info = json.loads((folder / "model.json").read_text())
    assert info["format_version"] == modelfile.FORMAT_VERSION
    assert info["arrays"]["param/0.F"] == {"dtype": "<f4", "shape": [5, 3, 4]}
    assert len(info["checksum"]) == 64
    model, extra, meta = modelfile.load(folder)
    assert model.layers[0].params["F"].shape == (5, 3, 4) and extra["mean"].shape == (3,)
    assert meta["classes"] == ["x", "y", "z"]


def test_model_without_a_version_is_read_as_version_1(tmp_path):
    folder = _model_folder(tmp_path)
    _edit_json(folder / "model.json", lambda d: [d.pop(k) for k in ("format_version", "arrays", "checksum")])
    model, _, _ = modelfile.load(folder)
    assert len(model.layers) == 3


def test_a_newer_format_version_is_refused(tmp_path):
    folder = _model_folder(tmp_path)
    _edit_json(folder / "model.json", lambda d: d.update(format_version=modelfile.FORMAT_VERSION + 1))
    with pytest.raises(HandgradError, match=r"model.json has model format version 2, written by a newer handgrad"):
        modelfile.load(folder)


def test_changed_arrays_fail_the_checksum(tmp_path):
    folder = _model_folder(tmp_path)
    arrays = modelfile.read_npz(folder / "model.npz")
    arrays["param/0.F"] = arrays["param/0.F"] + np.float32(0.5)
    (folder / "model.npz").write_bytes(_npz_bytes(**arrays))
    with pytest.raises(HandgradError, match="does not match the checksum"):
        modelfile.load(folder)


def test_json_must_describe_the_arrays(tmp_path):
    folder = _model_folder(tmp_path)
    _edit_json(folder / "model.json", lambda d: d["arrays"]["param/2.W"].update(shape=[3, 9]))
    with pytest.raises(HandgradError, match=r"array param/2.W is <f4 \[3, 16\], listed as <f4 \[3, 9\]"):
        modelfile.load(folder)


def test_from_config_refuses_a_parameter_of_the_wrong_shape():
    model = mlp(6, [5], 3, rng=np.random.default_rng(0))
    params = model.get_params()
    params["2.W"] = np.zeros((3, 4), np.float32)
    with pytest.raises(HandgradError, match=r"^some/model.npz: layer 2 \(Dense\) parameter W has shape \(3, 4\), "
                                            r"expected \(3, 5\)$"):
        modelfile.build(model.config(), params, source="some/model.npz")
    params["2.W"] = np.zeros((3, 5), object)
    with pytest.raises(HandgradError, match=r"layer 2 \(Dense\) parameter W must be a floating-point array"):
        modelfile.build(model.config(), params, source="m")
    params.pop("2.W")
    with pytest.raises(HandgradError, match=r"layer 2 \(Dense\) parameter W is missing"):
        modelfile.build(model.config(), params, source="m")


def test_layers_must_chain_and_sizes_are_checked_before_anything_is_allocated(tmp_path):
    folder = _model_folder(tmp_path)
    _edit_json(folder / "model.json", lambda d: d["model"]["layers"][2].update(d_in=17))
    with pytest.raises(HandgradError, match=r"layer 2 \(Dense\) takes inputs of size 17, but layer 0 gives 16"):
        modelfile.load(folder)
    folder = _model_folder(tmp_path, "huge")
    # a size of 10^12 must be refused by the shape check, not by a failed allocation
    _edit_json(folder / "model.json", lambda d: d["model"]["layers"][0].update(nf=10**12))
    d = json.loads((folder / "model.json").read_text())
    d["model"]["layers"][2].update(d_in=4 * 10**12)
    (folder / "model.json").write_text(json.dumps(d))
    with pytest.raises(HandgradError, match=r"layer 0 \(Conv1D\) parameter F has shape \(5, 3, 4\), expected"):
        modelfile.load(folder)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["model"].update(loss="mse"), "unknown loss 'mse'"),
    (lambda d: d["model"]["layers"][0].update(type="Evil"), "layer 0: unknown layer type 'Evil'"),
    (lambda d: d["model"]["layers"][0].update(k="3"), r"layer 0 \(Conv1D\): k must be an integer"),
    (lambda d: d["model"]["layers"][1].update(surprise=1), r"layer 1 \(ReLU\)"),
    (lambda d: d["meta"].update(classes=["a", "b"]), "names 2 classes but the model has 3 outputs"),
    (lambda d: d["meta"].update(alphabet="abc"), "alphabet has 3 characters but the first layer takes 5"),
    (lambda d: d.update(meta=[]), "meta: Input should be a valid dictionary"),
    (lambda d: d.update(format_version="1"), "format_version: Input should be a valid integer"),
])
def test_model_json_problems_name_the_file(tmp_path, edit, message):
    folder = _model_folder(tmp_path)
    _edit_json(folder / "model.json", edit)
    with pytest.raises(HandgradError, match=message) as e:
        modelfile.load(folder)
    assert str(folder) in str(e.value)


def _pickle_bomb(marker: Path) -> bytes:
    """model.npz whose param/0.W is an object array: unpickling it would create ``marker``."""

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = Payload(), Payload()
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        with z.open("param/0.W.npy", "w") as f:
            np.lib.format.write_array(f, arr, allow_pickle=True)
    data = buf.getvalue()
    assert b"touch" in data  # the payload is really in there
    return data


def test_a_pickled_object_array_is_refused_without_running_it(tmp_path):
    folder = _model_folder(tmp_path)
    marker = tmp_path / "pwned"
    (folder / "model.npz").write_bytes(_pickle_bomb(marker))
    with pytest.raises(HandgradError, match="only numbers are allowed"):
        modelfile.load(folder)
    r = runner.invoke(app, ["predict", str(folder), "abc"])
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and str(folder / "model.npz") in r.stderr and "Traceback" not in r.output
    assert not marker.exists()
    # and the same file given to the loaders NumPy users reach for
    with pytest.raises(ValueError):
        np.load(folder / "model.npz", allow_pickle=False)["param/0.W"]
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["random", "truncated", "npy", "empty", "text", "huge-header"])
def test_predict_on_a_broken_model_npz_is_one_line_naming_the_file(tmp_path, damage):
    folder = _model_folder(tmp_path)
    npz = folder / "model.npz"
    data = npz.read_bytes()
    if damage == "random":
        npz.write_bytes(np.random.default_rng(1).bytes(len(data)))
    elif damage == "truncated":
        npz.write_bytes(data[: len(data) // 2])
    elif damage == "npy":
        buf = _io.BytesIO()
        np.save(buf, np.zeros(3))
        npz.write_bytes(buf.getvalue())
    elif damage == "empty":
        npz.write_bytes(b"")
    elif damage == "text":
        npz.write_bytes("PKé".encode())
    else:  # an array header claiming 10^15 elements: refused before NumPy allocates it
        buf = _io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            with z.open("param/0.F.npy", "w") as f:
                np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                         "shape": (10**15,)})
                f.write(b"\0" * 64)
        npz.write_bytes(buf.getvalue())
    r = runner.invoke(app, ["predict", str(folder), "abc"])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert str(npz) in r.stderr and "Traceback" not in r.output


def test_predict_in_a_real_process_on_a_crafted_file(tmp_path):
    folder = _model_folder(tmp_path)
    marker = tmp_path / "pwned"
    (folder / "model.npz").write_bytes(_pickle_bomb(marker))
    p = subprocess.run([sys.executable, "-m", "handgrad.cli", "predict", str(folder), "abc"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and str(folder / "model.npz") in p.stderr
    assert not marker.exists()


# -- JSON files of run folders, searches and reports ------------------------------------------------

@pytest.mark.parametrize("reader, text, message", [
    (readers.read_metrics, "{", "is not valid JSON"),
    (readers.read_metrics, "[1, 2]", "should hold a JSON object, found a list"),
    (readers.read_metrics, '{"val_accuracy": "0.5"}', "val_accuracy must be a number"),
    (readers.read_metrics, '{"rows": [{"impl": "fast"}]}', "rows.0.ms_per_update: Field required"),
    (readers.read_metrics, '{"diverged": {"step": "x"}}', "diverged.step"),
    (readers.read_history, '{"columns": {"step": [0, 1], "val_accuracy": [0.1]}}', "different lengths"),
    (readers.read_history, '{"columns": {"epoch": [0]}}', "'step' is missing"),
    (readers.read_manifest, '{"status": []}', "status: Input should be a valid dictionary"),
    (readers.read_run_meta, '{"fingerprint": 3}', "fingerprint: Input should be a valid string"),
    (read_run_config, '{"train": {"eta": "fast"}}', "train.eta"),
    (readers.read_trials, '[{"key": "a", "overrides": {}, "metrics": {}}]', "trial 1"),
    (readers.read_metrics, "[" * 100_000, "is not valid JSON"),
])
def test_json_readers_name_the_file_and_the_key(tmp_path, reader, text, message):
    path = tmp_path / "file.json"
    path.write_text(text)
    with pytest.raises(HandgradError, match=message) as e:
        reader(path)
    assert str(path) in str(e.value)
    assert "\n" not in str(e.value) or reader is read_run_config  # config errors: one line per key


def test_json_readers_on_missing_binary_and_folder_paths(tmp_path):
    with pytest.raises(HandgradError, match="missing file"):
        readers.read_metrics(tmp_path / "nope.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(HandgradError, match="not UTF-8"):
        readers.read_metrics(tmp_path / "bin.json")
    with pytest.raises(HandgradError, match="is a folder"):
        readers.read_metrics(tmp_path)


def _trial(key: str, acc: float) -> str:
    return json.dumps({"key": key, "overrides": {"train.lambda": acc},
                       "metrics": {"train_accuracy": acc, "val_accuracy": acc, "seconds": 1.0}})


def test_ledger_tolerates_a_cut_last_line_and_reports_a_bad_middle_line(tmp_path):
    ledger = tmp_path / search.LEDGER
    ledger.write_text(_trial("a", 0.1) + "\n" + '{"key": "b", "overr' + "\n" + _trial("c", 0.3) + "\n"
                      + '{"key": "d", "overrides": {}, "metrics": {"train_acc')
    warnings = []
    done = search.read_ledger(tmp_path, warnings.append)
    assert sorted(done) == ["a", "c"]
    assert warnings[0].startswith(f"{ledger} line 2: is not valid JSON")
    assert warnings[1] == f"{ledger} line 4: cut short (a crash while writing it?); ignored"
    # a well-formed line of the wrong shape, and bytes that are not text, are reported too
    ledger.write_bytes(ledger.read_bytes() + b"\n" + b'{"key": "e"}\n\xff\xfe\n')
    warnings.clear()
    search.read_ledger(tmp_path, warnings.append)
    assert any("line 5: is not a valid search trial record: overrides: Field required" in w for w in warnings)
    assert any("line 6: not UTF-8 text; skipped" in w for w in warnings)


def test_search_goes_on_from_the_good_trials(fake_cifar, tmp_path, monkeypatch):
    from handgrad.config import from_dict

    cfg = from_dict({"name": "s", "train": {"n_epochs": 1, "n_batch": 30, "eta": 0.01},
                     "search": {"grid": {"train.lambda": [0.0, 0.1, 1.0]}}})
    out = tmp_path / "s"
    search.run_search(cfg, out)
    lines = (out / search.LEDGER).read_text().splitlines()
    (out / search.LEDGER).write_text(lines[0] + "\n" + lines[1][:-9] + "\n" + lines[2] + "\n")
    ran, warned = [], []
    real = search._run_trial
    monkeypatch.setattr(search, "_run_trial", lambda raw, ov, key, d: ran.append(ov) or real(raw, ov, key, d))
    records = search.run_search(cfg, out, warn=warned.append)
    assert len(ran) == 1 and len(records) == 3
    assert len(warned) == 1 and "line 2" in warned[0]
    # the re-run trial was appended: the next run has nothing left to do
    ran.clear()
    search.run_search(cfg, out, warn=warned.append)
    assert ran == []


def test_report_names_a_damaged_metrics_file_and_goes_on(tmp_path):
    from handgrad import families, report

    fam = tmp_path / "linear"
    exp = families.get("linear").experiments[0]
    run = fam / "runs" / exp.id
    run.mkdir(parents=True)
    (run / "metrics.json").write_text('{"val_accuracy": [1]}')
    io.write_json(fam / "manifest.json", {"family": "linear", "quick": True, "status": {}})
    html = report.render(fam).read_text()
    assert "metrics.json is not a valid metrics file" in html
    (fam / "manifest.json").write_text('{"family": "linear", "status": 3}')
    r = runner.invoke(app, ["report", str(fam)])
    assert r.exit_code == 2 and "manifest.json is not a valid report manifest" in r.stderr


# -- divergence ---------------------------------------------------------------------------------

def test_a_diverging_run_stops_keeps_the_best_and_records_it(fake_cifar, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('name = "boom"\n[model]\nkind = "mlp"\nhidden = [20]\n'
                   '[train]\nn_epochs = 20\nn_batch = 10\neta = 1e6\n')
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", str(cfg), "--out", str(out)])
    assert r.exit_code == 1, r.output
    m = json.loads((out / "metrics.json").read_text())
    d = m["diverged"]
    assert d["lr"] == 1e6 and d["loss"] in ("nan", "inf") and d["step"] >= 1 and d["kept_step"] < d["step"]
    assert f"training diverged at step {d['step']} (learning rate 1e+06)" in r.stderr
    assert np.isfinite(m["val_accuracy"]) and np.isfinite(m["train_cost"])
    model, _, _ = modelfile.load(out)  # the kept parameters are finite: the folder loads
    assert all(np.isfinite(v).all() for v in model.get_params().values())
    assert readers.read_metrics(out / "metrics.json")["diverged"]["step"] == d["step"]


def test_trainer_without_divergence_is_unchanged(fake_cifar, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('name = "ok"\n[train]\nn_epochs = 2\nn_batch = 30\neta = 0.01\n')
    r = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "run")])
    assert r.exit_code == 0 and "diverged" not in r.output
    assert "diverged" not in json.loads((tmp_path / "run" / "metrics.json").read_text())


# -- Ctrl-C ---------------------------------------------------------------------------------------

def _interrupt_after(args: list[str], marker: str, env: dict, stream: str = "stderr", delay: float = 1.0):
    """Run ``handgrad ARGS`` in a real process, send SIGINT once ``marker`` appears on ``stream``."""
    with handgrad_process(args, env) as p:
        seen = ""
        pipe = p.stderr if stream == "stderr" else p.stdout
        t0 = time.monotonic()
        while marker not in seen:
            line = pipe.readline()
            assert line or p.poll() is None, f"ended before {marker!r}: {seen}"
            seen += line
            assert time.monotonic() - t0 < 120
        out, err = press_ctrl_c(p, delay)
    return p.returncode, (seen + out) if stream == "stdout" else out, (seen + err) if stream == "stderr" else err


@pytest.fixture
def env(fake_cifar):
    return {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def test_ctrl_c_during_train_keeps_nothing_and_exits_130(env, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('name = "long"\n[train]\nn_updates = 100000000\nn_batch = 30\neta = 0.01\n')
    out = tmp_path / "run"
    code, stdout, stderr = _interrupt_after(["train", str(cfg), "--out", str(out)], "training long", env)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == f"interrupted: nothing was kept; no run folder was written at {out}"
    assert not out.exists()


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_during_search_keeps_the_finished_trials(env, tmp_path, jobs):
    cfg = tmp_path / "c.toml"
    cfg.write_text('name = "s"\n[train]\nn_epochs = 1\nn_batch = 30\neta = 0.01\n')
    slow = tmp_path / "slow.toml"
    slow.write_text('name = "s"\n[train]\nn_updates = 100000000\nn_batch = 30\neta = 0.01\n')
    out = tmp_path / "s"
    # one quick trial into the ledger, then a search whose other trials never end (in worker processes
    # with --jobs 2: they ignore Ctrl-C and are stopped by the parent, no traceback from them)
    assert runner.invoke(app, ["search", str(cfg), "--grid", "train.lambda=0", "--out", str(out)]).exit_code == 0
    code, stdout, stderr = _interrupt_after(
        ["search", str(slow), "--grid", "train.lambda=0,0.1,0.2", "--out", str(out), "--jobs", str(jobs)], "trials",
        env, stream="stdout")
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (f"interrupted: 1 finished trial kept in {out / search.LEDGER}; "
                                               "the same command goes on from them")
    assert len(search.read_ledger(out)) == 1
    assert not list(out.rglob("*.tmp"))


def test_interrupted_run_folder_write_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "metrics.json").write_text('{"old": 1}')
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt):
        with io.staged_folder(folder) as stage:
            io.write_json(stage / "metrics.json", {"new": 1})
            io.write_json(stage / "config.json", {})
            raise KeyboardInterrupt
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json", "notes.txt"]
    assert json.loads((folder / "metrics.json").read_text()) == {"old": 1}
    with io.staged_folder(folder) as stage:
        io.write_json(stage / "metrics.json", {"new": 1})
        io.write_json(stage / "figures" / "a.json", {})
    assert sorted(p.name for p in folder.iterdir()) == ["figures", "metrics.json", "notes.txt"]


def test_ctrl_c_during_reproduce_keeps_the_finished_experiments(env, tmp_path):
    configs = tmp_path / "configs" / "linear"
    configs.mkdir(parents=True)
    # registry order: setting2 (quick here), then setting4 (never ends); the others have no config
    (configs / "setting2.toml").write_text('name = "setting2"\n[train]\nn_epochs = 1\nn_batch = 30\n')
    (configs / "setting4.toml").write_text('name = "setting4"\n[train]\nn_updates = 100000000\nn_batch = 30\n')
    out = tmp_path / "reports"
    with handgrad_process(["reproduce", "linear", "--out", str(out), "--configs", str(tmp_path / "configs"),
                           "--jobs", "1"], env) as p:
        t0 = time.monotonic()
        while not (out / "linear" / "runs" / "setting4").is_dir():  # setting2 finished, setting4 running
            assert p.poll() is None and time.monotonic() - t0 < 120
            time.sleep(0.2)
        stdout, stderr = press_ctrl_c(p)
    assert p.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"interrupted: 1 finished experiment kept in {out}/*/runs (the same command skips them; the ones running "
        "start again); no report was written for this call")
    assert (out / "linear" / "runs" / "setting2" / "metrics.json").is_file()
    assert not (out / "linear" / "runs" / "setting4" / "metrics.json").exists()


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe", "is not UTF-8 text"), (b"[1, 2]", "should hold a table of settings, found list"),
    (b"[" * 50_000, "cannot parse"),
])
def test_config_files_are_read_through_the_reading_layer(tmp_path, content, message):
    from handgrad.config import load_config

    path = tmp_path / "c.json"
    path.write_bytes(content)
    with pytest.raises(HandgradError, match=message):
        load_config(path)
    with pytest.raises(HandgradError, match="is a folder"):
        load_config(tmp_path)


def test_a_run_folder_over_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(HandgradError, match="it is a file"):
        with io.staged_folder(tmp_path / "afile"):
            pass
    with pytest.raises(HandgradError, match="cannot write"):
        io.atomic_write_text(tmp_path / "afile" / "x.json", "{}")
    assert (tmp_path / "afile").read_text() == "mine"


def test_trainer_stops_on_a_nan_loss_and_puts_back_the_best_parameters():
    from handgrad.training import Trainer

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6)).astype(np.float32), rng.integers(0, 3, 40)
    model = mlp(6, [8], 3, rng=np.random.default_rng(1))
    calls = {"n": 0}
    real = model.loss_and_grads

    def poisoned(Xb, yb, *a, **k):  # the 7th batch loss is NaN, as a diverging run's would be
        calls["n"] += 1
        loss = real(Xb, yb, *a, **k)
        return float("nan") if calls["n"] == 7 else loss

    model.loss_and_grads = poisoned
    trainer = Trainer(model, n_batch=10, record_every=2, rng=np.random.default_rng(2))
    h = trainer.fit(X, y, X[:10], y[:10], n_updates=50)
    assert h.diverged["step"] == 7 and h.diverged["lr"] == 0.01 and h.diverged["loss"] == "nan"
    best = int(np.argmax(h["val_accuracy"]))
    assert h.diverged["kept_step"] == h["step"][best] and h["step"][-1] == 6
    assert h.best_step is None  # keep_best was off: only divergence put the best back
    assert model.get_params().keys() == trainer.best_params_.keys()
    for k, v in trainer.best_params_.items():
        np.testing.assert_array_equal(model.get_params()[k], v)
    # with the check off (the LR range test), training runs on
    calls["n"] = 0
    h = Trainer(model, n_batch=10, record_every=2, stop_on_divergence=False).fit(X, y, n_updates=10)
    assert h.diverged is None and h["step"][-1] == 10


def test_layers_that_cannot_tell_their_shapes_are_checked_once_built(monkeypatch):
    from handgrad.nn import LAYER_TYPES, Layer

    class Scale(Layer):  # a layer without param_shapes/sizes, as a new layer type may be at first
        def __init__(self, d: int) -> None:
            super().__init__()
            self.d = d
            self.params["g"] = np.ones(d, np.float32)

        def config(self) -> dict:
            return {"type": "Scale", "d": self.d}

    monkeypatch.setitem(LAYER_TYPES, "Scale", Scale)
    model = Model([*mlp(6, [5], 3).layers[:2], Scale(5), *mlp(6, [5], 3).layers[2:]])
    params = model.get_params()
    assert set(modelfile.build(model.config(), params, source="m").get_params()) == set(params)
    params["2.g"] = np.ones(4, np.float32)
    with pytest.raises(HandgradError, match=r"^m: layer 2 \(Scale\) parameter g has shape \(4,\), expected \(5,\)$"):
        modelfile.build(model.config(), params, source="m")
    params["2.g"], params["2.h"] = np.ones(5, np.float32), np.ones(5, np.float32)
    with pytest.raises(HandgradError, match="parameters the layers do not have: 2.h"):
        modelfile.build(model.config(), params, source="m")
