//! Dropout does what it says, checked statistically and exactly: in training it keeps each
//! value with probability `1 - rate` (within a binomial tolerance) and scales the kept ones by
//! `1 / (1 - rate)`, its masks are fresh at every step and differ between two dropout layers of
//! one step, the backward pass uses the forward pass's mask, and in inference it is the
//! identity. Each checker is also run on a dropout layer with a planted bug and must reject it.

use digits::engine::{Ctx, Dropout, DropoutConfig, Layer, Network, Param, Shape};
use digits::rng::Rng;

const RATE: f32 = 0.3;
const BATCH: usize = 4;
/// Values per sample: the whole batch spans several of the layer's parallel pieces.
const WIDTH: usize = 50_000;

fn dropout(rate: f32) -> Dropout {
    DropoutConfig { rate }.init("dropout".into(), Shape::flat(WIDTH)).unwrap()
}

/// Values away from zero, so a dropped value is the only zero output.
fn input(seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..BATCH * WIDTH).map(|_| r.uniform_range(0.5, 1.5)).collect()
}

fn run(layer: &mut dyn Layer, x: &[f32], training: bool, seed: u64) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    layer.forward(x, &mut y, BATCH, Ctx { training, seed });
    y
}

/// Whether `count` successes of `n` trials fit probability `p` (within five standard deviations).
fn binomial_fits(count: usize, n: usize, p: f64) -> Result<(), String> {
    let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
    let z = (count as f64 - mean) / sd;
    if z.abs() < 5.0 { Ok(()) } else { Err(format!("{count} of {n}, expected {mean:.0} ± {sd:.0} (z = {z:.1})")) }
}

/// Checks one training pass: keep rate `1 - rate`, kept values scaled by exactly `1/(1-rate)`.
fn check_keep_rate_and_scale(layer: &mut dyn Layer, rate: f32) -> Result<(), String> {
    let x = input(1);
    let y = run(layer, &x, true, 7);
    let scale = 1.0 / (1.0 - rate);
    if let Some(i) = (0..x.len()).find(|&i| y[i] != 0.0 && y[i].to_bits() != (x[i] * scale).to_bits()) {
        return Err(format!("value {i}: {} kept as {}, expected {}", x[i], y[i], x[i] * scale));
    }
    let kept = y.iter().filter(|v| **v != 0.0).count();
    binomial_fits(kept, x.len(), 1.0 - rate as f64).map_err(|e| format!("kept {e}"))
}

/// Checks that a seed gives one mask, and another seed another (each value independently).
fn check_fresh_masks(layer: &mut dyn Layer, rate: f32) -> Result<(), String> {
    let x = input(2);
    let mask = |layer: &mut dyn Layer, seed| run(layer, &x, true, seed).iter().map(|v| *v != 0.0).collect::<Vec<_>>();
    let (a, again, b) = (mask(layer, 11), mask(layer, 11), mask(layer, 12));
    if a != again {
        return Err("the same seed gave two masks".into());
    }
    let differ = a.iter().zip(&b).filter(|(p, q)| p != q).count();
    let p = 2.0 * rate as f64 * (1.0 - rate as f64);
    binomial_fits(differ, x.len(), p).map_err(|e| format!("masks of two steps differ at {e}"))
}

/// Checks that inference returns the input unchanged.
fn check_inference_is_identity(layer: &mut dyn Layer) -> Result<(), String> {
    let x = input(3);
    if run(layer, &x, false, 5) != x || !layer.passthrough(false) {
        return Err("inference changed the input".into());
    }
    Ok(())
}

/// Checks that two dropout layers in one network step draw independent masks: on an input of
/// ones, a value survives both with probability `(1 - rate)²`.
fn check_layers_of_one_step_differ(first: Box<dyn Layer>, second: Box<dyn Layer>, rate: f32) -> Result<(), String> {
    let mut net = Network::new(Shape::flat(WIDTH), vec![first, second]);
    let ones = vec![1.0; BATCH * WIDTH];
    let kept = net.forward(&ones, BATCH, true, 3).iter().filter(|v| **v != 0.0).count();
    let keep = 1.0 - rate as f64;
    binomial_fits(kept, ones.len(), keep * keep).map_err(|e| format!("kept by both layers {e}"))
}

