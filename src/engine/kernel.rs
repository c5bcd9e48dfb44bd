//! What Dense and Conv2D share: the options of a layer with a kernel (activation, bias,
//! initializer, L2 regularisers, with Keras' names and defaults) and the weights they make,
//! with the regularisers' penalties and gradients.

use super::{Activation, Initializer, L2, Param};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// The options Dense and Conv2D share, flattened into their configs (`activation = "relu"`
/// stands beside `units`). Missing options take Keras' defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KernelOptions {
    pub activation: Activation,
    pub use_bias: bool,
    pub kernel_initializer: Initializer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<L2>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_regularizer: Option<L2>,
}

impl Default for KernelOptions {
    fn default() -> Self {
        KernelOptions {
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            kernel_regularizer: None,
            activity_regularizer: None,
        }
    }
}

impl KernelOptions {
    /// Keras' defaults with `activation`.
    pub fn with_activation(activation: Activation) -> Self {
        KernelOptions { activation, ..Default::default() }
    }

    /// Fails on a regulariser factor that is negative or not finite.
    pub fn check(&self) -> crate::Result<()> {
        self.kernel_regularizer.iter().chain(&self.activity_regularizer).try_for_each(L2::check)
    }

    /// Initial weights: a kernel of `shape` drawn for `fan_in` and `fan_out`, and `units`
    /// zero biases (none without `use_bias`).
    pub(crate) fn weights(&self, shape: Vec<usize>, fan: (usize, usize), units: usize, rng: &mut Rng) -> Weights {
        let mut kernel = vec![0.0; shape.iter().product()];
        self.kernel_initializer.fill(&mut kernel, fan.0, fan.1, rng);
        Weights {
            options: self.clone(),
            kernel: Param::trainable("kernel", shape, kernel),
            bias: Param::trainable("bias", vec![units], vec![0.0; if self.use_bias { units } else { 0 }]),
            activity_penalty: 0.0,
        }
    }
}

/// A layer's kernel and bias with the options that act on them.
pub struct Weights {
    pub options: KernelOptions,
    pub kernel: Param,
    pub bias: Param,
    /// The activity penalty of the last forward pass.
    activity_penalty: f64,
}

impl Weights {
    /// Records the activity penalty of output `y` (training only, averaged over the batch as
    /// tf.keras adds activity losses).
    pub(crate) fn record_activity(&mut self, y: &[f32], batch: usize, training: bool) {
        self.activity_penalty = match (&self.options.activity_regularizer, training) {
            (Some(r), true) => r.penalty(y) / batch as f64,
            _ => 0.0,
        };
    }

    /// Turns `dy`, the gradient at the output `y`, into the gradient at the pre-activation,
    /// adding the activity regulariser's share first.
    pub(crate) fn pre_activation_grad(&self, y: &[f32], dy: &mut [f32], batch: usize, width: usize) {
        if let Some(r) = &self.options.activity_regularizer {
            r.add_grad(y, dy, 1.0 / batch as f32);
        }
        self.options.activation.backward(y, dy, width);
    }

    /// Adds the kernel regulariser's gradient to the kernel's (the last step of a backward pass).
    pub(crate) fn add_kernel_penalty_grad(&mut self) {
        if let Some(r) = &self.options.kernel_regularizer {
            r.add_grad(&self.kernel.value, &mut self.kernel.grad, 1.0);
        }
    }

    pub(crate) fn params(&self) -> Vec<&Param> {
        if self.options.use_bias { vec![&self.kernel, &self.bias] } else { vec![&self.kernel] }
    }

    pub(crate) fn params_mut(&mut self) -> Vec<&mut Param> {
        if self.options.use_bias { vec![&mut self.kernel, &mut self.bias] } else { vec![&mut self.kernel] }
    }

    /// Kernel and activity penalties of the last forward pass.
    pub(crate) fn penalty(&self) -> f64 {
        self.activity_penalty + self.options.kernel_regularizer.map_or(0.0, |r| r.penalty(&self.kernel.value))
    }
}

/// The [`super::Layer`] methods of a layer whose weights are the [`Weights`] in its field `w`:
/// parameters, penalty and the activation the network may fuse with the loss.
macro_rules! weights_layer_methods {
    () => {
        fn params(&self) -> Vec<&$crate::engine::Param> {
            self.w.params()
        }
        fn params_mut(&mut self) -> Vec<&mut $crate::engine::Param> {
            self.w.params_mut()
        }
        fn penalty(&self) -> f64 {
            self.w.penalty()
        }
        fn activation_mut(&mut self) -> Option<&mut $crate::engine::Activation> {
            Some(&mut self.w.options.activation)
        }
    };
}
pub(crate) use weights_layer_methods;
