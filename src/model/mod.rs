//! Models as data: the model file (layers and their options), the presets the notebooks build,
//! and saving/loading a trained model (architecture JSON + safetensors weights).

pub mod calibrate;
pub mod check;
pub mod classifier;
pub mod ensemble;
pub mod format;
pub mod presets;
pub mod spec;

pub use calibrate::{Calibration, calibrate};
pub use check::check_model;
pub use classifier::{Classifier, Classify, Predictions};
pub use format::{SavedModel, load_model, save_model};
pub use spec::{LayerSpec, ModelSpec};

use crate::Error;
