"""Shared helpers for the handgrad-vs-PyTorch benchmarks (benchmarks/bench_*.py).

Both implementations run in ONE process, alternating across repeats (A B, B A, A B, ...) so slow
drifts of a shared, noisy machine hit both about equally; we report medians and the ratio of the
medians handgrad / pytorch (below 1 means handgrad is faster). Both get the same number of
threads: torch.set_num_threads is set to what numpy's BLAS uses (threadpoolctl).

torch is imported lazily so a script's handgrad-only paths (e.g. the memory child process) never
load it. Nothing here is part of the handgrad package.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def blas_info() -> dict:
    """numpy's BLAS as threadpoolctl sees it: library, version, kernel architecture, threads."""
    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        if info.get("user_api") == "blas" and "numpy" in info.get("filepath", ""):
            return info
    for info in threadpool_info():  # numpy built against a system BLAS
        if info.get("user_api") == "blas":
            return info
    return {}


def numpy_threads() -> int:
    return int(blas_info().get("num_threads") or 1)


_limits = None  # keeps a threadpoolctl limit alive for the process


def match_threads(n: int | None = None) -> int:
    """Give torch as many intra-op threads as numpy's BLAS has (or limit both to ``n``);
    returns the common number."""
    global _limits
    import torch

    if n is not None:
        from threadpoolctl import threadpool_limits

        _limits = threadpool_limits(limits=n, user_api="blas")
    n = numpy_threads()
    torch.set_num_threads(n)
    return n


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (no subprocess: the memory measurement reads
    RUSAGE_CHILDREN, which any earlier child would pollute)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """One line describing the machine and the libraries: paste it beside any number."""
    b = blas_info()
    blas = (f"{b.get('internal_api', '?')} {b.get('version', '?')} ({b.get('architecture', '?')}, "
            f"{b.get('num_threads', '?')} threads)") if b else "unknown BLAS"
    parts = [f"{cpu_model()}, {os.cpu_count()} logical CPUs", f"{platform.system()} {platform.release()}",
             f"Python {platform.python_version()}", f"numpy {np.__version__} [{blas}]"]
    if "torch" in sys.modules:
        import torch

        parts.append(f"torch {torch.__version__} [{torch.get_num_threads()} intra-op threads, "
                     f"MKL {'on' if torch.backends.mkl.is_available() else 'off'}, "
                     f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}]")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                      "MKL_NUM_THREADS") if k in os.environ}
    if env:
        parts.append("env " + " ".join(f"{k}={v}" for k, v in env.items()))
    return "; ".join(parts)


def time_once(fn: Callable[[], object]) -> tuple[float, float, object]:
    """Wall-clock and process CPU seconds of one call (garbage collected before, not during)."""
    gc.collect()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        return time.perf_counter() - t0, time.process_time() - c0, out
    finally:
        if gc_was:
            gc.enable()


def alternate(impls: dict[str, Callable[[], object]], repeats: int, warmup: int = 0,
              log: Callable[[str], None] | None = None) -> tuple[dict[str, list[float]], dict[str, object]]:
    """Run every implementation ``repeats`` times, interleaved, swapping the order each round.

    ``warmup`` untimed rounds come first. Returns (wall seconds per implementation, last result of
    each); process CPU seconds are kept under the key ``"<name>:cpu"``.
    """
    log = log or (lambda msg: print(msg, flush=True))
    names = list(impls)
    times: dict[str, list[float]] = {n: [] for n in names}
    times.update({f"{n}:cpu": [] for n in names})
    last: dict[str, object] = {}
    for r in range(warmup + repeats):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            t, cpu, last[n] = time_once(impls[n])
            tag = "warmup" if r < warmup else f"repeat {r - warmup + 1}/{repeats}"
            if r >= warmup:
                times[n].append(t)
                times[f"{n}:cpu"].append(cpu)
            if log:
                log(f"  [{tag}] {n:>8}: {t:8.3f} s wall, {cpu:8.3f} s CPU")
    return times, last


