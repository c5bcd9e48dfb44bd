//! Batch normalisation over the channel (last) axis, with Keras' conventions: batch statistics
//! (biased variance) in training, moving averages in inference (momentum and epsilon default as
//! in Keras, see [`BatchNormConfig`]). Parameters `gamma`, `beta`; state `moving_mean`,
//! `moving_variance`.

use super::{Ctx, Layer, LayerConfig, Param, Shape, ensure, wide};
use crate::rng::Rng;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A BatchNormalization layer as a model file gives it; both options have Keras' defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchNormConfig {
    pub momentum: f32,
    pub epsilon: f32,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig { momentum: 0.99, epsilon: 1e-3 }
    }
}

impl BatchNormConfig {
    /// Builds the layer for `input` (one scale and shift per channel), or says which option
    /// is out of range.
    pub fn init(&self, name: String, input: Shape) -> Result<BatchNorm> {
        let in_range = (0.0..1.0).contains(&self.momentum) && self.epsilon > 0.0 && self.epsilon.is_finite();
        if !in_range {
            return Err(Error::invalid("momentum must be in [0, 1) and epsilon positive"));
        }
        let c = input.c;
        Ok(BatchNorm {
            name,
            shape: input,
            cfg: self.clone(),
            gamma: Param::trainable("gamma", vec![c], vec![1.0; c]),
            beta: Param::trainable("beta", vec![c], vec![0.0; c]),
            moving_mean: Param::state("moving_mean", vec![c], vec![0.0; c]),
            moving_variance: Param::state("moving_variance", vec![c], vec![1.0; c]),
            xhat: Vec::new(),
            inv_std: vec![0.0; c],
            partial: Vec::new(),
        })
    }
}

impl LayerConfig for BatchNormConfig {
    fn base_name(&self) -> &'static str {
        "batch_normalization"
    }
    fn build(&self, name: String, input: Shape, _rng: &mut Rng) -> Result<Box<dyn Layer>> {
        Ok(Box::new(self.init(name, input)?))
    }
    fn plan(&self, input: Shape) -> Result<(usize, Shape)> {
        // gamma, beta, moving mean and moving variance: one of each per channel.
        Ok((input.c.checked_mul(4).ok_or_else(|| Error::invalid("too many channels"))?, input))
    }
}

pub struct BatchNorm {
    name: String,
    shape: Shape,
    pub cfg: BatchNormConfig,
    pub gamma: Param,
    pub beta: Param,
    pub moving_mean: Param,
    pub moving_variance: Param,
    /// The normalised input of the last training pass.
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
    /// Per-piece partial sums (two rows of `c` per piece), reduced in piece order.
    partial: Vec<f64>,
}

/// Rows (of `c` values) per piece of parallel work.
const ROWS: usize = 512;
/// Channels summed side by side.
const LANES: usize = 16;

