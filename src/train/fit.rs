//! The fit loop: shuffle, batch, forward, loss, backward, update; then validation.

pub use super::callbacks::Schedule;
use super::callbacks::{CallbackState, EarlyStopping, Monitor, ReduceLrOnPlateau, end_of_epoch};
use super::history::{EpochRecord, History};
use super::ranges;
use crate::Error;
use crate::data::Dataset;
use crate::data::augment::{AugmentConfig, augment_batch};
use crate::engine::limits::all_finite;
use crate::engine::loss::{self, Targets};
use crate::engine::{Loss, Network};
use crate::eval::evaluation::evaluate_unchecked;
use crate::model::check_model;
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
    /// Checks every setting's range (see [`super::ranges`]) and the settings against the data:
    /// a callback watching a validation quantity needs a validation set.
    pub fn check(&self, has_validation: bool) -> crate::Result<()> {
        self.check_ranges()?;
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

    fn check_ranges(&self) -> crate::Result<()> {
        fn bad(what: &str) -> impl FnOnce(ranges::Problem) -> Error + '_ {
            move |p| Error::Invalid(format!("{what} {p}"))
        }
        ranges::epochs(self.epochs).map_err(bad("epochs"))?;
        ranges::batch_size(self.batch_size).map_err(bad("batch_size"))?;
        ranges::lr(self.optimizer.lr() as f64).map_err(bad("lr"))?;
        if let Some(m) = self.optimizer.momentum() {
            ranges::momentum(m as f64).map_err(bad("momentum"))?;
        }
        self.augment.validate()?;
        if let Some(e) = &self.early_stopping {
            ranges::early_stopping(e).map_err(|(f, p)| bad(&format!("early_stopping.{f}"))(p))?;
        }
        if let Some(r) = &self.reduce_lr_on_plateau {
            ranges::reduce_lr(r).map_err(|(f, p)| bad(&format!("reduce_lr_on_plateau.{f}"))(p))?;
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
    check_model(net, Some(train), "training on the training set")?;
    if let Some(v) = val {
        check_model(net, Some(v), "validating on the validation set")?;
    }
    let mut batches = Batches::new(net.input.len(), train.len(), cfg.batch_size);
    let watched = Watched::new(cfg, val.is_some());
    let mut best_watched = watched.best_so_far(&progress.history);
    let mut last_finite = progress.history.epochs.last().map(|r| r.loss);
    while !progress.finished(cfg) {
        let epoch = progress.epochs_done + 1;
        on_event(Event::EpochStart { epoch, epochs: cfg.epochs, steps: batches.steps });
        let start = Instant::now();
        let scale = progress.callbacks.lr_scale;
        let (loss, accuracy) =
            train_epoch(net, opt, train, cfg, (epoch, scale), &mut batches, &mut last_finite, on_event)?;
        let seconds = start.elapsed().as_secs_f64();
        let (val_loss, val_accuracy) = match val {
            Some(v) => {
                let e = evaluate_unchecked(net, v);
                (Some(e.loss), Some(e.accuracy))
            }
            None => (None, None),
        };
        let lr = opt.config.lr() as f64;
        let record = EpochRecord { epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds };
        end_epoch(net, cfg, &mut progress, record, &mut best_weights, on_event);
        let value = progress.history.epochs.last().and_then(|r| watched.monitor.value(r));
        let best = value.is_some_and(|v| watched.monitor.improves(v, best_watched, watched.min_delta));
        if best {
            best_watched = value;
        }
        on_epoch(EpochDone { net, optimizer: opt, progress: &progress, best })?;
    }
    Ok(progress)
}

/// The shuffled order of the training set and the buffers one batch is copied into.
struct Batches {
    per: usize,
    n: usize,
    size: usize,
    steps: usize,
    order: Vec<usize>,
    x: Vec<f32>,
    y: Vec<u8>,
}

impl Batches {
    fn new(per: usize, n: usize, batch_size: usize) -> Self {
        let size = batch_size.max(1).min(n.max(1));
        Batches {
            per,
            n,
            size,
            steps: n.div_ceil(size),
            order: (0..n).collect(),
            x: vec![0.0f32; size * per],
            y: vec![0u8; size],
        }
    }

    /// Shuffles the order for `epoch`, the same way whatever happened before.
    fn shuffle(&mut self, seed: u64, epoch: usize) {
        self.order.sort_unstable();
        Rng::derive(&[seed, 0x5EED_0000 + epoch as u64]).shuffle(&mut self.order);
    }

    /// Copies batch `step` (augmented if asked) into `x` and `y`; returns its size.
    fn fill(&mut self, step: usize, train: &Dataset, cfg: &TrainConfig, epoch: usize) -> usize {
        let (per, size) = (self.per, self.size);
        let idx = &self.order[step * size..((step + 1) * size).min(self.n)];
        for (k, &i) in idx.iter().enumerate() {
            self.y[k] = train.labels[i];
        }
        if cfg.augment.is_active() {
            augment_batch(
                &cfg.augment,
                &train.images,
                idx,
                train.rows,
                train.cols,
                cfg.seed,
                epoch as u64,
                &mut self.x,
            );
        } else {
            for (k, &i) in idx.iter().enumerate() {
                self.x[k * per..(k + 1) * per].copy_from_slice(train.image(i));
            }
        }
        idx.len()
    }
}

/// One epoch of steps (epoch number and learning-rate scale in `at`); returns the epoch's mean
/// loss and accuracy, or [`Error::Diverged`] at the first batch whose loss, or whose updated
/// weights, are not finite (`last_finite` keeps the last finite batch loss).
#[allow(clippy::too_many_arguments)]
fn train_epoch(
    net: &mut Network,
    opt: &mut Optimizer,
    train: &Dataset,
    cfg: &TrainConfig,
    (epoch, lr_scale): (usize, f64),
    batches: &mut Batches,
    last_finite: &mut Option<f64>,
    on_event: &mut dyn FnMut(Event),
) -> crate::Result<(f64, f64)> {
    let (steps, per, classes) = (batches.steps, batches.per, net.outputs());
    let base_lr = cfg.optimizer.lr() as f64;
    batches.shuffle(cfg.seed, epoch);
    let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
    for step in 0..steps {
        let b = batches.fill(step, train, cfg, epoch);
        let factor = cfg.schedule.factor((epoch - 1) * steps + step, steps * cfg.epochs, epoch);
        opt.config.set_lr((base_lr * factor * lr_scale) as f32);
        let seed = Rng::derive(&[cfg.seed, epoch as u64, step as u64]).next_u64();
        let (x, y) = (&batches.x[..b * per], &batches.y[..b]);
        // The step's passes on the engine's threads (see `on_pool`); no update after a
        // loss that is not finite.
        let (right, l, finite) = crate::engine::on_pool(|| {
            let right = loss::correct(net.forward(x, b, true, seed), y, classes);
            let l = net.loss_grad(Targets::Labels(y), cfg.loss) + net.penalty();
            if !l.is_finite() {
                return (right, l, true);
            }
            net.backward(x);
            // The update checks what it writes; the state the forward pass updated (batch
            // normalisation's moving averages) is small enough to check here.
            (right, l, opt.step(net) && state_finite(net))
        });
        correct += right;
        let lr = opt.config.lr();
        let diverged =
            |what: String| Error::Diverged { epoch, batch: step + 1, what, last_finite_loss: *last_finite, lr };
        if !l.is_finite() {
            return Err(diverged(format!("the loss is {l}")));
        }
        if let Some(tensor) = (!finite).then(|| non_finite_tensor(net)).flatten() {
            return Err(diverged(format!("the update made tensor '{tensor}' NaN or infinite")));
        }
        *last_finite = Some(l);
        loss_sum += l * b as f64;
        seen += b;
        let (loss, accuracy) = (loss_sum / seen as f64, correct as f64 / seen as f64);
        on_event(Event::Step { step: step + 1, steps, loss, accuracy });
    }
    Ok((loss_sum / seen.max(1) as f64, correct as f64 / seen.max(1) as f64))
}

/// Whether every tensor the optimiser does not update holds finite values.
fn state_finite(net: &Network) -> bool {
    net.layers.iter().all(|l| l.params().into_iter().filter(|p| !p.trainable).all(|p| all_finite(&p.value)))
}

/// The key (`layer.param`) of the first tensor holding a NaN or an infinity, if any.
fn non_finite_tensor(net: &Network) -> Option<String> {
    net.layers.iter().find_map(|l| {
        l.params().into_iter().find(|p| !all_finite(&p.value)).map(|p| format!("{}.{}", l.name(), p.name))
    })
}

/// Records the epoch and lets the callbacks act: a lower rate, keeping the best weights,
/// stopping (and restoring the best weights).
fn end_epoch(
    net: &mut Network,
    cfg: &TrainConfig,
    progress: &mut Progress,
    record: EpochRecord,
    best_weights: &mut Option<Vec<Vec<f32>>>,
    on_event: &mut dyn FnMut(Event),
) {
    let (epoch, lr) = (record.epoch, record.lr);
    let es = cfg.early_stopping.as_ref();
    let decision = end_of_epoch(&mut progress.callbacks, es, cfg.reduce_lr_on_plateau.as_ref(), &record, lr);
    progress.history.epochs.push(record);
    progress.epochs_done = epoch;
    on_event(Event::EpochEnd(progress.history.epochs.last().expect("just pushed")));
    let restore = es.is_some_and(|e| e.restore_best_weights);
    if restore && (decision.improved || best_weights.is_none()) {
        // Keras keeps the first epoch's weights too, so there is always something to restore.
        *best_weights = Some(net.named_params().iter().map(|(_, p)| p.value.clone()).collect());
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
}

/// The quantity whose best epoch is kept (for the best checkpoint): EarlyStopping's, else the
/// validation loss, else the loss.
struct Watched {
    monitor: Monitor,
    min_delta: f64,
}

impl Watched {
    fn new(cfg: &TrainConfig, has_validation: bool) -> Self {
        let (monitor, min_delta) = cfg
            .early_stopping
            .as_ref()
            .map(|e| (e.monitor, e.min_delta))
            .unwrap_or(if has_validation { (Monitor::ValLoss, 0.0) } else { (Monitor::Loss, 0.0) });
        Watched { monitor, min_delta }
    }

    /// The best value in a resumed run's history.
    fn best_so_far(&self, history: &History) -> Option<f64> {
        history
            .epochs
            .iter()
            .filter_map(|r| self.monitor.value(r))
            .fold(None, |b, v| if self.monitor.improves(v, b, self.min_delta) { Some(v) } else { b })
    }
}