def summary(times: dict[str, list[float]], a: str = "handgrad", b: str = "pytorch") -> dict:
    """Medians (and min/max) per implementation and the ratio of medians a / b (the headline).

    Also, since load on a shared machine drifts between rounds: ``paired_ratio``, the median of
    the per-round ratios (a and b ran back to back), and ``cpu_ratio``, the ratio of the median
    process CPU times (less sensitive to being descheduled, but it counts spinning threads).
    """
    out: dict = {}
    for n in (a, b):
        ts, cpu = times[n], times.get(f"{n}:cpu", [])
        out[n] = {"median": statistics.median(ts), "min": min(ts), "max": max(ts), "runs": ts,
                  "cpu_median": statistics.median(cpu) if cpu else None, "cpu_runs": cpu}
    out["ratio"] = out[a]["median"] / out[b]["median"]
    out["paired_ratio"] = statistics.median(x / y for x, y in zip(times[a], times[b]))
    if out[a]["cpu_median"] and out[b]["cpu_median"]:
        out["cpu_ratio"] = out[a]["cpu_median"] / out[b]["cpu_median"]
    return out


def print_summary(title: str, s: dict, target: float | None = None, a: str = "handgrad",
                  b: str = "pytorch") -> None:
    print(f"\n== {title}")
    for n in (a, b):
        runs = ", ".join(f"{t:.2f}" for t in s[n]["runs"])
        print(f"  {n:>8}: median {s[n]['median']:8.3f} s  (min {s[n]['min']:.3f}, max {s[n]['max']:.3f}; runs {runs})")
    verdict = ""
    if target is not None:
        verdict = f"  target <= {target}: {'met' if s['ratio'] <= target else 'NOT met'}"
    print(f"  ratio {a}/{b} (medians): {s['ratio']:.3f}{verdict}")
    extra = f"  median of per-round ratios: {s['paired_ratio']:.3f}"
    if "cpu_ratio" in s:
        extra += (f"; CPU-time medians {s[a]['cpu_median']:.2f} s / {s[b]['cpu_median']:.2f} s, "
                  f"ratio {s['cpu_ratio']:.3f}")
    print(extra)


def compare(handgrad_run: Callable, torch_run: Callable, cfg, data, tensors, args, target: float, benchmark: str,
            threads, title: Callable[[dict], str], final: str, extra: dict | None = None) -> tuple[dict, dict]:
    """The tail every handgrad-vs-PyTorch script shares: ``handgrad_run(cfg, data)`` and
    ``torch_run(cfg, tensors, d, K)`` alternated for ``args.repeats`` rounds (after ``args.warmup``),
    the summary printed under ``title(last results)``, each side's final validation accuracy and
    ``final`` key (e.g. "train_cost"), and ``args.json`` written atomically with ``extra``.
    Returns (summary, last results)."""
    runs = {"handgrad": lambda: handgrad_run(cfg, data), "pytorch": lambda: torch_run(cfg, tensors, data.d, data.K)}
    times, last = alternate(runs, args.repeats, args.warmup)
    s = summary(times)
    print_summary(f"{title(last)}, median of {args.repeats}", s, target)
    for n, r in last.items():
        print(f"  {n:>8} final: val accuracy {r['val_accuracy']:.4f}, {final.replace('_', ' ')} {r[final]:.4f}, "
              f"{r['n_records']} records")
    if args.json:
        from handgrad.io import atomic_write_text  # a crash never leaves half a JSON file

        atomic_write_text(args.json, json.dumps({"benchmark": benchmark, "machine": machine_line(), "threads": threads,
                                                 "summary": s, "final": last, **(extra or {})}, indent=1))
    return s, last


# -- the PyTorch side ------------------------------------------------------------------------

def prepare_shared(cfg, threads: int | None):
    """Match numpy's and torch's threads, prepare the config's data once (shared by both sides, not
    timed) and wrap the arrays as torch tensors without copying; prints the machine line.

    Returns (threads, data, tensors, seconds spent loading).
    """
    import torch

    from handgrad.tasks import load_data as prepare_data

    threads = match_threads(threads)
    t0 = time.perf_counter()
    data = prepare_data(cfg)
    load_s = time.perf_counter() - t0
    tensors = tuple(torch.from_numpy(a) for a in (data.X_train, data.y_train, data.X_val, data.y_val))
    print(f"machine: {machine_line()}", flush=True)
    return threads, data, tensors, load_s


