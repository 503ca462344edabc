"""`handgrad reproduce` and `handgrad report`: quick reproduction on fake data, skipping finished
experiments, re-rendering without training, missing configs, and the verdict rules."""

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handgrad import families
from handgrad.tasks import runs
from handgrad.cli import app
from handgrad.families import convnet
from handgrad.reproduction import quick
from handgrad.reproduction.spec import KINDS, Target
from handgrad.reproduction.verdicts import NOT_AVAILABLE, NOT_REPRODUCED, QUICK, REFERENCE, REPRODUCED, judge

runner = CliRunner()
REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"
#: a few of the linear configs: the others must show up as "not available"
SUBSET = ("setting1.toml", "setting2.toml", "bce.toml")


@pytest.fixture
def configs(tmp_path):
    root = tmp_path / "configs"
    (root / "linear").mkdir(parents=True)
    for name in SUBSET:
        shutil.copy(REPO_CONFIGS / "linear" / name, root / "linear" / name)
    return root


@pytest.fixture
def count_runs(monkeypatch):
    calls = []
    real = runs.run

    def counting(cfg, run_dir, **kw):
        calls.append(cfg.name)
        return real(cfg, run_dir, **kw)

    monkeypatch.setattr(runs, "run", counting)
    return calls


def _reproduce(out, configs, *extra):
    # in this process (--jobs 1): the runs are counted by patching runs.run here
    r = runner.invoke(app, ["reproduce", "linear", "--quick", "--out", str(out), "--configs", str(configs),
                            "--jobs", "1", *extra])
    assert r.exit_code == 0, r.output
    return r


def test_reproduce_linear_quick_writes_reports_and_skips_finished(fake_cifar, tmp_path, configs, count_runs):
    out = tmp_path / "reports"
    r = _reproduce(out, configs)
    fam = out / "linear"
    html = (fam / "index.html").read_text()
    md = (fam / "report.md").read_text()
    # setting1 (repeated over seeds: twice in quick mode), setting2, bce; bce-softmax needs setting3: missing
    assert sorted(count_runs) == ["bce", "setting1", "setting1", "setting2"]
    assert "linear: " in r.output and "wall time" in r.output

    # published beside ours, with the source; quick runs make no claim
    for text in (html, md):
        assert "29.74" in text and "38.69" in text and "Ruggeri 2020, DD2424 assignment 1 report, table 3" in text
        assert "quick run, not comparable" in text
        assert "Quick run." in text
    assert "| setting2 | setting 2 test accuracy (%) |" in md
    # gradient checks are judged even in quick mode
    assert "check passed" in md
    # figures: embedded in the HTML, linked and copied beside report.md
    assert html.count('src="data:image/png;base64,') >= 5
    assert "](figures/setting2--learning_curves.png)" in md
    assert (fam / "figures" / "setting2--learning_curves.png").is_file()
    assert (fam / "figures" / "bce--probability_histograms.png").is_file()
    # missing configs are listed, not fatal
    for missing in ("setting3", "svm-setting1", "best-linear"):
        assert f"{missing} (`configs/linear/" in md
    assert "does not exist yet" in md
    # manifest: versions, BLAS, data checksums, commands, wall time
    assert "numpy" in md and "BLAS:" in md and "md5" in md
    assert "handgrad train " in md and "--set data.n_train=" not in md  # 60 fake images: nothing to cap
    assert "handgrad gradcheck " in md
    assert (out / ".manifest-cache.json").is_file()
    meta = json.loads((fam / "runs" / "setting1" / "reproduce.json").read_text())
    assert meta["quick"] and meta["wall_seconds"] > 0

    # again: nothing is trained, the report is rendered again
    mtime = (fam / "runs" / "setting1" / "metrics.json").stat().st_mtime_ns
    _reproduce(out, configs)
    assert len(count_runs) == 4
    assert (fam / "runs" / "setting1" / "metrics.json").stat().st_mtime_ns == mtime

    # --force runs them again
    _reproduce(out, configs, "--force")
    assert len(count_runs) == 8


