"""Time the convolution implementations as in report 000's table 2 (the A3 efficiency variants).

Setting of the report: k1=5, n1=10, k2=5, n2=10, batch 100, SGD with momentum (eta=.001, rho=.9),
5 epochs over the 19,798 training names = 5 x 198 = 990 updates. Each implementation trains the same
network (same initialisation, same batches) and we time forward + backward + momentum step; for
variants (a) and (a)+(b) the one-off sparse precomputation of the first layer's matrices is timed
separately and added to the total, as it was part of the peer's run. Implementations alternate in a
rotating order across repeats and the table reports medians, so a burst of load on a shared machine
hits every implementation alike.

The reference and the sheet's variants get the course's input, float one-hot vectors (N, d*n_len);
``fast`` gets the same names as character indices (N, n_len) (``Encoder.indices``), which lets its first
layer gather filter columns instead of multiplying by a mostly-zero matrix; ``fast-dense`` is ``fast``
on the float one-hot input, to show what the indices buy.

    HANDGRAD_DATA=/path/to/data python benchmarks/bench_conv_variants.py            # the full table
    python benchmarks/bench_conv_variants.py --epochs 1 --repeats 1                  # quicker
    python benchmarks/bench_conv_variants.py --budget 10                             # cap each run at 10 s

``--updates`` caps the number of updates; ``--budget`` stops a run after that many seconds and
extrapolates its per-update time to all updates (the table says so). BLAS runs on one thread by
default (``--threads``) because the matrices are small and the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from handgrad.datasets.names.files import load_surnames
from handgrad.networks import convnet
from handgrad.nn import conv_variants

try:
    from handgrad.optim import Momentum
except ImportError:  # the optimizer module is optional for this script
    Momentum = None

# report 000, table 2 (MATLAB, 5 epochs): seconds and speed-up over no optimisation
PEER = {"mfmx": (176.715, "-"), "a": (143.063, "1.24x"), "b": (30.873, "5.72x"), "ab": (25.501, "6.93x")}
LABEL = {"mfmx": "- (MF/MX reference)", "a": "(a)", "b": "(b)", "ab": "(a)+(b)", "fast": "fast, index input",
         "fast-dense": "fast, one-hot input"}
VARIANTS = ("mfmx", "a", "b", "ab", "fast", "fast-dense")


class InlineMomentum:
    """v <- rho v + eta g; theta <- theta - v (the sheet's momentum), if handgrad.optim is absent."""

    def __init__(self, rho: float) -> None:
        self.rho, self.v = rho, {}

    def step(self, model, lr: float) -> None:
        for name, layer, k in model.named_params():
            v = self.v.setdefault(name, np.zeros_like(layer.grads[k]))
            v *= self.rho
            v += lr * layer.grads[k]
            layer.params[k] -= v


def make_batches(n: int, batch: int, epochs: int, seed: int) -> list[np.ndarray]:
    """Index arrays of every update: shuffled epochs, the last batch of an epoch may be short."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(epochs):
        perm = rng.permutation(n)
        out += [perm[i:i + batch] for i in range(0, n, batch)]
    return out


def run_once(variant, inputs, y, batches, args, budget):
    """Train a fresh network; returns (precompute s, seconds per update, updates done, first loss)."""
    impl = variant.split("-")[0]
    X = inputs["indices" if variant == "fast" else "onehot"]
    model = convnet(args.d, args.n_len, args.K, [(args.k1, args.n1), (args.k2, args.n2)],
                    impl=impl, rng=np.random.default_rng(args.seed))
    opt = Momentum(args.rho) if Momentum is not None else InlineMomentum(args.rho)
    t_pre = 0.0
    if impl in ("a", "ab"):
        t0 = time.perf_counter()
        conv_variants.precompute(model.layers[0], X)
        t_pre = time.perf_counter() - t0
    first_loss = None
    done = 0
    t0 = time.perf_counter()
    for idx in batches:
        scores = model.forward(X[idx], train=True)
        loss, dscores = model.loss(scores, y[idx])
        model.backward(dscores)
        opt.step(model, args.eta)
        if first_loss is None:
            first_loss = loss
        done += 1
        if budget is not None and time.perf_counter() - t0 > budget and done >= args.min_updates:
            break
    return t_pre, (time.perf_counter() - t0) / done, done, first_loss


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=None, help="surnames folder (default $HANDGRAD_DATA/surnames)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--updates", type=int, default=None, help="cap on the number of updates")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--k1", type=int, default=5)
    p.add_argument("--n1", type=int, default=10)
    p.add_argument("--k2", type=int, default=5)
    p.add_argument("--n2", type=int, default=10)
    p.add_argument("--eta", type=float, default=0.001)
    p.add_argument("--rho", type=float, default=0.9)
    p.add_argument("--impls", default=",".join(VARIANTS), help=f"some of {','.join(VARIANTS)}")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget", type=float, default=None,
                   help="seconds per run; a run that exceeds it stops and is extrapolated")
    p.add_argument("--min-updates", type=int, default=20, help="updates measured before --budget may stop a run")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)

    root = args.data
    if root is None:
        if not os.environ.get("HANDGRAD_DATA"):
            print("set HANDGRAD_DATA to the folder holding surnames/ (or pass --data)", file=sys.stderr)
            return 2
        root = Path(os.environ["HANDGRAD_DATA"]) / "surnames"
    impls = [s.strip() for s in args.impls.split(",") if s.strip()]
    unknown = [s for s in impls if s not in VARIANTS]
    if unknown:
        print(f"unknown impl(s) {unknown}; choose from {VARIANTS}", file=sys.stderr)
        return 2

    data = load_surnames(root)
    enc = data.encoder()
    args.d, args.n_len, args.K = enc.d, enc.n_len, data.K
    names, y = data.subset("train")
    inputs = {"onehot": enc.encode(names, dtype=np.float32),  # the course's float one-hot input
              "indices": enc.indices(names)}
    batches = make_batches(len(names), args.batch, args.epochs, args.seed)
    if args.updates is not None:
        batches = batches[:args.updates]
    total = len(batches)

    per_update = {i: [] for i in impls}
    pre = {i: [] for i in impls}
    done = {i: [] for i in impls}
    first = {}
    with threadpool_limits(args.threads):
        for impl in impls:  # warm-up (untimed): first calls, BLAS and page faults
            run_once(impl, inputs, y, batches[:3], args, None)
        for r in range(args.repeats):
            order = impls[r % len(impls):] + impls[:r % len(impls)]
            for impl in order:
                t_pre, t_up, n_done, loss0 = run_once(impl, inputs, y, batches, args, args.budget)
                pre[impl].append(t_pre)
                per_update[impl].append(t_up)
                done[impl].append(n_done)
                first[impl] = loss0
                print(f"  repeat {r + 1}/{args.repeats} {impl:>10}: {t_up * 1e3:8.3f} ms/update over {n_done} "
                      f"updates, precompute {t_pre:.2f} s", file=sys.stderr, flush=True)

    rows = []
    for impl in impls:
        med_up = statistics.median(per_update[impl])
        med_pre = statistics.median(pre[impl])
        rows.append({"impl": impl, "precompute_s": med_pre, "ms_per_update": med_up * 1e3,
                     "total_s": med_pre + med_up * total, "updates_measured": min(done[impl]),
                     "extrapolated": min(done[impl]) < total, "first_batch_loss": first[impl]})
    ref = next((r for r in rows if r["impl"] == "mfmx"), rows[0])
    for r in rows:
        r["speedup_total"] = ref["total_s"] / r["total_s"]
        r["speedup_per_update"] = ref["ms_per_update"] / r["ms_per_update"]

    ref_txt = f"speed-up = total time of {LABEL[ref['impl']].strip()} / total time"
    epochs_txt = f"{total / math.ceil(len(names) / args.batch):g} epochs"
    print(f"\nConvNet k1={args.k1} n1={args.n1} k2={args.k2} n2={args.n2}, batch {args.batch}, {total} updates "
          f"({epochs_txt} of {len(names)} training names), momentum eta={args.eta} rho={args.rho}, float32")
    print(f"numpy {np.__version__}, python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, BLAS threads {args.threads}; median of {args.repeats} repeat(s), "
          f"implementations alternating; {ref_txt}\n")
    head = (f"| {'optimisation':<20} | {'precompute s':>12} | {'ms/update':>9} | {'total s':>8} | "
            f"{'speed-up':>8} | {'peer s (speed-up)':>17} |")
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        peer = PEER.get(r["impl"])
        peer_txt = f"{peer[0]:.1f} ({peer[1]})" if peer else "-"
        total_txt = f"{r['total_s']:.2f}" + ("*" if r["extrapolated"] else "")
        print(f"| {LABEL[r['impl']]:<20} | {r['precompute_s']:>12.2f} | {r['ms_per_update']:>9.3f} | "
              f"{total_txt:>8} | {r['speedup_total']:>7.2f}x | {peer_txt:>17} |")
    if any(r["extrapolated"] for r in rows):
        print(f"\n* extrapolated: the run measured only part of the {total} updates (--updates/--budget); "
              "total = precompute + median ms/update x all updates. Measured: "
              + ", ".join(f"{r['impl']} {r['updates_measured']}" for r in rows if r["extrapolated"]))
    losses = [r["first_batch_loss"] for r in rows]
    print(f"\nfirst-batch loss, all implementations (same init and batch): {min(losses):.6f}..{max(losses):.6f}")
    print("peer: MATLAB, report 000 table 2 (5 epochs, 990 updates).")
    if args.json:
        from handgrad.io import atomic_write_text  # a crash never leaves half a JSON file

        atomic_write_text(args.json, json.dumps({"setting": {k: (str(v) if isinstance(v, Path) else v)
                                                             for k, v in vars(args).items()},
                                                 "updates": total, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
