"""Writes the PyTorch reference fixtures for `tests/torch_agreement.rs`.

Regenerate (from the crate root) with

    /tmp/peersvenv/bin/python scripts/make_torch_fixtures.py

The venv (numpy + torch) is made by `../shared/bench/setup.sh`; the MNIST files are read from
`data/mnist/` (or `$MNIST_DIR`). The output is deterministic for a given torch version.

Each fixture `tests/fixtures/torch_<name>.json` holds one small network with fixed weights and a
fixed batch, and what PyTorch computes for it:

* `model`: the network as the engine's model file (`ModelSpec` JSON, Keras layer names);
* `x` (NHWC, row-major, `batch × h × w × c`) and integer `labels`;
* `params`: every tensor in the ENGINE's layout under the engine's key (`conv2d.kernel` is
  `[kh, kw, c_in, c_out]`, PyTorch's `[c_out, c_in, kh, kw]` permuted by (2, 3, 1, 0);
  `dense.kernel` is `[in, out]`, PyTorch's Linear weight transposed; the dense layer after a
  Flatten sees the features in HWC order, as Keras flattens);
* `probs`: inference-mode probabilities (batch norm on its moving statistics);
* `train_logits`, `loss`, `grads`: one training-mode forward (batch norm on the batch's
  statistics, biased variance), the mean sparse cross-entropy, and d loss / d every trainable
  tensor;
* `state_after_train_forward`: the batch-norm moving statistics after that one training
  forward (Keras: moving = moving · 0.99 + batch · 0.01, biased batch variance);
* `optimizers`: for each optimiser, `steps` updates on the same batch (forward, loss,
  backward, update, from the initial weights), the loss before each step and every tensor
  after the last step (moving statistics included).

PyTorch runs in float64 on the float32 values stored in the fixture, so the references are
(nearly) exact; they are written rounded to float32 precision (shortest repr that round-trips
a float32), the losses in full float64. Batch normalisation is written out by hand (PyTorch's
running variance is unbiased and its momentum is the complement of Keras'); TensorFlow's
`same` padding, which puts the odd extra row/column at the bottom/right, is reproduced with
`F.pad`. Adam is Keras' formula (epsilon added to √v, bias correction folded into the step
size), written out by hand; SGD with (Nesterov) momentum and RMSprop are PyTorch's optimisers,
whose updates equal Keras' for a constant learning rate (both are cross-checked against the
Keras formulas here). An independent NumPy NHWC implementation that reads the engine-layout
tensors recomputes the forward passes, which checks the layout conversions themselves, and
`sensitivity` checks that the fixtures reject the usual wrong semantics (PyTorch's padding
split, an unbiased batch variance, PyTorch's Adam epsilon) by more than the test's tolerances.
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "fixtures")
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "bench"))

torch.set_default_dtype(torch.float64)
DT = torch.float64

# The Rust test's tolerances (tests/torch_agreement.rs), used here to check that the fixtures
# tell the right semantics from the usual wrong ones by a wide margin.
PROB_ABS = 1e-5
LOGIT_ABS, LOGIT_REL = 1e-5, 1e-5
STATE_ABS, STATE_REL = 1e-9, 1e-6
STEP_ABS, STEP_REL = 1e-5, 1e-5

# Deliberately wrong semantics, switched on only by `sensitivity` below.
WRONG = dict(symmetric_pad=False, unbiased_variance=False)

# --------------------------------------------------------------------------------------------
# Data


def mnist_test_batch(n):
    """The first `n` MNIST test images as NHWC float32 pixels/255, and their labels."""
    d = os.environ.get("MNIST_DIR", os.path.join(ROOT, "data", "mnist"))
    try:
        import mnist_idx

        _, (x, y) = mnist_idx.load(d)
    except ImportError:  # ../shared/bench not present: read the IDX files directly.
        import gzip

        with gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz"), "rb") as f:
            raw = f.read()
        x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
        with gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
            y = np.frombuffer(f.read(), np.uint8, offset=8)
    x = (x[:n].astype(np.float32) / np.float32(255.0)).reshape(n, 28, 28, 1)
    return x, y[:n].astype(np.int64)


# --------------------------------------------------------------------------------------------
# Layers. Each is a dict like the engine's model file; `build` adds PyTorch tensors.


def conv(filters, k, padding, activation, strides=1):
    return dict(type="conv2d", filters=filters, kernel_size=k, strides=strides,
                padding=padding, activation=activation)


def max_pool(pool, strides=None, padding="valid"):
    d = dict(type="max_pool2d", pool_size=pool, padding=padding)
    if strides is not None:
        d["strides"] = strides
    return d


def batch_norm(momentum=0.99, epsilon=1e-3):
    return dict(type="batch_normalization", momentum=momentum, epsilon=epsilon)


def flatten():
    return dict(type="flatten")


def dense(units, activation):
    return dict(type="dense", units=units, activation=activation)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def same_pad(size, k, s):
    """TensorFlow's `same` padding of one axis: (before, after), the extra one after."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    if WRONG["symmetric_pad"]:  # PyTorch-style: the extra row/column first
        return total - total // 2, total // 2
    return total // 2, total - total // 2


