//! Finite-difference checks of every layer, activation, loss and regulariser: the analytic
//! gradients of the engine's backward passes must match central differences of the forward
//! pass.

use digits::engine::loss::{self, Targets};
use digits::engine::{
    Activation, ActivationConfig, BatchNormConfig, Conv2DConfig, Ctx, DenseConfig, DropoutConfig, FlattenConfig,
    KernelOptions, L2, Layer, Loss, MaxPool2DConfig, Padding, Shape, Size2,
};
use digits::model::{LayerSpec, ModelSpec};
use digits::rng::Rng;

const EPS: f32 = 1e-3;

fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.uniform_range(-scale, scale)).collect()
}

fn close(analytic: f64, numeric: f64) -> bool {
    (analytic - numeric).abs() <= 1e-3 + 2e-2 * analytic.abs().max(numeric.abs())
}

/// Whether `analytic` matches the central difference, or (where a kink of relu or max pooling
/// lies between the two probes) one of the one-sided differences.
fn matches(analytic: f64, fp: f64, f0: f64, fm: f64) -> bool {
    matches_at(EPS, analytic, fp, f0, fm)
}

fn matches_at(eps: f32, analytic: f64, fp: f64, f0: f64, fm: f64) -> bool {
    let e = eps as f64;
    close(analytic, (fp - fm) / (2.0 * e)) || close(analytic, (fp - f0) / e) || close(analytic, (f0 - fm) / e)
}

/// The scalar the checks differentiate: the output projected on fixed random weights, plus the
/// layer's regularisation penalty.
fn objective(layer: &mut dyn Layer, x: &[f32], r: &[f32], batch: usize) -> f64 {
    let mut y = vec![0.0; r.len()];
    layer.forward(x, &mut y, batch, Ctx { training: true, seed: 42 });
    y.iter().zip(r).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() + layer.penalty()
}

/// The entries to probe: all of a small tensor, else `most` drawn at random.
fn probes(len: usize, most: usize, pick: &mut Rng) -> Vec<usize> {
    if len <= most { (0..len).collect() } else { (0..most).map(|_| pick.below(len)).collect() }
}

/// The analytic gradients of `layer` (input, then each parameter) for input `x` and output
/// weights `r`.
fn analytic(layer: &mut dyn Layer, x: &[f32], r: &[f32], batch: usize) -> (Vec<f32>, Vec<Vec<f32>>) {
    let mut y = vec![0.0; r.len()];
    layer.forward(x, &mut y, batch, Ctx { training: true, seed: 42 });
    for p in layer.params_mut() {
        p.grad.fill(0.0);
    }
    let mut dy = r.to_vec();
    let mut dx = vec![0.0; x.len()];
    layer.backward(x, &y, &mut dy, Some(&mut dx), batch);
    (dx, layer.params().iter().map(|p| p.grad.clone()).collect())
}

/// Compares d objective / d input and / d every trainable parameter of `layer` with central
/// differences; returns one line per entry that disagrees.
fn gradient_mismatches(layer: &mut dyn Layer, batch: usize, seed: u64) -> Vec<String> {
    gradient_mismatches_at(EPS, layer, batch, seed)
}

