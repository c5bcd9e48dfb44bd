"""Checks ONNX models exported by `digits export` against digits' own probabilities.

Usage: check.py MANIFEST.json

The manifest (written by tests/onnx.rs) names the images and, for each model, its file, the
opset it must declare and the probabilities digits computed for the same images:

    {"images": "images.f32", "count": 1000, "shape": [1, 28, 28],
     "models": [{"onnx": "a.onnx", "expected": "a.f32", "opset": 17}, ...]}

`.f32` files are raw little-endian float32 (images NCHW). For each model: the ONNX checker with
full_check (which runs strict shape inference), the declared input/output names, shapes, opset
and metadata, then onnxruntime's CPU provider at batch 1 (image by image) and at batch
`count` (all at once): every probability within 1e-5 of digits' and the same argmax for every
image. Prints one line per model; exits with status 1 naming every failure.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

TOLERANCE = 1e-5


def dims(value_info):
    return [d.dim_param if d.dim_param else d.dim_value for d in value_info.type.tensor_type.shape.dim]


def check_declarations(model, entry, shape, classes):
    """The graph's interface as the issue specifies it; returns a list of problems."""
    problems = []
    graph = model.graph
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get("", opsets.get("ai.onnx")) != entry["opset"]:
        problems.append(f"opset {opsets} is not {entry['opset']}")
    if [i.name for i in graph.input] != ["image"] or dims(graph.input[0]) != ["N", *shape]:
        problems.append(f"input {[(i.name, dims(i)) for i in graph.input]} is not image [N, {shape}]")
    if [o.name for o in graph.output] != ["probabilities"] or dims(graph.output[0]) != ["N", classes]:
        problems.append(f"output {[(o.name, dims(o)) for o in graph.output]} is not probabilities [N, {classes}]")
    meta = {p.key: p.value for p in model.metadata_props}
    for key in ["digits_version", "preparation"]:
        if not meta.get(key):
            problems.append(f"metadata has no {key}")
    if "0..1" not in meta.get("preparation", "") or "MNIST" not in meta.get("preparation", ""):
        problems.append("metadata does not describe the preparation (0..1, MNIST polarity)")
    if model.producer_name != "digits":
        problems.append(f"producer {model.producer_name!r}")
    return problems


def compare(name, got, expected):
    """Problems of `got` against digits' probabilities, and the largest difference."""
    diff = float(np.max(np.abs(got - expected)))
    problems = []
    if not diff <= TOLERANCE:
        problems.append(f"{name}: max abs diff {diff:.3g} > {TOLERANCE}")
    mismatched = np.flatnonzero(np.argmax(got, axis=1) != np.argmax(expected, axis=1))
    if len(mismatched):
        problems.append(f"{name}: argmax differs for {len(mismatched)} images (first: {mismatched[:5].tolist()})")
    return problems, diff


def check_model(entry, images, shape):
    count = images.shape[0]
    expected = np.fromfile(entry["expected"], dtype="<f4")
    classes = expected.size // count
    expected = expected.reshape(count, classes)
    model = onnx.load(entry["onnx"])
    onnx.checker.check_model(model, full_check=True)
    problems = check_declarations(model, entry, shape, classes)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(entry["onnx"], options, providers=["CPUExecutionProvider"])
    one = np.concatenate([session.run(["probabilities"], {"image": images[i : i + 1]})[0] for i in range(count)])
    whole = session.run(["probabilities"], {"image": images})[0]
    p1, d1 = compare("batch 1", one, expected)
    pn, dn = compare(f"batch {count}", whole, expected)
    problems += p1 + pn
    status = "FAILED" if problems else "ok"
    print(f"{status} {os.path.basename(entry['onnx'])}: opset {entry['opset']}, max abs diff {d1:.2g} (batch 1), {dn:.2g} (batch {count})")
    return problems


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        manifest = json.load(f)
    shape, count = manifest["shape"], manifest["count"]
    images = np.fromfile(manifest["images"], dtype="<f4").reshape(count, *shape)
    failures = []
    failed_models = 0
    for entry in manifest["models"]:
        try:
            problems = check_model(entry, images, shape)
        except Exception as e:  # the checker's and onnxruntime's errors name the problem
            print(f"FAILED {os.path.basename(entry['onnx'])}: {type(e).__name__}: {e}")
            problems = [f"{type(e).__name__}: {e}"]
        failures += [f"{entry['onnx']}: {p}" for p in problems]
        failed_models += bool(problems)
    print(f"onnx check: {len(manifest['models'])} models, {failed_models} failing")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)

if __name__ == "__main__":
    main()
