"""Throughput and latency of ``stylegan-fast serve``: sequential requests vs 16 concurrent clients, with and
without dynamic batching, on a real server on 127.0.0.1.

    python benchmarks/serve_load.py [--network FILE] [--clients 16] [--requests 128] \
        [--json benchmarks/results/serve_batching.json]

Each scenario starts its own server process (``python -m stylegan_fast serve``, the built-in model by
default), warms it up, then sends one-seed PNG renders (distinct seeds, truncation 0.7). Latency is
measured by the client (request sent -> whole PNG received). The server's /v1/stats gives the batches.

- sequential: one client, one request at a time (server --max-batch 32);
- concurrent, batching: 16 clients at once (--max-batch 32, --max-wait-ms 5);
- concurrent, no batching: the same clients against --max-batch 1 (every request synthesized alone).

The request loops are bounded in count and time, traffic goes to 127.0.0.1 only, and every server is
stopped at the end.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TIME_LIMIT_S = 300  # per scenario


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port: int, max_batch: int, max_wait_ms: float, network=None):
        cmd = [sys.executable, "-m", "stylegan_fast", "serve", "--port", str(port), "--max-batch", str(max_batch),
               "--max-wait-ms", str(max_wait_ms)] + (["--network", network] if network else [])
        self.port = port
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def __enter__(self):
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.proc.stderr.read()}")
            try:
                get(self.port, "/v1/info")
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the server did not answer within 120 s")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def get(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def client(port: int, seeds: list[int], latencies: list, errors: list, barrier: threading.Barrier,
           deadline: float) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        barrier.wait(timeout=60)
        for seed in seeds:
            if time.time() > deadline:
                errors.append("time limit reached")
                return
            body = json.dumps({"seeds": [seed], "truncation_psi": 0.7})
            t0 = time.perf_counter()
            conn.request("POST", "/v1/render", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            latencies.append((time.perf_counter() - t0) * 1000)
            if response.status != 200 or not data.startswith(b"\x89PNG"):
                errors.append(f"seed {seed}: HTTP {response.status}")
    except Exception as e:  # noqa: BLE001 - counted and reported
        errors.append(repr(e))
    finally:
        conn.close()


def run(port: int, clients: int, requests: int, first_seed: int) -> dict:
    """``requests`` renders split over ``clients`` threads started together -> latency and throughput."""
    per_client = [list(range(first_seed + c, first_seed + requests, clients)) for c in range(clients)]
    latencies, errors = [], []
    barrier = threading.Barrier(clients + 1)
    deadline = time.time() + TIME_LIMIT_S
    threads = [threading.Thread(target=client, args=(port, s, latencies, errors, barrier, deadline))
               for s in per_client]
    for t in threads:
        t.start()
    barrier.wait(timeout=60)
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout=TIME_LIMIT_S + 60)
    elapsed = time.perf_counter() - t0
    lat = np.array(latencies)
    return {"clients": clients, "requests": len(latencies), "errors": errors[:5], "error_count": len(errors),
            "seconds": round(elapsed, 3), "img_per_s": round(len(latencies) / elapsed, 2),
            "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1), "p90": round(float(np.percentile(lat, 90)), 1),
                           "p99": round(float(np.percentile(lat, 99)), 1), "mean": round(float(lat.mean()), 1)}}


def scenario(name: str, max_batch: int, max_wait_ms: float, clients: int, requests: int, network) -> dict:
    port = free_port()
    with Server(port, max_batch, max_wait_ms, network):
        run(port, clients, min(requests, 32), first_seed=10_000)  # warm-up (kernels, workspaces, connections)
        before = get(port, "/v1/stats")
        row = run(port, clients, requests, first_seed=0)
        after = get(port, "/v1/stats")
        info = get(port, "/v1/info")
    batches = after["batches"] - before["batches"]
    row.update(name=name, server_max_batch=max_batch, max_wait_ms=max_wait_ms, batches=batches,
               mean_batch=round(row["requests"] / batches, 2) if batches else None,
               largest_batch_so_far=after["max_batch"], model=f"{info['arch']} {info['resolution']}px",
               ops=info["ops"])
    print(f"{name:28s} {row['img_per_s']:7.1f} img/s  p50 {row['latency_ms']['p50']:7.1f} ms  "
          f"p99 {row['latency_ms']['p99']:7.1f} ms  batches {batches} (mean {row['mean_batch']})"
          + (f"  errors {row['error_count']}" if row["error_count"] else ""), flush=True)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--network", default=None, help="generator file (default: the built-in model)")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=128, help="requests per scenario")
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--json", default=str(ROOT / "benchmarks/results/serve_batching.json"))
    args = p.parse_args(argv)

    load_before = os.getloadavg()
    rows = [
        scenario("sequential", args.max_batch, args.max_wait_ms, 1, args.requests, args.network),
        scenario(f"{args.clients} clients, batching", args.max_batch, args.max_wait_ms, args.clients, args.requests,
                 args.network),
        scenario(f"{args.clients} clients, no batching", 1, 0.0, args.clients, args.requests, args.network),
    ]
    seq = rows[0]["img_per_s"]
    for row in rows:
        row["x_sequential"] = round(row["img_per_s"] / seq, 2)
    result = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpu_count": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
                          "load_average_after": [round(x, 2) for x in os.getloadavg()]},
              "settings": vars(args), "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.json}")


if __name__ == "__main__":
    main()
