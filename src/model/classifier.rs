//! What every consumer of a trained model uses — evaluate, predict, report, serve, export: a
//! [`Classifier`] loaded from a run directory or an ensemble directory, which maps prepared
//! 28×28 images to class [`Predictions`].

use super::ensemble::{Ensemble, EnsembleFile, load_ensemble};
use super::{SavedModel, load_model};
use crate::engine::{Network, Shape, loss};
use crate::layout::EnsembleDir;
use crate::{Error, Result};
use std::path::Path;

/// Images per inference batch: large enough for efficient products, small enough for cache.
pub const BATCH: usize = 1000;

/// Anything that maps images to class probabilities.
pub trait Classify {
    /// The shape of one input image.
    fn input_shape(&self) -> Shape;
    /// Number of classes (probabilities per image).
    fn classes(&self) -> usize;
    /// Class probabilities, `classes()` per image, for the images in `x`, `batch` at a time.
    fn predict_proba(&mut self, x: &[f32], batch: usize) -> Vec<f32>;
}

impl Classify for Network {
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn classes(&self) -> usize {
        self.outputs()
    }
    fn predict_proba(&mut self, x: &[f32], batch: usize) -> Vec<f32> {
        self.predict(x, batch)
    }
}

/// A trained model directory of either kind.
pub enum Classifier {
    /// A run directory's model.
    Single(Box<SavedModel>, Network),
    /// An ensemble directory's members.
    Ensemble(EnsembleFile, Ensemble),
}

impl Classifier {
    /// Loads `dir`: an ensemble when it holds `ensemble.json`, else a run's model.
    pub fn load(dir: impl AsRef<Path>) -> Result<Classifier> {
        let dir = dir.as_ref();
        if EnsembleDir::is_ensemble(dir) {
            let (file, ensemble) = load_ensemble(dir)?;
            return Ok(Classifier::Ensemble(file, ensemble));
        }
        let (saved, net) = load_model(dir)?;
        Ok(Classifier::Single(Box::new(saved), net))
    }

    /// The model's name (an ensemble's says how many members it has).
    pub fn name(&self) -> String {
        match self {
            Classifier::Single(saved, _) => saved.spec.display_name().to_string(),
            Classifier::Ensemble(file, _) => format!("ensemble of {}", file.members.len()),
        }
    }

    /// The temperature applied to every prediction, if the model was calibrated.
    pub fn calibration(&self) -> Option<&super::Calibration> {
        match self {
            Classifier::Single(saved, _) => saved.calibration.as_ref(),
            Classifier::Ensemble(file, _) => file.calibration.as_ref(),
        }
    }

    /// Sets (or, with `None`, drops) the temperature applied to predictions; saved only by
    /// [`super::calibrate()`].
    pub fn set_calibration(&mut self, calibration: Option<super::Calibration>) {
        match self {
            Classifier::Single(saved, _) => saved.calibration = calibration,
            Classifier::Ensemble(file, _) => file.calibration = calibration,
        }
    }

    /// The single network, if this is not an ensemble.
    pub fn network(&mut self) -> Option<&mut Network> {
        match self {
            Classifier::Single(_, n) => Some(n),
            Classifier::Ensemble(..) => None,
        }
    }

    /// The network whose layers a report shows: the model's, or an ensemble's first member's.
    pub fn first_network(&mut self) -> &mut Network {
        match self {
            Classifier::Single(_, n) => n,
            Classifier::Ensemble(_, e) => &mut e.members[0],
        }
    }

    /// Class probabilities of `images` (each `input_shape().len()` values, prepared as MNIST's
    /// digits: 0 background, 1 ink). An error when the images do not fill whole inputs.
    pub fn predict(&mut self, images: &[f32]) -> Result<Predictions> {
        let per = self.input_shape().len();
        if per == 0 || !images.len().is_multiple_of(per) {
            return Err(Error::Shape {
                what: format!("predicting with {}", self.name()),
                expected_what: "the model's input".into(),
                expected: format!("{} values per image", per),
                found_what: "the images".into(),
                found: format!("{} values, not a whole number of images", images.len()),
            });
        }
        let classes = self.classes();
        Ok(Predictions { classes, probabilities: self.predict_proba(images, BATCH) })
    }
}

impl Classify for Classifier {
    fn input_shape(&self) -> Shape {
        match self {
            Classifier::Single(_, n) => n.input_shape(),
            Classifier::Ensemble(_, e) => e.input_shape(),
        }
    }
    fn classes(&self) -> usize {
        match self {
            Classifier::Single(_, n) => n.classes(),
            Classifier::Ensemble(_, e) => e.classes(),
        }
    }
    fn predict_proba(&mut self, x: &[f32], batch: usize) -> Vec<f32> {
        let p = match self {
            Classifier::Single(_, n) => n.predict_proba(x, batch),
            Classifier::Ensemble(_, e) => e.predict_proba(x, batch),
        };
        match self.calibration() {
            Some(c) => crate::eval::calibration::with_temperature(&p, self.classes(), c.temperature),
            None => p,
        }
    }
}

/// Class probabilities of several images, `classes` per image.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    pub classes: usize,
    pub probabilities: Vec<f32>,
}

impl Predictions {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.probabilities.len() / self.classes.max(1)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Image `i`'s probabilities.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.probabilities[i * self.classes..(i + 1) * self.classes]
    }
    /// The most probable class of image `i`.
    pub fn label(&self, i: usize) -> u8 {
        loss::argmax(self.row(i)) as u8
    }
    /// Image `i`'s label, or `None` ("unsure") when its top probability is below
    /// `min_confidence`.
    pub fn answer(&self, i: usize, min_confidence: f32) -> Option<u8> {
        let row = self.row(i);
        let label = self.label(i);
        (row[label as usize] >= min_confidence).then_some(label)
    }

    /// The most probable class of every image.
    pub fn labels(&self) -> Vec<u8> {
        (0..self.len()).map(|i| self.label(i)).collect()
    }
    /// Image `i`'s `k` most probable classes with their probabilities, most probable first
    /// (ties: the lower class first).
    pub fn top(&self, i: usize, k: usize) -> Vec<(u8, f32)> {
        let mut order: Vec<(u8, f32)> = self.row(i).iter().enumerate().map(|(c, &p)| (c as u8, p)).collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        order.truncate(k);
        order
    }
}