def torch_evaluate(model, X, y, lam: float, weights) -> dict[str, float]:
    """cost, loss and accuracy on a whole set, as handgrad's Model.evaluate records them."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        s = model(X)
        loss = F.cross_entropy(s, y).item()
        l2 = sum(w.square().sum() for w in weights).item() if lam else 0.0
        acc = (s.argmax(dim=1) == y).float().mean().item()
    return {"cost": loss + lam * l2, "loss": loss, "accuracy": acc}


def torch_train(model, optimizer, scheduler, X, y, X_val, y_val, *, n_updates: int, n_batch: int,
                record_every: int, lam: float, weights, shuffle: bool = False) -> list[dict]:
    """Idiomatic PyTorch mini-batch training mirroring handgrad's Trainer: sequential batches (or
    a fresh permutation every epoch with ``shuffle``, as handgrad's sampling = "shuffle"),
    cost = cross-entropy + lam * sum ||W||^2 (explicit L2, as handgrad), evaluation on the full
    training and validation sets at step 0, every ``record_every`` updates and at the end."""
    import torch
    import torch.nn.functional as F

    def record(step):
        model.eval()
        row = {"step": step}
        row.update({f"train_{k}": v for k, v in torch_evaluate(model, X, y, lam, weights).items()})
        row.update({f"val_{k}": v for k, v in torch_evaluate(model, X_val, y_val, lam, weights).items()})
        model.train()
        return row

    history = [record(0)]
    n, step = len(y), 0
    model.train()
    gen = torch.Generator().manual_seed(0)
    while step < n_updates:
        order = torch.randperm(n, generator=gen) if shuffle else None
        for start in range(0, n, n_batch):
            if step >= n_updates:
                break
            if order is None:
                xb, yb = X[start:start + n_batch], y[start:start + n_batch]
            else:
                idx = order[start:start + n_batch]
                xb, yb = X[idx], y[idx]
            cost = F.cross_entropy(model(xb), yb)
            if lam:
                cost = cost + lam * sum(w.square().sum() for w in weights)
            optimizer.zero_grad(set_to_none=True)
            cost.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            if step % record_every == 0 or step == n_updates:
                history.append(record(step))
    return history


def torch_mlp(cfg, d: int, K: int):
    """The idiomatic torch twin of handgrad's ``mlp`` for ``cfg.model``: nn.Linear (no bias before batch
    norm, as handgrad), nn.BatchNorm1d (momentum 1 - alpha, the same eps) when ``batch_norm``, nn.ReLU;
    handgrad's initialisation (N(0, 1/fan_in) for 'fan_in', N(0, 2/fan_in) for 'he'), zero biases.
    Returns (model, the Linear weights that L2 applies to)."""
    import torch
    from torch import nn

    mc = cfg.model
    torch.manual_seed(cfg.seed)
    sizes = [d, *mc.hidden]
    layers: list = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(a, b, bias=not mc.batch_norm))
        if mc.batch_norm:
            layers.append(nn.BatchNorm1d(b, eps=mc.bn_eps, momentum=1.0 - mc.bn_alpha))
        layers.append(nn.ReLU())
    layers.append(nn.Linear(sizes[-1], K))
    model = nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    gain = {"fan_in": 1.0, "he": 2.0}[mc.init or "fan_in"]
    with torch.no_grad():
        for m in linears:
            m.weight.normal_(0.0, (gain / m.in_features) ** 0.5)
            if m.bias is not None:
                m.bias.zero_()
    return model, [m.weight for m in linears]


def torch_cyclical_fit(cfg, model, weights, tensors) -> dict:
    """Train a torch ``model`` the way handgrad trains ``cfg``: SGD with lr_scheduler.CyclicLR
    (triangular: handgrad's cyclical schedule), the config's updates, records and sampling, the L2
    term on ``weights``; returns the final record's numbers as the handgrad side's ``fit_summary``."""
    import torch

    from handgrad.tasks import plan

    tc = cfg.train
    p = plan(tc, len(tensors[1]), len(tensors[1]))
    opt = torch.optim.SGD(model.parameters(), lr=tc.eta_min)
    sched = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=tc.eta_min, max_lr=tc.eta_max, step_size_up=p.n_s,
                                              mode="triangular", cycle_momentum=False)
    hist = torch_train(model, opt, sched, *tensors, n_updates=p.n_updates, n_batch=tc.n_batch,
                       record_every=p.record_every, lam=tc.lam, weights=weights, shuffle=tc.sampling == "shuffle")
    return {"n_records": len(hist), "val_accuracy": hist[-1]["val_accuracy"], "train_cost": hist[-1]["train_cost"]}


def fit_summary(cfg, data) -> dict:
    """The handgrad side: ``handgrad.tasks.runs.train``, as ``handgrad train``; the final record's numbers."""
    from handgrad.tasks.runs import train as fit

    h = fit(cfg, data, progress=False).history
    return {"n_records": len(h), "val_accuracy": h.last("val_accuracy"), "train_cost": h.last("train_cost")}
