"""handgrad vs PyTorch (CPU) on the A3 sheet's 3-layer batch-norm run: configs/bn/3layer-bn.toml.

CIFAR-10 split 'all' (45,000 training / 5,000 validation images, standardised float32), a
3072-50-50-10 MLP with batch normalisation before each hidden ReLU (He initialisation, lambda
0.005), 2 cycles of the cyclical learning rate (eta 1e-5..1e-1, n_s 2,250: 9,000 updates of batch
100, batches reshuffled every epoch), with cost, loss and accuracy on the full training and
validation sets at step 0 and 10 times per cycle (21 evaluations, with the running averages).

- handgrad: the public API, ``handgrad.tasks.runs.train(cfg, data)`` (the path every ``handgrad train`` takes).
- pytorch: idiomatic torch on the same float32 arrays (torch.from_numpy, no copy): nn.Sequential of
  nn.Linear (no bias before batch norm, as handgrad), nn.BatchNorm1d (momentum 1 - alpha = 0.1, the
  same eps), nn.ReLU; torch.optim.SGD with lr_scheduler.CyclicLR (triangular, the same schedule);
  F.cross_entropy + explicit lambda * sum ||W||^2; model.eval() + torch.no_grad() evaluation.

Timed: training + evaluations (not data loading, which both share). The two alternate in one process
for ``--repeats`` rounds; medians and the ratio handgrad/pytorch are printed.

    .venv/bin/python benchmarks/bench_bn.py [--repeats 3] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET = 0.7
CONFIG = common.CONFIGS / "bn" / "3layer-bn.toml"


def handgrad_run(cfg, data):
    return common.fit_summary(cfg, data)


def torch_run(cfg, tensors, d: int, K: int):
    model, weights = common.torch_mlp(cfg, d, K)
    return common.torch_cyclical_fit(cfg, model, weights, tensors)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=0, help="untimed rounds first (default 0: runs are long)")
    ap.add_argument("--config", help=f"default {CONFIG.relative_to(common.ROOT)}")
    ap.add_argument("--threads", type=int, help="limit numpy's BLAS and torch to this many threads "
                    "(default: numpy's BLAS thread count, matched in torch)")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args(argv)

    import torch

    from handgrad.config import load_config

    cfg = load_config(args.config or CONFIG)
    threads, data, tensors, load_s = common.prepare_shared(cfg, args.threads)
    print(f"config {cfg.name}: {data.X_train.shape[0]} train / {data.X_val.shape[0]} val, d={data.d}, K={data.K}, "
          f"hidden {cfg.model.hidden}, batch norm {cfg.model.batch_norm}, {cfg.train.n_cycles:g} cycles; "
          f"data loaded in {load_s:.1f} s (shared, not timed); threads: numpy BLAS {common.numpy_threads()}, "
          f"torch {torch.get_num_threads()}", flush=True)
    common.compare(handgrad_run, torch_run, cfg, data, tensors, args, TARGET, "bn-3layer", threads,
                   lambda last: f"3-layer batch-norm net ({cfg.train.n_cycles:g} cycles, {len(data.y_train)} images, "
                                f"{last['handgrad']['n_records']} evaluations)", "train_cost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
