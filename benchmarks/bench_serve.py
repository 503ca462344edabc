"""``handgrad serve`` under load: requests per second, latency, errors and memory, over real HTTP.

Starts ``handgrad serve RUN_DIR`` in its own process on a free loopback port and drives it from this
process with 1, 8 and 32 concurrent clients (asyncio + httpx, one connection each): single names
(``GET /api/predict?name=``), batches of 100 names (``POST /api/predict``) and, with ``--image-run``,
a CIFAR-10 image (``POST /api/classify``) to a linear classifier. For each it prints requests per
second, the p50 and p99 latency, the number of errors (any status but 200, or a failed connection)
and the server's resident memory (VmRSS) before and after.

    handgrad train configs/convnet/predictor.toml --out runs/predictor        # the shipped predictor
    handgrad train configs/linear/setting3.toml --out runs/setting3           # a linear classifier
    .venv/bin/python benchmarks/bench_serve.py runs/predictor --image-run runs/setting3 [--json out.json]

Targets (2 cores, the shipped predictor, 32 clients): >= 200 single-name requests per second, p99 below
250 ms, no errors, and the server's RSS growing by less than 50 MB over the 10,000 single-name requests.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_line  # noqa: E402

NAMES = ["ruggeri", "salmeri", "lee", "scofield", "gonzales", "nguyen", "schmidt", "kowalski", "tanaka",
         "o'neill", "dubois", "papadopoulos", "ivanov", "van der berg", "kim", "rossi", "murphy", "novak"]
TARGETS = {"rps": 200.0, "p99_ms": 250.0, "rss_growth_mb": 50.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """``handgrad serve RUN_DIR`` in a child process, until ``stop()``."""

    def __init__(self, run_dir: str) -> None:
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("handgrad")
        self.proc = subprocess.Popen([str(exe), "serve", run_dir, "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"handgrad serve {run_dir} exited: {self.proc.stderr.read()}")
            try:
                if httpx.get(self.url + "/api/info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"handgrad serve {run_dir} did not answer within 120 s")
            time.sleep(0.2)

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def drive(url: str, make_request, n_requests: int, clients: int) -> dict:
    """``clients`` connections send ``n_requests`` in all, each waiting for its answer before the next."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(n_requests))

    async def client():
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=1)) as c:
            for i in counter:
                t0 = time.perf_counter()
                try:
                    r = await make_request(c, i)
                    ok = r.status_code == 200
                    if not ok:
                        errors.append(f"{r.status_code}: {r.text[:100]}")
                except httpx.HTTPError as e:
                    errors.append(f"{type(e).__name__}: {e}")
                latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"requests": n_requests, "clients": clients, "seconds": round(wall, 3),
            "rps": round(n_requests / wall, 1), "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2), "errors": len(errors),
            "first_errors": errors[:3]}


def single_name(c, i):
    return c.get("/api/predict", params={"name": NAMES[i % len(NAMES)]})


def hundred_names(c, i):
    return c.post("/api/predict", json={"names": [NAMES[(i + j) % len(NAMES)] for j in range(100)]})


def image_request(png: bytes):
    def send(c, i):
        return c.post("/api/classify", files={"image": ("cat.png", png, "image/png")})
    return send


def sample_png() -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def run_scenario(server: Server, name: str, make_request, counts: dict[int, int]) -> list[dict]:
    rows = []
    for clients, n in counts.items():
        asyncio.run(drive(server.url, make_request, min(n, 50), clients))  # warm-up, not counted
        before = server.rss()
        row = asyncio.run(drive(server.url, make_request, n, clients))
        row.update(scenario=name, rss_before_mb=round(before, 1), rss_after_mb=round(server.rss(), 1))
        row["rss_growth_mb"] = round(row["rss_after_mb"] - row["rss_before_mb"], 1)
        rows.append(row)
        print(f"  {name:<14} {clients:>3} clients {row['requests']:>6} requests: {row['rps']:>8.1f} req/s  "
              f"p50 {row['p50_ms']:>7.1f} ms  p99 {row['p99_ms']:>7.1f} ms  errors {row['errors']}  "
              f"RSS {row['rss_before_mb']:.0f} -> {row['rss_after_mb']:.0f} MB", flush=True)
        for e in row["first_errors"]:
            print(f"      error: {e}")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="a surnames run folder (the shipped predictor: configs/convnet/predictor.toml)")
    p.add_argument("--image-run", help="a CIFAR-10 linear classifier's run folder, for the image requests")
    p.add_argument("--singles", type=int, default=10_000, help="single-name requests at 32 clients (default 10,000)")
    p.add_argument("--json", help="write the rows to this file")
    a = p.parse_args(argv)
    print(machine_line())
    print(f"server: handgrad serve {a.run_dir} (its own process); clients: this process, asyncio + httpx")
    rows = []
    server = Server(a.run_dir)
    try:
        print(f"server RSS after start-up: {server.rss():.0f} MB")
        rows += run_scenario(server, "single name", single_name, {1: 500, 8: 2000, 32: a.singles})
        rows += run_scenario(server, "100 names", hundred_names, {1: 100, 8: 200, 32: 400})
    finally:
        server.stop()
    if a.image_run:
        server = Server(a.image_run)
        try:
            rows += run_scenario(server, "CIFAR-10 image", image_request(sample_png()), {1: 300, 8: 1000, 32: 2000})
        finally:
            server.stop()
    big = next(r for r in rows if r["scenario"] == "single name" and r["clients"] == 32)
    checks = {"requests per second >= 200": big["rps"] >= TARGETS["rps"],
              "p99 below 250 ms": big["p99_ms"] < TARGETS["p99_ms"],
              "no errors (every scenario)": all(r["errors"] == 0 for r in rows),
              f"RSS growth below 50 MB over {big['requests']:,} requests": big["rss_growth_mb"] < TARGETS["rss_growth_mb"]}
    print("targets, single names at 32 clients: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}"
                                                               for k, v in checks.items()))
    if a.json:
        Path(a.json).write_text(json.dumps({"machine": machine_line(), "rows": rows, "targets": checks}, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
