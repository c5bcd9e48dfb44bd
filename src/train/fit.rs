//! The fit loop: shuffle, batch, forward, loss, backward, update; then validation.

use super::history::{EpochRecord, History};
use crate::data::Dataset;
use crate::data::augment::{AugmentConfig, augment_batch};
use crate::engine::loss::{self, Targets};
use crate::engine::{Loss, Network};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// How the learning rate moves during a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The optimizer's learning rate throughout.
    #[default]
    Constant,
    /// Keras' `CosineDecay` over every step of the run: `lr · ½(1 + cos(π·step/steps))`.
    Cosine,
}

impl std::str::FromStr for Schedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(Schedule::Constant),
            "cosine" => Ok(Schedule::Cosine),
            _ => Err(format!("unknown schedule '{s}' (expected constant or cosine)")),
        }
    }
}

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
        }
    }
}

/// What the loop reports as it goes.
pub enum Event<'a> {
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
}

/// Loss, accuracy and predictions of a network on a dataset, in inference mode.
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub probabilities: Vec<f32>,
    pub predicted: Vec<u8>,
}

/// Images per inference batch: large enough for efficient products, small enough for cache.
pub const EVAL_BATCH: usize = 1000;

pub fn evaluate(net: &mut Network, data: &Dataset) -> Evaluation {
    let probabilities = net.predict(&data.images, EVAL_BATCH);
    let classes = net.outputs();
    let mut total = 0.0f64;
    let mut predicted = Vec::with_capacity(data.len());
    for (p, &l) in probabilities.chunks(classes).zip(&data.labels) {
        // Keras clips probabilities to [1e-7, 1 − 1e-7] in the cross-entropy.
        total -= (p[l as usize].clamp(1e-7, 1.0 - 1e-7) as f64).ln();
        predicted.push(loss::argmax(p) as u8);
    }
    let n = data.len().max(1) as f64;
    let correct = predicted.iter().zip(&data.labels).filter(|(a, b)| a == b).count();
    Evaluation { loss: total / n, accuracy: correct as f64 / n, probabilities, predicted }
}

/// Trains `net` on `train` for `cfg.epochs`, validating on `val` after each epoch.
pub fn fit(
    net: &mut Network,
    opt: &mut Optimizer,
    train: &Dataset,
    val: Option<&Dataset>,
    cfg: &TrainConfig,
    on_event: &mut dyn FnMut(Event),
) -> History {
    let per = net.input.len();
    assert_eq!(per, train.rows * train.cols, "the model's input does not match the images");
    let n = train.len();
    let bs = cfg.batch_size.max(1).min(n.max(1));
    let steps = n.div_ceil(bs);
    let classes = net.outputs();
    let mut order: Vec<usize> = (0..n).collect();
    let mut x = vec![0.0f32; bs * per];
    let mut y = vec![0u8; bs];
    let mut history = History::default();
    let base_lr = opt.config.lr();
    let total_steps = (steps * cfg.epochs).max(1) as f64;
    let augment = cfg.augment.is_active();
    for epoch in 1..=cfg.epochs {
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
            if cfg.schedule == Schedule::Cosine {
                let t = ((epoch - 1) * steps + step) as f64 / total_steps;
                opt.config.set_lr((base_lr as f64 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())) as f32);
            }
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
                let e = evaluate(net, v);
                (Some(e.loss), Some(e.accuracy))
            }
            None => (None, None),
        };
        history.epochs.push(EpochRecord {
            epoch,
            loss: loss_sum / seen.max(1) as f64,
            accuracy: correct as f64 / seen.max(1) as f64,
            val_loss,
            val_accuracy,
            lr: opt.config.lr() as f64,
            seconds,
        });
        on_event(Event::EpochEnd(history.epochs.last().expect("just pushed")));
    }
    history
}
