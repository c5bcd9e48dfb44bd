//! Callbacks between epochs, with Keras' rules: EarlyStopping and ReduceLROnPlateau, plus the
//! learning-rate schedules applied at every step.
//!
//! Their state lives in [`CallbackState`], which is serialisable so that a checkpoint can carry
//! it and a resumed run continues exactly where the interrupted one stopped.

use super::history::EpochRecord;
use serde::{Deserialize, Serialize};

/// A quantity of the per-epoch history to watch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    #[default]
    ValLoss,
    ValAccuracy,
    Loss,
    Accuracy,
}

impl Monitor {
    /// Its value in an epoch's record (`None` for a validation quantity without validation).
    pub fn value(self, r: &EpochRecord) -> Option<f64> {
        match self {
            Monitor::ValLoss => r.val_loss,
            Monitor::ValAccuracy => r.val_accuracy,
            Monitor::Loss => Some(r.loss),
            Monitor::Accuracy => Some(r.accuracy),
        }
    }

    /// Accuracies improve upwards, losses downwards (Keras' `mode="auto"`).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Monitor::ValAccuracy | Monitor::Accuracy)
    }

    pub fn needs_validation(self) -> bool {
        matches!(self, Monitor::ValLoss | Monitor::ValAccuracy)
    }

    pub fn name(self) -> &'static str {
        match self {
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
            Monitor::Loss => "loss",
            Monitor::Accuracy => "accuracy",
        }
    }

    /// Whether `current` beats `best` by more than `min_delta`.
    pub fn improves(self, current: f64, best: Option<f64>, min_delta: f64) -> bool {
        match best {
            None => true,
            Some(b) if self.higher_is_better() => current - min_delta.abs() > b,
            Some(b) => current + min_delta.abs() < b,
        }
    }
}

impl std::str::FromStr for Monitor {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "val_loss" => Monitor::ValLoss,
            "val_accuracy" => Monitor::ValAccuracy,
            "loss" => Monitor::Loss,
            "accuracy" => Monitor::Accuracy,
            _ => {
                return Err(crate::Error::Invalid(format!(
                    "unknown monitor '{s}' (expected val_loss, val_accuracy, loss or accuracy)"
                )));
            }
        })
    }
}

/// Keras' `EarlyStopping`: stop when `monitor` has not improved by more than `min_delta` for
/// `patience` epochs; with `restore_best_weights`, go back to the best epoch's weights when
/// stopping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStopping {
    pub monitor: Monitor,
    pub min_delta: f64,
    pub patience: usize,
    pub restore_best_weights: bool,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping { monitor: Monitor::ValLoss, min_delta: 0.0, patience: 0, restore_best_weights: false }
    }
}

/// Keras' `ReduceLROnPlateau`: multiply the learning rate by `factor` when `monitor` has not
/// improved by more than `min_delta` for `patience` epochs, never below `min_lr`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReduceLrOnPlateau {
    pub monitor: Monitor,
    pub factor: f64,
    pub patience: usize,
    pub min_delta: f64,
    pub cooldown: usize,
    pub min_lr: f64,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        ReduceLrOnPlateau {
            monitor: Monitor::ValLoss,
            factor: 0.1,
            patience: 10,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
        }
    }
}

/// How the learning rate moves during a run (before any plateau reduction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The optimizer's learning rate throughout.
    #[default]
    Constant,
    /// Keras' `CosineDecay` over every step of the run: `lr · ½(1 + cos(π·step/steps))`.
    Cosine,
    /// Multiply by `factor` every `every` epochs (Keras' `ExponentialDecay` with `staircase`).
    Step { every: usize, factor: f64 },
    /// The one-cycle policy (PyTorch's `OneCycleLR` defaults): from lr/25 up to lr over the
    /// first 30% of the steps, then down to lr/25e4, both halves on a cosine.
    OneCycle,
}

