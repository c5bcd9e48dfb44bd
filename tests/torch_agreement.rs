//! Agreement with PyTorch on fixed weights.
//!
//! The fixtures in `tests/fixtures/torch_*.json` are written by `scripts/make_torch_fixtures.py`
//! (regenerate with `/tmp/peersvenv/bin/python scripts/make_torch_fixtures.py`; the venv comes
//! from `../shared/bench/setup.sh`). Each holds a small network with every tensor in the
//! engine's layout and key names, a batch (real MNIST test images for the CNN and the MLP), and
//! what PyTorch (float64, Keras semantics) computes: inference probabilities, the training-mode
//! logits, loss and gradients, batch norm's moving statistics after one training forward, and
//! the weights after a few optimiser steps (Keras' update rules).
//!
//! The tests build the same model with [`ModelSpec`], overwrite every tensor by key and compare.
//! Each mismatch names the tensor and the index. `layout_errors_are_detected` makes sure the
//! comparisons are sharp enough to catch a transposed kernel or a channels-first flatten.

use digits::engine::Network;
use digits::engine::loss::Targets;
use digits::engine::{Activation, BatchNormConfig, Conv2DConfig, Loss, MaxPool2DConfig, Padding, Size2};
use digits::model::{LayerSpec, ModelSpec};
use digits::optim::adam::AdamConfig;
use digits::optim::rmsprop::RmspropConfig;
use digits::optim::sgd::SgdConfig;
use digits::optim::{Optimizer, OptimizerConfig};
use serde::Deserialize;
use std::collections::BTreeMap;

// Tolerances (the references are float64 results rounded to float32).
/// Probabilities (inference mode): absolute.
const PROB_ABS: f64 = 1e-5;
/// Training-mode logits: absolute + relative.
const LOGIT_ABS: f64 = 1e-5;
const LOGIT_REL: f64 = 1e-5;
/// Mean cross-entropy (per optimiser step too): relative.
const LOSS_REL: f64 = 1e-5;
/// Gradients: absolute + relative.
const GRAD_ABS: f64 = 1e-5;
const GRAD_REL: f64 = 1e-4;
/// Batch-norm moving statistics: absolute + relative. Tight (a few float32 ulps) so that an
/// unbiased batch variance in the update (a 1/1567 change of a 1 % increment) fails.
const STATE_ABS: f64 = 1e-9;
const STATE_REL: f64 = 1e-6;
/// Tensors after the optimiser steps: absolute + relative.
const STEP_ABS: f64 = 1e-5;
const STEP_REL: f64 = 1e-5;

#[derive(Deserialize)]
struct Tensor {
    shape: Vec<usize>,
    value: Vec<f32>,
}

#[derive(Deserialize)]
struct OptimRecord {
    config: OptimizerConfig,
    steps: usize,
    losses: Vec<f64>,
    params: BTreeMap<String, Vec<f32>>,
}

#[derive(Deserialize)]
struct Fixture {
    model: ModelSpec,
    batch: usize,
    x: Vec<f32>,
    labels: Vec<u8>,
    params: BTreeMap<String, Tensor>,
    probs: Vec<f32>,
    train_logits: Vec<f32>,
    loss: f64,
    grads: BTreeMap<String, Vec<f32>>,
    state_after_train_forward: BTreeMap<String, Vec<f32>>,
    optimizers: Vec<OptimRecord>,
}

