"""``--quick``: reduced budgets derived from each config (same pipeline, smaller numbers).

A family may declare its own :class:`QuickBudget`; the defaults are: first 2,000 training images, at
most 10 epochs, two short cycles (one for wide networks), 200 updates, 3 search trials, 2 repeats,
20-dimensional gradient checks on at most 20 examples. Quick reports say so and claim nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handgrad.datasets import sources
from handgrad.datasets.cifar import load_batch
from handgrad.reproduction.spec import Experiment


@dataclass(frozen=True)
class QuickBudget:
    n_train: int = 2000
    n_val: int = 1000
    epochs: int = 10
    cycles: int = 2
    wide: int = 200  # hidden units above which a network counts as wide
    updates: int = 200
    trials: int = 3
    repeat: int = 2
    gradcheck_dims: int = 20
    gradcheck_batch: int = 20


_sizes: dict[tuple, int] = {}


def cifar_batch_size() -> int:
    """Images per CIFAR-10 training batch (10,000 in the official data; fewer in test fakes)."""
    root = sources.cifar10_dir()
    key = (str(root),)
    if key not in _sizes:
        folder = root if root.is_dir() else None
        if folder is not None and not (folder / "data_batch_1").is_file() and (folder / sources.CIFAR10_FOLDER).is_dir():
            folder = folder / sources.CIFAR10_FOLDER
        if folder is None:  # the official archive: 10,000 per batch
            _sizes[key] = 10000
        else:
            _sizes[key] = len(load_batch(folder / "data_batch_1")[1])
    return _sizes[key]


def quick_overrides(cfg, exp: Experiment, q: QuickBudget = QuickBudget()) -> dict[str, Any]:
    """Overrides that cut a config's budget for ``--quick``."""
    ov: dict[str, Any] = {}
    dc, tc = cfg.data, cfg.train
    n_train = None
    if dc.dataset == "cifar10":
        per_batch = cifar_batch_size()
        if dc.split == "all":
            n_val = min(dc.n_val, q.n_val, max(1, per_batch))
            if n_val != dc.n_val:
                ov["data.n_val"] = n_val
            avail = 5 * per_batch - n_val
        else:
            avail = per_batch
        n_full = dc.n_train or avail
        n_train = min(q.n_train, n_full)
        if n_train < n_full:
            ov["data.n_train"] = n_train
    elif dc.dataset == "text":  # n_train counts characters
        n_train = n_full = q.n_train
        if dc.n_train is None or dc.n_train > q.n_train:
            ov["data.n_train"] = q.n_train
    if exp.kind == "gradcheck":
        return ov
    if tc.n_epochs is not None and tc.n_epochs > q.epochs:
        ov["train.n_epochs"] = q.epochs
    if tc.n_updates is not None and tc.n_updates > q.updates:
        ov["train.n_updates"] = q.updates
        if tc.record_every is not None and tc.record_every > q.updates // 4:
            ov["train.record_every"] = max(1, q.updates // 4)
    if tc.schedule == "cyclical":
        # wide networks (the bonus nets, m=1000) cost 20x an m=50 update: one short cycle for them
        wide = cfg.kind == "mlp" and max(cfg.model.hidden, default=0) > q.wide
        cycles = 1 if wide else q.cycles
        if tc.n_cycles is not None and tc.n_cycles > cycles:
            ov["train.n_cycles"] = cycles
        if tc.n_s is not None and n_train is not None and n_train < n_full:
            # the same number of epochs per half cycle on the smaller training set
            n_s = max(10, round(tc.n_s * n_train / n_full / (2 if wide else 1)))
            if n_s < tc.n_s:
                ov["train.n_s"] = n_s
    if exp.kind == "search":
        sc = cfg.search
        if sc.log_grid:
            ov["search.log_grid"] = {k: [lo, hi, min(int(n), q.trials)] for k, (lo, hi, n) in sc.log_grid.items()}
        if sc.log_uniform and sc.n_trials > q.trials:
            ov["search.n_trials"] = q.trials
        if sc.grid:
            ov["search.grid"] = {k: list(v)[:2] for k, v in sc.grid.items()}
    return ov


def quick_cases(exp: Experiment, q: QuickBudget = QuickBudget()) -> tuple:
    """The gradient-check cases on at most ``gradcheck_dims`` dimensions and ``gradcheck_batch`` examples
    (one per full case, in order, so the published rows still line up)."""
    return tuple((min(b, q.gradcheck_batch), lam, q.gradcheck_dims if nd is None or nd > q.gradcheck_dims else nd)
                 for b, lam, nd in exp.cases)


def repeats(exp: Experiment, quick: bool, q: QuickBudget = QuickBudget()) -> int:
    """How many seeds a repeat experiment trains (1 for other kinds)."""
    if exp.kind != "repeat":
        return 1
    return min(exp.repeat, q.repeat) if quick else exp.repeat


def cases(exp: Experiment, quick: bool, q: QuickBudget = QuickBudget()) -> tuple:
    """The gradient-check cases an experiment runs (none for other kinds)."""
    if exp.kind != "gradcheck":
        return ()
    return quick_cases(exp, q) if quick else exp.cases