impl Schedule {
    /// The multiplier of the base learning rate at `step` of `total` steps, in `epoch`
    /// (1-based).
    pub fn factor(self, step: usize, total: usize, epoch: usize) -> f64 {
        let t = step as f64 / total.max(1) as f64;
        let cos = |from: f64, to: f64, p: f64| to + (from - to) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
        match self {
            Schedule::Constant => 1.0,
            Schedule::Cosine => cos(1.0, 0.0, t),
            Schedule::Step { every, factor } => factor.powi(((epoch.max(1) - 1) / every.max(1)) as i32),
            Schedule::OneCycle => {
                let warm = 0.3;
                if t < warm { cos(1.0 / 25.0, 1.0, t / warm) } else { cos(1.0, 1.0 / 25e4, (t - warm) / (1.0 - warm)) }
            }
        }
    }
}

impl std::str::FromStr for Schedule {
    type Err = crate::Error;
    /// `constant`, `cosine`, `one-cycle`, or `step[:EVERY[:FACTOR]]` (default every 5 epochs,
    /// factor 0.5).
    fn from_str(s: &str) -> crate::Result<Self> {
        let bad = || {
            crate::Error::Invalid(format!(
                "unknown schedule '{s}' (expected constant, cosine, one-cycle or step[:EVERY[:FACTOR]])"
            ))
        };
        let mut parts = s.split(':');
        Ok(match parts.next().unwrap_or_default() {
            "constant" => Schedule::Constant,
            "cosine" => Schedule::Cosine,
            "one-cycle" | "onecycle" | "one_cycle" => Schedule::OneCycle,
            "step" => {
                let every = parts.next().map(|p| p.parse::<usize>().map_err(|_| bad())).transpose()?.unwrap_or(5);
                let factor = parts.next().map(|p| p.parse::<f64>().map_err(|_| bad())).transpose()?.unwrap_or(0.5);
                if every == 0 || !(factor > 0.0 && factor.is_finite()) {
                    return Err(crate::Error::Invalid(format!(
                        "schedule '{s}': EVERY must be at least 1 and FACTOR positive"
                    )));
                }
                Schedule::Step { every, factor }
            }
            _ => return Err(bad()),
        })
        .and_then(|v| if parts.next().is_some() { Err(bad()) } else { Ok(v) })
    }
}

/// The state of one monitor-watching callback.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Watch {
    pub best: Option<f64>,
    pub best_epoch: usize,
    pub wait: usize,
}

/// Everything the callbacks carry from one epoch to the next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallbackState {
    pub early_stopping: Watch,
    pub plateau: Watch,
    pub cooldown: usize,
    /// What ReduceLROnPlateau has multiplied the learning rate by so far.
    pub lr_scale: f64,
    pub stopped: bool,
}

impl Default for CallbackState {
    fn default() -> Self {
        CallbackState {
            early_stopping: Watch::default(),
            plateau: Watch::default(),
            cooldown: 0,
            lr_scale: 1.0,
            stopped: false,
        }
    }
}

/// What the callbacks decided at the end of an epoch.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    /// EarlyStopping's monitor improved (its best weights should be kept).
    pub improved: bool,
    /// Training stops after this epoch.
    pub stop: bool,
    /// ReduceLROnPlateau lowered the rate to this.
    pub new_lr: Option<f64>,
}

