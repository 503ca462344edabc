"""handgrad vs PyTorch (CPU) on report 002's final two-layer MLP run (3 cycles on 49,000 images):
configs/mlp/report-final.toml.

CIFAR-10 split 'all' (49,000 training / 1,000 validation images, standardised float32), a
3072-50-10 MLP (ReLU, fan-in init, lambda 0.00895), 3 cycles of the cyclical learning rate
(eta 1e-5..1e-1, n_s 980: 5,880 updates of batch 100), with cost, loss and accuracy on the full
training and validation sets at step 0 and 10 times per cycle (31 evaluations).

- handgrad: the public API, ``handgrad.tasks.runs.train(cfg, data)`` (the path every ``handgrad train`` takes).
- pytorch: idiomatic torch on the same float32 arrays (torch.from_numpy, no copy): nn.Sequential
  of nn.Linear/nn.ReLU, torch.optim.SGD with torch.optim.lr_scheduler.CyclicLR (triangular, the
  same schedule), F.cross_entropy + explicit lambda * sum ||W||^2, torch.no_grad evaluation.

Timed: training + evaluations (not data loading, which both share). The two alternate in one
process for ``--repeats`` rounds; medians and the ratio handgrad/pytorch are printed.

Peak memory: the handgrad run (data loading, preprocessing and training) is repeated alone in a
fresh child process that never imports torch, and its peak RSS is read with
resource.getrusage(RUSAGE_CHILDREN).ru_maxrss.

    .venv/bin/python benchmarks/bench_mlp.py [--repeats 5] [--warmup 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET = 0.8
MEMORY_TARGET_GB = 1.5
CONFIG = common.CONFIGS / "mlp" / "report-final.toml"


def load_cfg(path: str | None):
    from handgrad.config import load_config

    return load_config(path or CONFIG)


def handgrad_run(cfg, data):
    return common.fit_summary(cfg, data)


def torch_run(cfg, tensors, d: int, K: int):
    model, weights = common.torch_mlp(cfg, d, K)
    return common.torch_cyclical_fit(cfg, model, weights, tensors)


def memory_child(config: str | None, threads: int | None) -> int:
    """The handgrad run alone, from data loading on; prints JSON facts. Never imports torch."""
    t0 = time.perf_counter()
    if threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
    from handgrad.tasks import load_data as prepare_data
    from handgrad.tasks.runs import train as fit

    def rss_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    cfg = load_cfg(config)
    after_import = rss_mb()
    data = prepare_data(cfg)
    t1 = time.perf_counter()
    after_data = rss_mb()
    fitted = fit(cfg, data, progress=False)
    assert "torch" not in sys.modules
    print(json.dumps({"peak_mb_after_import": after_import, "peak_mb_after_data": after_data,
                      "peak_mb_after_fit": rss_mb(), "data_seconds": t1 - t0, "fit_seconds": fitted.seconds,
                      "val_accuracy": fitted.history.last("val_accuracy")}))
    return 0


def measure_memory(config: str | None, threads: int | None) -> dict:
    """Run ``memory_child`` in a fresh interpreter; its peak RSS is RUSAGE_CHILDREN's ru_maxrss
    (this process starts no other child, so the maximum is that child's)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child"]
    if config:
        cmd += ["--config", config]
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    facts["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    return facts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=0, help="untimed rounds first (default 0: runs are long)")
    ap.add_argument("--config", help=f"default {CONFIG.relative_to(common.ROOT)} (built in code if absent)")
    ap.add_argument("--threads", type=int, help="limit numpy's BLAS and torch to this many threads "
                    "(default: numpy's BLAS thread count, matched in torch)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory child run")
    ap.add_argument("--json", help="also write the numbers to this file")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        return memory_child(args.config, args.threads)

    # memory first: the child then runs before this process has loaded anything big
    mem = None
    if not args.no_memory:
        mem = measure_memory(args.config, args.threads)

    import torch

    cfg = load_cfg(args.config)
    threads, data, tensors, load_s = common.prepare_shared(cfg, args.threads)
    print(f"config {cfg.name}: {data.X_train.shape[0]} train / {data.X_val.shape[0]} val, d={data.d}, K={data.K}, "
          f"hidden {cfg.model.hidden}, {cfg.train.n_cycles:g} cycles n_s={cfg.train.n_s}, dtype {data.X_train.dtype}; "
          f"data loaded in {load_s:.1f} s (shared, not timed); threads: numpy BLAS {common.numpy_threads()}, "
          f"torch {torch.get_num_threads()}", flush=True)
    if mem:
        print(f"handgrad peak memory (fresh process, data loading + preprocessing + training): "
              f"{mem['peak_rss_mb']:.0f} MB (after loading data {mem['peak_mb_after_data']:.0f} MB); "
              f"target <= {MEMORY_TARGET_GB} GB: {'met' if mem['peak_rss_mb'] <= MEMORY_TARGET_GB * 1024 else 'NOT met'}; "
              f"that run: data {mem['data_seconds']:.1f} s, fit {mem['fit_seconds']:.1f} s", flush=True)

    common.compare(handgrad_run, torch_run, cfg, data, tensors, args, TARGET, "mlp-final", threads,
                   lambda last: f"MLP final ({cfg.train.n_cycles:g} cycles, {len(data.y_train)} images, "
                                f"{last['handgrad']['n_records']} evaluations)", "train_cost", extra={"memory": mem})
    if mem:
        print(f"  handgrad peak RSS: {mem['peak_rss_mb']:.0f} MB (target <= {MEMORY_TARGET_GB * 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
