"""Issue 2's acceptance checks on the real CIFAR-10 (run when HANDGRAD_DATA is set)."""

from pathlib import Path

import pytest

from handgrad.tasks import gradchecks, runs
from handgrad.config import load_config

pytestmark = pytest.mark.realdata
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "linear"
# Ruggeri 2020, DD2424 assignment 1 report, table 3
PUBLISHED = {"setting1": 29.74, "setting2": 38.69, "setting3": 39.08, "setting4": 37.57}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_settings_reproduce_within_1_5_points(name):
    cfg = load_config(CONFIGS / f"{name}.toml")
    # setting 1 (eta .1) oscillates from epoch to epoch: compare the mean over 5 seeds
    seeds = range(5) if name == "setting1" else [0]
    accs = [runs.run(cfg.model_copy(update={"seed": s}), None, progress=False, figures=False)["test_accuracy"]
            for s in seeds]
    assert abs(100 * sum(accs) / len(accs) - PUBLISHED[name]) <= 1.5, accs


@pytest.mark.parametrize("loss", ["cross_entropy", "svm", "bce"])
def test_gradients_below_1e6_on_real_data(loss):
    cfg = load_config(CONFIGS / "setting3.toml", {"model.loss": loss})
    cases = gradchecks.gradcheck_cases(cfg)
    assert {c["lambda"] for c in cases} == {0.0, 0.1, 1.0}
    assert max(c["max_rel"] for c in cases) < 1e-6


@pytest.mark.slow
def test_best_linear_reaches_41_5():
    m = runs.run(load_config(CONFIGS / "best.toml"), None, progress=False)
    assert m["test_accuracy"] >= 0.415, m
