//! Saving and loading a trained model: `model.json` (format version, architecture) beside
//! `model.safetensors` (every tensor under its `layer.param` key). Both are written to a
//! temporary name and renamed, so a crash never leaves a half-written model.

use super::ModelSpec;
use crate::Error;
use crate::engine::Network;
use crate::engine::limits::all_finite;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "digits-model";
pub const FORMAT_VERSION: u32 = 1;
pub use crate::layout::{MODEL_JSON, WEIGHTS};

/// What `model.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedModel {
    pub format: String,
    pub format_version: u32,
    pub spec: ModelSpec,
    pub class_names: Vec<String>,
}

/// Saves the model into directory `dir` (created if needed).
pub fn save_model(dir: &Path, spec: &ModelSpec, net: &Network) -> Result<(), Error> {
    let io = |path: PathBuf| move |source| Error::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.into()))?;
    let params = net.named_params();
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = params
        .iter()
        .map(|(k, p)| (k.clone(), p.value.iter().flat_map(|v| v.to_le_bytes()).collect(), p.shape.clone()))
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(k, b, s)| (k.clone(), TensorView::new(Dtype::F32, s.clone(), b).expect("shape matches data")))
        .collect();
    // One metadata entry: a map of several would be written in random (hash) order, and the
    // same weights must give the same file bytes.
    let meta = HashMap::from([("format".to_string(), format!("{FORMAT} {FORMAT_VERSION}"))]);
    let weights_path = dir.join(WEIGHTS);
    let data = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Format { path: weights_path.clone(), message: e.to_string() })?;
    crate::atomic::write(&weights_path, &data).map_err(io(weights_path.clone()))?;
    let saved = SavedModel {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        spec: spec.clone(),
        class_names: (0..net.outputs()).map(|i| i.to_string()).collect(),
    };
    let json_path = dir.join(MODEL_JSON);
    let text = serde_json::to_string_pretty(&saved).expect("model serialises");
    crate::atomic::write(&json_path, text.as_bytes()).map_err(io(json_path))?;
    Ok(())
}

/// Loads a model saved by [`save_model`] from directory `dir` (or from its `model.json`).
pub fn load_model(dir: &Path) -> Result<(SavedModel, Network), Error> {
    let dir = if dir.is_file() { dir.parent().unwrap_or(Path::new(".")) } else { dir };
    let json_path = dir.join(MODEL_JSON);
    if !json_path.exists() {
        return Err(Error::Format {
            path: dir.into(),
            message: format!(
                "not a model directory: {MODEL_JSON} is missing (expected the directory `digits train --out` wrote)"
            ),
        });
    }
    let text = std::fs::read_to_string(&json_path).map_err(|source| Error::Io { path: json_path.clone(), source })?;
    let saved: SavedModel =
        serde_json::from_str(&text).map_err(|e| Error::Format { path: json_path.clone(), message: e.to_string() })?;
    if saved.format != FORMAT || saved.format_version > FORMAT_VERSION {
        return Err(Error::Format {
            path: json_path,
            message: format!(
                "format '{}' version {} is not one this digits reads ('{FORMAT}' up to version {FORMAT_VERSION})",
                saved.format, saved.format_version
            ),
        });
    }
    let mut net = saved.spec.build(0).map_err(|e| Error::format(&json_path, e.to_string()))?;
    super::check_model(&net, None, &format!("loading the model {}", json_path.display()))?;
    let weights_path = dir.join(WEIGHTS);
    let data = std::fs::read(&weights_path).map_err(|source| Error::Io { path: weights_path.clone(), source })?;
    let bad = |message: String| Error::Format { path: weights_path.clone(), message };
    let st = SafeTensors::deserialize(&data).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    for (key, p) in net.named_params_mut() {
        let t = st.tensor(&key).map_err(|_| bad(format!("tensor '{key}' is missing")))?;
        if t.dtype() != Dtype::F32 {
            return Err(bad(format!("tensor '{key}' has type {:?}, expected F32", t.dtype())));
        }
        if t.shape() != p.shape.as_slice() {
            return Err(bad(format!("tensor '{key}' has shape {:?}, the architecture needs {:?}", t.shape(), p.shape)));
        }
        for (v, b) in p.value.iter_mut().zip(t.data().chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        if !all_finite(&p.value) {
            return Err(bad(format!(
                "tensor '{key}' holds NaN or infinite values (the training diverged); train it again with a lower --lr"
            )));
        }
    }
    Ok((saved, net))
}
