//! Stratified k-fold cross-validation: the same model and settings trained on k − 1 folds and
//! judged on the held-out one, k times, from the same initial weights.

use super::fit::{Event, TrainConfig, fit};
use crate::Result;
use crate::data::Dataset;
use crate::data::split::stratified_kfold;
use crate::eval::evaluate;
use crate::model::ModelSpec;
use crate::optim::Optimizer;
use serde::Serialize;

/// One fold's result.
#[derive(Clone, Debug, Serialize)]
pub struct Fold {
    pub fold: usize,
    pub train: usize,
    pub validation: usize,
    pub loss: f64,
    pub accuracy: f64,
}

/// All folds and their mean and spread.
#[derive(Clone, Debug, Serialize)]
pub struct CvSummary {
    pub model: String,
    pub folds: Vec<Fold>,
    pub mean_accuracy: f64,
    /// Population standard deviation over the folds (numpy's default, as scikit-learn reports).
    pub std_accuracy: f64,
}

/// What cross-validation reports as it goes: which fold, and the fit loop's events.
pub enum CvEvent<'a> {
    /// Fold `fold` (from 1) of `folds` starts.
    FoldStart {
        fold: usize,
        folds: usize,
        train: usize,
    },
    Train(Event<'a>),
    FoldEnd(&'a Fold, usize),
}

/// Cross-validates `spec` with `cfg` over `k` stratified folds of `data`.
pub fn cross_validate(
    spec: &ModelSpec,
    cfg: &TrainConfig,
    data: &Dataset,
    k: usize,
    on_event: &mut dyn FnMut(CvEvent),
) -> Result<CvSummary> {
    cfg.check(false)?; // folds train without a validation set
    let folds = stratified_kfold(&data.labels, k, cfg.seed)?;
    let mut results = Vec::new();
    for (i, held_out) in folds.iter().enumerate() {
        let mut in_fold = vec![false; data.len()];
        held_out.iter().for_each(|&j| in_fold[j] = true);
        let train_idx: Vec<usize> = (0..data.len()).filter(|&j| !in_fold[j]).collect();
        let (train, val) = (data.subset(&train_idx), data.subset(held_out));
        on_event(CvEvent::FoldStart { fold: i + 1, folds: folds.len(), train: train.len() });
        // Every fold starts from the same initial weights, as a fresh Keras model with one seed.
        let mut net = spec.build(cfg.seed)?;
        let mut opt = Optimizer::new(cfg.optimizer.clone());
        fit(&mut net, &mut opt, &train, None, cfg, &mut |e| on_event(CvEvent::Train(e)))?;
        let e = evaluate(&mut net, &val)?;
        let fold = Fold { fold: i + 1, train: train.len(), validation: val.len(), loss: e.loss, accuracy: e.accuracy };
        on_event(CvEvent::FoldEnd(&fold, folds.len()));
        results.push(fold);
    }
    let n = results.len() as f64;
    let mean = results.iter().map(|f| f.accuracy).sum::<f64>() / n;
    let std = (results.iter().map(|f| (f.accuracy - mean).powi(2)).sum::<f64>() / n).sqrt();
    Ok(CvSummary { model: spec.display_name().into(), folds: results, mean_accuracy: mean, std_accuracy: std })
}
