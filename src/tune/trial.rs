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
    /// Validation accuracy and loss after the last epoch.
    pub val_accuracy: f64,
    pub val_loss: f64,
}

/// Trains `spec` with `cfg` (to `cfg.epochs` in all) in `dir`, leaving the model
/// (`model.json`, `model.safetensors`), the history and `checkpoint-last.safetensors` there.
pub fn run_trial(
    dir: &RunDir,
    spec: &ModelSpec,
    cfg: &TrainConfig,
    train: &Dataset,
    val: &Dataset,
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
    val: &Dataset,
    checkpointed: &mut dyn FnMut(&Progress) -> Result<(), Error>,
) -> Result<Trained, Error> {
    let (last, run_dir, dir) = (dir.checkpoint_last(), dir, dir.path());
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut net = spec.build(cfg.seed)?;
    let mut opt = Optimizer::new(cfg.optimizer.clone());
    let mut progress = Progress::default();
    if last.exists() {
        match checkpoint::load_checkpoint(&last, &mut net, &mut opt) {
            Ok(p) if p.epochs_done <= cfg.epochs => progress = p,
            // A checkpoint past this budget, or one that does not fit: start over.
            _ => {
                net = spec.build(cfg.seed)?;
                opt = Optimizer::new(cfg.optimizer.clone());
            }
        }
    }
    let save = &mut |e: crate::train::EpochDone| {
        checkpoint::save_checkpoint(&last, e.net, e.optimizer, e.progress)?;
        checkpointed(e.progress)
    };
    let progress = match fit_from(&mut net, &mut opt, train, Some(val), cfg, progress, None, &mut |_| {}, save) {
        Ok(p) => p,
        // A diverged trial is a result (these settings do not train), not a failed study: it
        // scores nothing and leaves no model.
        Err(Error::Diverged { .. }) => {
            return Ok(Trained { net, progress: Progress::default(), val_accuracy: 0.0, val_loss: f64::NAN });
        }
        Err(e) => return Err(e),
    };
    save_model(dir, spec, &net)?;
    write_history(run_dir, &progress.history)?;
    let end = progress.history.epochs.last();
    let val_accuracy = end.and_then(|r| r.val_accuracy).unwrap_or(0.0);
    let val_loss = end.and_then(|r| r.val_loss).unwrap_or(f64::NAN);
    Ok(Trained { net, progress, val_accuracy, val_loss })
}
