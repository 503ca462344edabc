"""The command line: each command end to end on fake data, and bad input as clear messages."""

import html
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


# -- a newcomer's first hour: the config reference, --out checked first, a page for one run ------
def test_config_keys_lists_every_key_of_every_kind_with_type_default_and_meaning():
    from handgrad.config import kinds
    from handgrad.config.reference import reference

    r = runner.invoke(app, ["config", "keys"])
    assert r.exit_code == 0, r.output
    for kind, cls in kinds().items():
        assert f"=== [model] kind = {kind!r}" in r.output
        for k in reference(cls):
            assert f"  {k.key}  (" in r.output, k.key
            assert k.meaning, f"{k.key} of kind {kind} has no meaning in the schema"
    assert "train.lambda  (float >= 0; default 0.0)" in r.output
    assert "model.hidden  (list of int >= 1; default [50])" in r.output
    mlp = runner.invoke(app, ["config", "keys", "mlp"]).output
    assert "model.hidden" in mlp and "model.convs" not in mlp and "train.seq_length" not in mlp


def test_config_show_resolves_and_marks_what_was_given(tmp_path):
    cfg = _config(tmp_path)
    r = runner.invoke(app, ["config", "show", str(cfg), "--set", "train.lambda=0.5"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "* train.lambda = 0.5" in lines and "* train.n_batch = 30" in lines
    assert "  train.optimizer = \"sgd\"" in lines  # a default, not marked
    assert any(line.strip().startswith("float >= 0; default 0.0. L2 weight lambda") for line in lines)


@pytest.mark.parametrize("key, hint", [("train.lamda", "did you mean train.lambda?"),
                                       ("train.hidden", "did you mean model.hidden? (a key of model kind 'mlp')"),
                                       ("modle.kind", "modle: unknown key for model kind 'linear'; did you mean model?")])
def test_a_misspelt_key_gets_a_suggestion(tmp_path, key, hint):
    r = runner.invoke(app, ["config", "show", str(_config(tmp_path)), "--set", f"{key}=1"])
    assert r.exit_code == 2 and hint in r.output and "handgrad config keys" in r.output, r.output


def test_set_null_unsets_a_key_so_another_can_replace_it(fake_cifar, tmp_path):
    cfg = _config(tmp_path, "")
    cfg.write_text(cfg.read_text().replace("n_epochs = 2", "n_updates = 5"))
    r = runner.invoke(app, ["config", "show", str(cfg), "--set", "train.n_epochs=1"])
    assert r.exit_code == 2 and "give only one of n_epochs, n_updates" in r.output and "=null" in r.output
    r = runner.invoke(app, ["train", str(cfg), "--set", "train.n_updates=null", "--set", "train.n_epochs=1",
                            "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert saved["n_updates"] is None and saved["n_epochs"] == 1


def test_train_checks_out_before_training_and_never_overwrites_silently(fake_cifar, tmp_path, monkeypatch):
    from handgrad.tasks import runs

    def no_training(*a, **k):
        raise AssertionError("trained before checking --out")

    a_file = tmp_path / "README.md"
    a_file.write_text("mine")
    with monkeypatch.context() as mp:
        mp.setattr(runs, "train", no_training)
        r = runner.invoke(app, ["train", str(_config(tmp_path)), "--out", str(a_file)])
        assert r.exit_code == 2 and "it is a file" in r.output, r.output
        r = runner.invoke(app, ["train", str(_config(tmp_path)), "--out", str(a_file / "run")])
        assert r.exit_code == 2 and "is a file" in r.output, r.output
    assert a_file.read_text() == "mine"
    out = tmp_path / "run"
    assert runner.invoke(app, ["train", str(_config(tmp_path)), "--out", str(out)]).exit_code == 0
    before = (out / "metrics.json").read_bytes()
    with monkeypatch.context() as mp:
        mp.setattr(runs, "train", no_training)
        r = runner.invoke(app, ["train", str(_config(tmp_path)), "--set", "train.eta=0.5", "--out", str(out)])
    assert r.exit_code == 2 and "already holds a run" in r.output and "--force" in r.output
    assert (out / "metrics.json").read_bytes() == before
    r = runner.invoke(app, ["train", str(_config(tmp_path)), "--set", "train.eta=0.5", "--out", str(out), "--force"])
    assert r.exit_code == 0 and json.loads((out / "config.json").read_text())["train"]["eta"] == 0.5


def test_train_help_names_the_default_folder_it_uses(fake_cifar, tmp_path, monkeypatch):
    r = runner.invoke(app, ["train", "--help"], terminal_width=200)
    assert "runs/train/<name>" in r.output
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["train", str(_config(tmp_path))]).exit_code == 0
    assert (tmp_path / "runs" / "train" / "cli" / "metrics.json").is_file()


def test_report_on_a_train_run_writes_its_page(fake_cifar, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, ["train", str(_config(tmp_path)), "--out", str(out)]).exit_code == 0
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output
    page = html.unescape((out / "index.html").read_text())
    assert "handgrad run: cli" in page and "test_accuracy" in page and '"n_batch": 30' in page
    assert page.count("data:image/png;base64,") >= 2  # learning curves and class templates
    r = runner.invoke(app, ["report", str(tmp_path / "nothing-here")])
    assert r.exit_code == 2 and "handgrad reproduce linear --quick" in r.output


def test_rnn_summary_prints_losses_and_a_short_run_still_samples(tmp_path):
    text = tmp_path / "book.txt"
    text.write_text("the cat sat on the mat. the dog sat on the log.\n" * 60)
    cfg = tmp_path / "rnn.toml"
    cfg.write_text(f'name = "tiny-rnn"\n[data]\ndataset = "text"\npath = "{text}"\nn_val = 300\n'
                   '[model]\nkind = "rnn"\nm = 8\n[train]\noptimizer = "adagrad"\neta = 0.1\nn_batch = 1\n'
                   'n_updates = 60\nrecord_every = 30\n')
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", str(cfg), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "smooth loss:" in r.output and "validation loss per character:" in r.output
    assert "accuracy" not in r.stdout
    samples = (out / "samples.md").read_text()
    assert "shorter than train.sample_every = 10,000: one sample, at its end" in samples
    assert "## update 60" in samples
