//! Inference of 5×5 stride-1 convolutions takes Winograd's F(2×2, 5×5) (`engine/winograd.rs`);
//! training keeps the direct product. The two must agree to float rounding on every shape
//! the tiling meets: odd sizes (a last tile hanging over the edge), "valid" padding, one
//! sample and many, with and without a bias; and the fast path's bits must not depend on how
//! many samples go together or on the thread count.

use digits::engine::{Activation, Conv2DConfig, Ctx, Layer, Padding, Shape};
use digits::rng::Rng;

fn layer(input: Shape, filters: usize, padding: Padding, bias: bool, seed: u64) -> digits::engine::Conv2D {
    let mut config = Conv2DConfig::new(filters, 5, padding, Activation::Relu);
    config.options.use_bias = bias;
    let mut l = config.init("conv".into(), input, &mut Rng::new(seed)).expect("the layer builds");
    // Biases away from zero, so that a wrong bias path shows.
    for (i, b) in l.w.bias.value.iter_mut().enumerate() {
        *b = (i % 5) as f32 * 0.1 - 0.2;
    }
    l
}

fn outputs(l: &mut digits::engine::Conv2D, x: &[f32], batch: usize, training: bool) -> Vec<f32> {
    let mut y = vec![f32::NAN; batch * l.output_shape().len()];
    l.forward(x, &mut y, batch, Ctx { training, seed: 0 });
    y
}

#[test]
fn winograd_inference_agrees_with_the_direct_product() {
    digits::engine::set_threads(2);
    let cases = [
        (Shape::new(14, 14, 32), 64, Padding::Same, true, 5),
        (Shape::new(9, 7, 16), 24, Padding::Same, true, 3),
        (Shape::new(11, 12, 24), 16, Padding::Valid, false, 2),
        (Shape::new(6, 5, 16), 8, Padding::Valid, true, 1),
        (Shape::new(5, 5, 32), 32, Padding::Same, true, 1),
    ];
    let mut rng = Rng::new(7);
    for (i, &(input, filters, padding, bias, batch)) in cases.iter().enumerate() {
        let mut l = layer(input, filters, padding, bias, i as u64);
        let x: Vec<f32> = (0..batch * input.len()).map(|_| rng.uniform() * 2.0 - 0.5).collect();
        let direct = outputs(&mut l, &x, batch, true);
        let fast = outputs(&mut l, &x, batch, false);
        let scale = direct.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = direct.iter().zip(&fast).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(scale > 0.1, "case {i}: the outputs should not all vanish");
        assert!(direct != fast, "case {i}: inference should take the Winograd path, not the direct product");
        assert!(
            worst <= 2e-5 * scale.max(1.0),
            "case {i} ({input} → {filters}, {padding:?}): Winograd differs from the direct product by {worst} (outputs up to {scale})"
        );
    }
}

#[test]
fn winograd_bits_do_not_depend_on_the_batch_or_the_weights_seen_before() {
    digits::engine::set_threads(2);
    let input = Shape::new(9, 9, 16);
    let mut l = layer(input, 16, Padding::Same, true, 1);
    let mut rng = Rng::new(3);
    let x: Vec<f32> = (0..5 * input.len()).map(|_| rng.uniform()).collect();
    let together = outputs(&mut l, &x, 5, false);
    let alone: Vec<f32> = x.chunks(input.len()).flat_map(|s| outputs(&mut l, s, 1, false)).collect();
    assert!(together == alone, "a sample alone differs from the same sample in a batch");
    // The kernel's transform is cached: a changed kernel must be seen at once.
    l.w.kernel.value.iter_mut().for_each(|v| *v *= -1.0);
    let flipped = outputs(&mut l, &x, 5, false);
    let direct = outputs(&mut l, &x, 5, true);
    let worst = direct.iter().zip(&flipped).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "after the kernel changed, inference still used the old one (off by {worst})");
}
