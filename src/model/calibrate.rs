//! Temperature scaling of a trained model (`digits calibrate`): the temperature that makes its
//! confidence honest on held-out images, stored with the model (in `model.json`, or an
//! ensemble's `ensemble.json`) and applied by [`Classifier`] wherever the model predicts —
//! `predict`, `evaluate`, `report`, `serve`.

use super::Classifier;
use super::classifier::Classify;
use crate::data::Dataset;
use crate::eval::calibration::{ece, fit_temperature, nll, with_temperature};
use crate::layout::{EnsembleDir, RunDir};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A fitted temperature and what it did on the images it was fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Probabilities become `softmax(ln p / temperature)`.
    pub temperature: f64,
    /// What the temperature was fitted on (e.g. "the validation split 0.1, seed 0").
    pub fitted_on: String,
    pub images: usize,
    pub nll_before: f64,
    pub nll_after: f64,
    pub ece_before: f64,
    pub ece_after: f64,
}

/// Fits the temperature of the model in `dir` (a run or an ensemble) on `held_out` — images
/// it was not trained on — and stores it with the model, under the directory's lock. Any
/// temperature stored before is replaced, not compounded.
pub fn calibrate(dir: &Path, held_out: &Dataset, fitted_on: &str) -> Result<Calibration> {
    let mut model = Classifier::load(dir)?;
    model.set_calibration(None);
    let probabilities = crate::eval::evaluate(&mut model, held_out)?.probabilities;
    let classes = model.classes();
    let labels = &held_out.labels;
    let temperature = fit_temperature(&probabilities, labels, classes);
    let after = with_temperature(&probabilities, classes, temperature);
    let calibration = Calibration {
        temperature,
        fitted_on: fitted_on.into(),
        images: held_out.len(),
        nll_before: nll(&probabilities, labels, classes),
        nll_after: nll(&after, labels, classes),
        ece_before: ece(&probabilities, labels, classes),
        ece_after: ece(&after, labels, classes),
    };
    let _lock = crate::lock::DirLock::acquire(dir)?;
    model.set_calibration(Some(calibration.clone()));
    match &model {
        Classifier::Single(saved, _) => crate::atomic::write_json(&RunDir::new(dir).model_json(), saved)?,
        Classifier::Ensemble(file, _) => crate::atomic::write_json(&EnsembleDir::new(dir).ensemble_json(), file)?,
    }
    Ok(calibration)
}

/// Checks a stored temperature (a model file is input like any other).
pub(crate) fn check(c: &Calibration, path: &Path) -> Result<()> {
    let (lo, hi) = crate::eval::calibration::TEMPERATURE_RANGE;
    if !(lo..=hi).contains(&c.temperature) {
        return Err(Error::format(path, format!("calibration temperature {} is outside {lo} to {hi}", c.temperature)));
    }
    Ok(())
}