fn load(name: &str) -> Fixture {
    let path = format!("{}/tests/fixtures/torch_{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (regenerate with scripts/make_torch_fixtures.py)"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Collects mismatches (tensor name and index) instead of stopping at the first.
#[derive(Default)]
struct Report {
    errors: Vec<String>,
    /// Worst |got − want| / (abs + rel·|want|) seen per check, for the log.
    worst: Vec<(String, f64, f64)>,
}

impl Report {
    fn values(&mut self, what: &str, got: &[f32], want: &[f32], abs: f64, rel: f64) {
        if got.len() != want.len() {
            self.errors.push(format!("{what}: length {} but the fixture has {}", got.len(), want.len()));
            return;
        }
        let (mut worst_ratio, mut worst_diff) = (0.0f64, 0.0f64);
        let mut bad = 0;
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let (g, w) = (g as f64, w as f64);
            let diff = (g - w).abs();
            let tol = abs + rel * w.abs();
            let ratio = if diff.is_nan() { f64::INFINITY } else { diff / tol };
            worst_ratio = worst_ratio.max(ratio);
            worst_diff = worst_diff.max(diff);
            if ratio > 1.0 {
                bad += 1;
                if bad <= 5 {
                    self.errors
                        .push(format!("{what}[{i}]: engine {g:e}, torch {w:e} (|diff| {diff:.3e} > tol {tol:.3e})"));
                }
            }
        }
        if bad > 5 {
            self.errors.push(format!("{what}: {bad} of {} values out of tolerance in all", got.len()));
        }
        self.worst.push((what.to_string(), worst_diff, worst_ratio));
    }

    fn scalar(&mut self, what: &str, got: f64, want: f64, rel: f64) {
        let diff = (got - want).abs();
        let tol = rel * want.abs();
        if diff > tol || diff.is_nan() {
            self.errors.push(format!(
                "{what}: engine {got:.9}, torch {want:.9} (rel diff {:.3e} > {rel:e})",
                diff / want.abs()
            ));
        }
        self.worst.push((what.to_string(), diff, diff / tol.max(f64::MIN_POSITIVE)));
    }

    fn finish(self, name: &str) {
        let (worst_name, diff, ratio) =
            self.worst.iter().max_by(|a, b| a.2.total_cmp(&b.2)).cloned().unwrap_or_default();
        println!(
            "{name}: {} checks; tightest: {worst_name} (max |diff| {diff:.2e}, {:.1}% of tolerance)",
            self.worst.len(),
            ratio * 100.0
        );
        if std::env::var_os("TORCH_AGREEMENT_VERBOSE").is_some() {
            for (what, diff, ratio) in &self.worst {
                println!("  {what}: max |diff| {diff:.2e} ({:.1}% of tolerance)", ratio * 100.0);
            }
        }
        assert!(self.errors.is_empty(), "{name}: engine disagrees with PyTorch:\n  {}", self.errors.join("\n  "));
    }
}

/// The three models, built the way the rest of the crate builds models.
fn spec(name: &str) -> ModelSpec {
    use Activation::*;
    let (input, layers) = match name {
        "cnn" => (
            [28, 28, 1],
            vec![
                LayerSpec::conv(8, 5, Padding::Same, Relu),
                LayerSpec::max_pool(2),
                LayerSpec::batch_norm(),
                LayerSpec::conv(16, 3, Padding::Valid, Relu),
                LayerSpec::max_pool(2),
                LayerSpec::batch_norm(),
                LayerSpec::flatten(),
                LayerSpec::dense(32, Relu),
                LayerSpec::dense(10, Softmax),
            ],
        ),
        "mlp" => (
            [28, 28, 1],
            vec![
                LayerSpec::flatten(),
                LayerSpec::dense(16, Sigmoid),
                LayerSpec::dense(12, Tanh),
                LayerSpec::dense(10, Softmax),
            ],
        ),
        "strided_same" => {
            let c1 = Conv2DConfig { strides: Size2::One(2), ..Conv2DConfig::new(4, 3, Padding::Same, Tanh) };
            let c2 =
                Conv2DConfig { kernel_size: Size2::Two([2, 4]), ..Conv2DConfig::new(3, 2, Padding::Same, Sigmoid) };
            let pool =
                MaxPool2DConfig { pool_size: Size2::One(3), strides: Some(Size2::One(2)), padding: Padding::Same };
            let bn = BatchNormConfig { momentum: 0.6, epsilon: 1e-2 };
            let layers =
                vec![c1.into(), bn.into(), c2.into(), pool.into(), LayerSpec::flatten(), LayerSpec::dense(5, Softmax)];
            ([8, 6, 2], layers)
        }
        _ => unreachable!(),
    };
    ModelSpec { name: Some(name.into()), description: None, input, layers }
}

/// The optimisers the fixtures use, configured as the crate's users would.
fn expected_optimizers(name: &str) -> Vec<OptimizerConfig> {
    let adam = OptimizerConfig::by_name("adam").unwrap();
    match name {
        "cnn" => vec![adam],
        "mlp" => vec![adam, OptimizerConfig::Sgd(SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true })],
        "strided_same" => vec![
            OptimizerConfig::Sgd(SgdConfig { lr: 0.05, momentum: 0.9, nesterov: false }),
            OptimizerConfig::Rmsprop(RmspropConfig::default()),
            OptimizerConfig::Adam(AdamConfig::default()),
        ],
        _ => unreachable!(),
    }
}

