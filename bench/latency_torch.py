#!/usr/bin/env python3
"""PyTorch eager at batch 1: the reference for examples/latency.rs.

Each of the reference models of ../shared/bench (mlp-512-512-d and cnn-32-64, Keras' initial
weights) predicts one 28x28 test image per call, CALLS calls after 200 warm-up calls, under
torch.inference_mode() on THREADS threads; prints p50, p99 and mean in microseconds as JSON
lines, as the Rust example does. The timed call ends with the probabilities (softmax), as
digits' does.

    /tmp/peersvenv/bin/python bench/latency_torch.py [--threads 2] [--calls 10000]
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "bench"))
os.environ.setdefault("MNIST_DIR", os.path.join(HERE, "..", "data", "mnist"))

import torch  # noqa: E402
from mnist_idx import load  # noqa: E402
from torch_bench import build_cnn, build_mlp, keras_init  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calls", type=int, default=10000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    _, (xte, _) = load()
    xte = torch.from_numpy(xte.astype("float32") / 255.0)
    for name, build, shape in [("mlp-512-512-d", build_mlp, (1, 28, 28)), ("cnn-32-64", build_cnn, (1, 1, 28, 28))]:
        model = build()
        model.apply(keras_init)
        model.eval()
        images = [xte[i].reshape(shape).contiguous() for i in range(len(xte))]
        times, checksum = [], 0
        with torch.inference_mode():
            for call in range(a.calls + 200):
                x = images[call % len(images)]
                start = time.perf_counter()
                p = torch.softmax(model(x), 1)
                took = time.perf_counter() - start
                checksum += int(p.argmax(1))
                if call >= 200:
                    times.append(took)
        times.sort()
        at = lambda q: times[round((len(times) - 1) * q)] * 1e6  # noqa: E731
        print(json.dumps({"model": name, "p50_us": round(at(0.5), 1), "p99_us": round(at(0.99), 1),
                          "mean_us": round(sum(times) / len(times) * 1e6, 1), "calls": a.calls,
                          "threads": a.threads, "checksum": checksum}), flush=True)


if __name__ == "__main__":
    main()