/// [`gradient_mismatches`] with probes `eps` apart.
fn gradient_mismatches_at(eps: f32, layer: &mut dyn Layer, batch: usize, seed: u64) -> Vec<String> {
    let x = random(batch * layer.input_shape().len(), seed, 1.0);
    let r = random(batch * layer.output_shape().len(), seed + 1, 1.0);
    let (dx, grads) = analytic(layer, &x, &r, batch);
    let name = layer.name().to_string();
    let mut bad = Vec::new();
    let mut pick = Rng::new(seed + 2);
    for i in probes(x.len(), 200, &mut pick) {
        let mut xp = x.clone();
        xp[i] += eps;
        let fp = objective(layer, &xp, &r, batch);
        xp[i] -= 2.0 * eps;
        let fm = objective(layer, &xp, &r, batch);
        let f0 = objective(layer, &x, &r, batch);
        if !matches_at(eps, dx[i] as f64, fp, f0, fm) {
            bad.push(format!("{name}: d/dx[{i}] analytic {} numeric {}", dx[i], (fp - fm) / (2.0 * eps as f64)));
        }
    }
    for (pi, grad) in grads.iter().enumerate() {
        if !layer.params()[pi].trainable {
            continue;
        }
        for i in probes(grad.len(), 200, &mut pick) {
            let orig = layer.params()[pi].value[i];
            layer.params_mut()[pi].value[i] = orig + eps;
            let fp = objective(layer, &x, &r, batch);
            layer.params_mut()[pi].value[i] = orig - eps;
            let fm = objective(layer, &x, &r, batch);
            layer.params_mut()[pi].value[i] = orig;
            let f0 = objective(layer, &x, &r, batch);
            if !matches_at(eps, grad[i] as f64, fp, f0, fm) {
                let numeric = (fp - fm) / (2.0 * eps as f64);
                bad.push(format!("{name}.{}[{i}]: analytic {} numeric {numeric}", layer.params()[pi].name, grad[i]));
            }
        }
    }
    bad
}