/// Builds the model and overwrites every tensor from the fixture (engine layout, by key).
fn network(name: &str, fx: &Fixture) -> Network {
    let spec = spec(name);
    assert_eq!(spec.input, fx.model.input, "{name}: input shape");
    assert_eq!(spec.layers, fx.model.layers, "{name}: the fixture's model differs from the test's");
    let mut net = spec.build(0).expect("model builds");
    let mut seen = 0;
    for (key, p) in net.named_params_mut() {
        let t = fx.params.get(&key).unwrap_or_else(|| panic!("{name}: fixture has no tensor {key}"));
        assert_eq!(p.shape, t.shape, "{name}: shape of {key}");
        assert_eq!(p.value.len(), t.value.len(), "{name}: length of {key}");
        p.value.copy_from_slice(&t.value);
        seen += 1;
    }
    assert_eq!(seen, fx.params.len(), "{name}: the fixture has tensors the engine does not");
    net
}

/// One training-mode forward, loss and backward; returns the loss.
fn train_pass(net: &mut Network, fx: &Fixture) -> f64 {
    net.forward(&fx.x, fx.batch, true, 0);
    net.zero_grads();
    let loss = net.loss_grad(Targets::Labels(&fx.labels), Loss::SparseCategoricalCrossentropy);
    net.backward(&fx.x);
    loss
}

/// Inference probabilities only (used by the layout-sensitivity test too).
fn check_probs(net: &mut Network, fx: &Fixture, r: &mut Report, name: &str) {
    let probs = net.predict(&fx.x, fx.batch);
    r.values(&format!("{name}: probs"), &probs, &fx.probs, PROB_ABS, 0.0);
}

fn check_all(name: &str) {
    let fx = load(name);
    let mut r = Report::default();

    // Inference mode: batch norm on the (non-trivial) moving statistics.
    let mut net = network(name, &fx);
    check_probs(&mut net, &fx, &mut r, name);

    // Training mode: logits, loss, gradients, moving statistics after one forward.
    let mut net = network(name, &fx);
    let logits = net.forward(&fx.x, fx.batch, true, 0).to_vec();
    r.values(&format!("{name}: train_logits"), &logits, &fx.train_logits, LOGIT_ABS, LOGIT_REL);
    let loss = train_pass(&mut net, &fx); // the second forward must not change the loss
    r.scalar(&format!("{name}: loss"), loss, fx.loss, LOSS_REL);
    let mut grads_seen = 0;
    for (key, p) in net.named_params_mut() {
        if p.trainable {
            let want = fx.grads.get(&key).unwrap_or_else(|| panic!("{name}: fixture has no gradient of {key}"));
            r.values(&format!("{name}: grad {key}"), &p.grad, want, GRAD_ABS, GRAD_REL);
            grads_seen += 1;
        }
    }
    assert_eq!(grads_seen, fx.grads.len(), "{name}: gradient count");
    // Two training forwards ran on this network; compare the state on a fresh one instead.
    let mut net = network(name, &fx);
    net.forward(&fx.x, fx.batch, true, 0);
    let mut state_seen = 0;
    for (key, p) in net.named_params_mut() {
        if !p.trainable {
            let want = fx
                .state_after_train_forward
                .get(&key)
                .unwrap_or_else(|| panic!("{name}: fixture has no state {key} after the training forward"));
            r.values(&format!("{name}: {key} after one training forward"), &p.value, want, STATE_ABS, STATE_REL);
            state_seen += 1;
        }
    }
    assert_eq!(state_seen, fx.state_after_train_forward.len(), "{name}: state count");

    // Optimiser steps from the initial weights, each on the same batch.
    let expected = expected_optimizers(name);
    assert_eq!(fx.optimizers.len(), expected.len(), "{name}: optimisers");
    for (rec, config) in fx.optimizers.iter().zip(expected) {
        assert_eq!(rec.config, config, "{name}: fixture optimiser differs from the engine's");
        let oname = format!("{name}: {} × {}", config.name(), rec.steps);
        let mut net = network(name, &fx);
        let mut opt = Optimizer::new(config);
        for step in 0..rec.steps {
            let loss = train_pass(&mut net, &fx);
            r.scalar(&format!("{oname}: loss before step {}", step + 1), loss, rec.losses[step], LOSS_REL);
            opt.step(&mut net);
        }
        let mut seen = 0;
        for (key, p) in net.named_params_mut() {
            let want = rec.params.get(&key).unwrap_or_else(|| panic!("{oname}: fixture has no {key}"));
            r.values(&format!("{oname}: {key}"), &p.value, want, STEP_ABS, STEP_REL);
            seen += 1;
        }
        assert_eq!(seen, rec.params.len(), "{oname}: tensor count");
    }
    r.finish(name);
}

