//! Models as data: the model file (layers and their options), the presets the notebooks build,
//! and saving/loading a trained model (architecture JSON + safetensors weights).

pub mod ensemble;
pub mod format;
pub mod presets;
pub mod spec;

pub use format::{SavedModel, load_model, save_model};
pub use spec::{LayerSpec, ModelSpec};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("model '{model}', layer {index} ({layer}): {message}")]
    Layer { model: String, index: usize, layer: String, message: String },
    #[error("{0}")]
    Other(String),
}
