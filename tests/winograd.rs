//! 5×5 and 3×3 stride-1 convolutions run their forward pass, their input gradient and their
//! kernel gradient by Winograd's minimal filtering (`engine/winograd.rs`). All must agree with the direct sums (in f64 here) to
//! float rounding on every shape the tiling meets: odd sizes (a last tile hanging over the
//! edge), "valid" padding, one sample and many, with and without a bias; and the bits must not
//! depend on how many samples go together.

use digits::engine::{Activation, Conv2D, Conv2DConfig, Ctx, Layer, Padding, Shape};
use digits::rng::Rng;

fn layer(input: Shape, filters: usize, k: usize, padding: Padding, bias: bool, seed: u64) -> Conv2D {
    let mut config = Conv2DConfig::new(filters, k, padding, Activation::Linear);
    config.options.use_bias = bias;
    let mut l = config.init("conv".into(), input, &mut Rng::new(seed)).expect("the layer builds");
    // Biases away from zero, so that a wrong bias path shows.
    for (i, b) in l.w.bias.value.iter_mut().enumerate() {
        *b = (i % 5) as f32 * 0.1 - 0.2;
    }
    l
}

/// The direct correlation's taps: for output pixel (oy, ox) and tap (ky, kx), the input pixel.
fn taps(l: &Conv2D) -> impl Fn(usize, usize, usize, usize) -> Option<(usize, usize)> {
    let (i, o) = (l.input_shape(), l.output_shape());
    let k = kernel_size(l);
    // "same" pads (k − 1) / 2 before; "valid" nothing.
    let pad = (o.h + k - 1 - i.h) / 2;
    move |oy, ox, ky, kx| {
        let (y, x) = ((oy + ky).checked_sub(pad)?, (ox + kx).checked_sub(pad)?);
        (y < i.h && x < i.w).then_some((y, x))
    }
}

fn kernel_size(l: &Conv2D) -> usize {
    let (i, o) = (l.input_shape(), l.output_shape());
    ((l.w.kernel.value.len() / (i.c * o.c)) as f64).sqrt() as usize
}

fn direct_forward(l: &Conv2D, x: &[f32], batch: usize) -> Vec<f64> {
    let (i, o) = (l.input_shape(), l.output_shape());
    let (k, b) = (&l.w.kernel.value, &l.w.bias.value);
    let (tap, r) = (taps(l), kernel_size(l));
    let mut out = vec![0.0f64; batch * o.len()];
    for n in 0..batch {
        for oy in 0..o.h {
            for ox in 0..o.w {
                for co in 0..o.c {
                    let mut sum = b.get(co).copied().unwrap_or(0.0) as f64;
                    for (ky, kx) in (0..r * r).map(|t| (t / r, t % r)) {
                        if let Some((iy, ix)) = tap(oy, ox, ky, kx) {
                            for ci in 0..i.c {
                                let v = x[((n * i.h + iy) * i.w + ix) * i.c + ci] as f64;
                                sum += v * k[((ky * r + kx) * i.c + ci) * o.c + co] as f64;
                            }
                        }
                    }
                    out[((n * o.h + oy) * o.w + ox) * o.c + co] = sum;
                }
            }
        }
    }
    out
}

/// Calls `f(output pixel, input pixel, tap)` (flat indices over the batch) for every tap of
/// every output pixel that lands inside the input.
fn each_tap(l: &Conv2D, batch: usize, mut f: impl FnMut(usize, usize, usize)) {
    let (i, o) = (l.input_shape(), l.output_shape());
    let (tap, r) = (taps(l), kernel_size(l));
    for n in 0..batch {
        for oy in 0..o.h {
            for ox in 0..o.w {
                for (ky, kx) in (0..r * r).map(|t| (t / r, t % r)) {
                    if let Some((iy, ix)) = tap(oy, ox, ky, kx) {
                        f((n * o.h + oy) * o.w + ox, (n * i.h + iy) * i.w + ix, ky * r + kx);
                    }
                }
            }
        }
    }
}

fn direct_input_grad(l: &Conv2D, dy: &[f32], batch: usize) -> Vec<f64> {
    let (i, o) = (l.input_shape(), l.output_shape());
    let k = &l.w.kernel.value;
    let mut dx = vec![0.0f64; batch * i.len()];
    each_tap(l, batch, |po, pi, t| {
        for ci in 0..i.c {
            let sum: f64 = (0..o.c).map(|co| dy[po * o.c + co] as f64 * k[(t * i.c + ci) * o.c + co] as f64).sum();
            dx[pi * i.c + ci] += sum;
        }
    });
    dx
}

