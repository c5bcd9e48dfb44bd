//! The model file: a list of layers with Keras' names and options, as TOML or JSON.
//!
//! ```toml
//! name = "small-cnn"
//! input = [28, 28, 1]
//! [[layers]]
//! type = "conv2d"
//! filters = 32
//! kernel_size = 3
//! activation = "relu"
//! [[layers]]
//! type = "max_pool2d"
//! [[layers]]
//! type = "flatten"
//! [[layers]]
//! type = "dense"
//! units = 10
//! activation = "softmax"
//! ```

use crate::Error;
use crate::engine::{
    Activation, ActivationLayer, Initializer, L2, Layer, Network, Padding, Shape, batch_norm::BatchNormConfig,
    conv2d::Conv2DConfig, dense::DenseConfig, dropout::Dropout, flatten::Flatten, max_pool::MaxPool2DConfig,
};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// A size given as one number (square) or as `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size2 {
    One(usize),
    Two([usize; 2]),
}

impl Size2 {
    pub fn pair(self) -> (usize, usize) {
        match self {
            Size2::One(v) => (v, v),
            Size2::Two([a, b]) => (a, b),
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> Size2 {
    Size2::One(1)
}
fn two() -> Size2 {
    Size2::One(2)
}
fn momentum() -> f32 {
    0.99
}
fn epsilon() -> f32 {
    1e-3
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    Dense {
        units: usize,
        #[serde(default)]
        activation: Activation,
        #[serde(default = "yes")]
        use_bias: bool,
        #[serde(default)]
        kernel_initializer: Initializer,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kernel_regularizer: Option<L2>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        activity_regularizer: Option<L2>,
    },
    #[serde(rename = "conv2d")]
    Conv2D {
        filters: usize,
        kernel_size: Size2,
        #[serde(default = "one")]
        strides: Size2,
        #[serde(default)]
        padding: Padding,
        #[serde(default)]
        activation: Activation,
        #[serde(default = "yes")]
        use_bias: bool,
        #[serde(default)]
        kernel_initializer: Initializer,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kernel_regularizer: Option<L2>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        activity_regularizer: Option<L2>,
    },
    #[serde(rename = "max_pool2d", alias = "max_pooling2d")]
    MaxPool2D {
        #[serde(default = "two")]
        pool_size: Size2,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strides: Option<Size2>,
        #[serde(default)]
        padding: Padding,
    },
    BatchNormalization {
        #[serde(default = "momentum")]
        momentum: f32,
        #[serde(default = "epsilon")]
        epsilon: f32,
    },
    Dropout {
        rate: f32,
    },
    Flatten,
    Activation {
        activation: Activation,
    },
}

impl LayerSpec {
    /// Keras' base name for the layer (`dense`, `conv2d`, …); the network numbers repeats.
    pub fn base_name(&self) -> &'static str {
        match self {
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::Conv2D { .. } => "conv2d",
            LayerSpec::MaxPool2D { .. } => "max_pooling2d",
            LayerSpec::BatchNormalization { .. } => "batch_normalization",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Activation { .. } => "activation",
        }
    }

    pub fn dense(units: usize, activation: Activation) -> Self {
        LayerSpec::Dense {
            units,
            activation,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            kernel_regularizer: None,
            activity_regularizer: None,
        }
    }

    pub fn conv(filters: usize, k: usize, padding: Padding, activation: Activation) -> Self {
        LayerSpec::Conv2D {
            filters,
            kernel_size: Size2::One(k),
            strides: Size2::One(1),
            padding,
            activation,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            kernel_regularizer: None,
            activity_regularizer: None,
        }
    }

    pub fn max_pool(k: usize) -> Self {
        LayerSpec::MaxPool2D { pool_size: Size2::One(k), strides: None, padding: Padding::Valid }
    }

    pub fn batch_norm() -> Self {
        LayerSpec::BatchNormalization { momentum: 0.99, epsilon: 1e-3 }
    }

    pub fn dropout(rate: f32) -> Self {
        LayerSpec::Dropout { rate }
    }

    /// Builds the layer for `input`.
    pub fn build(&self, name: String, input: Shape, rng: &mut Rng) -> Result<Box<dyn Layer>, String> {
        Ok(match self {
            LayerSpec::Dense {
                units,
                activation,
                use_bias,
                kernel_initializer,
                kernel_regularizer,
                activity_regularizer,
            } => {
                if *units == 0 {
                    return Err("units must be at least 1".into());
                }
                Box::new(
                    DenseConfig {
                        units: *units,
                        activation: *activation,
                        use_bias: *use_bias,
                        kernel_initializer: *kernel_initializer,
                        kernel_regularizer: *kernel_regularizer,
                        activity_regularizer: *activity_regularizer,
                    }
                    .init(name, input, rng),
                )
            }
            LayerSpec::Conv2D {
                filters,
                kernel_size,
                strides,
                padding,
                activation,
                use_bias,
                kernel_initializer,
                kernel_regularizer,
                activity_regularizer,
            } => {
                if *filters == 0 {
                    return Err("filters must be at least 1".into());
                }
                Box::new(
                    Conv2DConfig {
                        filters: *filters,
                        kernel_size: kernel_size.pair(),
                        strides: strides.pair(),
                        padding: *padding,
                        activation: *activation,
                        use_bias: *use_bias,
                        kernel_initializer: *kernel_initializer,
                        kernel_regularizer: *kernel_regularizer,
                        activity_regularizer: *activity_regularizer,
                    }
                    .init(name, input, rng)?,
                )
            }
            LayerSpec::MaxPool2D { pool_size, strides, padding } => Box::new(
                MaxPool2DConfig { pool_size: pool_size.pair(), strides: strides.map(Size2::pair), padding: *padding }
                    .init(name, input)?,
            ),
            LayerSpec::BatchNormalization { momentum, epsilon } => {
                if !(0.0..1.0).contains(momentum) || *epsilon <= 0.0 {
                    return Err("momentum must be in [0, 1) and epsilon positive".into());
                }
                Box::new(BatchNormConfig { momentum: *momentum, epsilon: *epsilon }.init(name, input))
            }
            LayerSpec::Dropout { rate } => {
                if !(0.0..1.0).contains(rate) {
                    return Err(format!("dropout rate {rate} is outside [0, 1)"));
                }
                Box::new(Dropout::new(name, input, *rate))
            }
            LayerSpec::Flatten => Box::new(Flatten::new(name, input)),
            LayerSpec::Activation { activation } => Box::new(ActivationLayer::new(name, input, *activation)),
        })
    }
}

/// A whole model: input shape and layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `[height, width, channels]`.
    #[serde(default = "mnist_input")]
    pub input: [usize; 3],
    pub layers: Vec<LayerSpec>,
}

fn mnist_input() -> [usize; 3] {
    [28, 28, 1]
}

impl ModelSpec {
    pub fn new(name: &str, description: &str, layers: Vec<LayerSpec>) -> Self {
        ModelSpec { name: Some(name.into()), description: Some(description.into()), input: mnist_input(), layers }
    }

    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("model")
    }