/// Asserts that every gradient of `layer` matches its finite difference.
fn check_layer(layer: &mut dyn Layer, batch: usize, seed: u64) {
    let bad = gradient_mismatches(layer, batch, seed);
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn dense_gradients_for_every_activation() {
    for (k, act) in [Activation::Linear, Activation::Relu, Activation::Sigmoid, Activation::Tanh, Activation::Softmax]
        .into_iter()
        .enumerate()
    {
        let cfg = DenseConfig::new(7, act);
        let mut l = cfg.init(format!("dense_{}", act.name()), Shape::flat(11), &mut Rng::new(k as u64)).unwrap();
        check_layer(&mut l, 4, 10 + k as u64);
    }
}

#[test]
fn dense_gradients_with_l2_kernel_and_activity_regularisers() {
    let mut cfg = DenseConfig::new(6, Activation::Sigmoid);
    cfg.options.kernel_regularizer = Some(L2 { l2: 0.05 });
    cfg.options.activity_regularizer = Some(L2 { l2: 0.1 });
    let mut l = cfg.init("dense_l2".into(), Shape::flat(9), &mut Rng::new(3)).unwrap();
    check_layer(&mut l, 5, 20);
    // The penalty itself: l2 · Σw² for the kernel.
    let w2: f64 = l.w.kernel.value.iter().map(|v| (*v as f64).powi(2)).sum();
    let mut y = vec![0.0; 5 * 6];
    l.forward(&random(45, 1, 1.0), &mut y, 5, Ctx { training: false, seed: 0 });
    assert!((l.penalty() / (0.05 * w2) - 1.0).abs() < 1e-6, "inference adds no activity penalty");
}

#[test]
fn conv2d_gradients_same_and_valid_padding_and_strides() {
    let cases = [
        (Shape::new(6, 7, 3), [3, 3], [1, 1], Padding::Same, Activation::Relu),
        (Shape::new(6, 6, 2), [5, 5], [1, 1], Padding::Same, Activation::Tanh),
        (Shape::new(7, 6, 2), [3, 2], [2, 2], Padding::Valid, Activation::Linear),
        (Shape::new(8, 8, 1), [4, 4], [2, 3], Padding::Same, Activation::Sigmoid),
    ];
    for (k, (input, ks, st, pad, act)) in cases.into_iter().enumerate() {
        let cfg = Conv2DConfig {
            filters: 4,
            kernel_size: Size2::Two(ks),
            strides: Size2::Two(st),
            padding: pad,
            options: KernelOptions {
                activation: act,
                kernel_regularizer: (k == 3).then_some(L2 { l2: 0.01 }),
                activity_regularizer: (k == 3).then_some(L2 { l2: 0.01 }),
                ..Default::default()
            },
        };
        let mut l = cfg.init(format!("conv2d_{k}"), input, &mut Rng::new(k as u64)).unwrap();
        check_layer(&mut l, 3, 30 + k as u64);
    }
}

/// Layers wide enough that the products read the patches in place (runs of `kw·c_in` ≥ 32, and
/// of `kw·c_out` for the input gradient), beside one whose kernel gradient still copies them
/// out (a run of 40, not a multiple of 32) and a strided one.
#[test]
fn conv2d_gradients_on_the_implicit_products() {
    let cases = [
        (Shape::new(5, 6, 32), [3, 3], [1, 1], Padding::Same, 12),
        (Shape::new(5, 5, 20), [3, 2], [1, 1], Padding::Valid, 16),
        (Shape::new(6, 5, 16), [2, 2], [2, 2], Padding::Valid, 4),
        (Shape::new(4, 4, 32), [5, 5], [1, 1], Padding::Same, 8),
        // Winograd's forward pass and input gradient, F(2×2, 5×5) and F(4×4, 3×3).
        (Shape::new(7, 6, 16), [5, 5], [1, 1], Padding::Same, 24),
        (Shape::new(9, 7, 16), [3, 3], [1, 1], Padding::Same, 16),
    ];
    check_tanh_convolutions("conv2d_wide", &cases, 40);
}

/// A convolution to check: input, kernel size, strides, padding, filters.
type ConvCase = (Shape, [usize; 2], [usize; 2], Padding, usize);

/// Checks tanh convolutions, probing 1e-2 apart: a 5×5 or 3×3 stride-1 layer's forward pass is
/// Winograd's, whose transforms (scaling by up to 25) round a few times more than the direct
/// sums, enough to blur a difference 1e-3 wide in f32; tanh is smooth enough for the wider one.
fn check_tanh_convolutions(name: &str, cases: &[ConvCase], seed: u64) {
    for (k, &(input, ks, st, pad, filters)) in cases.iter().enumerate() {
        let cfg = Conv2DConfig {
            filters,
            kernel_size: Size2::Two(ks),
            strides: Size2::Two(st),
            padding: pad,
            options: KernelOptions { activation: Activation::Tanh, ..Default::default() },
        };
        let mut l = cfg.init(format!("{name}_{k}"), input, &mut Rng::new(k as u64)).unwrap();
        let bad = gradient_mismatches_at(1e-2, &mut l, 3, seed + k as u64);
        assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
    }
}

/// Strided convolutions of the recipes' kinds and odd ones: 'same' and 'valid' borders, odd
/// sizes, a kernel as large as three strides and one smaller than the stride (pixels no tap
/// reaches).
#[test]
fn conv2d_strided_gradients() {
    let cases = [
        (Shape::new(9, 8, 3), [5, 5], [2, 2], Padding::Same, 5),
        (Shape::new(7, 9, 4), [3, 3], [2, 2], Padding::Same, 6),
        (Shape::new(10, 7, 2), [5, 3], [3, 2], Padding::Valid, 3),
        (Shape::new(7, 7, 3), [1, 2], [2, 3], Padding::Same, 4),
        (Shape::new(6, 9, 2), [7, 7], [3, 3], Padding::Same, 3),
    ];
    check_tanh_convolutions("conv2d_strided", &cases, 50);
}

#[test]
fn max_pool_gradients() {
    let cfg = MaxPool2DConfig::default();
    let mut l = cfg.init("max_pooling2d".into(), Shape::new(6, 6, 3)).unwrap();
    check_layer(&mut l, 2, 40);
    let cfg = MaxPool2DConfig { pool_size: Size2::One(3), strides: Some(Size2::Two([2, 2])), padding: Padding::Same };
    let mut l = cfg.init("max_pooling2d_1".into(), Shape::new(7, 5, 2)).unwrap();
    check_layer(&mut l, 2, 41);
}

#[test]
fn batch_norm_gradients_dense_and_spatial() {
    let mut l = BatchNormConfig::default().init("batch_normalization".into(), Shape::flat(5)).unwrap();
    check_layer(&mut l, 8, 50);
    let mut l = BatchNormConfig::default().init("batch_normalization_1".into(), Shape::new(3, 4, 3)).unwrap();
    // Non-trivial gamma and beta.
    l.gamma.value = vec![0.5, 1.5, -0.7];
    l.beta.value = vec![0.1, -0.2, 0.3];
    check_layer(&mut l, 4, 51);
    // 21 channels: the sums run 16 channels side by side, then the 5 left one by one.
    let mut l = BatchNormConfig::default().init("batch_normalization_2".into(), Shape::new(2, 3, 21)).unwrap();
    l.gamma.value = (0..21).map(|j| 0.5 + 0.05 * j as f32).collect();
    check_layer(&mut l, 3, 52);
}

#[test]
fn dropout_flatten_and_activation_layers() {
    let mut l = DropoutConfig { rate: 0.4 }.init("dropout".into(), Shape::flat(50)).unwrap();
    check_layer(&mut l, 3, 60);
    let mut l = FlattenConfig {}.init("flatten".into(), Shape::new(3, 2, 4));
    check_layer(&mut l, 2, 61);
    for (k, act) in
        [Activation::Relu, Activation::Sigmoid, Activation::Tanh, Activation::Softmax].into_iter().enumerate()
    {
        let mut l = ActivationConfig { activation: act }.init(format!("activation_{k}"), Shape::new(2, 2, 5));
        check_layer(&mut l, 3, 62 + k as u64);
    }
}

fn check_loss(f: impl Fn(&[f32], &mut [f32]) -> f64, z: &[f32]) {
    let mut g = vec![0.0; z.len()];
    f(z, &mut g);
    for i in 0..z.len() {
        let mut zp = z.to_vec();
        zp[i] += 1e-2;
        let fp = f(&zp, &mut []);
        zp[i] -= 2e-2;
        let fm = f(&zp, &mut []);
        let num = (fp - fm) / 2e-2;
        assert!(close(g[i] as f64, num), "d/dz[{i}]: analytic {} numeric {num}", g[i]);
    }
}

#[test]
fn cross_entropy_gradients_sparse_categorical_and_on_probabilities() {
    let z = random(4 * 10, 70, 3.0);
    let labels = [3u8, 0, 9, 5];
    check_loss(|z, g| loss::softmax_cross_entropy(z, Targets::Labels(&labels), 10, g), &z);
    let mut soft = random(40, 71, 1.0).iter().map(|v| v.abs()).collect::<Vec<_>>();
    for row in soft.chunks_mut(10) {
        let s: f32 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
    check_loss(|z, g| loss::softmax_cross_entropy(z, Targets::Dense(&soft), 10, g), &z);
    // Probabilities from a sigmoid output, kept away from the clip.
    let p: Vec<f32> = random(40, 72, 1.0).iter().map(|v| 0.3 + 0.25 * v).collect();
    check_loss(|p, g| loss::probability_cross_entropy(p, Targets::Labels(&labels), 10, g), &p);
}

#[test]
fn whole_network_gradients_through_softmax_fused_loss() {
    // A small CNN with every kind of layer, trained-mode forward, loss + penalties.
    let spec = ModelSpec {
        name: Some("tiny".into()),
        description: None,
        input: [8, 8, 1],
        layers: vec![
            LayerSpec::conv(3, 3, Padding::Same, Activation::Relu),
            LayerSpec::max_pool(2),
            LayerSpec::batch_norm(),
            LayerSpec::dropout(0.2),
            LayerSpec::flatten(),
            {
                let mut dense = DenseConfig::new(6, Activation::Tanh);
                dense.options.kernel_regularizer = Some(L2 { l2: 0.01 });
                dense.options.activity_regularizer = Some(L2 { l2: 0.01 });
                dense.into()
            },
            LayerSpec::dense(10, Activation::Softmax),
        ],
    };
    let mut net = spec.build(5).unwrap();
    assert!(net.softmax_output());
    let batch = 4;
    let x = random(batch * 64, 80, 1.0);
    let labels = [1u8, 7, 7, 2];
    let total = |net: &mut digits::engine::Network| {
        net.forward(&x, batch, true, 9);
        net.loss_grad(Targets::Labels(&labels), Loss::SparseCategoricalCrossentropy) + net.penalty()
    };
    total(&mut net);
    net.zero_grads();
    net.backward(&x);
    let grads: Vec<(String, Vec<f32>)> =
        net.named_params().iter().filter(|(_, p)| p.trainable).map(|(k, p)| (k.clone(), p.grad.clone())).collect();
    for (key, g) in grads {
        for i in (0..g.len()).step_by((g.len() / 8).max(1)) {
            let orig = get(&mut net, &key)[i];
            get(&mut net, &key)[i] = orig + EPS;
            let fp = total(&mut net);
            get(&mut net, &key)[i] = orig - EPS;
            let fm = total(&mut net);
            get(&mut net, &key)[i] = orig;
            let f0 = total(&mut net);
            let num = (fp - fm) / (2.0 * EPS as f64);
            assert!(matches(g[i] as f64, fp, f0, fm), "{key}[{i}]: analytic {} numeric {num}", g[i]);
        }
    }
}

fn get<'a>(net: &'a mut digits::engine::Network, key: &str) -> &'a mut Vec<f32> {
    net.named_params_mut().into_iter().find(|(k, _)| k == key).map(|(_, p)| &mut p.value).unwrap()
}