/// `Σ` over samples and output pixels of input · output gradient, for each tap and channel pair.
fn direct_kernel_grad(l: &Conv2D, x: &[f32], dy: &[f32], batch: usize) -> Vec<f64> {
    let (i, o) = (l.input_shape(), l.output_shape());
    let mut g = vec![0.0f64; l.w.kernel.value.len()];
    each_tap(l, batch, |po, pi, t| {
        for ci in 0..i.c {
            let v = x[pi * i.c + ci] as f64;
            for co in 0..o.c {
                g[(t * i.c + ci) * o.c + co] += v * dy[po * o.c + co] as f64;
            }
        }
    });
    g
}

/// The largest difference, and the largest magnitude of `want`.
fn worst(got: &[f32], want: &[f64]) -> (f64, f64) {
    let diff = got.iter().zip(want).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
    (diff, want.iter().fold(0.0, |m, v| m.max(v.abs())))
}

#[test]
fn winograd_forward_and_gradients_agree_with_the_direct_sums() {
    digits::engine::set_threads(2);
    let cases = [
        (Shape::new(14, 14, 32), 64, 5, Padding::Same, true, 3),
        (Shape::new(9, 7, 16), 24, 5, Padding::Same, true, 3),
        (Shape::new(11, 12, 24), 16, 5, Padding::Valid, false, 2),
        (Shape::new(6, 5, 16), 16, 5, Padding::Valid, true, 1),
        (Shape::new(5, 5, 32), 32, 5, Padding::Same, true, 1),
        (Shape::new(14, 14, 32), 32, 3, Padding::Same, true, 2),
        (Shape::new(9, 10, 16), 24, 3, Padding::Same, true, 3),
        (Shape::new(11, 7, 24), 16, 3, Padding::Valid, false, 2),
        (Shape::new(3, 3, 16), 16, 3, Padding::Same, true, 1),
    ];
    let mut rng = Rng::new(7);
    for (c, &(input, filters, k, padding, bias, batch)) in cases.iter().enumerate() {
        let mut l = layer(input, filters, k, padding, bias, c as u64);
        let x: Vec<f32> = (0..batch * input.len()).map(|_| rng.uniform() * 2.0 - 0.5).collect();
        let what = format!("case {c} ({input} → {filters}, {k}×{k} {padding:?}, batch {batch})");
        for training in [false, true] {
            let mut y = vec![f32::NAN; batch * l.output_shape().len()];
            l.forward(&x, &mut y, batch, Ctx { training, seed: 0 });
            let (diff, scale) = worst(&y, &direct_forward(&l, &x, batch));
            assert!(scale > 0.1, "{what}: the outputs should not all vanish");
            assert!(diff <= 2e-5 * scale.max(1.0), "{what}: the forward pass is off by {diff} (outputs up to {scale})");
        }
        let y = vec![0.0f32; batch * l.output_shape().len()];
        let mut dy: Vec<f32> = (0..y.len()).map(|_| rng.uniform() - 0.5).collect();
        let want = direct_input_grad(&l, &dy, batch);
        let want_kernel = direct_kernel_grad(&l, &x, &dy, batch);
        let mut dx = vec![f32::NAN; batch * input.len()];
        l.backward(&x, &y, &mut dy, Some(&mut dx), batch);
        let (diff, scale) = worst(&dx, &want);
        assert!(diff <= 2e-5 * scale.max(1.0), "{what}: the input gradient is off by {diff} (values up to {scale})");
        let (diff, scale) = worst(&l.w.kernel.grad, &want_kernel);
        assert!(scale > 0.1, "{what}: the kernel gradient should not vanish");
        assert!(diff <= 2e-5 * scale.max(1.0), "{what}: the kernel gradient is off by {diff} (values up to {scale})");
    }
}

#[test]
fn winograd_bits_do_not_depend_on_the_batch_or_the_weights_seen_before() {
    digits::engine::set_threads(2);
    let input = Shape::new(9, 9, 16);
    let mut l = layer(input, 16, 5, Padding::Same, true, 1);
    let mut rng = Rng::new(3);
    let x: Vec<f32> = (0..5 * input.len()).map(|_| rng.uniform()).collect();
    let run = |l: &mut Conv2D, x: &[f32], n: usize| {
        let mut y = vec![f32::NAN; n * l.output_shape().len()];
        l.forward(x, &mut y, n, Ctx { training: false, seed: 0 });
        y
    };
    let together = run(&mut l, &x, 5);
    let alone: Vec<f32> = x.chunks(input.len()).flat_map(|s| run(&mut l, s, 1)).collect();
    assert!(together == alone, "a sample alone differs from the same sample in a batch");
    // The kernel's transform is kept between calls: a changed kernel must be seen at once.
    l.w.kernel.value.iter_mut().for_each(|v| *v *= -1.0);
    let (diff, _) = worst(&run(&mut l, &x, 5), &direct_forward(&l, &x, 5));
    assert!(diff < 1e-4, "after the kernel changed, the forward pass still used the old one (off by {diff})");
}