def out_size(size, k, s, padding):
    return -(-size // s) if padding == "same" else (size - k) // s + 1


def q(t, decimals=5):
    """Short decimals (smaller fixtures), then float32: the values both sides use."""
    return torch.from_numpy(np.round(t.detach().numpy(), decimals).astype(np.float32)).to(DT)


def q_sig(t, digits=4):
    """Like `q`, to a number of significant digits."""
    return torch.tensor([float(np.float32(f"{v:.{digits}g}")) for v in t.tolist()], dtype=DT)


def build(layers, input_shape, seed, x):
    """Random float32-representable parameters (PyTorch init, non-trivial batch norm).

    Batch norm's moving statistics start near the statistics of the batch `x` (mean shifted by
    ±0.3 σ, variance × 0.3–0.9), as in a partly trained model: far from them, a biased/unbiased
    mix-up in the moving-variance update would hide under float32 rounding.
    """
    torch.manual_seed(seed)
    h, w, c = input_shape
    counts = {}
    net = []
    for spec in layers:
        base = {"max_pool2d": "max_pooling2d"}.get(spec["type"], spec["type"])
        k = counts.get(base, 0)
        counts[base] = k + 1
        name = base if k == 0 else f"{base}_{k}"
        layer = dict(spec=spec, name=name, params={}, state={})
        t = spec["type"]
        if t == "conv2d":
            kh, kw = pair(spec["kernel_size"])
            sh, sw = pair(spec["strides"])
            m = torch.nn.Conv2d(c, spec["filters"], (kh, kw), dtype=DT)
            layer["params"] = {"kernel": q(m.weight), "bias": q(m.bias)}
            h = out_size(h, kh, sh, spec["padding"])
            w = out_size(w, kw, sw, spec["padding"])
            c = spec["filters"]
        elif t == "max_pool2d":
            ph, pw = pair(spec["pool_size"])
            sh, sw = pair(spec.get("strides", spec["pool_size"]))
            h = out_size(h, ph, sh, spec["padding"])
            w = out_size(w, pw, sw, spec["padding"])
        elif t == "batch_normalization":
            layer["params"] = {
                "gamma": q(torch.rand(c) + 0.5),
                "beta": q(torch.rand(c) * 0.6 - 0.3),
            }
            layer["state"] = {"moving_mean": torch.zeros(c), "moving_variance": torch.ones(c)}
        elif t == "flatten":
            h, w, c = 1, 1, h * w * c
        elif t == "dense":
            m = torch.nn.Linear(h * w * c, spec["units"], dtype=DT)
            layer["params"] = {"kernel": q(m.weight), "bias": q(m.bias)}
            h, w, c = 1, 1, spec["units"]
        else:
            raise ValueError(t)
        net.append(layer)
    with torch.no_grad():
        probe = clone(net)
        forward(probe, torch.from_numpy(x).to(DT), training=True)
    for layer, seen in zip(net, probe):
        if "batch_stats" in seen:
            mean, var = seen["batch_stats"]
            layer["state"] = {
                "moving_mean": q_sig(mean + 0.3 * var.sqrt() * (torch.rand(len(mean)) * 2 - 1)),
                "moving_variance": q_sig(var * (torch.rand(len(var)) * 0.6 + 0.3)),
            }
    return net


def activate(x, a, last):
    if a == "relu":
        return torch.relu(x)
    if a == "sigmoid":
        return torch.sigmoid(x)
    if a == "tanh":
        return torch.tanh(x)
    if a == "softmax":
        assert last, "softmax only as the last activation (fused into the loss)"
        return x  # logits: the softmax is part of the loss / applied at the end
    assert a == "linear", a
    return x


def forward(net, x_nhwc, training):
    """Logits for an NHWC batch. PyTorch works in NCHW; training mode updates moving stats."""
    x = x_nhwc.permute(0, 3, 1, 2)
    for i, layer in enumerate(net):
        s, p, t = layer["spec"], layer["params"], layer["spec"]["type"]
        last = i == len(net) - 1
        if t == "conv2d":
            kh, kw = pair(s["kernel_size"])
            sh, sw = pair(s["strides"])
            if s["padding"] == "same":
                top, bottom = same_pad(x.shape[2], kh, sh)
                left, right = same_pad(x.shape[3], kw, sw)
                x = F.pad(x, (left, right, top, bottom))
            x = activate(F.conv2d(x, p["kernel"], p["bias"], stride=(sh, sw)), s["activation"], last)
        elif t == "max_pool2d":
            ph, pw = pair(s["pool_size"])
            sh, sw = pair(s.get("strides", s["pool_size"]))
            if s["padding"] == "same":
                top, bottom = same_pad(x.shape[2], ph, sh)
                left, right = same_pad(x.shape[3], pw, sw)
                x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
            x = F.max_pool2d(x, (ph, pw), (sh, sw))
        elif t == "batch_normalization":
            g = p["gamma"].view(1, -1, 1, 1)
            b = p["beta"].view(1, -1, 1, 1)
            st = layer["state"]
            if training:
                mean = x.mean(dim=(0, 2, 3))
                var = ((x - mean.view(1, -1, 1, 1)) ** 2).mean(dim=(0, 2, 3))  # biased
                if WRONG["unbiased_variance"]:
                    n = x.numel() // x.shape[1]
                    var = var * n / (n - 1)
                layer["batch_stats"] = (mean.detach(), var.detach())
                with torch.no_grad():
                    mom = s["momentum"]
                    st["moving_mean"] = st["moving_mean"] * mom + mean.detach() * (1 - mom)
                    st["moving_variance"] = st["moving_variance"] * mom + var.detach() * (1 - mom)
            else:
                mean, var = st["moving_mean"], st["moving_variance"]
            out = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + s["epsilon"]) * g + b
            # Cross-check against PyTorch's own batch norm (same normalisation either way).
            ref = F.batch_norm(x, mean.detach(), var.detach(), p["gamma"], p["beta"], False, 0.0, s["epsilon"])
            assert (out - ref).abs().max().item() < 1e-10
            x = out
        elif t == "flatten":
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # HWC order, as Keras
        elif t == "dense":
            x = activate(x @ p["kernel"].T + p["bias"], s["activation"], last)
    return x