def test_report_rerenders_without_training(fake_cifar, tmp_path, configs, monkeypatch):
    out = tmp_path / "reports"
    _reproduce(out, configs)
    fam = out / "linear"
    (fam / "index.html").unlink()
    (fam / "report.md").unlink()

    def no_training(*a, **k):
        raise AssertionError("report must not train")

    monkeypatch.setattr(runs, "run", no_training)
    monkeypatch.setattr(runs, "train", no_training)
    r = runner.invoke(app, ["report", str(fam)])
    assert r.exit_code == 0, r.output
    assert (fam / "index.html").is_file() and "38.69" in (fam / "report.md").read_text()


def test_report_on_a_folder_that_is_not_a_family(tmp_path):
    r = runner.invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 2
    assert "family" in r.output


def test_unknown_family_is_a_clear_error(tmp_path):
    r = runner.invoke(app, ["reproduce", "gan", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "unknown family 'gan'" in r.output


def test_registry_names_every_experiment_and_config():
    experiments = [e for name in families.names() for e in families.get(name).experiments]
    ids = [e.id for e in experiments]
    assert len(ids) == len(set(ids))
    for name in families.names():
        fam = families.get(name)
        sections = {s.id for s in fam.sections}
        for e in fam.experiments:
            assert e.family == name and e.section in sections and e.kind in KINDS
            assert e.kind == "timing" or e.config.startswith(e.family + "/")
    configs = {e.config for e in experiments}
    for name in ("mlp/sheet-fig3.toml", "mlp/sheet-fig4.toml", "mlp/final.toml", "mlp/search-coarse.toml",
                 "mlp/search-fine.toml", "mlp/best.toml", "convnet/small-balanced.toml",
                 "convnet/small-unbalanced.toml", "convnet/final.toml", "convnet/best.toml"):
        assert name in configs
    # every shipped linear config is used
    for p in (REPO_CONFIGS / "linear").glob("*.toml"):
        assert f"linear/{p.name}" in configs, p.name


@pytest.mark.parametrize("target, ours, verdict", [
    (Target("acc", "test_accuracy", 38.69, "s", 1.0), 39.2, REPRODUCED),
    (Target("acc", "test_accuracy", 38.69, "s", 1.0), 37.5, NOT_REPRODUCED),
    (Target("acc", "test_accuracy", 41.5, "s", 0.0, mode="at_least"), 42.0, REPRODUCED),
    (Target("acc", "test_accuracy", 41.5, "s", 0.0, mode="at_least"), 41.0, NOT_REPRODUCED),
    (Target("lam", "best_lambda", 0.00895, "s", 0.5, mode="log", scale=1), 0.02, REPRODUCED),
    (Target("lam", "best_lambda", 0.00895, "s", 0.5, mode="log", scale=1), 0.0001, NOT_REPRODUCED),
    (Target("x", "speedup.b", 5.72, "s", 0.5, mode="rel", scale=1), 4.0, REPRODUCED),
    (Target("x", "total_s.b", 30.9, "s", None, mode="info", scale=1), 3.0, REFERENCE),
    (Target("acc", "test_accuracy", 38.69, "s", 1.0), None, NOT_AVAILABLE),
])
def test_verdicts(target, ours, verdict):
    assert judge(target, ours, quick=False)[1] == verdict
    if verdict in (REPRODUCED, NOT_REPRODUCED):
        assert judge(target, ours, quick=True)[1] == QUICK


def test_quick_overrides_cut_budgets(monkeypatch):
    from handgrad.config import from_dict

    monkeypatch.setattr(quick, "cifar_batch_size", lambda: 10000)  # the real data's batches
    exp = next(e for e in families.get("mlp").experiments if e.id == "search-coarse")
    q = families.get("mlp").quick
    cfg = from_dict({"data": {"split": "all", "n_val": 50}, "model": {"kind": "mlp"},
                     "train": {"schedule": "cyclical", "n_s": 900, "n_cycles": 3},
                     "search": {"log_grid": {"train.lambda": [-5, -1, 8]}}})
    ov = quick.quick_overrides(cfg, exp, q)
    assert ov["train.n_cycles"] == q.cycles
    assert ov["search.log_grid"]["train.lambda"][2] == q.trials
    assert ov["data.n_train"] == q.n_train
    assert ov["train.n_s"] == round(900 * q.n_train / (50000 - 50))  # same epochs per half cycle
    assert from_dict(cfg.to_dict(), overrides=ov).train.n_s == ov["train.n_s"]  # the overrides validate


@pytest.mark.realdata
def test_reproduce_linear_quick_on_real_data(tmp_path):
    if not (Path(os.environ["HANDGRAD_DATA"]) / "cifar-10-batches-py").is_dir():
        pytest.skip("no CIFAR-10 under HANDGRAD_DATA")
    out = tmp_path / "reports"
    r = runner.invoke(app, ["reproduce", "linear", "--quick", "--out", str(out)])
    assert r.exit_code == 0, r.output
    md = (out / "linear" / "report.md").read_text()
    assert "quick run, not comparable" in md and "check passed" in md and "check failed" not in md
    assert "data_batch_1" in md and "md5" in md


def test_convnet_report_from_saved_runs(tmp_path):
    """Per-class, timing and gradient-check tables render from run folders alone (synthetic metrics)."""
    from handgrad import io

    fam = tmp_path / "reports" / "convnet"
    per_class = {c: 0.5 for c in convnet.PER_CLASS_000}
    per_class["Arabic"] = 1.0
    runs = {
        "final-convnet": {"val_balanced_accuracy": 0.5556, "val_per_class_accuracy": per_class, "seconds": 3.0},
        "timing": {"updates": 990, "seconds": 9.0,
                   "rows": [{"impl": k, "precompute_s": 0.0, "ms_per_update": 10.0 / s, "total_s": 9.9 / s,
                             "extrapolated": True, "speedup_total": s} for k, s in
                            (("mfmx", 1.0), ("a", 1.3), ("b", 9.0), ("ab", 7.0))],
                   "speedup": {"mfmx": 1.0, "a": 1.3, "b": 9.0, "ab": 7.0},
                   "total_s": {"mfmx": 9.9, "a": 7.6, "b": 1.1, "ab": 1.4}},
        "gradcheck-convnet": {"max_rel": 3e-8, "bound": 1e-6, "passed": True, "seconds": 1.0, "cases": [
            {"batch_size": 3, "lambda": 0.0, "n_dims": 532, "method": "centred", "h": 1e-5, "max_rel": 3e-8,
             "rows": [{"param": p, "shape": [1], "max_abs": 1e-11, "max_rel": 3e-8} for p in ("0.F", "2.F", "5.W")]}]},
    }
    for rid, m in runs.items():
        io.write_json(fam / "runs" / rid / "metrics.json", m)
        io.write_json(fam / "runs" / rid / "reproduce.json", {"id": rid, "quick": False, "fingerprint": "x",
                                                              "wall_seconds": 1.0, "commands": ["handgrad ..."]})
    r = runner.invoke(app, ["report", str(fam)])
    assert r.exit_code == 0, r.output
    md = (fam / "report.md").read_text()
    assert "| final-convnet | balanced validation accuracy (%) | 55.56 | 55.56 | +0.00 |" in md
    assert "| Arabic | 100.00 | 100.00 | +0.00 | reproduced |" in md
    assert "| Scottish | 50.00 | 0.00 | +50.00 | not reproduced |" in md
    assert "speed-up (b)" in md and "176.7" in md and "9.90*" in md
    assert "0.F (F1)" in md and "check passed" in md
    assert "Predictions for new surnames: not available" in md  # no model saved
    assert "small-balanced (`configs/convnet/small-balanced.toml`)" in md
