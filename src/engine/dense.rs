//! Dense (fully connected) layer: `y = act(x · kernel + bias)`, kernel `[in, out]` as Keras
//! stores it.

use super::gemm::matmul;
use super::kernel::{KernelOptions, Weights, weights_layer_methods};
use super::{Activation, Ctx, Layer, LayerConfig, Shape, limits};
use crate::rng::Rng;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A Dense layer as a model file gives it: `units` and the options it shares with Conv2D.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseConfig {
    pub units: usize,
    #[serde(flatten)]
    pub options: KernelOptions,
}

impl DenseConfig {
    /// `units` outputs through `activation`, other options at Keras' defaults.
    pub fn new(units: usize, activation: Activation) -> Self {
        DenseConfig { units, options: KernelOptions::with_activation(activation) }
    }

    /// Builds the layer for `input`, drawing its kernel from `rng`.
    pub fn init(&self, name: String, input: Shape, rng: &mut Rng) -> Result<Dense> {
        self.plan(input)?;
        let n_in = input.len();
        let w = self.options.weights(vec![n_in, self.units], (n_in, self.units), self.units, rng);
        Ok(Dense { name, n_in, input, units: self.units, w })
    }
}

impl LayerConfig for DenseConfig {
    fn base_name(&self) -> &'static str {
        "dense"
    }
    fn build(&self, name: String, input: Shape, rng: &mut Rng) -> Result<Box<dyn Layer>> {
        Ok(Box::new(self.init(name, input, rng)?))
    }
    fn plan(&self, input: Shape) -> Result<(usize, Shape)> {
        if self.units == 0 {
            return Err(Error::invalid("units must be at least 1"));
        }
        limits::within("units", self.units, limits::MAX_VALUES)?;
        self.options.check()?;
        let biases = if self.options.use_bias { self.units } else { 0 };
        Ok((limits::params(&[input.len(), self.units], biases)?, Shape::flat(self.units)))
    }
}

pub struct Dense {
    name: String,
    n_in: usize,
    input: Shape,
    units: usize,
    /// Kernel `[in, out]`, bias and the options acting on them.
    pub w: Weights,
}

impl Layer for Dense {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "Dense"
    }
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn output_shape(&self) -> Shape {
        Shape::flat(self.units)
    }

    fn forward(&mut self, x: &[f32], y: &mut [f32], batch: usize, ctx: Ctx) {
        let out = self.units;
        let w = &mut self.w;
        let use_bias = w.options.use_bias;
        if use_bias {
            // Bias first, then accumulate the product onto it: one pass over y fewer.
            let bias = &w.bias.value;
            y.par_chunks_mut(out * 64).for_each(|rows| rows.chunks_mut(out).for_each(|r| r.copy_from_slice(bias)));
        }
        matmul(batch, out, self.n_in, x, false, &w.kernel.value, false, y, use_bias, true);
        w.options.activation.apply(y, out);
        w.record_activity(y, batch, ctx.training);
    }

    fn backward(&mut self, x: &[f32], y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, batch: usize) {
        let out = self.units;
        let w = &mut self.w;
        w.pre_activation_grad(y, dy, batch, out);
        // dz is now in dy.
        matmul(self.n_in, out, batch, x, true, dy, false, &mut w.kernel.grad, false, true);
        w.add_kernel_penalty_grad();
        if w.options.use_bias {
            w.bias.grad.fill(0.0);
            column_sums_into(dy, out, &mut w.bias.grad);
        }
        if let Some(dx) = dx {
            matmul(batch, self.n_in, out, dy, false, &w.kernel.value, true, dx, false, true);
        }
    }

    weights_layer_methods!();
}

/// `acc[j] += Σ_i m[i, j]` for a row-major matrix of `width` columns (a dense layer's batch:
/// small enough that one thread is quicker than splitting).
pub(crate) fn column_sums_into(m: &[f32], width: usize, acc: &mut [f32]) {
    for r in m.chunks(width) {
        acc.iter_mut().zip(r).for_each(|(a, v)| *a += v);
    }
}