def engine_params(net):
    """Every tensor in the engine's layout, keyed `layer.param`, in the engine's order."""
    out = {}
    for layer in net:
        t = layer["spec"]["type"]
        for k, v in list(layer["params"].items()) + list(layer["state"].items()):
            v = v.detach()
            if t == "conv2d" and k == "kernel":
                v = v.permute(2, 3, 1, 0)  # [cout, cin, kh, kw] -> [kh, kw, cin, cout]
            elif t == "dense" and k == "kernel":
                v = v.T  # [out, in] -> [in, out]
            out[f"{layer['name']}.{k}"] = v.contiguous().numpy()
    return out


def engine_grads(net):
    out = {}
    for layer in net:
        t = layer["spec"]["type"]
        for k, v in layer["params"].items():
            g = v.grad.detach()
            if t == "conv2d" and k == "kernel":
                g = g.permute(2, 3, 1, 0)
            elif t == "dense" and k == "kernel":
                g = g.T
            out[f"{layer['name']}.{k}"] = g.contiguous().numpy()
    return out


def state_of(net):
    return {f"{l['name']}.{k}": v.detach().numpy().copy() for l in net for k, v in l["state"].items()}


def clone(net):
    return [dict(l, params={k: v.detach().clone() for k, v in l["params"].items()},
                 state={k: v.detach().clone() for k, v in l["state"].items()}) for l in net]


