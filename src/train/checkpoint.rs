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
use crate::model::format::{deserialize, read_safetensors, tensor_f32};
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
    let (t, nt) = net.param_counts();
    let data = read_safetensors(path, t.saturating_mul(3).saturating_add(nt))?;
    let bad = |message: String| Error::Format { path: path.into(), message };
    let st = deserialize(path, &data)?;
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
    let read = |key: &str, shape: &[usize]| tensor_f32(path, &st, key, shape);
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
    let (t, nt) = net.param_counts();
    let data = read_safetensors(path, t.saturating_mul(3).saturating_add(nt))?;
    let st = deserialize(path, &data)?;
    net.named_params().iter().map(|(key, p)| tensor_f32(path, &st, key, &p.shape)).collect()
}
