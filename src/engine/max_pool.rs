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
            argmax: Vec::new(),
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
    /// For each output value, the index (within its sample) of the input that won.
    argmax: Vec<u32>,
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

    fn forward(&mut self, x: &[f32], y: &mut [f32], batch: usize, _ctx: Ctx) {
        let (il, ol) = (self.input.len(), self.output.len());
        if self.argmax.len() < batch * ol {
            self.argmax.resize(batch * ol, 0);
        }
        let Shape { h, w, c } = self.input;
        let (oh, ow) = (self.output.h, self.output.w);
        let (ph, pw) = self.pool;
        let (sh, sw) = self.strides;
        let (pt, pl) = self.pad;
        y.par_chunks_mut(ol).zip(self.argmax.par_chunks_mut(ol)).zip(x.par_chunks(il)).for_each(|((y, am), x)| {
            for oy in 0..oh {
                let y0 = (oy * sh).saturating_sub(pt);
                let y1 = (oy * sh + ph).saturating_sub(pt).min(h);
                for ox in 0..ow {
                    let x0 = (ox * sw).saturating_sub(pl);
                    let x1 = (ox * sw + pw).saturating_sub(pl).min(w);
                    let o = (oy * ow + ox) * c;
                    let (yo, ao) = (&mut y[o..o + c], &mut am[o..o + c]);
                    yo.fill(f32::NEG_INFINITY);
                    for iy in y0..y1 {
                        for ix in x0..x1 {
                            let i = (iy * w + ix) * c;
                            for ch in 0..c {
                                let v = x[i + ch];
                                if v > yo[ch] {
                                    yo[ch] = v;
                                    ao[ch] = (i + ch) as u32;
                                }
                            }
                        }
                    }
                }
            }
        });
    }

    fn backward(&mut self, _x: &[f32], _y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, _batch: usize) {
        let Some(dx) = dx else { return };
        let (il, ol) = (self.input.len(), self.output.len());
        dx.par_chunks_mut(il).zip(dy.par_chunks(ol)).zip(self.argmax.par_chunks(ol)).for_each(|((dx, dy), am)| {
            dx.fill(0.0);
            for (&g, &i) in dy.iter().zip(am) {
                dx[i as usize] += g;
            }
        });
    }
}
