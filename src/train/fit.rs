//! The fit loop: shuffle, batch, forward, loss, backward, update; then validation.

pub use super::callbacks::Schedule;
use super::callbacks::{CallbackState, EarlyStopping, Monitor, ReduceLrOnPlateau, end_of_epoch};
use super::history::{EpochRecord, History};
use crate::data::Dataset;
use crate::data::augment::{AugmentConfig, augment_batch};
use crate::engine::loss::{self, Targets};
use crate::engine::{Loss, Network};
use crate::eval::evaluate::evaluate_unchecked;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Settings of one training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub loss: Loss,
    pub seed: u64,
    #[serde(default)]
    pub schedule: Schedule,
    /// Random transforms of the training images (off by default).
    #[serde(default, skip_serializing_if = "is_off")]
    pub augment: AugmentConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce_lr_on_plateau: Option<ReduceLrOnPlateau>,
}

impl TrainConfig {
    /// Checks the settings against the data: a callback watching a validation quantity needs a
    /// validation set.
    pub fn check(&self, has_validation: bool) -> crate::Result<()> {
        let monitors = [
            self.early_stopping.as_ref().map(|e| ("early stopping", e.monitor)),
            self.reduce_lr_on_plateau.as_ref().map(|p| ("ReduceLROnPlateau", p.monitor)),
        ];
        for (what, m) in monitors.into_iter().flatten() {
            if m.needs_validation() && !has_validation {
                return Err(crate::Error::Invalid(format!(
                    "{what} watches {} but there is no validation set (use --validation-split F or --validation test, or monitor loss/accuracy)",
                    m.name()
                )));
            }
        }
        Ok(())
    }
}

/// Where a run stands between epochs: with the weights and the optimizer's state, everything a
/// resumed run needs to continue exactly as the uninterrupted one would have.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub epochs_done: usize,
    pub history: History,
    pub callbacks: CallbackState,
}

impl Progress {
    /// Whether there is nothing left to train.
    pub fn finished(&self, cfg: &TrainConfig) -> bool {
        self.callbacks.stopped || self.epochs_done >= cfg.epochs
    }
}

/// What the loop hands over after each epoch, for checkpoints.
pub struct EpochDone<'a> {
    pub net: &'a Network,
    pub optimizer: &'a Optimizer,
    pub progress: &'a Progress,
    /// The epoch is the best so far by the watched quantity (EarlyStopping's monitor, else
    /// val_loss when there is validation, else loss).
    pub best: bool,
}

fn is_off(a: &AugmentConfig) -> bool {
    !a.is_active()
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 128,
            optimizer: OptimizerConfig::default(),
            loss: Loss::default(),
            seed: 0,
            schedule: Schedule::Constant,
            augment: AugmentConfig::default(),
            early_stopping: None,
            reduce_lr_on_plateau: None,
        }
    }
}

