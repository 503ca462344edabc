"""Issue 3: hyper-parameter search trials, the ledger, resuming, parallel trials, table and plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from handgrad import search
from handgrad.cli import app
from handgrad.config import from_dict, load_config
from handgrad.config.tables import SearchConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "mlp"

TINY = {
    "name": "tiny-search",
    "data": {"dataset": "cifar10", "split": "all", "n_val": 20},
    "model": {"kind": "mlp", "hidden": [6]},
    "train": {"n_batch": 20, "schedule": "cyclical", "n_s": 3, "n_cycles": 1, "eta_min": 1e-4, "eta_max": 0.05},
    "search": {"log_grid": {"train.lambda": [-4.0, -1.0, 4]}},
}


@pytest.fixture
def fake_data(fake_cifar_with):
    return fake_cifar_with(n_per_batch=20, seed=5)


def _counting(monkeypatch, fail_on: int | None = None) -> list:
    """Wrap search._run_trial: count calls, optionally raise on the ``fail_on``-th (1-based)."""
    calls = []
    real = search._run_trial

    def wrapped(raw, overrides, key, run_dir):
        calls.append(overrides)
        if fail_on is not None and len(calls) == fail_on:
            raise KeyboardInterrupt("simulated interruption")
        return real(raw, overrides, key, run_dir)

    monkeypatch.setattr(search, "_run_trial", wrapped)
    return calls


# -- trial generation --------------------------------------------------------------------------
def test_grid_is_every_combination():
    sc = SearchConfig(grid={"train.lambda": [0, 0.1], "train.n_batch": [10, 20, 50]})
    trials = search.trial_overrides(sc)
    assert len(trials) == 6
    assert {(t["train.lambda"], t["train.n_batch"]) for t in trials} == {
        (lam, b) for lam in (0, 0.1) for b in (10, 20, 50)}


def test_log_grid_is_evenly_spaced_in_log10():
    trials = search.trial_overrides(SearchConfig(log_grid={"train.lambda": (-5, -1, 8)}))
    lams = np.array([t["train.lambda"] for t in trials])
    assert len(lams) == 8
    assert lams[0] == pytest.approx(1e-5) and lams[-1] == pytest.approx(1e-1)
    np.testing.assert_allclose(np.diff(np.log10(lams)), 4 / 7)


def test_log_uniform_draws_in_range_reproducibly():
    sc = SearchConfig(log_uniform={"train.lambda": (-3, -1.5)}, n_trials=200, seed=4)
    trials = search.trial_overrides(sc)
    l = np.log10([t["train.lambda"] for t in trials])
    assert len(l) == 200 and l.min() >= -3 and l.max() <= -1.5
    assert l.std() == pytest.approx(1.5 / np.sqrt(12), rel=0.15)  # uniform in the exponent
    assert trials == search.trial_overrides(sc)
    assert trials != search.trial_overrides(sc.model_copy(update={"seed": 5}))


def test_log_uniform_crossed_with_grid():
    sc = SearchConfig(grid={"model.hidden": [[10], [20]]}, log_uniform={"train.lambda": (-3, -1)}, n_trials=3)
    trials = search.trial_overrides(sc)
    assert len(trials) == 6 and sum(t["model.hidden"] == [10] for t in trials) == 3


def test_shipped_search_configs():
    coarse = load_config(CONFIGS / "search-coarse.toml")
    fine = load_config(CONFIGS / "search-fine.toml")
    for cfg in (coarse, fine):
        assert (cfg.data.split, cfg.data.n_val) == ("all", 5000)
        assert (cfg.train.schedule, cfg.train.n_cycles, cfg.train.n_s_factor) == ("cyclical", 2, 2)
        for ov in search.trial_overrides(cfg.search):  # every trial is a valid config
            from_dict(cfg.to_dict(), overrides=ov)
    lams = [t["train.lambda"] for t in search.trial_overrides(coarse.search)]
    assert len(lams) == 8 and min(lams) == pytest.approx(1e-5) and max(lams) == pytest.approx(0.1)


# -- running, resuming -------------------------------------------------------------------------
def test_interrupted_search_resumes_without_repeating(fake_data, tmp_path, monkeypatch):
    base = from_dict(TINY)
    folder = tmp_path / "search"
    calls = _counting(monkeypatch, fail_on=3)
    with pytest.raises(KeyboardInterrupt):
        search.run_search(base, folder)
    assert len(calls) == 3  # two finished, the third was interrupted
    assert len(search.read_ledger(folder)) == 2

    calls = _counting(monkeypatch)
    records = search.run_search(base, folder)
    assert len(calls) == 2  # only the interrupted and the never-started trials
    done_first = {json.dumps(t) for t in search.trial_overrides(base.search)[:2]}
    assert not ({json.dumps(c) for c in calls} & done_first)
    assert len(records) == 4 and len(search.read_ledger(folder)) == 4
    val = [r["metrics"]["val_accuracy"] for r in records]
    assert val == sorted(val, reverse=True)

    calls = _counting(monkeypatch)
    assert len(search.run_search(base, folder)) == 4
    assert calls == []  # a finished search runs nothing


def test_truncated_last_ledger_line_is_tolerated(fake_data, tmp_path, monkeypatch):
    base = from_dict(TINY)
    folder = tmp_path / "search"
    trials = search.trial_overrides(base.search)
    search.run_search(base, folder, extra_overrides=trials[:2])
    ledger = folder / search.LEDGER
    lines = ledger.read_text().splitlines()
    ledger.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # crash while writing line 2
    assert len(search.read_ledger(folder)) == 1

    calls = _counting(monkeypatch)
    records = search.run_search(base, folder)
    assert len(calls) == 3 and len(records) == 4
    assert len(search.read_ledger(folder)) == 4  # the record after the cut line is not lost
    calls = _counting(monkeypatch)
    search.run_search(base, folder)
    assert calls == []


def test_table_and_plot_written(fake_data, tmp_path):
    base = from_dict(TINY)
    folder = tmp_path / "search"
    records = search.run_search(base, folder)
    table = search.write_table(folder, records).read_text()
    rows = [l for l in table.splitlines() if l.startswith("| ") and "rank" not in l]
    assert len(rows) == 4
    assert sum(l.startswith("| **") for l in rows) == 3  # top 3 highlighted
    assert "train.lambda" in table.splitlines()[0]
    assert (folder / "val_accuracy_vs_lambda.png").stat().st_size > 0
    assert len(json.loads((folder / "results.json").read_text())) == 4


def test_cli_search_with_two_jobs_then_resume(fake_data, tmp_path):
    cfg_path = tmp_path / "tiny.toml"
    lines = ['name = "tiny"', "[data]", 'split = "all"', "n_val = 20", "[model]", 'kind = "mlp"', "hidden = [6]",
             "[train]", "n_batch = 20", 'schedule = "cyclical"', "n_s = 3", "n_cycles = 1",
             "[search.log_grid]", '"train.lambda" = [-4.0, -1.0, 3]']
    cfg_path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "s"
    runner = CliRunner()
    res = runner.invoke(app, ["search", str(cfg_path), "--jobs", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert len(search.read_ledger(out)) == 3
    assert (out / "results.md").exists() and (out / "val_accuracy_vs_lambda.png").exists()
    res = runner.invoke(app, ["search", str(cfg_path), "--jobs", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "3 in the ledger" in res.output
    assert len((out / search.LEDGER).read_text().splitlines()) == 3  # nothing re-run


def test_lambda_figure_shows_every_trial_zero_included(tmp_path, monkeypatch):
    """val_accuracy_vs_lambda.png: lambda = 0 is on the axis (symlog), and trials that differ in
    another key (eta) are their own series, so no trial is hidden behind another."""
    from handgrad import plots

    drawn = {}

    def keep(fig, path):
        drawn["fig"] = fig
        return path

    monkeypatch.setattr(plots, "save", keep)
    records = [{"key": f"k{i}", "overrides": {"train.lambda": lam, "train.eta": eta},
                "metrics": {"train_accuracy": 0.5, "val_accuracy": acc, "seconds": 1.0}}
               for i, (lam, eta, acc) in enumerate([(0.0, 0.001, 0.40), (0.1, 0.001, 0.38), (0.0, 0.01, 0.35),
                                                     (0.1, 0.01, 0.36)])]
    search.write_table(tmp_path, records)
    ax = drawn["fig"].axes[0]
    assert ax.get_xscale() == "symlog"
    series = {line.get_label(): sorted(zip(*line.get_data())) for line in ax.get_lines()
              if not line.get_label().startswith("_")}
    assert series == {"eta=0.001": [(0.0, 0.40), (0.1, 0.38)], "eta=0.01": [(0.0, 0.35), (0.1, 0.36)]}
