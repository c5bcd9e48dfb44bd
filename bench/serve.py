#!/usr/bin/env python3
"""Load benchmark of `digits serve` against a minimal FastAPI + PyTorch server
(bench/serve_reference.py) doing the same: N single-image predictions (MNIST test images as JSON
pixel arrays) at concurrency C over loopback, for mlp-512-512-d and cnn-32-64. For each server:
throughput, p50/p99 latency, errors, and the server's resident memory (VmRSS) at start, and
before and after the load (after a warm-up of a tenth as many requests at the same concurrency); digits is then stopped with SIGTERM and must exit 0.

    cargo build --release --example serve_load
    python3 bench/serve.py --venv /tmp/peersvenv [--requests 20000] [--concurrency 32]

The load generator is the Rust example `serve_load` (so that the client is not what is measured);
the runs (`--mlp RUN`, `--cnn RUN`) are trained for one epoch into target/serve-bench/ when not given.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "target", "release", "digits")
LOAD = os.path.join(ROOT, "target", "release", "examples", "serve_load")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer /healthz")


def load(url, requests, concurrency):
    out = subprocess.run([LOAD, url + "/api/predict", str(requests), str(concurrency)], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(name, model, proc, url, args):
    wait_healthy(url, proc)
    start = rss_mb(proc.pid)
    # Warm-up at full concurrency: the workspaces sized by the largest joined batch, the
    # allocator's arenas, lazy initialisation. Memory must stay flat after that.
    load(url, args.requests // 10, args.concurrency)
    before = rss_mb(proc.pid)
    r = load(url, args.requests, args.concurrency)
    r.update(server=name, model=model, rss_start_mb=start, rss_before_mb=before, rss_after_mb=rss_mb(proc.pid))
    print(json.dumps(r), flush=True)
    return r


def digits_server(run, model, args):
    proc = subprocess.Popen([DIGITS, "serve", "--model", run, "--addr", "127.0.0.1:0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip().removeprefix("digits serve: ").rstrip("/")
    try:
        r = measure("digits", model, proc, url, args)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    r["exit_code"] = code
    if code != 0:
        sys.exit(f"digits serve exited with {code} after SIGTERM: {proc.stderr.read()}")
    return r


def reference_server(kind, model, args):
    port = free_port()
    python = os.path.join(args.venv, "bin", "python")
    proc = subprocess.Popen([python, os.path.join(ROOT, "bench", "serve_reference.py"), "--model", kind,
                             "--port", str(port)], cwd=ROOT)
    try:
        return measure("fastapi+torch", model, proc, f"http://127.0.0.1:{port}", args)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def ensure_run(path, preset, extra):
    if os.path.exists(os.path.join(path, "model.json")):
        return path
    subprocess.run([DIGITS, "train", "--model", preset, "--epochs", "1", "--out", path, "--overwrite", *extra],
                   cwd=ROOT, check=True)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--venv", default="/tmp/peersvenv")
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--mlp", help="a run of mlp-512-512-d (default: trained into target/serve-bench/mlp)")
    p.add_argument("--cnn", help="a run of cnn-32-64 (default: trained into target/serve-bench/cnn)")
    p.add_argument("--json", help="append the results to this file")
    args = p.parse_args()
    bench_dir = os.path.join(ROOT, "target", "serve-bench")
    mlp = args.mlp or ensure_run(os.path.join(bench_dir, "mlp"), "mlp-512-512-d", [])
    cnn = args.cnn or ensure_run(os.path.join(bench_dir, "cnn"), "cnn-32-64", ["--batch-size", "32"])
    results = []
    for model, run, kind in [("mlp-512-512-d", mlp, "mlp"), ("cnn-32-64", cnn, "cnn")]:
        results.append(digits_server(run, model, args))
        results.append(reference_server(kind, model, args))
    if args.json:
        with open(args.json, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    print("\n| model | server | requests/s | p50 ms | p99 ms | errors | RSS at start, before → after the load (MB) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['server']} | {r['throughput']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{r['errors']} | {r['rss_start_mb']:.0f}, {r['rss_before_mb']:.1f} → {r['rss_after_mb']:.1f} |")
    for model in ["mlp-512-512-d", "cnn-32-64"]:
        d, t = [r["throughput"] for r in results if r["model"] == model]
        print(f"{model}: digits / fastapi+torch throughput = {d / t:.1f}x")


if __name__ == "__main__":
    main()
