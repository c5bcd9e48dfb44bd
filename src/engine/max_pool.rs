//! 2-D max pooling over NHWC batches (Keras' MaxPooling2D: pool 2×2, strides = pool, `valid`).

use super::conv2d::{Padding, conv_out};
use super::{Ctx, Layer, Shape};
use rayon::prelude::*;

#[derive(Clone, Debug)]
pub struct MaxPool2DConfig {
    pub pool_size: (usize, usize),
    /// Defaults to `pool_size`.
    pub strides: Option<(usize, usize)>,
    pub padding: Padding,
}

impl Default for MaxPool2DConfig {
    fn default() -> Self {
        MaxPool2DConfig { pool_size: (2, 2), strides: None, padding: Padding::Valid }
    }
}

impl MaxPool2DConfig {
    pub fn init(&self, name: String, input: Shape) -> Result<MaxPool2D, String> {
        let (ph, pw) = self.pool_size;
        let (sh, sw) = self.strides.unwrap_or(self.pool_size);
        let bad = || format!("pool {ph}×{pw} with stride {sh}×{sw} does not fit input {input}");
        let (oh, pad_t) = conv_out(input.h, ph, sh, self.padding).ok_or_else(bad)?;
        let (ow, pad_l) = conv_out(input.w, pw, sw, self.padding).ok_or_else(bad)?;
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
        y.par_chunks_mut(ol).zip(x.par_chunks(il)).for_each(|(y, x)| {
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
        });
    }

    fn backward(&mut self, x: &[f32], y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, _batch: usize) {
        let Some(dx) = dx else { return };
        let (il, ol) = (self.input.len(), self.output.len());
        // The gradient goes to the first input in the window equal to the maximum (the one the
        // forward pass picked), found again here rather than stored.
        dx.par_chunks_mut(il).zip(dy.par_chunks(ol)).zip(x.par_chunks(il).zip(y.par_chunks(ol))).for_each(
            |((dx, dy), (x, y))| {
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
            },
        );
    }
}

impl MaxPool2D {
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