/// A layer with a bug planted in its backward pass: `plant` edits the gradients the real layer
/// wrote. Everything else is the real layer's.
struct Planted<L> {
    inner: L,
    plant: fn(&mut L),
}

impl<L: Layer> Layer for Planted<L> {
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
        self.inner.forward(x, y, batch, ctx)
    }
    fn backward(&mut self, x: &[f32], y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, batch: usize) {
        self.inner.backward(x, y, dy, dx, batch);
        (self.plant)(&mut self.inner);
    }
    fn params(&self) -> Vec<&digits::engine::Param> {
        self.inner.params()
    }
    fn params_mut(&mut self) -> Vec<&mut digits::engine::Param> {
        self.inner.params_mut()
    }
    fn penalty(&self) -> f64 {
        self.inner.penalty()
    }
}

/// Scales the largest kernel gradient entry by 1.1.
fn scale_largest(kernel: &mut digits::engine::Param) {
    let i = (0..kernel.grad.len()).max_by(|&a, &b| kernel.grad[a].abs().total_cmp(&kernel.grad[b].abs())).unwrap();
    kernel.grad[i] *= 1.1;
}

/// Takes the kernel regulariser's gradient `2 · l2 · w` back out, as if backward forgot it.
fn drop_l2(w: &mut digits::engine::kernel::Weights) {
    let k = 2.0 * w.options.kernel_regularizer.expect("a kernel regulariser").l2;
    w.kernel.grad.iter_mut().zip(&w.kernel.value).for_each(|(g, v)| *g -= k * v);
}

