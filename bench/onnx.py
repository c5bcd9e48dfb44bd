#!/usr/bin/env python3
"""Inference of MNIST's 10,000 test images: an exported model in onnxruntime against digits.

    cargo build --release
    target/onnx-venv/bin/python bench/onnx.py --rounds 3      # the venv scripts/test makes

Trains the two seed models as BENCHMARKS.md's Accuracy table trains them (`--full`, about 3
minutes) or, by default, on fewer images for one epoch (speed does not depend on the weights),
exports each with `digits export --format onnx`, then alternates, round after round:

  digits       `digits evaluate --model RUN --threads 2 --repeat 5 --json`: the fastest of 5 warm
               passes over the 10,000 images (batches of 1,000), its own `inference_seconds`
  onnxruntime  CPU provider, intra_op_num_threads=2: the fastest of 5 warm passes over the same
               images, as 10 runs of 1,000 and as one run of 10,000

and prints a Markdown table (median and range over the rounds, and the ratio onnxruntime /
digits) after checking that both give the same test accuracy.
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "target", "release", "digits")
MNIST = os.path.join(ROOT, "data", "mnist")
# BENCHMARKS.md's Accuracy settings; by default on fewer images for one epoch.
MODELS = {
    "mlp-512-512-d": ["--model", "mlp-512-512-d", "--validation", "test"],
    "cnn-32-64": ["--model", "cnn-32-64", "--batch-size", "32", "--schedule", "cosine", "--validation", "test"],
}
FULL = {"mlp-512-512-d": ["--epochs", "15"], "cnn-32-64": ["--epochs", "3"]}
SHORT = {"mlp-512-512-d": ["--limit", "6000", "--epochs", "1"], "cnn-32-64": ["--limit", "10000", "--epochs", "1"]}
PASSES = 5


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def test_set():
    def read(name, offset):
        with gzip.open(os.path.join(MNIST, name)) as f:
            return np.frombuffer(f.read()[offset:], np.uint8)

    images = read("t10k-images-idx3-ubyte.gz", 16).astype(np.float32) / np.float32(255)
    return images.reshape(-1, 1, 28, 28), read("t10k-labels-idx1-ubyte.gz", 8)


def digits_time(run_dir):
    out = json.loads(run([DIGITS, "evaluate", "--model", run_dir, "--threads", "2", "--repeat", str(PASSES),
                          "--json"]))
    return out["inference_seconds"], out["accuracy"]


def ort_time(session, images, labels, batch):
    def one_pass():
        return np.concatenate([session.run(["probabilities"], {"image": images[i:i + batch]})[0]
                               for i in range(0, len(images), batch)])

    probabilities = one_pass()  # warm-up
    best = float("inf")
    for _ in range(PASSES):
        start = time.perf_counter()
        one_pass()
        best = min(best, time.perf_counter() - start)
    return best, float(np.mean(np.argmax(probabilities, axis=1) == labels))


def summary(values):
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", help="where the runs and ONNX files go (default: a temporary directory); "
                    "runs already there are reused")
    ap.add_argument("--full", action="store_true", help="train as BENCHMARKS.md's Accuracy table (about 3 min)")
    a = ap.parse_args()
    work = a.dir or tempfile.mkdtemp(prefix="digits-onnx-bench-")
    images, labels = test_set()
    sessions = {}
    for name, args in MODELS.items():
        run_dir, onnx_file = os.path.join(work, name), os.path.join(work, f"{name}.onnx")
        if not os.path.exists(os.path.join(run_dir, "model.json")):
            length = FULL[name] if a.full else SHORT[name]
            run([DIGITS, "train", *args, *length, "--threads", "2", "--out", run_dir])
        run([DIGITS, "export", run_dir, "--format", "onnx", "--out", onnx_file])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.inter_op_num_threads = 1
        sessions[name] = (run_dir, ort.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"]))
    times = {(name, what): [] for name in MODELS for what in ["digits", "ort1000", "ort10000"]}
    for r in range(a.rounds):
        for name, (run_dir, session) in sessions.items():
            d, d_acc = digits_time(run_dir)
            o1, o1_acc = ort_time(session, images, labels, 1000)
            o2, o2_acc = ort_time(session, images, labels, 10000)
            if not abs(d_acc - o1_acc) < 1e-9 or not abs(d_acc - o2_acc) < 1e-9:
                sys.exit(f"{name}: accuracy differs: digits {d_acc}, onnxruntime {o1_acc} / {o2_acc}")
            for what, t in [("digits", d), ("ort1000", o1), ("ort10000", o2)]:
                times[(name, what)].append(t)
            print(f"round {r + 1} {name}: digits {d:.3f} s, onnxruntime {o1:.3f} s (batch 1000), "
                  f"{o2:.3f} s (batch 10000); accuracy {d_acc:.4f} in both", file=sys.stderr)
    print(f"| model | digits evaluate, s | onnxruntime, batch 1,000, s | onnxruntime, batch 10,000, s "
          f"| onnxruntime / digits (batch 1,000) |")
    print("|---|---|---|---|---|")
    for name in MODELS:
        d, o1, o2 = (times[(name, w)] for w in ["digits", "ort1000", "ort10000"])
        ratios = [o / t for o, t in zip(o1, d)]
        print(f"| {name} | {summary(d)} | {summary(o1)} | {summary(o2)} | "
              f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}-{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
