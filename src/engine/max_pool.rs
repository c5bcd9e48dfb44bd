//! 2-D max pooling over NHWC batches (Keras' MaxPooling2D: pool 2×2, strides = pool, `valid`).

use super::conv2d::{Padding, Size2, conv_out};
use super::{Ctx, Layer, LayerConfig, Shape, limits};
use crate::rng::Rng;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A MaxPooling2D layer as a model file gives it; every option has Keras' default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxPool2DConfig {
    pub pool_size: Size2,
    /// Defaults to `pool_size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strides: Option<Size2>,
    pub padding: Padding,
}

impl Default for MaxPool2DConfig {
    fn default() -> Self {
        MaxPool2DConfig { pool_size: Size2::One(2), strides: None, padding: Padding::Valid }
    }
}

impl MaxPool2DConfig {
    /// Square `k` × `k` windows, stride `k`, no padding.
    pub fn new(k: usize) -> Self {
        MaxPool2DConfig { pool_size: Size2::One(k), ..Default::default() }
    }

    /// Builds the layer for `input`, or says why the windows do not fit it.
    pub fn init(&self, name: String, input: Shape) -> Result<MaxPool2D> {
        let (ph, pw) = self.pool_size.pair();
        let (sh, sw) = self.strides.unwrap_or(self.pool_size).pair();
        let misfit = || Error::Invalid(format!("pool {ph}×{pw} with stride {sh}×{sw} does not fit input {input}"));
        for (what, v) in [("pool size", ph), ("pool size", pw), ("stride", sh), ("stride", sw)] {
            if v > limits::MAX_WINDOW {
                return Err(Error::Invalid(format!("{what} {v} is outside the limit 1 to {}", limits::MAX_WINDOW)));
            }
        }
        let (oh, pad_t) = conv_out(input.h, ph, sh, self.padding).ok_or_else(misfit)?;
        let (ow, pad_l) = conv_out(input.w, pw, sw, self.padding).ok_or_else(misfit)?;
        Ok(MaxPool2D {
            name,
            input,
            output: Shape::new(oh, ow, input.c),
            pool: (ph, pw),
            strides: (sh, sw),
            pad: (pad_t, pad_l),
        })
    }
}

impl LayerConfig for MaxPool2DConfig {
    fn base_name(&self) -> &'static str {
        "max_pooling2d"
    }
    fn build(&self, name: String, input: Shape, _rng: &mut Rng) -> Result<Box<dyn Layer>> {
        Ok(Box::new(self.init(name, input)?))
    }
    fn plan(&self, input: Shape) -> Result<(usize, Shape)> {
        Ok((0, self.init(String::new(), input)?.output))
    }
}

pub struct MaxPool2D {
    name: String,
    input: Shape,
    output: Shape,
    pool: (usize, usize),
    strides: (usize, usize),
    pad: (usize, usize),
}

impl Layer for MaxPool2D {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "MaxPooling2D"
    }
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn output_shape(&self) -> Shape {
        self.output
    }

    fn forward(&mut self, x: &[f32], y: &mut [f32], _batch: usize, _ctx: Ctx) {
        let (il, ol) = (self.input.len(), self.output.len());
        let two_by_two = self.two_by_two();
        y.par_chunks_mut(ol).zip(x.par_chunks(il)).for_each(|(y, x)| {
            super::wide(
                #[inline(always)]
                || if two_by_two { self.forward_2x2(x, y) } else { self.forward_image(x, y) },
            )
        });
    }

    fn backward(&mut self, x: &[f32], y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, _batch: usize) {
        let Some(dx) = dx else { return };
        let (il, ol) = (self.input.len(), self.output.len());
        let two_by_two = self.two_by_two();
        dx.par_chunks_mut(il).zip(dy.par_chunks(ol)).zip(x.par_chunks(il).zip(y.par_chunks(ol))).for_each(
            |((dx, dy), (x, y))| {
                super::wide(
                    #[inline(always)]
                    || {
                        if two_by_two { self.backward_2x2(x, y, dy, dx) } else { self.backward_image(x, y, dy, dx) }
                    },
                )
            },
        );
    }
}

impl MaxPool2D {
    /// Keras' default pooling, 2 × 2 windows side by side with no padding, which has its own
    /// code: each output row reads two input rows once, and the channels run in vectors.
    fn two_by_two(&self) -> bool {
        self.pool == (2, 2) && self.strides == (2, 2) && self.pad == (0, 0)
    }

    /// One image's forward pass with [`MaxPool2D::two_by_two`] windows: the same maxima in the
    /// same order as the general loop (from −∞, row by row), so the same bits.
    #[inline(always)]
    fn forward_2x2(&self, x: &[f32], y: &mut [f32]) {
        let Shape { w, c, .. } = self.input;
        let ow = self.output.w;
        for (oy, yr) in y.chunks_exact_mut(ow * c).enumerate() {
            let (r0, r1) = (&x[2 * oy * w * c..][..w * c], &x[(2 * oy + 1) * w * c..][..w * c]);
            for (ox, out) in yr.chunks_exact_mut(c).enumerate() {
                let (a, b) = (&r0[2 * ox * c..][..2 * c], &r1[2 * ox * c..][..2 * c]);
                let (a0, a1, b0, b1) = (&a[..c], &a[c..], &b[..c], &b[c..]);
                for j in 0..c {
                    out[j] = f32::NEG_INFINITY.max(a0[j]).max(a1[j]).max(b0[j]).max(b1[j]);
                }
            }
        }
    }

