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
    /// The temperature `digits calibrate` fitted, applied to every prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<super::Calibration>,
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
        calibration: None,
    };
    let json_path = dir.join(MODEL_JSON);
    let text = serde_json::to_string_pretty(&saved).expect("model serialises");
    crate::atomic::write(&json_path, text.as_bytes()).map_err(io(json_path))?;
    Ok(())
}

/// Loads a model saved by [`save_model`] from directory `dir` (or from its `model.json`).
pub fn load_model(dir: &Path) -> Result<(SavedModel, Network), Error> {
    let given_json = dir.file_name().is_some_and(|n| n == MODEL_JSON);
    let dir = if given_json && dir.is_file() { dir.parent().unwrap_or(Path::new(".")) } else { dir };
    if dir.is_file() {
        return Err(Error::format(
            dir,
            "a file, not a model directory (give the directory `digits train --out` or `digits ensemble --out` wrote)",
        ));
    }
    if !dir.exists() {
        return Err(Error::NotFound { path: dir.into(), message: "no such model directory".into() });
    }
    let json_path = dir.join(MODEL_JSON);
    if !json_path.exists() {
        return Err(Error::Format {
            path: dir.into(),
            message: format!(
                "not a model directory: {MODEL_JSON} is missing (expected the directory `digits train --out` wrote)"
            ),
        });
    }
    let saved: SavedModel = crate::input::read_json(&json_path)?;
    if let Some(c) = &saved.calibration {
        super::calibrate::check(c, &json_path)?;
    }
    if saved.format != FORMAT || saved.format_version > FORMAT_VERSION {
        return Err(Error::Format {
            path: json_path,
            message: format!(
                "format '{}' version {} is not one this digits reads ('{FORMAT}' up to version {FORMAT_VERSION})",
                saved.format, saved.format_version
            ),
        });
    }
    // A weights file too small for the model is refused before the model is built, so a short
    // model.json describing 100 million parameters costs nothing beside a small weights file.
    let weights_path = dir.join(WEIGHTS);
    let planned = saved.spec.planned_params().map_err(|e| Error::format(&json_path, e.to_string()))?;
    let size = std::fs::metadata(&weights_path).map_err(Error::io(&weights_path))?.len();
    if size < planned as u64 * 4 {
        return Err(Error::format(
            &weights_path,
            format!("{size} bytes is too small for the {planned} parameters model.json describes"),
        ));
    }
    let mut net = saved.spec.build(0).map_err(|e| Error::format(&json_path, e.to_string()))?;
    super::check_model(&net, None, &format!("loading the model {}", json_path.display()))?;
    let data = read_safetensors(&weights_path, planned)?;
    let st = deserialize(&weights_path, &data)?;
    for (key, p) in net.named_params_mut() {
        p.value = tensor_f32(&weights_path, &st, &key, &p.shape)?;
    }
    Ok((saved, net))
}

/// The bytes of the safetensors file `path`, which should hold `values` f32 values: refused
/// unread when it is larger than they and a generous header could make it.
pub(crate) fn read_safetensors(path: &Path, values: usize) -> Result<Vec<u8>, Error> {
    crate::input::read_capped(path, (values as u64).saturating_mul(4).saturating_add(crate::input::MAX_TEXT_BYTES))
}

/// `data` (read from `path`) as safetensors.
pub(crate) fn deserialize<'a>(path: &Path, data: &'a [u8]) -> Result<SafeTensors<'a>, Error> {
    SafeTensors::deserialize(data).map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))
}

/// Tensor `key` of `st` (read from `path`), which must be F32 of `shape` and finite.
pub(crate) fn tensor_f32(path: &Path, st: &SafeTensors, key: &str, shape: &[usize]) -> Result<Vec<f32>, Error> {
    let bad = |message: String| Error::format(path, message);
    let t = st.tensor(key).map_err(|_| bad(format!("tensor '{key}' is missing")))?;
    if t.dtype() != Dtype::F32 || t.shape() != shape {
        return Err(bad(format!("tensor '{key}' is {:?} {:?}, the model needs F32 {shape:?}", t.dtype(), t.shape())));
    }
    let values: Vec<f32> = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if !all_finite(&values) {
        return Err(bad(format!(
            "tensor '{key}' holds NaN or infinite values (the training diverged); train it again with a lower --lr"
        )));
    }
    Ok(values)
}
