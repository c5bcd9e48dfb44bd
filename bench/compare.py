#!/usr/bin/env python3
"""Side-by-side timing of digits against the PyTorch and Keras reference scripts.

Runs every case in alternation (digits, torch, keras, then again), on the same machine and
thread count, and prints a Markdown table of medians and ratios (digits / framework).

    ../shared/bench/setup.sh /tmp/peersvenv          # once: numpy, tensorflow-cpu, torch
    cargo build --release
    python3 bench/compare.py --venv /tmp/peersvenv --rounds 3 --out bench/results.jsonl

Cases (the models of ../shared/bench/README.md):
  mlp      mlp-512-512-d, Adam 1e-3, batch 128: s/epoch (full epochs, median of epochs 2..n)
  cnn128   cnn-32-64, Adam 1e-3, batch 128: s/epoch, extrapolated from timed steps
  cnn32    cnn-32-64, Adam 1e-4, batch 32: s/epoch, extrapolated from timed steps
  infer    predict the 10,000 test images with the trained MLP / CNN (warm), seconds
  latency  one image per call, 10,000 calls in-process: p50 and p99 of the MLP and the CNN,
           examples/latency.rs against bench/latency_torch.py (PyTorch eager, batch 1), in µs

The CPU's model and SIMD flags are printed first: the ratios differ between AVX2 and AVX-512
machines.
"""
import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def last_json(out):
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])


def digits_bin():
    return os.path.join(ROOT, "target", "release", "digits")


def digits_train(model, batch, lr, epochs=None, steps=None, threads=2, run_dir=None):
    """Returns (seconds per epoch, run directory)."""
    run_dir = run_dir or tempfile.mkdtemp(prefix="digits-bench-")
    cmd = [digits_bin(), "train", "--model", model, "--batch-size", str(batch), "--lr", str(lr),
           "--threads", str(threads), "--out", run_dir, "--data", os.path.join(ROOT, "data", "mnist")]
    if steps:
        # Warm-up epoch of 20 steps, then the timed epoch: use 2 epochs on (steps) batches and
        # take the second's ms/step, the same rule as the reference scripts' --steps.
        cmd += ["--limit", str(steps * batch), "--epochs", "2"]
    else:
        cmd += ["--epochs", str(epochs)]
    out = run(cmd)
    lines = [l for l in out.splitlines() if l.startswith("Epoch ")]
    per_epoch = math.ceil(60000 / batch)
    if steps:
        ms = float(re.search(r"([\d.]+)ms/step", lines[-1]).group(1))
        return ms / 1000 * per_epoch, run_dir
    secs = [float(re.search(r" - ([\d.]+)s ", l).group(1)) for l in lines]
    return statistics.median(secs[1:]) if len(secs) > 1 else secs[0], run_dir


def digits_infer(run_dir, threads=2):
    # Best of 3 warm passes, the reference scripts' rule.
    out = run([digits_bin(), "evaluate", "--model", run_dir, "--json", "--repeat", "3", "--threads", str(threads),
               "--data", os.path.join(ROOT, "data", "mnist")])
    v = json.loads(out)
    return v["inference_seconds"], v["accuracy"]


def cpu():
    """The CPU's model name and the SIMD flags that decide the kernels (digits', PyTorch's)."""
    model, flags = "unknown", []
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                want = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni", "amx_bf16")
                flags = [f for f in value.split() if f in want]
                break
    except OSError:
        pass
    return f"{model}; {' '.join(flags)}; {os.cpu_count()} CPUs"


def by_model(out):
    """The JSON lines of a latency run, by model."""
    return {j["model"]: j for j in map(json.loads, (l for l in out.splitlines() if l.startswith("{")))}


def digits_latency(threads=2, calls=10000):
    return by_model(run(["cargo", "run", "--quiet", "--release", "--example", "latency", "--", str(threads), str(calls)]))


def torch_latency(venv, threads=2, calls=10000):
    py = os.path.join(venv, "bin", "python")
    return by_model(run([py, os.path.join(HERE, "latency_torch.py"), "--threads", str(threads), "--calls", str(calls)]))


def ref(venv, shared, framework, args):
    py = os.path.join(venv, "bin", "python")
    script = os.path.join(shared, f"{framework}_bench.py")
    env = dict(os.environ, MNIST_DIR=os.path.join(ROOT, "data", "mnist"), TF_CPP_MIN_LOG_LEVEL="2")
    return last_json(run([py, script] + args, env=env))