fn l2_dense(l2: f32) -> DenseConfig {
    let mut cfg = DenseConfig::new(7, Activation::Tanh);
    cfg.options.kernel_regularizer = Some(L2 { l2 });
    cfg
}

fn l2_conv(l2: f32) -> Conv2DConfig {
    let mut cfg = Conv2DConfig::new(4, 3, Padding::Same, Activation::Linear);
    cfg.options.kernel_regularizer = Some(L2 { l2 });
    cfg
}

#[test]
fn the_gradient_check_catches_a_planted_bug() {
    let dense =
        || DenseConfig::new(7, Activation::Tanh).init("dense".into(), Shape::flat(11), &mut Rng::new(1)).unwrap();
    check_layer(&mut dense(), 4, 90);
    let mut planted = Planted { inner: dense(), plant: |l| scale_largest(&mut l.w.kernel) };
    let bad = gradient_mismatches(&mut planted, 4, 90);
    assert_eq!(bad.len(), 1, "one wrong entry, one mismatch: {bad:?}");
    assert!(bad[0].starts_with("dense.kernel["), "{bad:?}");
    let conv = || l2_conv(0.0).init("conv2d".into(), Shape::new(5, 5, 2), &mut Rng::new(2)).unwrap();
    check_layer(&mut conv(), 3, 91);
    let mut planted = Planted { inner: conv(), plant: |l| scale_largest(&mut l.w.kernel) };
    assert_eq!(gradient_mismatches(&mut planted, 3, 91).len(), 1);
}

