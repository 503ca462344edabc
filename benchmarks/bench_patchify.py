"""handgrad vs PyTorch (CPU) on the 2025/26 A3 sheet's architecture 5: configs/patchify/arch5.toml.

CIFAR-10 split 'all' (49,000 training / 1,000 validation images, standardised float32); the patchify
ConvNet f = 4, n_f = 40, n_h = 300 (40 filters of 4 x 4 x 3 with stride 4, ReLU, 300 ReLU units,
10 scores), He initialisation, lambda .0025 on the filters and both dense matrices; SGD with the
cyclical learning rate in 4 cycles whose half-length doubles (800 to 6,400: 24,000 updates of batch
100), the training images reshuffled every epoch; cost, loss and accuracy on the full training and
validation sets 10 times per cycle.

- handgrad: ``handgrad.tasks.runs.train(cfg, data)``, the path every ``handgrad train`` takes.
- pytorch: idiomatic torch on the same float32 arrays: ``nn.Conv2d(3, 40, 4, stride=4)``, nn.ReLU,
  nn.Flatten, nn.Linear, torch.optim.SGD with the same schedule (``LambdaLR`` on handgrad's
  ``Cyclical``, which CyclicLR cannot express with doubling cycles), F.cross_entropy + explicit L2.

The two alternate in one process for ``--repeats`` rounds; medians, the ratio handgrad/pytorch and
each side's updates per second are printed (target: handgrad at most 0.6x PyTorch's time). Then the
sheet's comparison of the convolution's two forms on a prebuilt patch matrix MX for a batch of 100: one
matrix product for the batch (the sheet's einsum) against a loop over its images (the sheet's step 2;
the sheet: more than 3x), the forward product alone and with the filters' gradient; then the same on
1,000 images.

    .venv/bin/python benchmarks/bench_patchify.py [--repeats 3] [--updates N] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET = 0.6
SHEET_SPEEDUP = 3.0
CONFIG = common.CONFIGS / "patchify" / "arch5.toml"


def load_cfg(path: str | None, updates: int | None):
    from handgrad.config import load_config

    cfg = load_config(path or CONFIG)
    if updates:
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"n_cycles": None, "n_updates": updates})})
    return cfg


def handgrad_run(cfg, data):
    return common.fit_summary(cfg, data)


def torch_patchify(cfg, K: int):
    """The idiomatic torch twin of ``networks.patchify_convnet``; returns (model, the L2 weights)."""
    import torch
    from torch import nn

    mc = cfg.model
    torch.manual_seed(cfg.seed)
    n_p = (32 // mc.f) ** 2
    conv = nn.Conv2d(3, mc.nf, mc.f, stride=mc.f)
    hidden, out = nn.Linear(n_p * mc.nf, mc.nh), nn.Linear(mc.nh, K)
    model = nn.Sequential(nn.Unflatten(1, (3, 32, 32)), conv, nn.ReLU(), nn.Flatten(), hidden, nn.ReLU(), out)
    with torch.no_grad():  # He, zero biases: as handgrad
        for m, fan_in in ((conv, 3 * mc.f * mc.f), (hidden, hidden.in_features), (out, out.in_features)):
            m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
            m.bias.zero_()
    return model, [conv.weight, hidden.weight, out.weight]


def torch_run(cfg, tensors, d: int, K: int):
    import torch

    from handgrad.tasks import plan

    model, weights = torch_patchify(cfg, K)
    tc = cfg.train
    p = plan(tc, len(tensors[1]), len(tensors[1]))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=p.schedule)  # lr = 1.0 * schedule(step)
    hist = common.torch_train(model, opt, sched, *tensors, n_updates=p.n_updates, n_batch=tc.n_batch,
                              record_every=p.record_every, lam=tc.lam, weights=weights,
                              shuffle=tc.sampling == "shuffle")
    return {"n_records": len(hist), "val_accuracy": hist[-1]["val_accuracy"], "train_cost": hist[-1]["train_cost"]}


def conv_forms(f: int = 4, nf: int = 40, n: int = 100, reps: int = 30) -> dict:
    """The sheet's comparison: the convolution on a prebuilt MX, one product for the batch (its einsum)
    against a loop over the images (its step 2). Median seconds of the forward product alone
    ("matmul", "loop") and of the forward product plus the filters' gradient ("*_with_grad")."""
    from handgrad.nn import PatchConv2D

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3072)).astype(np.float32)
    out = {}
    for impl in ("matmul", "loop"):
        layer = PatchConv2D(f, nf, impl=impl, rng=np.random.default_rng(0))
        MX = np.ascontiguousarray(layer.patches(x))  # built once, as the sheet does, and not timed
        dH = rng.standard_normal((n, layer.n_p, nf)).astype(np.float32)
        fwd, both = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            layer.convolve(MX)
            t1 = time.perf_counter()
            layer.filter_grad(MX, dH)
            fwd.append(t1 - t0)
            both.append(time.perf_counter() - t0)
        out[impl], out[f"{impl}_with_grad"] = statistics.median(fwd), statistics.median(both)
    out["speedup"] = out["loop"] / out["matmul"]
    out["speedup_with_grad"] = out["loop_with_grad"] / out["matmul_with_grad"]
    out["n"] = n
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--updates", type=int, help="train this many updates instead of the config's 4 cycles")
    ap.add_argument("--config", help=f"default {CONFIG.relative_to(common.ROOT)}")
    ap.add_argument("--threads", type=int, help="limit numpy's BLAS and torch to this many threads")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args(argv)

    import torch

    cfg = load_cfg(args.config, args.updates)
    threads, data, tensors, load_s = common.prepare_shared(cfg, args.threads)
    from handgrad.tasks import plan

    n_updates = plan(cfg.train, len(data.y_train), len(data.y_train)).n_updates
    print(f"config {cfg.name}: {data.X_train.shape[0]} train / {data.X_val.shape[0]} val, f={cfg.model.f}, "
          f"n_f={cfg.model.nf}, n_h={cfg.model.nh}, {n_updates:,} updates; data loaded in {load_s:.1f} s (shared, "
          f"not timed); threads: numpy BLAS {common.numpy_threads()}, torch {torch.get_num_threads()}", flush=True)
    forms = conv_forms(cfg.model.f, cfg.model.nf, cfg.train.n_batch)  # a training batch
    forms_large = conv_forms(cfg.model.f, cfg.model.nf, 10 * cfg.train.n_batch, reps=10)
    s, last = common.compare(handgrad_run, torch_run, cfg, data, tensors, args, TARGET, "patchify-arch5", threads,
                             lambda last: f"patchify architecture 5 ({n_updates:,} updates, "
                                          f"{last['handgrad']['n_records']} evaluations)", "train_cost",
                             extra={"conv_forms": forms, "conv_forms_large": forms_large, "n_updates": n_updates})
    for side in ("handgrad", "pytorch"):
        print(f"  {side:>8}: {n_updates / s[side]['median']:.0f} updates per second (evaluations included)")
    for fm in (forms, forms_large):
        print(f"  the convolution on a prebuilt MX of {fm['n']} images: one product {1000 * fm['matmul']:.2f} ms, "
              f"a loop over the images {1000 * fm['loop']:.2f} ms: {fm['speedup']:.1f}x (the sheet: more than "
              f"{SHEET_SPEEDUP:g}x); with the filters' gradient {1000 * fm['matmul_with_grad']:.2f} against "
              f"{1000 * fm['loop_with_grad']:.2f} ms: {fm['speedup_with_grad']:.1f}x")
    if args.json:  # compare() wrote the file; add the updates per second
        data_out = json.loads(Path(args.json).read_text())
        data_out["updates_per_second"] = {k: n_updates / s[k]["median"] for k in ("handgrad", "pytorch")}
        from handgrad.io import atomic_write_text

        atomic_write_text(args.json, json.dumps(data_out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
