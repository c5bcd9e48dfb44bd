//! Dense (fully connected) layer: `y = act(x · kernel + bias)`, kernel `[in, out]` as Keras
//! stores it.

use super::gemm::matmul;
use super::{Activation, Ctx, Initializer, L2, Layer, Param, Shape};
use crate::rng::Rng;
use rayon::prelude::*;

/// How a Dense layer is made.
#[derive(Clone, Debug)]
pub struct DenseConfig {
    pub units: usize,
    pub activation: Activation,
    pub use_bias: bool,
    pub kernel_initializer: Initializer,
    pub kernel_regularizer: Option<L2>,
    pub activity_regularizer: Option<L2>,
}

impl Default for DenseConfig {
    fn default() -> Self {
        DenseConfig {
            units: 10,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            kernel_regularizer: None,
            activity_regularizer: None,
        }
    }
}

impl DenseConfig {
    pub fn init(&self, name: String, input: Shape, rng: &mut Rng) -> Dense {
        let n_in = input.len();
        let mut kernel = vec![0.0; n_in * self.units];
        self.kernel_initializer.fill(&mut kernel, n_in, self.units, rng);
        Dense {
            name,
            n_in,
            cfg: self.clone(),
            input,
            kernel: Param::trainable("kernel", vec![n_in, self.units], kernel),
            bias: Param::trainable("bias", vec![self.units], vec![0.0; if self.use_bias { self.units } else { 0 }]),
            activity_penalty: 0.0,
        }
    }
}

pub struct Dense {
    name: String,
    n_in: usize,
    input: Shape,
    pub cfg: DenseConfig,
    pub kernel: Param,
    pub bias: Param,
    activity_penalty: f64,
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
        Shape::flat(self.cfg.units)
    }

    fn forward(&mut self, x: &[f32], y: &mut [f32], batch: usize, ctx: Ctx) {
        let out = self.cfg.units;
        if self.cfg.use_bias {
            // Bias first, then accumulate the product onto it: one pass over y fewer.
            y.par_chunks_mut(out * 64)
                .for_each(|rows| rows.chunks_mut(out).for_each(|r| r.copy_from_slice(&self.bias.value)));
        }
        matmul(batch, out, self.n_in, x, false, &self.kernel.value, false, y, self.cfg.use_bias, true);
        self.cfg.activation.apply(y, out);
        self.activity_penalty = match (&self.cfg.activity_regularizer, ctx.training) {
            (Some(r), true) => r.penalty(y) / batch as f64,
            _ => 0.0,
        };
    }

    fn backward(&mut self, x: &[f32], y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, batch: usize) {
        let out = self.cfg.units;
        if let Some(r) = &self.cfg.activity_regularizer {
            r.add_grad(y, dy, 1.0 / batch as f32);
        }
        self.cfg.activation.backward(y, dy, out);
        // dz is now in dy.
        matmul(self.n_in, out, batch, x, true, dy, false, &mut self.kernel.grad, false, true);
        if let Some(r) = &self.cfg.kernel_regularizer {
            r.add_grad(&self.kernel.value, &mut self.kernel.grad, 1.0);
        }
        if self.cfg.use_bias {
            self.bias.grad.fill(0.0);
            column_sums_into(dy, out, &mut self.bias.grad);
        }
        if let Some(dx) = dx {
            matmul(batch, self.n_in, out, dy, false, &self.kernel.value, true, dx, false, true);
        }
    }

    fn params(&self) -> Vec<&Param> {
        if self.cfg.use_bias { vec![&self.kernel, &self.bias] } else { vec![&self.kernel] }
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        if self.cfg.use_bias { vec![&mut self.kernel, &mut self.bias] } else { vec![&mut self.kernel] }
    }
    fn penalty(&self) -> f64 {
        self.activity_penalty + self.cfg.kernel_regularizer.map_or(0.0, |r| r.penalty(&self.kernel.value))
    }
    fn activation_mut(&mut self) -> Option<&mut Activation> {
        Some(&mut self.cfg.activation)
    }
}

/// `acc[j] += Σ_i m[i, j]` for a row-major matrix of `width` columns (a dense layer's batch:
/// small enough that one thread is quicker than splitting).
pub(crate) fn column_sums_into(m: &[f32], width: usize, acc: &mut [f32]) {
    for r in m.chunks(width) {
        acc.iter_mut().zip(r).for_each(|(a, v)| *a += v);
    }
}
