//! The model file: a list of layers with Keras' names and options, as TOML or JSON.
//!
//! A layer's options are its engine config (`engine::DenseConfig`, ...), which also checks
//! them and builds the layer; [`LayerSpec`] only names the configs, so `model.json` saves
//! exactly what the engine is built from.
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
    Activation, ActivationConfig, BatchNormConfig, Conv2DConfig, DenseConfig, DropoutConfig, FlattenConfig,
    LayerConfig, MaxPool2DConfig, Network, Padding, Shape, limits,
};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

pub use crate::engine::Size2;

/// Declares [`LayerSpec`], one variant per layer config, with the dispatch to its config.
macro_rules! layer_specs {
    ($($(#[$attr:meta])* $variant:ident($config:ty),)*) => {
        /// One layer of a model file: its `type` and the options of its config, which are what
        /// the engine builds it from (see [`crate::engine::LayerConfig`]).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum LayerSpec {
            $($(#[$attr])* $variant($config),)*
        }

        impl LayerSpec {
            /// The layer's config, which checks its options and builds it.
            pub fn config(&self) -> &dyn LayerConfig {
                match self {
                    $(LayerSpec::$variant(c) => c,)*
                }
            }
        }

        $(impl From<$config> for LayerSpec {
            fn from(c: $config) -> Self {
                LayerSpec::$variant(c)
            }
        })*
    };
}

// The registry: a new layer is one line here (its `type` is the snake_case variant name
// unless renamed).
layer_specs! {
    Dense(DenseConfig),
    #[serde(rename = "conv2d")] Conv2D(Conv2DConfig),
    #[serde(rename = "max_pool2d", alias = "max_pooling2d")] MaxPool2D(MaxPool2DConfig),
    BatchNormalization(BatchNormConfig),
    Dropout(DropoutConfig),
    Flatten(FlattenConfig),
    Activation(ActivationConfig),
}

/// Shorthands for the layers presets and search spaces use.
impl LayerSpec {
    pub fn dense(units: usize, activation: Activation) -> Self {
        DenseConfig::new(units, activation).into()
    }

    pub fn conv(filters: usize, k: usize, padding: Padding, activation: Activation) -> Self {
        Conv2DConfig::new(filters, k, padding, activation).into()
    }

    pub fn max_pool(k: usize) -> Self {
        MaxPool2DConfig::new(k).into()
    }

    pub fn batch_norm() -> Self {
        BatchNormConfig::default().into()
    }

    pub fn dropout(rate: f32) -> Self {
        DropoutConfig { rate }.into()
    }

    pub fn flatten() -> Self {
        FlattenConfig {}.into()
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
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let mut spec: ModelSpec = if is_json { crate::input::read_json(path)? } else { crate::input::read_toml(path)? };
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

    /// Builds the network with weights initialised from `seed`, after [`ModelSpec::check_sizes`].
    pub fn build(&self, seed: u64) -> Result<Network, Error> {
        let names = self.check_sizes()?;
        let [h, w, c] = self.input;
        let mut rng = Rng::new(seed);
        let mut shape = Shape::new(h, w, c);
        let mut layers = Vec::with_capacity(self.layers.len());
        for (index, (spec, name)) in self.layers.iter().zip(names).enumerate() {
            let layer =
                spec.config().build(name.clone(), shape, &mut rng).map_err(|e| self.layer_error(index, &name, e))?;
            shape = layer.output_shape();
            layers.push(layer);
        }
        Ok(Network::new(Shape::new(h, w, c), layers))
    }

    /// Checks every size against [`limits`] (the layer count, the input shape, each layer's
    /// sizes and the total parameter count) without allocating anything, and returns the
    /// layers' names (`dense`, `dense_1`, ...).
    pub fn check_sizes(&self) -> Result<Vec<String>, Error> {
        self.plan().map(|(names, _)| names)
    }

    /// The number of parameters (trainable and not) the model will have, from its sizes alone:
    /// nothing is allocated (checked as [`Self::check_sizes`] checks).
    pub fn planned_params(&self) -> Result<usize, Error> {
        self.plan().map(|(_, total)| total)
    }

    fn plan(&self) -> Result<(Vec<String>, usize), Error> {
        let [h, w, c] = self.input;
        let input_ok = h <= limits::MAX_INPUT_SIDE && w <= limits::MAX_INPUT_SIDE && c <= limits::MAX_INPUT_CHANNELS;
        if h == 0 || w == 0 || c == 0 || !input_ok {
            return Err(Error::Invalid(format!(
                "model '{}': input shape {:?} is outside the limits (height and width 1 to {}, channels 1 to {})",
                self.display_name(),
                self.input,
                limits::MAX_INPUT_SIDE,
                limits::MAX_INPUT_CHANNELS
            )));
        }
        if self.layers.is_empty() || self.layers.len() > limits::MAX_LAYERS {
            return Err(Error::Invalid(format!(
                "model '{}' has {} layers (1 to {} allowed)",
                self.display_name(),
                self.layers.len(),
                limits::MAX_LAYERS
            )));
        }
        let mut shape = Shape::new(h, w, c);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut names = Vec::with_capacity(self.layers.len());
        let mut total = 0usize;
        for (index, spec) in self.layers.iter().enumerate() {
            let base = spec.config().base_name();
            let k = counts.entry(base).or_insert(0);
            let name = if *k == 0 { base.to_string() } else { format!("{base}_{k}") };
            *k += 1;
            let (params, output) = spec.config().plan(shape).map_err(|e| self.layer_error(index, &name, e))?;
            total = total.checked_add(params).filter(|&t| t <= limits::MAX_PARAMS).ok_or_else(|| {
                let message = format!(
                    "its {params} parameters bring the model over the limit of {} parameters",
                    limits::MAX_PARAMS
                );
                self.layer_error(index, &name, Error::Invalid(message))
            })?;
            shape = output;
            names.push(name);
        }
        Ok((names, total))
    }

    fn layer_error(&self, index: usize, name: &str, e: Error) -> Error {
        Error::Layer { model: self.display_name().to_string(), index, layer: name.to_string(), message: e.to_string() }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn toml_model(layers: &str) -> Result<ModelSpec, toml::de::Error> {
        toml::from_str(&format!("input = [8, 8, 1]\nlayers = [{layers}]"))
    }

    /// The message of building a one-layer model that must fail, checked to name the layer.
    fn build_error(layer: &str) -> String {
        let spec = toml_model(layer).unwrap();
        match spec.build(0) {
            Err(e @ Error::Layer { index: 0, .. }) => e.to_string(),
            other => panic!("{layer}: {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn every_layer_type_rejects_unknown_options() {
        for layer in [
            "{ type = \"dense\", units = 3, unit = 4 }",
            "{ type = \"conv2d\", filters = 3, kernel_size = 3, stride = 2 }",
            "{ type = \"max_pool2d\", pool = 2 }",
            "{ type = \"batch_normalization\", eps = 0.1 }",
            "{ type = \"dropout\", rate = 0.1, seed = 3 }",
            "{ type = \"flatten\", units = 3 }",
            "{ type = \"activation\", activation = \"relu\", alpha = 0.1 }",
            "{ type = \"dense\", units = 3, kernel_regularizer = { l2 = 0.1, l1 = 0.1 } }",
        ] {
            let e = toml_model(layer).unwrap_err().to_string();
            assert!(e.contains("unknown field"), "{layer}: {e}");
        }
        let e = toml_model("{ type = \"lstm\" }").unwrap_err().to_string();
        assert!(e.contains("unknown variant `lstm`"), "{e}");
    }

    #[test]
    fn names_sizes_and_defaults_read_as_keras_writes_them() {
        let spec = toml_model(
            "{ type = \"conv2d\", filters = 2, kernel_size = [3, 2] }, { type = \"max_pooling2d\" }, \
             { type = \"batch_normalization\" }, { type = \"flatten\" }, { type = \"dense\", units = 3 }",
        )
        .unwrap();
        let LayerSpec::Conv2D(conv) = &spec.layers[0] else { panic!("{:?}", spec.layers[0]) };
        assert_eq!((conv.kernel_size.pair(), conv.strides, conv.padding), ((3, 2), Size2::One(1), Padding::Valid));
        assert_eq!(conv.options, crate::engine::KernelOptions::default());
        assert_eq!(spec.layers[1], LayerSpec::max_pool(2));
        assert_eq!(spec.layers[2], LayerSpec::batch_norm());
        assert_eq!(spec.layers[4], LayerSpec::dense(3, Activation::Linear));
        // The alias is read; the name written is the canonical one.
        assert!(serde_json::to_string(&spec.layers[1]).unwrap().starts_with(r#"{"type":"max_pool2d""#));
        let names: Vec<String> = spec.build(0).unwrap().layers.iter().map(|l| l.name().to_string()).collect();
        assert_eq!(names, ["conv2d", "max_pooling2d", "batch_normalization", "flatten", "dense"]);
        let e = toml_model("{ type = \"conv2d\", filters = 2, kernel_size = [3, 2, 1] }").unwrap_err().to_string();
        assert!(e.contains("Size2"), "{e}");
    }

    #[test]
    fn each_config_checks_its_own_options() {
        let cases = [
            ("{ type = \"dense\", units = 0 }", "units must be at least 1"),
            ("{ type = \"conv2d\", filters = 0, kernel_size = 3 }", "filters must be at least 1"),
            (
                "{ type = \"conv2d\", filters = 1, kernel_size = 9 }",
                "kernel 9×9 with stride 1×1 does not fit input 8×8×1",
            ),
            ("{ type = \"conv2d\", filters = 1, kernel_size = 3, strides = 0 }", "does not fit input"),
            ("{ type = \"max_pool2d\", pool_size = 0 }", "pool 0×0 with stride 0×0 does not fit input"),
            ("{ type = \"dropout\", rate = 1.0 }", "dropout rate 1 is outside [0, 1)"),
            ("{ type = \"dropout\", rate = -0.1 }", "dropout rate -0.1 is outside [0, 1)"),
            ("{ type = \"dropout\", rate = nan }", "is outside [0, 1)"),
            ("{ type = \"batch_normalization\", momentum = 1.0 }", "momentum must be in [0, 1)"),
            ("{ type = \"batch_normalization\", epsilon = 0.0 }", "epsilon positive"),
            ("{ type = \"batch_normalization\", epsilon = inf }", "epsilon positive"),
            ("{ type = \"batch_normalization\", epsilon = nan }", "epsilon positive"),
            ("{ type = \"dense\", units = 2, kernel_regularizer = { l2 = -1.0 } }", "L2 factor -1 must be finite"),
            (
                "{ type = \"conv2d\", filters = 1, kernel_size = 1, activity_regularizer = { l2 = inf } }",
                "L2 factor inf",
            ),
        ];
        for (layer, want) in cases {
            let e = build_error(layer);
            assert!(e.starts_with("model 'model', layer 0 (") && e.contains(want), "{layer}: {e}");
        }
    }
}
