//! Inverted dropout: in training each value is kept with probability `1 - rate` and scaled by
//! `1 / (1 - rate)`; in inference the layer is the identity.

use super::{Ctx, Layer, LayerConfig, Shape, activation::PAR_CHUNK, ensure};
use crate::rng::{Rng, unit};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A Dropout layer as a model file gives it: the fraction of values dropped in training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutConfig {
    pub rate: f32,
}

impl DropoutConfig {
    /// Builds the layer for `shape`, or says that the rate is not in [0, 1).
    pub fn init(&self, name: String, shape: Shape) -> Result<Dropout> {
        let rate = self.rate;
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::Invalid(format!("dropout rate {rate} is outside [0, 1)")));
        }
        Ok(Dropout { name, shape, rate, mask: Vec::new() })
    }
}

impl LayerConfig for DropoutConfig {
    fn base_name(&self) -> &'static str {
        "dropout"
    }
    fn build(&self, name: String, input: Shape, _rng: &mut Rng) -> Result<Box<dyn Layer>> {
        Ok(Box::new(self.init(name, input)?))
    }
}

pub struct Dropout {
    name: String,
    shape: Shape,
    pub rate: f32,
    /// Per value: 0 or 1/(1-rate), from the last training forward pass.
    mask: Vec<f32>,
}

impl Layer for Dropout {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "Dropout"
    }
    fn input_shape(&self) -> Shape {
        self.shape
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn passthrough(&self, training: bool) -> bool {
        !training || self.rate <= 0.0
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _batch: usize, ctx: Ctx) {
        if !ctx.training || self.rate <= 0.0 {
            y.copy_from_slice(x);
            return;
        }
        let n = x.len();
        ensure(&mut self.mask, n);
        let keep = 1.0 - self.rate;
        let scale = 1.0 / keep;
        // One stream per fixed-size piece: the mask depends on the seed alone, not on threads.
        // Its words are drawn a block at a time and turned into the mask in a loop that
        // vectorises (a draw per value, in the loop, kept it scalar: eight times slower).
        self.mask[..n]
            .par_chunks_mut(PAR_CHUNK)
            .zip(y.par_chunks_mut(PAR_CHUNK))
            .zip(x.par_chunks(PAR_CHUNK))
            .enumerate()
            .for_each(|(i, ((m, y), x))| {
                let mut rng = Rng::derive(&[ctx.seed, i as u64]);
                let mut words = [0u32; 256];
                for ((m, y), x) in m.chunks_mut(256).zip(y.chunks_mut(256)).zip(x.chunks(256)) {
                    let words = &mut words[..m.len()];
                    rng.fill_u32(words);
                    let words = &*words;
                    super::wide(
                        #[inline(always)]
                        || {
                            let (keep, scale, len) = (keep, scale, m.len());
                            let (m, y, x, words) = (&mut m[..len], &mut y[..len], &x[..len], &words[..len]);
                            for j in 0..len {
                                let mask = if unit(words[j]) < keep { scale } else { 0.0 };
                                m[j] = mask;
                                y[j] = x[j] * mask;
                            }
                        },
                    )
                }
            });
    }
    fn backward(&mut self, _x: &[f32], _y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, _batch: usize) {
        if let Some(dx) = dx {
            if self.rate <= 0.0 {
                dx.copy_from_slice(dy);
                return;
            }
            dx.par_chunks_mut(PAR_CHUNK).zip(dy.par_chunks(PAR_CHUNK)).zip(self.mask.par_chunks(PAR_CHUNK)).for_each(
                |((dx, dy), m)| {
                    super::wide(
                        #[inline(always)]
                        || dx.iter_mut().zip(dy).zip(m).for_each(|((dx, dy), m)| *dx = dy * m),
                    )
                },
            );
        }
    }
}