/// What the loop reports as it goes.
pub enum Event<'a> {
    /// A run resumes from its checkpoint (before [`Event::Started`]).
    Resumed {
        epochs_done: usize,
        epochs: usize,
    },
    /// A run is about to train (from [`Trainer`](super::Trainer)).
    Started(&'a super::RunStart),
    EpochStart {
        epoch: usize,
        epochs: usize,
        steps: usize,
    },
    /// After each step: running mean loss and accuracy of the epoch so far.
    Step {
        step: usize,
        steps: usize,
        loss: f64,
        accuracy: f64,
    },
    EpochEnd(&'a EpochRecord),
    /// A callback acted (Keras prints these lines too), e.g. a lower learning rate.
    Note(String),
}

/// An error naming both shapes when `data`'s images are not what `net` takes.
fn check_images(net: &Network, data: &Dataset, what: &str) -> crate::Result<()> {
    if (net.input.h, net.input.w, net.input.c) != (data.rows, data.cols, 1) {
        return Err(crate::Error::Shape {
            what: format!("training on {what}"),
            expected_what: "the model's input".into(),
            expected: net.input.to_string(),
            found_what: "each image".into(),
            found: format!("{}×{}×1", data.rows, data.cols),
        });
    }
    Ok(())
}

/// Trains `net` on `train` for `cfg.epochs`, validating on `val` after each epoch.
pub fn fit(
    net: &mut Network,
    opt: &mut Optimizer,
    train: &Dataset,
    val: Option<&Dataset>,
    cfg: &TrainConfig,
    on_event: &mut dyn FnMut(Event),
) -> crate::Result<History> {
    let no_checkpoints = &mut |_: EpochDone| Ok(());
    Ok(fit_from(net, opt, train, val, cfg, Progress::default(), None, on_event, no_checkpoints)?.history)
}

/// Trains from `progress` (the default for a new run; a checkpoint's for a resumed one) and
/// calls `on_epoch` after every epoch, e.g. to write checkpoints. `best_weights` are the best
/// epoch's parameters of a resumed run (for EarlyStopping's `restore_best_weights`).
#[allow(clippy::too_many_arguments)]
pub fn fit_from(
    net: &mut Network,
    opt: &mut Optimizer,
    train: &Dataset,
    val: Option<&Dataset>,
    cfg: &TrainConfig,
    mut progress: Progress,
    mut best_weights: Option<Vec<Vec<f32>>>,
    on_event: &mut dyn FnMut(Event),
    on_epoch: &mut dyn FnMut(EpochDone) -> crate::Result<()>,
) -> crate::Result<Progress> {
    check_images(net, train, "the training set")?;
    if let Some(v) = val {
        check_images(net, v, "the validation set")?;
    }
    let per = net.input.len();
    let n = train.len();
    let bs = cfg.batch_size.max(1).min(n.max(1));
    let steps = n.div_ceil(bs);
    let classes = net.outputs();
    let mut order: Vec<usize> = (0..n).collect();
    let mut x = vec![0.0f32; bs * per];
    let mut y = vec![0u8; bs];
    let base_lr = cfg.optimizer.lr() as f64;
    let total_steps = steps * cfg.epochs;
    let augment = cfg.augment.is_active();
    // The quantity whose best epoch is kept: EarlyStopping's, else validation loss, else loss.
    let watched = cfg.early_stopping.as_ref().map(|e| (e.monitor, e.min_delta)).unwrap_or(if val.is_some() {
        (Monitor::ValLoss, 0.0)
    } else {
        (Monitor::Loss, 0.0)
    });
    let mut best_watched: Option<f64> = progress
        .history
        .epochs
        .iter()
        .filter_map(|r| watched.0.value(r))
        .fold(None, |b, v| if watched.0.improves(v, b, watched.1) { Some(v) } else { b });
    while !progress.finished(cfg) {
        let epoch = progress.epochs_done + 1;
        on_event(Event::EpochStart { epoch, epochs: cfg.epochs, steps });
        let start = Instant::now();
        order.sort_unstable();
        Rng::derive(&[cfg.seed, 0x5EED_0000 + epoch as u64]).shuffle(&mut order);
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for step in 0..steps {
            let idx = &order[step * bs..((step + 1) * bs).min(n)];
            let b = idx.len();
            for (k, &i) in idx.iter().enumerate() {
                y[k] = train.labels[i];
            }
            if augment {
                augment_batch(&cfg.augment, &train.images, idx, train.rows, train.cols, cfg.seed, epoch as u64, &mut x);
            } else {
                for (k, &i) in idx.iter().enumerate() {
                    x[k * per..(k + 1) * per].copy_from_slice(train.image(i));
                }
            }
            let factor = cfg.schedule.factor((epoch - 1) * steps + step, total_steps, epoch);
            opt.config.set_lr((base_lr * factor * progress.callbacks.lr_scale) as f32);
            let seed = Rng::derive(&[cfg.seed, epoch as u64, step as u64]).next_u64();
            let out = net.forward(&x[..b * per], b, true, seed);
            correct += loss::correct(out, &y[..b], classes);
            let l = net.loss_grad(Targets::Labels(&y[..b]), cfg.loss) + net.penalty();
            net.backward(&x[..b * per]);
            opt.step(net);
            loss_sum += l * b as f64;
            seen += b;
            on_event(Event::Step {
                step: step + 1,
                steps,
                loss: loss_sum / seen as f64,
                accuracy: correct as f64 / seen as f64,
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        let (val_loss, val_accuracy) = match val {
            Some(v) => {
                let e = evaluate_unchecked(net, v);
                (Some(e.loss), Some(e.accuracy))
            }
            None => (None, None),
        };
        let lr = opt.config.lr() as f64;
        let record = EpochRecord {
            epoch,
            loss: loss_sum / seen.max(1) as f64,
            accuracy: correct as f64 / seen.max(1) as f64,
            val_loss,
            val_accuracy,
            lr,
            seconds,
        };
        let decision = end_of_epoch(
            &mut progress.callbacks,
            cfg.early_stopping.as_ref(),
            cfg.reduce_lr_on_plateau.as_ref(),
            &record,
            lr,
        );
        progress.history.epochs.push(record);
        progress.epochs_done = epoch;
        on_event(Event::EpochEnd(progress.history.epochs.last().expect("just pushed")));
        let restore = cfg.early_stopping.as_ref().is_some_and(|e| e.restore_best_weights);
        if restore && (decision.improved || best_weights.is_none()) {
            // Keras keeps the first epoch's weights too, so there is always something to restore.
            best_weights = Some(net.named_params().iter().map(|(_, p)| p.value.clone()).collect());
        }
        if let Some(new_lr) = decision.new_lr {
            on_event(Event::Note(format!("Epoch {epoch}: ReduceLROnPlateau reducing learning rate to {new_lr:.4e}.")));
        }
        if decision.stop {
            on_event(Event::Note(format!("Epoch {epoch}: early stopping")));
            if let Some(w) = best_weights.as_ref().filter(|_| restore) {
                for ((_, p), v) in net.named_params_mut().into_iter().zip(w) {
                    p.value.copy_from_slice(v);
                }
                let best = progress.callbacks.early_stopping.best_epoch;
                on_event(Event::Note(format!("Restoring model weights from the end of the best epoch: {best}.")));
            }
        }
        let value = progress.history.epochs.last().and_then(|r| watched.0.value(r));
        let best = value.is_some_and(|v| watched.0.improves(v, best_watched, watched.1));
        if best {
            best_watched = value;
        }
        on_epoch(EpochDone { net, optimizer: opt, progress: &progress, best })?;
    }
    Ok(progress)
}
