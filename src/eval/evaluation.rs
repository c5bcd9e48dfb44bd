//! Running a classifier over a labelled data set: loss, accuracy and every prediction.

use crate::data::Dataset;
use crate::engine::loss;
use crate::eval::Metrics;
use crate::model::check_model;
use crate::model::classifier::{BATCH, Classify};
use crate::{Error, Result};

/// Loss, accuracy and predictions of a classifier on a data set, in inference mode.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Mean cross-entropy (probabilities clipped to [1e-7, 1 − 1e-7], as Keras does).
    pub loss: f64,
    pub accuracy: f64,
    /// `classes` probabilities per image.
    pub probabilities: Vec<f32>,
    pub predicted: Vec<u8>,
}

impl Evaluation {
    /// Per-class precision, recall and F1 and the confusion matrix, against `data`'s labels.
    pub fn metrics(&self, data: &Dataset) -> Metrics {
        let classes = self.probabilities.len() / self.predicted.len().max(1);
        let mut m = Metrics::compute(&data.labels, &self.predicted, classes, Some(self.loss));
        m.ece = Some(super::calibration::ece(&self.probabilities, &data.labels, classes));
        m
    }
}

/// Evaluates `model` on `data`. An error when the data set's images are not the shape the
/// model takes, or when the data set is empty.
pub fn evaluate<C: Classify + ?Sized>(model: &mut C, data: &Dataset) -> Result<Evaluation> {
    check_model(model, Some(data), "evaluating the model")?;
    if data.is_empty() {
        return Err(Error::invalid(format!(
            "{}: the data set is empty, there are no images to evaluate on",
            data.source
        )));
    }
    Ok(evaluate_unchecked(model, data))
}

/// [`evaluate`] for callers that checked the shapes already (the fit loop's validation).
pub(crate) fn evaluate_unchecked<C: Classify + ?Sized>(model: &mut C, data: &Dataset) -> Evaluation {
    let probabilities = model.predict_proba(&data.images, BATCH);
    let classes = model.classes();
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
