//! Activation functions, used fused into Dense/Conv2D (`activation = "relu"`) or as layers.
//!
//! Derivatives are computed from the output `y`, which every layer keeps, so the fused layers
//! need no extra buffer. Softmax acts on the channel (last) axis.

use super::{Ctx, Layer, LayerConfig, Shape};
use crate::rng::Rng;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
}

/// Elementwise work is split into pieces of this many values across threads.
pub(crate) const PAR_CHUNK: usize = 1 << 14;

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
        }
    }

    /// Applies the activation in place; `width` is the length of the softmax axis.
    pub fn apply(self, v: &mut [f32], width: usize) {
        match self {
            Activation::Linear => {}
            Activation::Softmax => {
                v.par_chunks_mut(width * 64).for_each(|rows| rows.chunks_mut(width).for_each(softmax_row))
            }
            _ => v.par_chunks_mut(PAR_CHUNK).for_each(|c| self.apply_elementwise(c)),
        }
    }

    /// [`Activation::apply`] on the calling thread, for layers that already split work.
    pub(crate) fn apply_serial(self, v: &mut [f32], width: usize) {
        match self {
            Activation::Softmax => v.chunks_mut(width).for_each(softmax_row),
            _ => self.apply_elementwise(v),
        }
    }

    fn apply_elementwise(self, c: &mut [f32]) {
        super::wide(
            #[inline(always)]
            || match self {
                Activation::Relu => c.iter_mut().for_each(|x| *x = x.max(0.0)),
                Activation::Sigmoid => c.iter_mut().for_each(|x| *x = sigmoid(*x)),
                Activation::Tanh => c.iter_mut().for_each(|x| *x = x.tanh()),
                _ => {}
            },
        )
    }

    /// Turns `dy` (gradient at the output `y`) into the gradient at the pre-activation, in place.
    pub fn backward(self, y: &[f32], dy: &mut [f32], width: usize) {
        match self {
            Activation::Linear => {}
            Activation::Softmax => dy.par_chunks_mut(width * 64).zip(y.par_chunks(width * 64)).for_each(|(d, y)| {
                for (d, y) in d.chunks_mut(width).zip(y.chunks(width)) {
                    let dot: f32 = d.iter().zip(y).map(|(a, b)| a * b).sum();
                    d.iter_mut().zip(y).for_each(|(d, &y)| *d = y * (*d - dot));
                }
            }),
            _ => dy.par_chunks_mut(PAR_CHUNK).zip(y.par_chunks(PAR_CHUNK)).for_each(|(d, y)| {
                super::wide(
                    #[inline(always)]
                    || match self {
                        // A select rather than a conditional store, so it vectorises.
                        Activation::Relu => d.iter_mut().zip(y).for_each(|(d, &y)| *d = if y > 0.0 { *d } else { 0.0 }),
                        Activation::Sigmoid => d.iter_mut().zip(y).for_each(|(d, &y)| *d *= y * (1.0 - y)),
                        Activation::Tanh => d.iter_mut().zip(y).for_each(|(d, &y)| *d *= 1.0 - y * y),
                        _ => {}
                    },
                )
            }),
        }
    }
}

impl std::str::FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "linear" | "none" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown activation '{s}' (expected linear, relu, sigmoid, tanh or softmax)"
                )));
            }
        })
    }
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Softmax of one row, shifted by its maximum so `exp` cannot overflow.
pub fn softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// An activation layer as a model file gives it (`{"type": "activation", "activation": "relu"}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationConfig {
    pub activation: Activation,
}

impl ActivationConfig {
    /// Builds the layer for `shape`.
    pub fn init(&self, name: String, shape: Shape) -> ActivationLayer {
        ActivationLayer { name, shape, activation: self.activation }
    }
}

impl LayerConfig for ActivationConfig {
    fn base_name(&self) -> &'static str {
        "activation"
    }
    fn build(&self, name: String, input: Shape, _rng: &mut Rng) -> Result<Box<dyn Layer>> {
        Ok(Box::new(self.init(name, input)))
    }
}

/// An activation as a layer of its own.
pub struct ActivationLayer {
    name: String,
    shape: Shape,
    pub activation: Activation,
}

impl Layer for ActivationLayer {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "Activation"
    }
    fn input_shape(&self) -> Shape {
        self.shape
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _batch: usize, _ctx: Ctx) {
        y.copy_from_slice(x);
        self.activation.apply(y, self.shape.c);
    }
    fn backward(&mut self, _x: &[f32], y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, _batch: usize) {
        self.activation.backward(y, dy, self.shape.c);
        if let Some(dx) = dx {
            dx.copy_from_slice(dy);
        }
    }
    fn activation_mut(&mut self) -> Option<&mut Activation> {
        Some(&mut self.activation)
    }
}
