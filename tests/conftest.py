"""Shared fixtures: fake data sets in the official formats, written per test into tmp folders."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fakes import make_fake_cifar


@pytest.fixture(autouse=True)
def _fresh_data_cache():
    """Data sets are cached in memory per process; tests that swap data must not see stale ones."""
    from handgrad import tasks

    tasks._cache.clear()
    yield
    tasks._cache.clear()


@pytest.fixture
def fake_cifar_with(tmp_path, monkeypatch):
    """make(n_per_batch, seed): write a small fake CIFAR-10 and point HANDGRAD_DATA at it."""

    def make(n_per_batch: int = 60, seed: int = 0):
        root = tmp_path / "data"
        make_fake_cifar(root, n_per_batch=n_per_batch, seed=seed)
        monkeypatch.setenv("HANDGRAD_DATA", str(root))
        return root

    return make


@pytest.fixture
def fake_cifar(fake_cifar_with):
    """HANDGRAD_DATA pointing at a small fake CIFAR-10 (60 images per batch)."""
    return fake_cifar_with()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``realdata`` run only when HANDGRAD_DATA points at the real data."""
    root = os.environ.get("HANDGRAD_DATA")
    if root and os.path.isdir(root):
        return
    skip = pytest.mark.skip(reason="needs HANDGRAD_DATA with the real data sets")
    for item in items:
        if "realdata" in item.keywords:
            item.add_marker(skip)
