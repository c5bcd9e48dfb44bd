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