impl BatchNorm {
    /// Per-channel sums over all rows of `f(v, w, center)`, a value of `v` with the one of `w`
    /// beside it (or 0 when `w` is empty) and its channel's `center` (or 0 when empty): two
    /// arrays of `c`.
    fn channel_sums(
        partial: &mut Vec<f64>,
        v: &[f32],
        w: &[f32],
        center: &[f32],
        c: usize,
        f: impl Fn(f32, f32, f32) -> (f64, f64) + Sync,
    ) -> (Vec<f64>, Vec<f64>) {
        let pieces = v.len().div_ceil(ROWS * c);
        if partial.len() < pieces * 2 * c {
            partial.resize(pieces * 2 * c, 0.0);
        }
        let wl = w.len();
        partial[..pieces * 2 * c].par_chunks_mut(2 * c).enumerate().for_each(|(i, p)| {
            wide(
                #[inline(always)]
                || {
                    let (a, b) = p.split_at_mut(c);
                    let lo = i * ROWS * c;
                    let rows = ((lo + ROWS * c).min(v.len()) - lo) / c;
                    // A block of channels at a time, its sums in registers through the piece's
                    // rows: each channel's sum is the same chain, in row order, as one row at a
                    // time gives, without a load and store of every sum per row.
                    for j0 in (0..c).step_by(LANES) {
                        let width = LANES.min(c - j0);
                        let (mut sa, mut sb) = ([0.0f64; LANES], [0.0f64; LANES]);
                        let at = |r: usize| lo + r * c + j0;
                        if width == LANES {
                            let center: [f32; LANES] = match center.len() {
                                0 => [0.0; LANES],
                                _ => center[j0..j0 + LANES].try_into().expect("a block"),
                            };
                            for r in 0..rows {
                                let x: &[f32; LANES] = v[at(r)..][..LANES].try_into().expect("a block");
                                let o: [f32; LANES] = match wl {
                                    0 => [0.0; LANES],
                                    _ => w[at(r)..][..LANES].try_into().expect("a block"),
                                };
                                for t in 0..LANES {
                                    let (s, u) = f(x[t], o[t], center[t]);
                                    sa[t] += s;
                                    sb[t] += u;
                                }
                            }
                        } else {
                            for r in 0..rows {
                                for t in 0..width {
                                    let o = if wl == 0 { 0.0 } else { w[at(r) + t] };
                                    let m = if center.is_empty() { 0.0 } else { center[j0 + t] };
                                    let (s, u) = f(v[at(r) + t], o, m);
                                    sa[t] += s;
                                    sb[t] += u;
                                }
                            }
                        }
                        a[j0..j0 + width].copy_from_slice(&sa[..width]);
                        b[j0..j0 + width].copy_from_slice(&sb[..width]);
                    }
                },
            )
        });
        let mut a = vec![0.0f64; c];
        let mut b = vec![0.0f64; c];
        for p in partial[..pieces * 2 * c].chunks(2 * c) {
            a.iter_mut().zip(&p[..c]).for_each(|(s, v)| *s += v);
            b.iter_mut().zip(&p[c..]).for_each(|(s, v)| *s += v);
        }
        (a, b)
    }
}