    /// One image's backward pass with [`MaxPool2D::two_by_two`] windows: as the general one
    /// (the gradient to the first position equal to the maximum), branch-free across the
    /// channels.
    #[inline(always)]
    fn backward_2x2(&self, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
        let Shape { h, w, c } = self.input;
        let ow = self.output.w;
        // Rows and columns beyond the last whole window get no gradient.
        dx[self.output.h * 2 * w * c..h * w * c].fill(0.0);
        for oy in 0..self.output.h {
            let (lo, hi) = dx[2 * oy * w * c..(2 * oy + 2) * w * c].split_at_mut(w * c);
            let (r0, r1) = (&x[2 * oy * w * c..][..w * c], &x[(2 * oy + 1) * w * c..][..w * c]);
            for row in [&mut *lo, &mut *hi] {
                row[2 * ow * c..].fill(0.0);
            }
            for ox in 0..ow {
                let o = (oy * ow + ox) * c;
                let (m, g) = (&y[o..o + c], &dy[o..o + c]);
                let (da, db) = (&mut lo[2 * ox * c..][..2 * c], &mut hi[2 * ox * c..][..2 * c]);
                let (a, b) = (&r0[2 * ox * c..][..2 * c], &r1[2 * ox * c..][..2 * c]);
                let (da0, da1) = da.split_at_mut(c);
                let (db0, db1) = db.split_at_mut(c);
                let (a0, a1, b0, b1) = (&a[..c], &a[c..2 * c], &b[..c], &b[c..2 * c]);
                let (da1, db0, db1) = (&mut da1[..c], &mut db0[..c], &mut db1[..c]);
                for j in 0..c {
                    let (m, g) = (m[j], g[j]);
                    // Bitwise, not short-circuit, so that the loop has no branches.
                    let (e0, e1, e2, e3) = (a0[j] == m, a1[j] == m, b0[j] == m, b1[j] == m);
                    let hit1 = e1 & !e0;
                    let hit2 = e2 & !(e0 | e1);
                    let hit3 = e3 & !(e0 | e1 | e2);
                    // `0 + g`, as the general loop adds onto zero (a −0 gradient becomes +0).
                    let v = 0.0 + g;
                    da0[j] = if e0 { v } else { 0.0 };
                    da1[j] = if hit1 { v } else { 0.0 };
                    db0[j] = if hit2 { v } else { 0.0 };
                    db1[j] = if hit3 { v } else { 0.0 };
                }
            }
        }
    }

    /// One image's forward pass, any windows.
    #[inline(always)]
    fn forward_image(&self, x: &[f32], y: &mut [f32]) {
        self.for_windows(|o, iy0, iy1, ix0, ix1| {
            let c = self.input.c;
            let yo = &mut y[o..o + c];
            yo.fill(f32::NEG_INFINITY);
            for iy in iy0..iy1 {
                for ix in ix0..ix1 {
                    let i = (iy * self.input.w + ix) * c;
                    // Branch-free so it vectorises across channels.
                    yo.iter_mut().zip(&x[i..i + c]).for_each(|(m, &v)| *m = m.max(v));
                }
            }
        });
    }

    /// One image's backward pass, any windows: the gradient goes to the first input in the
    /// window equal to the maximum (the one the forward pass picked), found again here rather
    /// than stored.
    #[inline(always)]
    fn backward_image(&self, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
        dx.fill(0.0);
        let (c, w) = (self.input.c, self.input.w);
        self.for_windows(|o, iy0, iy1, ix0, ix1| {
            for ch in 0..c {
                let m = y[o + ch];
                'window: for iy in iy0..iy1 {
                    for ix in ix0..ix1 {
                        let i = (iy * w + ix) * c + ch;
                        if x[i] == m {
                            dx[i] += dy[o + ch];
                            break 'window;
                        }
                    }
                }
            }
        });
    }

    /// Calls `f(output offset, rows iy0..iy1, columns ix0..ix1)` for every pooling window.
    fn for_windows(&self, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
        let Shape { h, w, c } = self.input;
        let (oh, ow) = (self.output.h, self.output.w);
        let (ph, pw) = self.pool;
        let (sh, sw) = self.strides;
        let (pt, pl) = self.pad;
        for oy in 0..oh {
            let y0 = (oy * sh).saturating_sub(pt);
            let y1 = (oy * sh + ph).saturating_sub(pt).min(h);
            for ox in 0..ow {
                let x0 = (ox * sw).saturating_sub(pl);
                let x1 = (ox * sw + pw).saturating_sub(pl).min(w);
                f((oy * ow + ox) * c, y0, y1, x0, x1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_pooling_gives_the_bits_of_the_general_loop() {
        // Odd sizes (a last row and column in no window), ties within windows, signed zeros.
        for (h, w, c) in [(7, 5, 3), (28, 28, 32), (4, 6, 17)] {
            let l = MaxPool2DConfig::new(2).init("p".into(), Shape::new(h, w, c)).unwrap();
            assert!(l.two_by_two());
            let x: Vec<f32> = (0..h * w * c).map(|i| ((i * 7919 % 13) as f32 - 6.0) / 2.0).collect();
            let dy: Vec<f32> =
                (0..l.output.len()).map(|i| if i % 5 == 0 { -0.0 } else { (i % 7) as f32 - 3.0 }).collect();
            let (mut y1, mut y2) = (vec![0.0; l.output.len()], vec![1.0; l.output.len()]);
            l.forward_image(&x, &mut y1);
            l.forward_2x2(&x, &mut y2);
            assert_eq!(
                y1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                y2.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            let (mut d1, mut d2) = (vec![5.0; x.len()], vec![7.0; x.len()]);
            l.backward_image(&x, &y1, &dy, &mut d1);
            l.backward_2x2(&x, &y1, &dy, &mut d2);
            assert_eq!(
                d1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                d2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{h}×{w}×{c}"
            );
        }
    }
}