    /// Reads a model file (`.toml` or `.json`).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })?;
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let spec: ModelSpec = if is_json {
            serde_json::from_str(&text).map_err(|e| Error::Format { path: path.into(), message: e.to_string() })?
        } else {
            toml::from_str(&text).map_err(|e| Error::Format { path: path.into(), message: e.to_string() })?
        };
        let mut spec = spec;
        if spec.name.is_none() {
            spec.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        spec.check().map_err(|e| Error::Format { path: path.into(), message: e.to_string() })?;
        Ok(spec)
    }

    /// Checks that every layer fits its input by building the model once.
    pub fn check(&self) -> Result<(), Error> {
        self.build(0).map(|_| ())
    }

    /// Builds the network with weights initialised from `seed`.
    pub fn build(&self, seed: u64) -> Result<Network, Error> {
        let [h, w, c] = self.input;
        if h == 0 || w == 0 || c == 0 {
            return Err(Error::Invalid(format!(
                "model '{}': input shape {:?} has a zero dimension",
                self.display_name(),
                self.input
            )));
        }
        if self.layers.is_empty() {
            return Err(Error::Invalid(format!("model '{}' has no layers", self.display_name())));
        }
        let mut rng = Rng::new(seed);
        let mut shape = Shape::new(h, w, c);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut layers = Vec::with_capacity(self.layers.len());
        for (index, spec) in self.layers.iter().enumerate() {
            let base = spec.base_name();
            let k = counts.entry(base).or_insert(0);
            let name = if *k == 0 { base.to_string() } else { format!("{base}_{k}") };
            *k += 1;
            let layer = spec.build(name.clone(), shape, &mut rng).map_err(|message| Error::Layer {
                model: self.display_name().to_string(),
                index,
                layer: name,
                message,
            })?;
            shape = layer.output_shape();
            layers.push(layer);
        }
        Ok(Network::new(Shape::new(h, w, c), layers))
    }

    /// Parameter count as Keras reports it (moving statistics of batch norm included).
    pub fn param_count(&self) -> Result<usize, Error> {
        let net = self.build(0)?;
        let (t, n) = net.param_counts();
        Ok(t + n)
    }

    /// A one-line-per-layer summary like Keras' `model.summary()`.
    pub fn summary(&self) -> Result<String, Error> {
        let net = self.build(0)?;
        let mut s = format!("{:<24} {:<14} {:>10}\n", "layer (type)", "output", "params");
        for l in &net.layers {
            let p: usize = l.params().iter().map(|p| p.value.len()).sum();
            s += &format!(
                "{:<24} {:<14} {:>10}\n",
                format!("{} ({})", l.name(), l.kind()),
                l.output_shape().to_string(),
                p
            );
        }
        let (t, n) = net.param_counts();
        s += &format!("total params: {} (trainable {}, non-trainable {})\n", t + n, t, n);
        Ok(s)
    }
}