/// Applies EarlyStopping and ReduceLROnPlateau (in that order, as Keras runs callbacks in the
/// order given) after epoch `r`; `lr` is the current learning rate.
pub fn end_of_epoch(
    state: &mut CallbackState,
    early: Option<&EarlyStopping>,
    plateau: Option<&ReduceLrOnPlateau>,
    r: &EpochRecord,
    lr: f64,
) -> Decision {
    let mut d = Decision::default();
    if let Some(es) = early
        && let Some(v) = es.monitor.value(r)
    {
        let w = &mut state.early_stopping;
        w.wait += 1;
        if es.monitor.improves(v, w.best, es.min_delta) {
            w.best = Some(v);
            w.best_epoch = r.epoch;
            w.wait = 0;
            d.improved = true;
        } else if w.wait >= es.patience && r.epoch > 1 {
            d.stop = true;
        }
    }
    if let Some(p) = plateau
        && let Some(v) = p.monitor.value(r)
    {
        let w = &mut state.plateau;
        if state.cooldown > 0 {
            state.cooldown -= 1;
            w.wait = 0;
        }
        if p.monitor.improves(v, w.best, p.min_delta) {
            w.best = Some(v);
            w.best_epoch = r.epoch;
            w.wait = 0;
        } else if state.cooldown == 0 {
            w.wait += 1;
            if w.wait >= p.patience && lr > p.min_lr {
                let new = (lr * p.factor).max(p.min_lr);
                state.lr_scale *= new / lr;
                state.cooldown = p.cooldown;
                w.wait = 0;
                d.new_lr = Some(new);
            }
        }
    }
    state.stopped |= d.stop;
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize, val_loss: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            loss: 1.0,
            accuracy: 0.5,
            val_loss: Some(val_loss),
            val_accuracy: Some(1.0 - val_loss),
            lr: 1e-3,
            seconds: 1.0,
        }
    }

    #[test]
    fn early_stopping_waits_patience_epochs_without_improvement() {
        let es = EarlyStopping { patience: 2, ..Default::default() };
        let mut s = CallbackState::default();
        let losses = [0.5, 0.4, 0.45, 0.41, 0.42];
        let stops: Vec<bool> = losses
            .iter()
            .enumerate()
            .map(|(i, &l)| end_of_epoch(&mut s, Some(&es), None, &rec(i + 1, l), 1e-3).stop)
            .collect();
        assert_eq!(stops, [false, false, false, true, true]);
        assert_eq!((s.early_stopping.best, s.early_stopping.best_epoch), (Some(0.4), 2));
    }

    #[test]
    fn min_delta_decides_what_counts_as_improvement() {
        let es = EarlyStopping { monitor: Monitor::ValAccuracy, min_delta: 0.01, patience: 1, ..Default::default() };
        let mut s = CallbackState::default();
        assert!(end_of_epoch(&mut s, Some(&es), None, &rec(1, 0.5), 1e-3).improved); // acc 0.5
        let d = end_of_epoch(&mut s, Some(&es), None, &rec(2, 0.495), 1e-3); // acc 0.505: +0.005 only
        assert!(!d.improved && d.stop);
    }

    #[test]
    fn plateau_reduces_the_rate_after_patience_and_respects_min_lr() {
        let p = ReduceLrOnPlateau { patience: 1, factor: 0.5, min_lr: 3e-4, ..Default::default() };
        let mut s = CallbackState::default();
        let mut lr = 1e-3;
        let mut seen = Vec::new();
        for (i, l) in [0.5, 0.6, 0.6, 0.6, 0.6].iter().enumerate() {
            let d = end_of_epoch(&mut s, None, Some(&p), &rec(i + 1, *l), lr);
            if let Some(n) = d.new_lr {
                lr = n;
            }
            seen.push(lr);
        }
        assert_eq!(seen, [1e-3, 5e-4, 3e-4, 3e-4, 3e-4]);
        assert!((s.lr_scale - 0.3).abs() < 1e-12);
    }

    #[test]
    fn schedules_have_their_shapes() {
        assert_eq!(Schedule::Cosine.factor(0, 100, 1), 1.0);
        assert!(Schedule::Cosine.factor(100, 100, 9) < 1e-12);
        let step: Schedule = "step:2:0.1".parse().unwrap();
        let f: Vec<f64> = (1..=5).map(|e| step.factor(0, 1, e)).collect();
        assert!((f[0] - 1.0).abs() < 1e-12 && (f[2] - 0.1).abs() < 1e-12 && (f[4] - 0.01).abs() < 1e-12);
        let oc = Schedule::OneCycle;
        assert!((oc.factor(0, 100, 1) - 0.04).abs() < 1e-12);
        assert!((oc.factor(30, 100, 1) - 1.0).abs() < 1e-12);
        assert!(oc.factor(100, 100, 1) < 1e-5);
        assert!("step:0".parse::<Schedule>().is_err() && "linear".parse::<Schedule>().is_err());
        assert_eq!("step".parse::<Schedule>().unwrap(), Schedule::Step { every: 5, factor: 0.5 });
    }
}
