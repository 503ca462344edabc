"""handgrad vs PyTorch (CPU) on the A4 sheet's character RNN: configs/rnn/goblet.toml for 20,000
updates.

The book read in order, one sequence of 25 characters per update, the hidden state carried from
one sequence to the next; a vanilla RNN with m = 100 (U, W, V ~ N(0, 0.01^2), zero biases),
the loss summed over the sequence, gradients clipped to [-5, 5], AdaGrad with eta 0.1, the smooth
loss every update, a 200-character sample at updates 10,000 and 20,000 and the loss on the
50,000 held-out characters at the start and the end.

- handgrad: the public API, ``handgrad.tasks.runs.train(cfg, data)`` (the path every ``handgrad train`` takes).
- pytorch: idiomatic torch on the same arrays: ``nn.RNN`` (tanh) on one-hot inputs
  (``F.one_hot``) and ``nn.Linear``, ``F.cross_entropy(reduction="sum")``, the state carried
  with ``detach()``, ``clip_grad_value_`` and ``torch.optim.Adagrad``; sampling and evaluation
  under ``torch.no_grad``.

Timed: everything after data loading (which both share). The two alternate in one process for
``--repeats`` rounds; medians, the ratio handgrad/pytorch and updates per second are printed.

    .venv/bin/python benchmarks/bench_rnn.py [--repeats 3] [--updates 20000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET = 0.5
CONFIG = common.CONFIGS / "rnn" / "goblet.toml"


def load_cfg(path: str | None, n_updates: int):
    from handgrad.config import load_config

    return load_config(path or CONFIG, {"train.n_updates": n_updates, "train.record_every": n_updates,
                                        "train.keep_best": False})


def handgrad_run(cfg, data):
    from handgrad.tasks.runs import train as fit

    fitted = fit(cfg, data, progress=False)
    h = fitted.history
    smooth = [v for v in h["smooth_loss"] if v is not None]
    return {"smooth_loss": smooth[-1], "val_loss": h.last("val_loss")}


def torch_run(cfg, X, y, X_val, y_val, K: int):
    import torch
    import torch.nn.functional as F
    from torch import nn

    tc, m, T = cfg.train, cfg.model.m, cfg.train.seq_length
    torch.manual_seed(cfg.seed)
    rnn, out = nn.RNN(K, m, nonlinearity="tanh"), nn.Linear(m, K)
    with torch.no_grad():  # the sheet's initialisation
        for p in (rnn.weight_ih_l0, rnn.weight_hh_l0, out.weight):
            p.normal_(0.0, 0.01)
        for p in (rnn.bias_ih_l0, rnn.bias_hh_l0, out.bias):
            p.zero_()
    params = [*rnn.parameters(), *out.parameters()]
    opt = torch.optim.Adagrad(params, lr=tc.eta, eps=1e-8)
    gen = torch.Generator().manual_seed(cfg.seed)

    def val_loss():
        with torch.no_grad():
            o, _ = rnn(F.one_hot(X_val, K).float().unsqueeze(1))
            return F.cross_entropy(out(o.squeeze(1)), y_val).item() * T

    def sample(n):
        with torch.no_grad():
            x, h, chars = X[0].view(1, 1), torch.zeros(1, 1, m), []
            for _ in range(n):
                o, h = rnn(F.one_hot(x, K).float(), h)
                x = torch.multinomial(F.softmax(out(o[0]), dim=-1), 1, generator=gen)
                chars.append(int(x))
            return chars

    first_val = val_loss()
    steps_per_epoch = len(X) // T
    h, smooth, step = torch.zeros(1, 1, m), None, 0
    while step < tc.n_updates:
        h = torch.zeros(1, 1, m)  # reset each epoch
        for k in range(steps_per_epoch):
            if step >= tc.n_updates:
                break
            xb, yb = X[k * T:(k + 1) * T], y[k * T:(k + 1) * T]
            o, h = rnn(F.one_hot(xb, K).float().unsqueeze(1), h.detach())
            loss = F.cross_entropy(out(o.squeeze(1)), yb, reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_value_(params, tc.clip)
            opt.step()
            step += 1
            lv = loss.item()
            smooth = lv if smooth is None else 0.999 * smooth + 0.001 * lv
            if tc.sample_every and step % tc.sample_every == 0:
                sample(tc.sample_length)
    return {"smooth_loss": smooth, "val_loss": val_loss(), "first_val_loss": first_val}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=None)
    ap.add_argument("--updates", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import torch

    cfg = load_cfg(args.config, args.updates)
    threads, data, tensors, load_s = common.prepare_shared(cfg, args.threads)
    X, y, X_val, y_val = (t.long() for t in tensors)
    print(f"data: {len(data.X_train):,} training / {len(data.X_val):,} validation characters, K={data.K} "
          f"(loaded in {load_s:.1f} s); {args.updates:,} updates of the sheet's setting; {threads} thread(s)",
          flush=True)
    times, last = common.alternate(
        {"handgrad": lambda: handgrad_run(cfg, data),
         "pytorch": lambda: torch_run(cfg, X, y, X_val, y_val, data.K)},
        repeats=args.repeats, warmup=args.warmup)
    s = common.summary(times)
    common.print_summary(f"character RNN, {args.updates:,} updates (configs/rnn/goblet.toml)", s, TARGET)
    rates = {n: args.updates / s[n]["median"] for n in ("handgrad", "pytorch")}
    print(f"  updates per second: handgrad {rates['handgrad']:.0f}, pytorch {rates['pytorch']:.0f}")
    for n in ("handgrad", "pytorch"):
        print(f"  {n}: smooth loss {last[n]['smooth_loss']:.2f}, validation loss {last[n]['val_loss']:.2f} "
              f"after {args.updates:,} updates")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": s, "updates_per_second": rates, "results": last,
                                               "machine": common.machine_line(), "threads": threads,
                                               "torch": torch.__version__}, indent=2))


if __name__ == "__main__":
    main()