#[test]
fn kernel_l2_gradients_are_checked_sharply_and_a_missing_term_fails() {
    // A factor large enough that the regulariser's share (2 · l2 · w) is of the order of the
    // data's: with l2 = 0.01 it was within the check's tolerance for all but the largest weights.
    let conv = || l2_conv(0.5).init("conv2d".into(), Shape::new(6, 6, 2), &mut Rng::new(3)).unwrap();
    let dense = || l2_dense(0.5).init("dense".into(), Shape::flat(11), &mut Rng::new(4)).unwrap();
    check_layer(&mut conv(), 3, 92);
    check_layer(&mut dense(), 4, 93);
    // Mutations: the same checks on layers whose backward pass forgets the L2 term.
    let bad = gradient_mismatches(&mut Planted { inner: conv(), plant: |l| drop_l2(&mut l.w) }, 3, 92);
    assert!(bad.len() > 36, "only {} of 72 conv kernel entries caught: {bad:?}", bad.len());
    assert!(bad.iter().all(|b| b.starts_with("conv2d.kernel[")), "{bad:?}");
    let bad = gradient_mismatches(&mut Planted { inner: dense(), plant: |l| drop_l2(&mut l.w) }, 4, 93);
    assert!(bad.len() > 38, "only {} of 77 dense kernel entries caught", bad.len());
}

/// The largest difference between what the kernel regulariser added to `with`'s kernel
/// gradient (over `without`'s, the same layer without it) and `2 · l2 · w`, relative to the
/// gradient's size.
fn l2_share_error(with: &[f32], without: &[f32], w: &[f32], l2: f32) -> f32 {
    let k = 2.0 * l2;
    with.iter().zip(without).zip(w).map(|((a, b), v)| ((a - b) - k * v).abs() / a.abs().max(1.0)).fold(0.0, f32::max)
}

#[test]
fn the_kernel_regulariser_adds_exactly_two_l2_w() {
    let l2 = 0.3;
    let input = Shape::new(6, 5, 2);
    let x = random(3 * input.len(), 94, 1.0);
    let grads = |cfg: Conv2DConfig| {
        let mut l = cfg.init("conv2d".into(), input, &mut Rng::new(5)).unwrap();
        let r = random(3 * l.output_shape().len(), 95, 1.0);
        let (_, g) = analytic(&mut l, &x, &r, 3);
        (g[0].clone(), l.w.kernel.value.clone(), l.penalty())
    };
    let (with, w, penalty) = grads(l2_conv(l2));
    let mut plain = l2_conv(l2);
    plain.options.kernel_regularizer = None;
    let (without, w0, zero) = grads(plain);
    assert_eq!(w, w0, "the regulariser does not change the initial weights");
    let err = l2_share_error(&with, &without, &w, l2);
    assert!(err < 1e-6, "kernel gradient is off 2·l2·w by {err}");
    let sum_sq: f64 = w.iter().map(|v| (*v as f64).powi(2)).sum();
    assert!(zero == 0.0 && (penalty / (l2 as f64 * sum_sq) - 1.0).abs() < 1e-12, "penalty {penalty}");
    // Mutation: the same check fails on a gradient without the term, or with half of it.
    assert!(l2_share_error(&without, &without, &w, l2) > 1e-2);
    assert!(l2_share_error(&with, &without, &w, l2 / 2.0) > 1e-2);
}
