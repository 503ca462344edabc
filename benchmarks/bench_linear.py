"""handgrad vs PyTorch (CPU) on a full linear-classifier run: configs/linear/setting2.toml.

CIFAR-10 split 'a1' (10,000 training / 10,000 validation images, standardised float32), a
softmax linear classifier, 40 epochs of 100 updates (batch 100, eta 0.001, lambda 0), with the
per-epoch curves: cost, loss and accuracy on the full training and validation sets at step 0 and
after every epoch (41 evaluations), as handgrad's Trainer records them.

- handgrad: the public API, ``handgrad.tasks.runs.train(cfg, data)`` (the path every ``handgrad train`` takes).
- pytorch: idiomatic torch on the same float32 arrays (torch.from_numpy, no copy): nn.Linear,
  torch.optim.SGD, F.cross_entropy (+ explicit L2 when lambda > 0), torch.no_grad evaluation.

Timed: training + evaluations (not data loading, which both share). The two alternate in one
process for ``--repeats`` rounds; medians and the ratio handgrad/pytorch are printed.

    .venv/bin/python benchmarks/bench_linear.py [--repeats 5] [--warmup 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET = 0.8


def handgrad_run(cfg, data):
    from handgrad.tasks.runs import train as fit

    fitted = fit(cfg, data, progress=False)
    h = fitted.history
    return {"n_records": len(h), "val_accuracy": h.last("val_accuracy"), "train_loss": h.last("train_loss")}


def torch_run(cfg, tensors, d: int, K: int):
    import torch
    from torch import nn

    tc = cfg.train
    torch.manual_seed(cfg.seed)
    model = nn.Linear(d, K)
    with torch.no_grad():  # the A1 initialisation N(0, 0.01^2) for W and b, as handgrad's 'normal'
        model.weight.normal_(0.0, 0.01)
        model.bias.normal_(0.0, 0.01)
    opt = torch.optim.SGD(model.parameters(), lr=tc.eta)
    spe = -(-len(tensors[1]) // tc.n_batch)
    hist = common.torch_train(model, opt, None, *tensors, n_updates=int(round(tc.n_epochs * spe)),
                              n_batch=tc.n_batch, record_every=spe, lam=tc.lam, weights=[model.weight],
                              shuffle=tc.sampling == "shuffle")
    return {"n_records": len(hist), "val_accuracy": hist[-1]["val_accuracy"], "train_loss": hist[-1]["train_loss"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    ap.add_argument("--config", default=str(common.CONFIGS / "linear" / "setting2.toml"))
    ap.add_argument("--threads", type=int, help="limit numpy's BLAS and torch to this many threads "
                    "(default: numpy's BLAS thread count, matched in torch)")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args(argv)

    import torch

    from handgrad.config import load_config

    cfg = load_config(args.config)
    threads, data, tensors, load_s = common.prepare_shared(cfg, args.threads)
    print(f"config {args.config}: {data.X_train.shape[0]} train / {data.X_val.shape[0]} val, d={data.d}, "
          f"K={data.K}, {cfg.train.n_epochs:g} epochs, dtype {data.X_train.dtype}; data loaded in {load_s:.1f} s "
          f"(shared, not timed); threads: numpy BLAS {common.numpy_threads()}, torch {torch.get_num_threads()}",
          flush=True)

    common.compare(handgrad_run, torch_run, cfg, data, tensors, args, TARGET, "linear-setting2", threads,
                   lambda last: f"linear setting 2 ({cfg.train.n_epochs:g} epochs, per-epoch curves)",
                   "train_loss")
    return 0


if __name__ == "__main__":
    sys.exit(main())