def trainable(net):
    return [v for l in net for v in l["params"].values()]


# --------------------------------------------------------------------------------------------
# Independent NumPy NHWC forward on the engine-layout tensors (checks the conversions above).


def np_forward(layers, params, x, training):
    x = x.astype(np.float64)
    counts = {}
    for i, s in enumerate(layers):
        base = {"max_pool2d": "max_pooling2d"}.get(s["type"], s["type"])
        k = counts.get(base, 0)
        counts[base] = k + 1
        name = base if k == 0 else f"{base}_{k}"
        P = lambda n: params[f"{name}.{n}"].astype(np.float64)  # noqa: E731
        t = s["type"]
        if t in ("conv2d", "max_pool2d"):
            kh, kw = pair(s["kernel_size"] if t == "conv2d" else s["pool_size"])
            sh, sw = pair(s["strides"] if t == "conv2d" else s.get("strides", s["pool_size"]))
            n, h, w, c = x.shape
            oh, ow = out_size(h, kh, sh, s["padding"]), out_size(w, kw, sw, s["padding"])
            (top, bottom), (left, right) = ((same_pad(h, kh, sh), same_pad(w, kw, sw))
                                            if s["padding"] == "same" else ((0, 0), (0, 0)))
            fill = 0.0 if t == "conv2d" else -np.inf
            xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
            win = lambda ky, kx: xp[:, ky:ky + sh * (oh - 1) + 1:sh, kx:kx + sw * (ow - 1) + 1:sw, :]  # noqa: E731
            if t == "conv2d":
                K = P("kernel")
                y = np.zeros((n, oh, ow, K.shape[3])) + P("bias")
                for ky in range(kh):
                    for kx in range(kw):
                        y += win(ky, kx) @ K[ky, kx]
                x = np_act(y, s["activation"])
            else:
                x = np.max([win(ky, kx) for ky in range(kh) for kx in range(kw)], axis=0)
        elif t == "batch_normalization":
            if training:
                mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
            else:
                mean, var = P("moving_mean"), P("moving_variance")
            x = (x - mean) / np.sqrt(var + s["epsilon"]) * P("gamma") + P("beta")
        elif t == "flatten":
            x = x.reshape(x.shape[0], 1, 1, -1)
        elif t == "dense":
            x = np_act(x.reshape(x.shape[0], -1) @ P("kernel") + P("bias"), s["activation"])
    return x.reshape(x.shape[0], -1)


def np_act(x, a):
    return {"relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "tanh": np.tanh}.get(a, lambda v: v)(x)


# --------------------------------------------------------------------------------------------
# Optimisers.


class KerasAdam:
    """Keras' Adam: lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ); w −= lr_t·m/(√v + ε)."""

    def __init__(self, params, lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, beta_1, beta_2, epsilon
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        lr_t = self.lr * (1 - self.b2 ** self.t) ** 0.5 / (1 - self.b1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).add_(p.grad * p.grad, alpha=1 - self.b2)
            p.sub_(lr_t * m / (v.sqrt() + self.eps))

    def zero_grad(self):
        for p in self.params:
            p.grad = None


class KerasSgd:
    """Keras' SGD: v = μv − η·g; w += v, or w += μv − η·g with Nesterov (cross-check only)."""

    def __init__(self, params, lr, momentum, nesterov):
        self.params, self.lr, self.mu, self.nesterov = params, lr, momentum, nesterov
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self):
        for p, v in zip(self.params, self.v):
            v.mul_(self.mu).sub_(self.lr * p.grad)
            p.add_(self.mu * v - self.lr * p.grad if self.nesterov else v)

    def zero_grad(self):
        for p in self.params:
            p.grad = None


class KerasRmsprop:
    """Keras' RMSprop (no momentum): ms = ρ·ms + (1−ρ)·g²; w −= η·g/(√ms + ε) (cross-check)."""

    def __init__(self, params, lr, rho, epsilon):
        self.params, self.lr, self.rho, self.eps = params, lr, rho, epsilon
        self.ms = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self):
        for p, ms in zip(self.params, self.ms):
            ms.mul_(self.rho).add_(p.grad * p.grad, alpha=1 - self.rho)
            p.sub_(self.lr * p.grad / (ms.sqrt() + self.eps))

    def zero_grad(self):
        for p in self.params:
            p.grad = None


