//! The models the Keras notebooks build, by name. Each ends in a 10-way softmax.

use super::spec::{LayerSpec, ModelSpec};
use crate::engine::{Activation::*, DenseConfig, L2, Padding};

/// All preset names, in the order `digits models` lists them.
pub const NAMES: &[&str] = &[
    "mlp-512-512-d",
    "mlp-512-512",
    "mlp-512-128",
    "mlp-500-300-100-bn",
    "mlp-500-400-300-200-50-bn",
    "mlp-512-256",
    "mlp-64-64",
    "mlp-sigmoid-l2",
    "cnn-32-64",
];

/// The preset model used when `--model` is not given.
pub const DEFAULT: &str = "mlp-512-512-d";

fn dense(units: usize) -> LayerSpec {
    LayerSpec::dense(units, Relu)
}
fn drop(rate: f32) -> LayerSpec {
    LayerSpec::dropout(rate)
}
fn bn() -> LayerSpec {
    LayerSpec::batch_norm()
}
fn mlp(name: &str, description: &str, hidden: Vec<LayerSpec>) -> ModelSpec {
    let mut layers = vec![LayerSpec::flatten()];
    layers.extend(hidden);
    layers.push(LayerSpec::dense(10, Softmax));
    ModelSpec::new(name, description, layers)
}

fn l2_sigmoid(units: usize) -> LayerSpec {
    let mut dense = DenseConfig::new(units, Sigmoid);
    dense.options.kernel_regularizer = Some(L2 { l2: 1e-4 });
    dense.options.activity_regularizer = Some(L2 { l2: 1e-4 });
    dense.into()
}

/// The preset called `name`.
pub fn preset(name: &str) -> Option<ModelSpec> {
    Some(match name {
        "mlp-512-512-d" => mlp(
            "mlp-512-512-d",
            "Dense 512 relu, Dropout 0.2, Dense 512 relu (the Keras MNIST example)",
            vec![dense(512), drop(0.2), dense(512)],
        ),
        "mlp-512-512" => {
            mlp("mlp-512-512", "Dense 512 relu, Dense 512 relu, no regularisation", vec![dense(512), dense(512)])
        }
        "mlp-512-128" => {
            mlp("mlp-512-128", "Dense 512 relu, Dropout 0.4, Dense 128 relu", vec![dense(512), drop(0.4), dense(128)])
        }
        "mlp-500-300-100-bn" => mlp(
            "mlp-500-300-100-bn",
            "Dense 500, Dropout 0.4, Dense 300, BatchNorm, Dropout 0.4, Dense 100, BatchNorm (relu)",
            vec![dense(500), drop(0.4), dense(300), bn(), drop(0.4), dense(100), bn()],
        ),
        "mlp-500-400-300-200-50-bn" => mlp(
            "mlp-500-400-300-200-50-bn",
            "Dense 500-400-300-200-50 relu with Dropout 0.3 between, BatchNorm after 200 and 50",
            vec![
                dense(500),
                drop(0.3),
                dense(400),
                drop(0.3),
                dense(300),
                drop(0.3),
                dense(200),
                bn(),
                drop(0.3),
                dense(50),
                bn(),
            ],
        ),
        "mlp-512-256" => mlp(
            "mlp-512-256",
            "Dense 512 relu, Dropout 0.5, Dense 256 relu, Dropout 0.2",
            vec![dense(512), drop(0.5), dense(256), drop(0.2)],
        ),
        "mlp-64-64" => mlp(
            "mlp-64-64",
            "Dense 64 relu, Dropout 0.25, Dense 64 relu, Dropout 0.25",
            vec![dense(64), drop(0.25), dense(64), drop(0.25)],
        ),
        "mlp-sigmoid-l2" => mlp(
            "mlp-sigmoid-l2",
            "Dense 64 sigmoid, Dropout 0.25, then Dense 64, 64, 32 sigmoid with L2 1e-4 on kernel and activity, each followed by Dropout 0.25",
            vec![
                LayerSpec::dense(64, Sigmoid),
                drop(0.25),
                l2_sigmoid(64),
                drop(0.25),
                l2_sigmoid(64),
                drop(0.25),
                l2_sigmoid(32),
                drop(0.25),
            ],
        ),
        "cnn-32-64" => ModelSpec::new(
            "cnn-32-64",
            "Conv 32 5×5 same relu, MaxPool 2, BatchNorm, Dropout 0.25, Conv 64 5×5 same relu, MaxPool 2, BatchNorm, Dropout 0.25, Dense 256 relu, Dropout 0.5",
            vec![
                LayerSpec::conv(32, 5, Padding::Same, Relu),
                LayerSpec::max_pool(2),
                bn(),
                drop(0.25),
                LayerSpec::conv(64, 5, Padding::Same, Relu),
                LayerSpec::max_pool(2),
                bn(),
                drop(0.25),
                LayerSpec::flatten(),
                dense(256),
                drop(0.5),
                LayerSpec::dense(10, Softmax),
            ],
        ),
        _ => return None,
    })
}

/// A preset name or a path to a model file.
pub fn resolve(model: &str) -> Result<ModelSpec, super::Error> {
    if let Some(spec) = preset(model) {
        return Ok(spec);
    }
    let path = std::path::Path::new(model);
    if path.exists() {
        return ModelSpec::from_file(path);
    }
    Err(super::Error::Invalid(format!(
        "'{model}' is neither a preset nor a model file (presets: {}; see `digits models`)",
        NAMES.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_has_the_keras_parameter_count() {
        let want = [669_706, 669_706, 468_874, 575_510, 784_960, 535_818, 55_050, 60_970, 858_122];
        for (name, want) in NAMES.iter().zip(want) {
            let spec = preset(name).unwrap();
            assert_eq!(spec.param_count().unwrap(), want, "{name}");
        }
    }
}
