"""handgrad vs PyTorch (CPU) on the final ConvNet: configs/convnet/final.toml (issue 4).

The final net of report 000: one-hot surnames (d=28, n_len=19), Conv1D k1=5 n1=100 -> ReLU ->
Conv1D k2=3 n2=100 -> ReLU -> Linear to 18 classes, no biases, cross-entropy, mini-batch GD with
momentum (rho .9, eta .001), batch 100, balanced sampling every epoch (59 names of each language).

- handgrad: the public API, ``handgrad.tasks.runs.train(cfg, data)`` (the path every ``handgrad train`` takes) on the shipped config; its input
  is what ``prepare_surnames`` gives: character indices (N, n_len), the fast path's gather.
- pytorch: idiomatic torch: the one-hot (N, d, n_len) float32 tensor built once, nn.Sequential of
  nn.Conv1d(bias=False)/nn.ReLU/nn.Flatten/nn.Linear(bias=False), F.cross_entropy,
  torch.optim.SGD(lr=.001, momentum=.9) (the same heavy-ball update for a constant eta), batches
  indexed from the same balanced per-epoch draws (numpy Generator, one permutation per epoch).

Both train ``--updates`` updates (default 2,000, and the time is extrapolated linearly to 20,000;
``--updates 20000`` for the full run) and evaluate loss/accuracy on the full training and validation
sets at step 0 and at the end (as handgrad's Trainer does with record_every = updates). Timed:
training + those evaluations, not data loading. The two alternate in one process for
``--repeats`` rounds (A B, B A, ...); medians and the ratio handgrad/pytorch (wall; also the paired
per-round ratio and the CPU-time ratio, steadier on a loaded machine) are printed. Target:
ratio <= 0.5. Threads: both get ``--threads`` (default 1) BLAS / intra-op threads.

    /tmp/benchvenv2/bin/python benchmarks/bench_convnet_torch.py [--updates 2000] [--repeats 3] [--json out.json]

HANDGRAD_DATA must hold surnames/ (the course files); without it the benchmark uses random names
of the same shape (timing only; the accuracies are then meaningless) and says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import numpy as np  # noqa: E402

TARGET = 0.5
FULL_UPDATES = 20_000
CONFIG = common.CONFIGS / "convnet" / "final.toml"


def load_data(cfg):
    """Prepared data of the config, or a random stand-in of the real shapes (flagged)."""
    import os

    from handgrad import tasks
    from handgrad.datasets import Dataset as Prepared

    root = os.environ.get("HANDGRAD_DATA")
    if root and (Path(root) / "surnames" / "ascii_names.txt").is_file():
        return tasks.load_data(cfg), True
    rng = np.random.default_rng(0)
    counts = [1986, 254, 505, 283, 3654, 263, 710, 189, 218, 695, 977, 80, 125, 60, 9370, 86, 284, 59]
    y = np.repeat(np.arange(18), counts)
    lengths = rng.integers(3, 12, len(y))
    X = rng.integers(2, 28, (len(y), 19)).astype(np.int32)
    X[np.arange(19) >= lengths[:, None]] = -1
    yv = np.repeat(np.arange(18), 14)
    Xv = rng.integers(2, 28, (len(yv), 19)).astype(np.int32)
    return Prepared(X, y, Xv, yv, None, None, tuple(f"class{i}" for i in range(18)),
                    meta={"dataset": "surnames", "d": 28, "n_len": 19}), False


def onehot_nchw(idx: np.ndarray, d: int) -> np.ndarray:
    """(N, n_len) indices (-1 = empty) -> (N, d, n_len) float32 one-hot, torch's Conv1d layout."""
    n, n_len = idx.shape
    X = np.zeros((n, d, n_len), dtype=np.float32)
    rows, pos = np.nonzero(idx >= 0)
    X[rows, idx[rows, pos], pos] = 1
    return X


def handgrad_run(cfg, data):
    from handgrad.metrics import balanced_accuracy
    from handgrad.tasks.runs import train

    fitted = train(cfg, data, progress=False)
    pred = fitted.model.predict(data.X_val)
    return {"val_balanced_accuracy": balanced_accuracy(data.y_val, pred, data.K),
            "train_loss": fitted.history.columns["train_loss"][-1]}