def make_optimizer(config, params, keras_formula):
    name = config["name"]
    if name == "adam":
        c = {k: v for k, v in config.items() if k != "name"}
        if keras_formula:
            return KerasAdam(params, **c)
        return torch.optim.Adam(params, lr=c["lr"], betas=(c["beta_1"], c["beta_2"]), eps=c["epsilon"])
    if name == "sgd":
        if keras_formula:
            return KerasSgd(params, config["lr"], config["momentum"], config["nesterov"])
        return torch.optim.SGD(params, lr=config["lr"], momentum=config["momentum"], nesterov=config["nesterov"])
    if name == "rmsprop":
        assert config["momentum"] == 0.0
        if keras_formula:
            return KerasRmsprop(params, config["lr"], config["rho"], config["epsilon"])
        return torch.optim.RMSprop(params, lr=config["lr"], alpha=config["rho"], eps=config["epsilon"])
    raise ValueError(name)


def run_optimizer(net0, x, y, config, steps, keras_formula):
    net = clone(net0)
    params = trainable(net)
    for p in params:
        p.requires_grad_(True)
    opt = make_optimizer(config, params, keras_formula)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(forward(net, x, training=True), y)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    return net, losses


# Keras (and engine) defaults; the Rust test builds the same configurations.
ADAM = dict(name="adam", lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
SGD_NESTEROV = dict(name="sgd", lr=0.1, momentum=0.9, nesterov=True)
SGD_MOMENTUM = dict(name="sgd", lr=0.05, momentum=0.9, nesterov=False)
RMSPROP = dict(name="rmsprop", lr=1e-3, rho=0.9, momentum=0.0, epsilon=1e-7)

# --------------------------------------------------------------------------------------------
# Fixtures.


def worst(got, want, abs_tol, rel_tol):
    """Largest |got − want| / (abs + rel·|want|) over all entries (> 1: the test fails)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want) / (abs_tol + rel_tol * np.abs(want))))


def sensitivity(name, net, xt, yt, probs, train_logits, state1):
    """The fixture must reject the usual wrong semantics by a margin over the test's tolerances.

    PyTorch-style padding (extra row/column first) must move the probabilities by > 10× the
    tolerance; an unbiased batch variance must move the training logits by > 10× and the
    moving variances by > 3× (> 10× with the strided fixture's momentum 0.6). The optimiser
    loop checks PyTorch's Adam epsilon placement the same way (> 3×).
    """
    has = lambda t: any(l["spec"]["type"] == t for l in net)  # noqa: E731
    same = [l for l in net if l["spec"].get("padding") == "same"]
    if same:
        WRONG["symmetric_pad"] = True
        with torch.no_grad():
            p = torch.softmax(forward(clone(net), xt, training=False), 1).numpy()
        WRONG["symmetric_pad"] = False
        r = worst(p, probs, PROB_ABS, 0)
        if r == 0:
            print(f"  {name}: every `same` padding here is symmetric")
            assert name != "strided_same"
        else:
            print(f"  {name}: padding the extra row/column first: probs off by {r:.0f}× tolerance")
            assert r > 10
    if has("batch_normalization"):
        WRONG["unbiased_variance"] = True
        wnet = clone(net)
        with torch.no_grad():
            lg = forward(wnet, xt, training=True).numpy()
        WRONG["unbiased_variance"] = False
        r1 = worst(lg, train_logits, LOGIT_ABS, LOGIT_REL)
        r2 = min(worst(v, state1[k], STATE_ABS, STATE_REL)  # the least sensitive layer
                 for k, v in state_of(wnet).items() if k.endswith("moving_variance"))
        print(f"  {name}: unbiased batch variance: training logits off by {r1:.0f}×, "
              f"moving variances by ≥ {r2:.0f}× tolerance")
        assert r1 > 10 and r2 > (10 if name == "strided_same" else 3)


def make_fixture(name, description, layers, input_shape, x, y, seed, optimizers):
    net = build(layers, input_shape, seed, x)
    params0 = engine_params(net)
    xt = torch.from_numpy(x).to(DT)
    yt = torch.from_numpy(y)

    # Inference.
    with torch.no_grad():
        logits = forward(clone(net), xt, training=False)
    probs = torch.softmax(logits, dim=1).numpy()
    np_probs = np_forward(layers, params0, x, training=False)
    np_probs = np.exp(np_probs - np_probs.max(1, keepdims=True))
    np_probs /= np_probs.sum(1, keepdims=True)
    assert np.abs(np_probs - probs).max() < 1e-10, "NumPy NHWC and PyTorch disagree (inference)"

    # One training-mode forward: logits, loss, gradients, moving statistics.
    tnet = clone(net)
    for p in trainable(tnet):
        p.requires_grad_(True)
    train_logits = forward(tnet, xt, training=True)
    assert np.abs(np_forward(layers, params0, x, training=True) - train_logits.detach().numpy()).max() < 1e-9, \
        "NumPy NHWC and PyTorch disagree (training)"
    loss = F.cross_entropy(train_logits, yt)
    loss.backward()
    grads = engine_grads(tnet)
    state1 = state_of(tnet)
    sensitivity(name, net, xt, yt, probs, train_logits.detach().numpy(), state1)

    # Optimisers (Adam by Keras' formula; SGD/RMSprop by PyTorch), cross-checked.
    records = []
    for config, steps in optimizers:
        keras_adam = config["name"] == "adam"
        onet, losses = run_optimizer(net, xt, yt, config, steps, keras_formula=keras_adam)
        other, _ = run_optimizer(net, xt, yt, config, steps, keras_formula=not keras_adam)
        a, b = engine_params(onet), engine_params(other)
        diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
        label = "torch.optim.Adam(eps=1e-7)" if keras_adam else "Keras formula"
        print(f"  {name}: {config['name']} × {steps}: max |Δw| vs {label}: {diff:.2e}", end="")
        if keras_adam:  # PyTorch's epsilon placement must fail the test
            r = max(worst(b[k], a[k], STEP_ABS, STEP_REL) for k in a)
            print(f" ({r:.0f}× tolerance)", end="")
            assert r > 3, r
        print()
        if not keras_adam:
            assert diff < 1e-12, "PyTorch and Keras update rules should agree here"
        moved = max(float(np.abs(a[k] - params0[k]).max()) for k in a)
        assert moved > 1e-4, "the optimiser did not move the weights"
        records.append(dict(config=config, steps=steps, losses=losses, params=a))

    fixture = dict(
        description=description,
        generator="scripts/make_torch_fixtures.py",
        torch_version=torch.__version__,
        model=dict(name=name, input=list(input_shape), layers=layers),
        batch=int(x.shape[0]),
        x=x.reshape(-1),
        labels=[int(v) for v in y],
        params={k: dict(shape=list(v.shape), value=v.reshape(-1)) for k, v in params0.items()},
        probs=probs.reshape(-1),
        train_logits=train_logits.detach().numpy().reshape(-1),
        loss=loss.item(),
        grads={k: v.reshape(-1) for k, v in grads.items()},
        state_after_train_forward={k: v.reshape(-1) for k, v in state1.items()},
        optimizers=[dict(config=r["config"], steps=r["steps"], losses=r["losses"],
                         params={k: v.reshape(-1) for k, v in r["params"].items()}) for r in records],
    )
    path = os.path.join(OUT, f"torch_{name}.json")
    with open(path, "w") as f:
        f.write(to_json(fixture))
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path) / 1024:.0f} KiB), "
          f"loss {loss.item():.6f}, top-1 {int((probs.argmax(1) == y).sum())}/{len(y)}")


def f32(v):
    """Shortest decimal that reads back as the same float32."""
    s = str(np.float32(v))
    if s in ("0.0", "-0.0"):
        return "0"
    assert np.isfinite(np.float32(v)), v
    return s[:-2] if s.endswith(".0") else s


def to_json(v, indent=0):
    pad = "  " * (indent + 1)
    if isinstance(v, np.ndarray):
        return "[" + ",".join(f32(e) for e in v.tolist()) + "]"
    if isinstance(v, dict):
        items = [f"{pad}{to_json(k)}: {to_json(e, indent + 1)}" for k, e in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(v, (list, tuple)):
        if all(isinstance(e, (int, float, str)) for e in v):
            return "[" + ", ".join(to_json(e) for e in v) + "]"
        return "[\n" + ",\n".join(pad + to_json(e, indent + 1) for e in v) + "\n" + "  " * indent + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        assert np.isfinite(v)
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        import json

        return json.dumps(v)
    raise TypeError(type(v))


def main():
    os.makedirs(OUT, exist_ok=True)
    x, y = mnist_test_batch(8)

    make_fixture(
        "cnn",
        "Conv 8 5×5 same relu, max pool, batch norm, conv 16 3×3 valid relu, max pool, batch "
        "norm, flatten, dense 32 relu, dense 10 softmax on the first 8 MNIST test images.",
        [
            conv(8, 5, "same", "relu"),
            max_pool(2),
            batch_norm(),
            conv(16, 3, "valid", "relu"),
            max_pool(2),
            batch_norm(),
            flatten(),
            dense(32, "relu"),
            dense(10, "softmax"),
        ],
        (28, 28, 1), x, y, seed=0,
        optimizers=[(ADAM, 3)],
    )

    make_fixture(
        "mlp",
        "Flatten, dense 16 sigmoid, dense 12 tanh, dense 10 softmax on the first 8 MNIST test "
        "images.",
        [flatten(), dense(16, "sigmoid"), dense(12, "tanh"), dense(10, "softmax")],
        (28, 28, 1), x, y, seed=1,
        optimizers=[(ADAM, 3), (SGD_NESTEROV, 3)],
    )

    # TensorFlow's asymmetric `same` padding: on an even 8×6 input a 3×3 stride-2 kernel pads
    # (0, 1) on both axes; a 2×4 kernel (stride 1) on 4×3 pads rows (0, 1) and columns (1, 2);
    # a 3×3 stride-2 `same` max pool on 4×3 pads rows (0, 1) and columns (1, 1).
    rng = np.random.default_rng(2)
    xs = np.round(rng.uniform(-1, 1, size=(4, 8, 6, 2)), 4).astype(np.float32)
    ys = np.array([0, 3, 1, 4], np.int64)
    make_fixture(
        "strided_same",
        "Conv 4 3×3 stride 2 same tanh, batch norm (momentum 0.6, epsilon 0.01), conv 3 2×4 same sigmoid, max pool 3×3 stride 2 same, "
        "flatten, dense 5 softmax on a random 8×6×2 batch of 4.",
        [
            conv(4, 3, "same", "tanh", strides=2),
            batch_norm(momentum=0.6, epsilon=1e-2),
            conv(3, [2, 4], "same", "sigmoid"),
            max_pool(3, strides=2, padding="same"),
            flatten(),
            dense(5, "softmax"),
        ],
        (8, 6, 2), xs, ys, seed=3,
        optimizers=[(SGD_MOMENTUM, 3), (RMSPROP, 3), (ADAM, 3)],
    )
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"total {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
