"""The command line: each command end to end on fake data, and bad input as clear messages."""

import json

import pytest
from typer.testing import CliRunner

from handgrad.cli import app

runner = CliRunner()


def _config(tmp_path, text=""):
    p = tmp_path / "c.toml"
    p.write_text('name = "cli"\n[train]\nn_epochs = 2\nn_batch = 30\neta = 0.01\n' + text)
    return p


def test_train_writes_run_folder(fake_cifar, tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", str(_config(tmp_path)), "--set", "train.lambda=0.1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "test_accuracy" in r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["lambda"] == 0.1
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] >= 0


def test_gradcheck_passes_and_prints_json(fake_cifar, tmp_path):
    for loss in ("cross_entropy", "svm", "bce"):
        r = runner.invoke(app, ["gradcheck", str(_config(tmp_path)), "--set", f"model.loss={loss}", "--json"])
        assert r.exit_code == 0, r.output
        res = json.loads(r.output)
        assert res["passed"] and {c["lambda"] for c in res["cases"]} == {0.0, 1.0}
        assert {c["batch_size"] for c in res["cases"]} == {1, 60}  # 100 capped by the 60 fake images


def test_gradcheck_shows_the_course_method_and_the_complex_step_decides(fake_cifar, tmp_path):
    r = runner.invoke(app, ["gradcheck", str(_config(tmp_path)), "--set", "gradcheck.method=forward", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert all(c["method"] == "forward" and c["h"] == 1e-5 for c in res["cases"])
    # ComputeGradsNum's O(h) error shows in the table; the verdict is the complex step's
    assert max(c["max_rel"] for c in res["cases"]) > 1e-9 > max(c["reference"]["max_rel"] for c in res["cases"])
    r = runner.invoke(app, ["gradcheck", str(_config(tmp_path)), "--set", "gradcheck.method=forward"])
    assert "table: forward differences (ComputeGradsNum), h=1e-05" in r.output
    assert "verdict: complex step, h=1e-20: PASSED" in r.output


def test_gradcheck_fails_above_a_tight_tolerance(fake_cifar, tmp_path):
    r = runner.invoke(app, ["gradcheck", str(_config(tmp_path)), "--tol", "1e-30"])
    assert r.exit_code == 1
    assert "above tolerance" in r.output and "FAILED" in r.output


def test_search_grid_table(fake_cifar, tmp_path):
    out = tmp_path / "s"
    r = runner.invoke(app, ["search", str(_config(tmp_path)), "--grid", "train.lambda=0,0.1",
                            "--grid", "train.eta=0.01,0.001", "--out", str(out)])
    assert r.exit_code == 0, r.output
    table = (out / "results.md").read_text()
    assert table.count("\n") == 2 + 4
    res = json.loads((out / "results.json").read_text())
    accs = [x["metrics"]["val_accuracy"] for x in res]
    assert accs == sorted(accs, reverse=True)
    r = runner.invoke(app, ["search", str(_config(tmp_path)), "--grid", "train.lambda=0,0.1",
                            "--grid", "train.eta=0.01,0.001", "--out", str(out)])
    assert "(4 in the ledger" in r.output


@pytest.mark.parametrize("args, message", [
    (["train", "missing.toml"], "config file not found"),
    (["train", "{cfg}", "--set", "train.etaa=1"], "train.etaa: unknown key"),
    (["train", "{cfg}", "--set", "train.n_batch=abc"], "train.n_batch"),
    (["train", "{cfg}", "--set", "data.split=a2"], "data.split"),
    (["search", "{cfg}"], "nothing to search"),
])
def test_bad_input_gets_a_message_not_a_traceback(fake_cifar, tmp_path, args, message):
    cfg = _config(tmp_path)
    r = runner.invoke(app, [a.replace("{cfg}", str(cfg)) for a in args])
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output


def test_missing_data_folder_is_named(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("HANDGRAD_DATA", str(empty))
    r = runner.invoke(app, ["train", str(_config(tmp_path))])
    assert r.exit_code == 2
    assert "cifar-10-batches-py" in r.output and "Traceback" not in r.output
