//! Checkpoints: the whole state of a run between two epochs, in one safetensors file, so that
//! `digits train --resume` continues an interrupted run to the result it would have reached.
//!
//! The file holds every parameter under its model key (as `model.safetensors`), the optimizer's
//! slots as `optimizer.<i>.<0|1>`, and in its metadata the optimizer's step count and the
//! [`Progress`] (history and callback state) as JSON. It is written to a temporary file and
//! renamed: a crash leaves the previous checkpoint, never half of a new one.

use super::fit::Progress;
use crate::Error;
use crate::engine::Network;
use crate::optim::Optimizer;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

const META_KEY: &str = "digits-checkpoint";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Meta {
    version: u32,
    optimizer_iterations: u64,
    progress: Progress,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes the checkpoint of `net`, `opt` and `progress` to `path`, atomically.
pub fn save_checkpoint(path: &Path, net: &Network, opt: &Optimizer, progress: &Progress) -> crate::Result<()> {
    let mut tensors: Vec<(String, Vec<u8>, Vec<usize>)> =
        net.named_params().iter().map(|(k, p)| (k.clone(), f32_bytes(&p.value), p.shape.clone())).collect();
    for (i, slots) in opt.slots.iter().enumerate() {
        for (j, s) in slots.iter().enumerate() {
            tensors.push((format!("optimizer.{i}.{j}"), f32_bytes(s), vec![s.len()]));
        }
    }
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(k, b, s)| (k.clone(), TensorView::new(Dtype::F32, s.clone(), b).expect("shape matches data")))
        .collect();
    let meta = Meta { version: VERSION, optimizer_iterations: opt.iterations, progress: progress.clone() };
    let bad = |e: &dyn std::fmt::Display| Error::format(path, e.to_string());
    let meta = HashMap::from([(META_KEY.to_string(), serde_json::to_string(&meta).map_err(|e| bad(&e))?)]);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| bad(&e))?;
    crate::atomic::write_file(path, &bytes)
}

/// Restores `net` (whose architecture must match) and `opt` from the checkpoint at `path`, and
/// returns the run's progress.
pub fn load_checkpoint(path: &Path, net: &mut Network, opt: &mut Optimizer) -> Result<Progress, Error> {
    let data = std::fs::read(path).map_err(|source| Error::Io { path: path.into(), source })?;
    let bad = |message: String| Error::Format { path: path.into(), message };
    let st = SafeTensors::deserialize(&data).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let (_, header) =
        SafeTensors::read_metadata(&data).map_err(|e| bad(format!("unreadable safetensors header: {e}")))?;
    let meta_text = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| bad("not a digits checkpoint (no training state in its metadata)".into()))?;
    let meta: Meta = serde_json::from_str(meta_text).map_err(|e| bad(format!("bad training state: {e}")))?;
    if meta.version > VERSION {
        return Err(bad(format!("checkpoint version {} is newer than this digits reads ({VERSION})", meta.version)));
    }
    let read = |key: &str, shape: &[usize]| -> Result<Vec<f32>, Error> {
        let t = st.tensor(key).map_err(|_| bad(format!("tensor '{key}' is missing")))?;
        if t.dtype() != Dtype::F32 || t.shape() != shape {
            return Err(bad(format!("tensor '{key}' is {:?} {:?}, expected F32 {shape:?}", t.dtype(), t.shape())));
        }
        Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    };
    for (key, p) in net.named_params_mut() {
        let shape = p.shape.clone();
        p.value.copy_from_slice(&read(&key, &shape)?);
    }
    opt.slots.clear();
    let trainable: Vec<usize> =
        net.layers.iter().flat_map(|l| l.params()).filter(|p| p.trainable).map(|p| p.value.len()).collect();
    // Slots exist once the optimizer has taken a step; a checkpoint before any has none.
    if meta.optimizer_iterations > 0 {
        for (i, len) in trainable.into_iter().enumerate() {
            opt.slots.push([read(&format!("optimizer.{i}.0"), &[len])?, read(&format!("optimizer.{i}.1"), &[len])?]);
        }
    }
    opt.iterations = meta.optimizer_iterations;
    Ok(meta.progress)
}

/// The parameters stored in a checkpoint, in the network's order (for restoring best weights).
pub fn load_weights(path: &Path, net: &Network) -> Result<Vec<Vec<f32>>, Error> {
    let data = std::fs::read(path).map_err(|source| Error::Io { path: path.into(), source })?;
    let bad = |message: String| Error::Format { path: path.into(), message };
    let st = SafeTensors::deserialize(&data).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    net.named_params()
        .iter()
        .map(|(key, p)| {
            let t = st.tensor(key).map_err(|_| bad(format!("tensor '{key}' is missing")))?;
            if t.shape() != p.shape.as_slice() || t.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "tensor '{key}' is {:?} {:?}, the model needs F32 {:?}",
                    t.dtype(),
                    t.shape(),
                    p.shape
                )));
            }
            Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        })
        .collect()
}