def best_infer(r):
    return min(v for k, v in r.items() if k.startswith("infer_s") and isinstance(v, float))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", default="/tmp/peersvenv")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cases", default="mlp,cnn128,cnn32")
    ap.add_argument("--frameworks", default="torch,keras")
    ap.add_argument("--mlp-epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="timed CNN steps (extrapolated)")
    ap.add_argument("--out", default=None, help="append raw results as JSON lines")
    a = ap.parse_args()
    print(f"CPU: {cpu()}", flush=True)
    cases = a.cases.split(",")
    fws = [f for f in a.frameworks.split(",") if f]
    res = {}  # (case, who) -> list of seconds

    def add(case, who, v):
        res.setdefault((case, who), []).append(v)
        if a.out:
            with open(a.out, "a") as f:
                f.write(json.dumps({"case": case, "who": who, "seconds": v}) + "\n")
        print(f"  {case:9} {who:14} {v:10.6f}", flush=True)

    for r in range(a.rounds):
        print(f"round {r + 1}/{a.rounds}", flush=True)
        if "mlp" in cases:
            s, d = digits_train("mlp-512-512-d", 128, 1e-3, epochs=a.mlp_epochs)
            add("mlp", "digits", s)
            add("mlp-infer", "digits", digits_infer(d)[0])
            for fw in fws:
                j = ref(a.venv, a.shared, fw, ["--model", "mlp", "--epochs", str(a.mlp_epochs)])
                add("mlp", fw, j["epoch_s_steady"])
                add("mlp-infer", fw, best_infer(j))
        if "cnn128" in cases:
            s, d = digits_train("cnn-32-64", 128, 1e-3, steps=a.steps)
            add("cnn128", "digits", s)
            add("cnn-infer", "digits", digits_infer(d)[0])
            for fw in fws:
                j = ref(a.venv, a.shared, fw, ["--model", "cnn", "--batch", "128", "--steps", str(a.steps)])
                add("cnn128", fw, j["epoch_s_extrapolated"])
                add("cnn-infer", fw, best_infer(j))
        if "cnn32" in cases:
            s, _ = digits_train("cnn-32-64", 32, 1e-4, steps=a.steps * 3)
            add("cnn32", "digits", s)
            for fw in fws:
                j = ref(a.venv, a.shared, fw, ["--model", "cnn", "--batch", "32", "--lr", "1e-4", "--steps", str(a.steps * 3)])
                add("cnn32", fw, j["epoch_s_extrapolated"])
        if "latency" in cases:
            for who, f in [("digits", digits_latency)] + [("torch", lambda: torch_latency(a.venv))] * ("torch" in fws):
                for model, j in f().items():
                    add(f"{model[:3]}-p50", who, j["p50_us"] / 1e6)
                    add(f"{model[:3]}-p99", who, j["p99_us"] / 1e6)

    names = {"mlp": "mlp-512-512-d, batch 128: s/epoch", "mlp-infer": "mlp: predict 10,000 test images, s",
             "cnn128": "cnn-32-64, batch 128: s/epoch", "cnn32": "cnn-32-64, batch 32: s/epoch",
             "cnn-infer": "cnn: predict 10,000 test images, s",
             "mlp-p50": "mlp: one image, p50 of 10,000 calls, µs", "mlp-p99": "mlp: one image, p99, µs",
             "cnn-p50": "cnn: one image, p50 of 10,000 calls, µs", "cnn-p99": "cnn: one image, p99, µs"}
    head = "| case | digits | " + " | ".join(fws) + " | " + " | ".join(f"digits / {f}" for f in fws) + " |"
    print()
    print(head)
    print("|" + "---|" * (2 + 2 * len(fws)))
    for case in ["mlp", "cnn128", "cnn32", "mlp-infer", "cnn-infer", "mlp-p50", "mlp-p99", "cnn-p50", "cnn-p99"]:
        if (case, "digits") not in res:
            continue
        d = statistics.median(res[(case, "digits")])
        fmt = (lambda v: f"{v * 1e6:.0f}") if case.endswith(("p50", "p99")) else (lambda v: f"{v:.3f}")
        row = [names[case], fmt(d)]
        meds = [statistics.median(res[(case, f)]) if (case, f) in res else None for f in fws]
        row += [fmt(m) if m else "-" for m in meds]
        row += [f"{d / m:.2f}×" if m else "-" for m in meds]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
