"""``handgrad gradcheck`` passes on every config under configs/ (a glob: a new config joins by itself),
on small fake data in the real formats, and (marked realdata) on the real data sets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakes import make_fake_surnames
from handgrad.cli import app
from handgrad.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*/*.toml"))
IDS = [f"{p.parent.name}/{p.stem}" for p in CONFIGS]
runner = CliRunner()


@pytest.fixture
def fake_data(fake_cifar_with):
    root = fake_cifar_with(60)
    make_fake_surnames(root)
    # the RNN configs hold out the book's last 50,000 characters: a longer text in its place
    (root / "text").mkdir()
    words = ("harry", "ron", "hermione", "said", "the", "wand", "Dumbledore", "Goblet", "of", "Fire.")
    rng = __import__("numpy").random.default_rng(0)
    (root / "text" / "goblet_book.txt").write_text(" ".join(rng.choice(words, 20_000)) + "\n", encoding="utf-8")
    return root


def _run(path: Path, sets: list[str]) -> dict:
    r = runner.invoke(app, ["gradcheck", str(path), *sets, "--json"])
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_gradcheck_passes_on_every_config(path, fake_data):
    cfg = load_config(path)
    sets = ["--set", "data.n_val=20"] if cfg.data.dataset == "cifar10" and cfg.data.split == "all" else []
    res = _run(path, sets)
    assert res["tolerance"] == 1e-6  # the default, unchanged
    worst = {(c["batch_size"], c["lambda"]): c["reference"]["max_rel"] for c in res["cases"]}
    assert res["passed"], f"{path}: {worst}"
    assert all(c["reference"]["method"] == "complex" for c in res["cases"])


@pytest.mark.realdata
@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_gradcheck_passes_on_every_config_real_data(path):
    root = Path(os.environ["HANDGRAD_DATA"])
    dataset = load_config(path).data.dataset
    folder = {"cifar10": "cifar-10-batches-py", "text": "text"}.get(dataset, "surnames")
    if not (root / folder).is_dir():
        pytest.skip(f"HANDGRAD_DATA has no {dataset}")
    res = _run(path, [])
    assert res["passed"], res