impl Layer for BatchNorm {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "BatchNormalization"
    }
    fn input_shape(&self) -> Shape {
        self.shape
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }

    fn forward(&mut self, x: &[f32], y: &mut [f32], batch: usize, ctx: Ctx) {
        let c = self.shape.c;
        let eps = self.cfg.epsilon;
        if !ctx.training {
            let scale: Vec<f32> =
                (0..c).map(|j| self.gamma.value[j] / (self.moving_variance.value[j] + eps).sqrt()).collect();
            let shift: Vec<f32> = (0..c).map(|j| self.beta.value[j] - self.moving_mean.value[j] * scale[j]).collect();
            y.par_chunks_mut(ROWS * c).zip(x.par_chunks(ROWS * c)).for_each(|(y, x)| {
                wide(
                    #[inline(always)]
                    || {
                        for (yr, xr) in y.chunks_mut(c).zip(x.chunks(c)) {
                            for (((y, &x), &a), &b) in yr.iter_mut().zip(xr).zip(&scale).zip(&shift) {
                                *y = x * a + b;
                            }
                        }
                    },
                )
            });
            return;
        }
        let m = (batch * self.shape.h * self.shape.w) as f64;
        let (sum, _) = Self::channel_sums(&mut self.partial, x, &[], &[], c, |v, _, _| (v as f64, 0.0));
        let mean: Vec<f32> = sum.iter().map(|s| (s / m) as f32).collect();
        let mean_ref = &mean;
        // Second pass on centred values: no cancellation when the mean is large.
        let (var, _) = Self::channel_sums(&mut self.partial, x, &[], mean_ref, c, |v, _, mean| {
            let d = (v - mean) as f64;
            (d * d, 0.0)
        });
        let var: Vec<f32> = var.iter().map(|v| (v / m) as f32).collect();
        for j in 0..c {
            self.inv_std[j] = 1.0 / (var[j] + eps).sqrt();
            let mom = self.cfg.momentum;
            self.moving_mean.value[j] = self.moving_mean.value[j] * mom + mean[j] * (1.0 - mom);
            self.moving_variance.value[j] = self.moving_variance.value[j] * mom + var[j] * (1.0 - mom);
        }
        ensure(&mut self.xhat, x.len());
        let (inv, g, b) = (&self.inv_std, &self.gamma.value, &self.beta.value);
        self.xhat[..x.len()]
            .par_chunks_mut(ROWS * c)
            .zip(y.par_chunks_mut(ROWS * c))
            .zip(x.par_chunks(ROWS * c))
            .for_each(|((xh, y), x)| {
                wide(
                    #[inline(always)]
                    || {
                        for ((xh, y), x) in xh.chunks_mut(c).zip(y.chunks_mut(c)).zip(x.chunks(c)) {
                            let per_channel = mean_ref.iter().zip(inv).zip(g.iter().zip(b));
                            for (((xh, y), &x), ((&mean, &inv), (&g, &b))) in
                                xh.iter_mut().zip(y).zip(x).zip(per_channel)
                            {
                                *xh = (x - mean) * inv;
                                *y = *xh * g + b;
                            }
                        }
                    },
                )
            });
    }

    fn backward(&mut self, _x: &[f32], _y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, batch: usize) {
        let c = self.shape.c;
        let n = dy.len();
        let m = (batch * self.shape.h * self.shape.w) as f32;
        let xhat = &self.xhat[..n];
        let (dbeta, dgamma) =
            Self::channel_sums(&mut self.partial, dy, xhat, &[], c, |d, xh, _| (d as f64, d as f64 * xh as f64));
        for j in 0..c {
            self.gamma.grad[j] = dgamma[j] as f32;
            self.beta.grad[j] = dbeta[j] as f32;
        }
        let Some(dx) = dx else { return };
        // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂))
        let k: Vec<f32> = (0..c).map(|j| self.gamma.value[j] * self.inv_std[j]).collect();
        let mdb: Vec<f32> = dbeta.iter().map(|v| (*v as f32) / m).collect();
        let mdg: Vec<f32> = dgamma.iter().map(|v| (*v as f32) / m).collect();
        dx.par_chunks_mut(ROWS * c).zip(dy.par_chunks(ROWS * c)).zip(xhat.par_chunks(ROWS * c)).for_each(
            |((dx, dy), xh)| {
                wide(
                    #[inline(always)]
                    || {
                        for ((dx, dy), xh) in dx.chunks_mut(c).zip(dy.chunks(c)).zip(xh.chunks(c)) {
                            let per_channel = k.iter().zip(&mdb).zip(&mdg);
                            for (((dx, &dy), &xh), ((&k, &mdb), &mdg)) in dx.iter_mut().zip(dy).zip(xh).zip(per_channel)
                            {
                                *dx = k * (dy - mdb - xh * mdg);
                            }
                        }
                    },
                )
            },
        );
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.gamma, &self.beta, &self.moving_mean, &self.moving_variance]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.gamma, &mut self.beta, &mut self.moving_mean, &mut self.moving_variance]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch moments against f64 sums, over more rows than one piece and more channels
    /// than one block (16 side by side, then 5 one by one): the moving averages take 1 − 0.99
    /// of them, and every channel of the output has mean 0 and variance var / (var + ε).
    #[test]
    fn a_training_pass_takes_each_channels_batch_moments() {
        let (batch, shape) = (3, Shape::new(20, 20, 21));
        let c = shape.c;
        let mut rng = Rng::new(7);
        let x: Vec<f32> = (0..batch * shape.len()).map(|i| 3.0 + (i % c) as f32 + 2.0 * rng.normal()).collect();
        let mut l = BatchNormConfig::default().init("bn".into(), shape).unwrap();
        let mut y = vec![0.0; x.len()];
        l.forward(&x, &mut y, batch, Ctx { training: true, seed: 0 });
        let moments = |v: &[f32], j: usize| {
            let col: Vec<f64> = v.iter().skip(j).step_by(c).map(|&v| v as f64).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            (mean, col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64)
        };
        for j in 0..c {
            let (mean, var) = moments(&x, j);
            let close = |got: f32, want: f64| (got as f64 - want).abs() <= 1e-6 * want.abs().max(1e-3);
            let (keep, take) = (0.99f32 as f64, (1.0 - 0.99f32) as f64);
            assert!(close(l.moving_mean.value[j], take * mean), "channel {j}: moving mean");
            assert!(close(l.moving_variance.value[j], keep + take * var), "channel {j}: moving variance");
            let (ym, yv) = moments(&y, j);
            assert!(ym.abs() < 1e-5 && (yv - var / (var + 1e-3)).abs() < 1e-5, "channel {j}: output {ym} {yv}");
        }
    }
}