#[test]
fn dropout_keeps_one_minus_rate_and_scales_the_kept_values() {
    for rate in [0.1, RATE, 0.5, 0.8] {
        check_keep_rate_and_scale(&mut dropout(rate), rate).unwrap();
    }
}

#[test]
fn dropout_masks_are_fresh_each_step_and_each_layer() {
    check_fresh_masks(&mut dropout(RATE), RATE).unwrap();
    check_layers_of_one_step_differ(Box::new(dropout(RATE)), Box::new(dropout(RATE)), RATE).unwrap();
    // And through the network's step seeds: two steps of one layer differ.
    let mut net = Network::new(Shape::flat(WIDTH), vec![Box::new(dropout(RATE))]);
    let x = input(4);
    let a = net.forward(&x, BATCH, true, 1).to_vec();
    let b = net.forward(&x, BATCH, true, 2).to_vec();
    let differ = a.iter().zip(&b).filter(|(p, q)| (**p == 0.0) != (**q == 0.0)).count();
    binomial_fits(differ, x.len(), 2.0 * 0.3 * 0.7).unwrap();
}

#[test]
fn dropout_backward_uses_the_forward_mask_and_inference_is_identity() {
    let mut l = dropout(RATE);
    let x = input(5);
    let y = run(&mut l, &x, true, 9);
    let mut dy: Vec<f32> = input(6);
    let mut dx = vec![0.0; x.len()];
    let dy0 = dy.clone();
    l.backward(&x, &y, &mut dy, Some(&mut dx), BATCH);
    let scale = 1.0 / (1.0 - RATE);
    for i in 0..x.len() {
        let want = if y[i] == 0.0 { 0.0 } else { dy0[i] * scale };
        assert_eq!(dx[i].to_bits(), want.to_bits(), "dx[{i}]");
    }
    check_inference_is_identity(&mut dropout(RATE)).unwrap();
}

/// A dropout layer with a planted bug.
struct Planted {
    inner: Dropout,
    bug: Bug,
}

#[derive(Clone, Copy)]
enum Bug {
    /// Kept values are not scaled up.
    Unscaled,
    /// The mask ignores the step's seed (the same mask every step and in every layer).
    FixedSeed,
    /// Drops in inference too.
    AlwaysTraining,
}

impl Layer for Planted {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn input_shape(&self) -> Shape {
        self.inner.input_shape()
    }
    fn output_shape(&self) -> Shape {
        self.inner.output_shape()
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], batch: usize, ctx: Ctx) {
        match self.bug {
            Bug::Unscaled => {
                self.inner.forward(x, y, batch, ctx);
                y.iter_mut().for_each(|v| *v *= 1.0 - self.inner.rate);
            }
            Bug::FixedSeed => self.inner.forward(x, y, batch, Ctx { seed: 0, ..ctx }),
            Bug::AlwaysTraining => self.inner.forward(x, y, batch, Ctx { training: true, ..ctx }),
        }
    }
    fn backward(&mut self, x: &[f32], y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, batch: usize) {
        self.inner.backward(x, y, dy, dx, batch)
    }
    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
    fn passthrough(&self, training: bool) -> bool {
        self.inner.passthrough(training)
    }
}

fn planted(bug: Bug) -> Planted {
    Planted { inner: dropout(RATE), bug }
}

#[test]
fn each_dropout_check_rejects_a_planted_bug() {
    let e = check_keep_rate_and_scale(&mut planted(Bug::Unscaled), RATE).unwrap_err();
    assert!(e.contains("kept as"), "{e}");
    // A layer dropping at another rate than the one checked.
    assert!(check_keep_rate_and_scale(&mut dropout(0.35), RATE).is_err());
    let e = check_fresh_masks(&mut planted(Bug::FixedSeed), RATE).unwrap_err();
    assert!(e.contains("masks of two steps differ"), "{e}");
    let e = check_layers_of_one_step_differ(Box::new(planted(Bug::FixedSeed)), Box::new(planted(Bug::FixedSeed)), RATE)
        .unwrap_err();
    assert!(e.contains("kept by both layers"), "{e}");
    let e = check_inference_is_identity(&mut planted(Bug::AlwaysTraining)).unwrap_err();
    assert!(e.contains("inference"), "{e}");
}