#[test]
fn cnn_agrees_with_torch() {
    check_all("cnn");
}

#[test]
fn mlp_sigmoid_tanh_agrees_with_torch() {
    check_all("mlp");
}

#[test]
fn strided_same_padding_agrees_with_torch() {
    check_all("strided_same");
}

/// Reorders a row-major tensor of `shape` by `perm` (numpy's `transpose`).
fn permute(v: &[f32], shape: &[usize], perm: &[usize]) -> Vec<f32> {
    let n = shape.len();
    let new_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut strides = vec![1; n];
    for i in (0..n - 1).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    let mut out = Vec::with_capacity(v.len());
    let mut idx = vec![0; n];
    for _ in 0..v.len() {
        let src: usize = (0..n).map(|d| idx[d] * strides[perm[d]]).sum();
        out.push(v[src]);
        for d in (0..n).rev() {
            idx[d] += 1;
            if idx[d] < new_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// The comparisons must catch the layout mistakes they exist for: a kernel loaded in
/// PyTorch's order, or dense weights after a flatten in channels-first order.
#[test]
fn layout_errors_are_detected() {
    let fx = load("cnn");
    type Mistake = fn(&[f32], &[usize]) -> Vec<f32>;
    let mistakes: [(&str, &str, Mistake); 4] = [
        ("conv kernel in PyTorch order [cout, cin, kh, kw]", "conv2d_1.kernel", |v, s| permute(v, s, &[3, 2, 0, 1])),
        ("conv kernel with kh and kw swapped", "conv2d.kernel", |v, s| permute(v, s, &[1, 0, 2, 3])),
        ("dense kernel in PyTorch order [out, in]", "dense_1.kernel", |v, s| permute(v, s, &[1, 0])),
        (
            "dense after a channels-first (CHW) flatten",
            "dense.kernel",
            // Rows in CHW order: row (c, y, x) takes the HWC row (y, x, c) of a 6×6×16 map.
            |v, s| {
                let out = s[1];
                let rows = permute(&(0..s[0] as u32).map(|i| i as f32).collect::<Vec<_>>(), &[6, 6, 16], &[2, 0, 1]);
                rows.iter().flat_map(|&r| v[r as usize * out..(r as usize + 1) * out].to_vec()).collect()
            },
        ),
    ];
    for (what, key, f) in mistakes {
        let mut net = network("cnn", &fx);
        for (k, p) in net.named_params_mut() {
            if k == key {
                p.value = f(&p.value, &p.shape);
            }
        }
        let mut r = Report::default();
        check_probs(&mut net, &fx, &mut r, "cnn");
        assert!(!r.errors.is_empty(), "{what}: the probability check did not notice");
    }
}
