//! One trial: train a configuration to a number of epochs in its own directory, with a
//! checkpoint after every epoch.
//!
//! A trial that finds a checkpoint of fewer epochs (a Hyperband round it was promoted from, or
//! a run killed in the middle of the trial) continues from it; with the constant learning rate
//! tuning uses, that gives the same weights as training from scratch, so the result never
//! depends on where a run was interrupted.

use crate::Error;
use crate::data::Dataset;
use crate::engine::Network;
use crate::layout::RunDir;
use crate::model::{ModelSpec, save_model};
use crate::optim::Optimizer;
use crate::train::{Progress, TrainConfig, checkpoint, fit_from, run::write_history};

/// A trained trial.
pub struct Trained {
    pub net: Network,
    pub progress: Progress,
    /// Validation accuracy and loss after the last epoch (0 and NaN without validation).
    pub val_accuracy: f64,
    pub val_loss: f64,
    /// Why training diverged, when it did: then there is no model, and the scores are 0 and NaN.
    pub diverged: Option<String>,
}

/// Trains `spec` with `cfg` (to `cfg.epochs` in all) in `dir`, leaving the model
/// (`model.json`, `model.safetensors`), the history and `checkpoint-last.safetensors` there.
pub fn run_trial(
    dir: &RunDir,
    spec: &ModelSpec,
    cfg: &TrainConfig,
    train: &Dataset,
    val: Option<&Dataset>,
) -> Result<Trained, Error> {
    run_trial_with(dir, spec, cfg, train, val, &mut |_| Ok(()))
}

/// [`run_trial`], calling `checkpointed` with the progress once each epoch's checkpoint is on
/// disk (a shared study copies it to its store there); an error from it stops the training.
pub fn run_trial_with(
    dir: &RunDir,
    spec: &ModelSpec,
    cfg: &TrainConfig,
    train: &Dataset,
    val: Option<&Dataset>,
    checkpointed: &mut dyn FnMut(&Progress) -> Result<(), Error>,
) -> Result<Trained, Error> {
    let (last, best, run_dir, dir) = (dir.checkpoint_last(), dir.checkpoint_best(), dir, dir.path());
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let restores = restores_best(cfg);
    let mut net = spec.build(cfg.seed)?;
    let mut opt = Optimizer::new(cfg.optimizer.clone());
    let mut progress = Progress::default();
    let mut best_weights = None;
    if last.exists() {
        let loaded = checkpoint::load_checkpoint(&last, &mut net, &mut opt).and_then(|p| {
            // The best epoch's weights, as `digits train --resume` restores them.
            let w = if restores && best.exists() { Some(checkpoint::load_weights(&best, &net)?) } else { None };
            Ok((p, w))
        });
        match loaded {
            Ok((p, w)) if p.epochs_done <= cfg.epochs => (progress, best_weights) = (p, w),
            // A checkpoint past this budget, or one that does not fit: start over.
            _ => {
                net = spec.build(cfg.seed)?;
                opt = Optimizer::new(cfg.optimizer.clone());
            }
        }
    }
    let save = &mut |e: crate::train::EpochDone| {
        checkpoint::save_checkpoint(&last, e.net, e.optimizer, e.progress)?;
        if restores && e.best {
            checkpoint::save_checkpoint(&best, e.net, e.optimizer, e.progress)?;
        }
        checkpointed(e.progress)
    };
    let progress = match fit_from(&mut net, &mut opt, train, val, cfg, progress, best_weights, &mut |_| {}, save) {
        Ok(p) => p,
        // A diverged trial is a result (these settings do not train), not a failed study: it
        // scores nothing and leaves no model.
        Err(e @ Error::Diverged { .. }) => {
            return Ok(Trained {
                net,
                progress: Progress::default(),
                val_accuracy: 0.0,
                val_loss: f64::NAN,
                diverged: Some(e.to_string()),
            });
        }
        Err(e) => return Err(e),
    };
    save_model(dir, spec, &net)?;
    write_history(run_dir, &progress.history)?;
    let end = progress.history.epochs.last();
    let val_accuracy = end.and_then(|r| r.val_accuracy).unwrap_or(0.0);
    let val_loss = end.and_then(|r| r.val_loss).unwrap_or(f64::NAN);
    Ok(Trained { net, progress, val_accuracy, val_loss, diverged: None })
}

/// Whether early stopping restores the best epoch's weights: then a continued trial needs the
/// best epoch's checkpoint besides the last.
pub fn restores_best(cfg: &TrainConfig) -> bool {
    cfg.early_stopping.as_ref().is_some_and(|e| e.restore_best_weights)
}

/// The first bytes of [`pack_checkpoints`]' blob.
const PACK_MAGIC: &[u8; 8] = b"DGCKPTS1";

/// The last and (if any) best checkpoint of a trial that restores its best weights, as the one
/// blob a shared store keeps per trial: the 8 bytes `DGCKPTS1`, the last checkpoint's length
/// (8 bytes, little-endian), the last checkpoint, then the best one (nothing when there is none
/// yet).
pub fn pack_checkpoints(last: &[u8], best: Option<&[u8]>) -> Vec<u8> {
    let best = best.unwrap_or_default();
    let mut blob = Vec::with_capacity(16 + last.len() + best.len());
    blob.extend_from_slice(PACK_MAGIC);
    blob.extend_from_slice(&(last.len() as u64).to_le_bytes());
    blob.extend_from_slice(last);
    blob.extend_from_slice(best);
    blob
}

/// The last and best checkpoints of a [`pack_checkpoints`] blob, or what is wrong with it.
pub fn unpack_checkpoints(blob: &[u8]) -> Result<(&[u8], Option<&[u8]>), String> {
    let rest = blob.strip_prefix(PACK_MAGIC).ok_or("not a packed pair of checkpoints")?;
    let (len, rest) = rest.split_first_chunk::<8>().ok_or("cut short")?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok().filter(|&n| n <= rest.len());
    let len = len.ok_or_else(|| format!("the last checkpoint's length is more than the {} bytes there", rest.len()))?;
    let (last, best) = rest.split_at(len);
    Ok((last, (!best.is_empty()).then_some(best)))
}