def torch_run(cfg, data, Xt, yt, Xvt, yvt, seed: int = 0):
    import torch
    import torch.nn.functional as F
    from torch import nn

    from handgrad.batches import EpochSampler
    from handgrad.metrics import balanced_accuracy

    tc, mc = cfg.train, cfg.model
    torch.manual_seed(seed)
    d, n_len = data.meta["d"], data.meta["n_len"]
    layers, c, length = [], d, n_len
    for k, nf in mc.convs:
        layers += [nn.Conv1d(c, nf, k, bias=mc.bias), nn.ReLU()]
        c, length = nf, length - k + 1
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * length, data.K, bias=mc.bias))
    opt = torch.optim.SGD(model.parameters(), lr=tc.eta, momentum=tc.rho)
    sampler = EpochSampler(data.y_train, tc.sampling)
    rng = np.random.default_rng(seed)

    def evaluate():
        model.eval()
        with torch.no_grad():
            out = [F.cross_entropy(model(X), y).item() for X, y in ((Xt, yt), (Xvt, yvt))]
        model.train()
        return out

    evaluate()
    step = 0
    while step < tc.n_updates:
        order = torch.from_numpy(sampler.indices(rng))
        for start in range(0, sampler.epoch_size, tc.n_batch):
            if step >= tc.n_updates:
                break
            b = order[start:start + tc.n_batch]
            loss = F.cross_entropy(model(Xt[b]), yt[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    train_loss, _ = evaluate()
    with torch.no_grad():
        pred = model.eval()(Xvt).argmax(dim=1).numpy()
    return {"val_balanced_accuracy": balanced_accuracy(data.y_val, pred, data.K), "train_loss": train_loss}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--updates", type=int, default=2000, help="updates per run (20000: the full run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="BLAS / torch intra-op threads for both")
    ap.add_argument("--config", default=str(CONFIG))
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args(argv)

    import torch

    from handgrad.config import load_config

    n_threads = common.match_threads(args.threads)
    cfg = load_config(args.config, {"train.n_updates": args.updates, "train.record_every": args.updates})
    data, real = load_data(cfg)
    Xt = torch.from_numpy(onehot_nchw(data.X_train, data.meta["d"]))
    Xvt = torch.from_numpy(onehot_nchw(data.X_val, data.meta["d"]))
    yt, yvt = torch.from_numpy(data.y_train.astype(np.int64)), torch.from_numpy(data.y_val.astype(np.int64))
    print(common.machine_line())
    print(f"final ConvNet {cfg.model.convs}, {args.updates} updates of batch {cfg.train.n_batch}, "
          f"sampling {cfg.train.sampling}, {n_threads} thread(s); data: "
          f"{'the course files' if real else 'RANDOM stand-in (no HANDGRAD_DATA/surnames)'}")
    times, last = common.alternate({"handgrad": lambda: handgrad_run(cfg, data),
                                    "pytorch": lambda: torch_run(cfg, data, Xt, yt, Xvt, yvt)},
                                   args.repeats, args.warmup)
    s = common.summary(times)
    common.print_summary(f"{args.updates} updates", s, TARGET)
    scale = FULL_UPDATES / args.updates
    if args.updates != FULL_UPDATES:
        print(f"  extrapolated to {FULL_UPDATES} updates (linear; the two evaluations counted {scale:g}x, an "
              f"overestimate): handgrad {s['handgrad']['median'] * scale:.0f} s wall "
              f"({(s['handgrad']['cpu_median'] or 0) * scale:.0f} s CPU), pytorch {s['pytorch']['median'] * scale:.0f} s "
              f"wall ({(s['pytorch']['cpu_median'] or 0) * scale:.0f} s CPU)")
    for n, r in last.items():
        print(f"  {n:>8}: final training loss {r['train_loss']:.3f}, "
              f"balanced validation accuracy {100 * r['val_balanced_accuracy']:.2f}%")
    if args.json_out:
        from handgrad.io import atomic_write_text  # a crash never leaves half a JSON file

        atomic_write_text(args.json_out, json.dumps({
            "machine": common.machine_line(), "updates": args.updates, "threads": n_threads, "real_data": real,
            "summary": s, "ratio": s["ratio"], "paired_ratio": s.get("paired_ratio"), "cpu_ratio": s.get("cpu_ratio"),
            "target": TARGET, "met": s["ratio"] <= TARGET,
            "extrapolated_s": {n: s[n]["median"] * scale for n in ("handgrad", "pytorch")},
            "results": last}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
