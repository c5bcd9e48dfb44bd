//! A model's most confident mistakes: which test images they are (a small function a test can
//! check on a hand-made probability table) and their grid of captioned digits.

use super::{DigitGrid, DigitTile};
use crate::data::Dataset;
use crate::engine::loss::argmax;

/// One test image the model got wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mistake {
    /// The image's index in the test set.
    pub index: usize,
    /// Its true class.
    pub label: u8,
    /// The class the model gave it (the most probable one).
    pub predicted: u8,
    /// The probability the model gave `predicted`.
    pub probability: f32,
}

/// The test images the model got wrong, most confident first, at most `n` of them.
///
/// `probabilities` holds one row of `classes` values per label. Equal probabilities keep the
/// test set's order (lower index first), so the page is the same on every run.
pub fn confident_mistakes(labels: &[u8], probabilities: &[f32], classes: usize, n: usize) -> Vec<Mistake> {
    let mut wrong: Vec<Mistake> = probabilities
        .chunks(classes.max(1))
        .zip(labels)
        .enumerate()
        .filter_map(|(index, (p, &label))| {
            let predicted = argmax(p);
            (predicted != label as usize).then(|| Mistake {
                index,
                label,
                predicted: predicted as u8,
                probability: p[predicted],
            })
        })
        .collect();
    wrong.sort_by(|a, b| b.probability.total_cmp(&a.probability).then(a.index.cmp(&b.index)));
    wrong.truncate(n);
    wrong
}

/// The mistakes as a grid of their images, in the order given, each captioned with the true
/// and predicted class, the probability and the test index.
pub fn mistakes_grid(title: String, test: &Dataset, mistakes: &[Mistake]) -> DigitGrid {
    DigitGrid {
        title,
        subtitle: Some("true label, predicted label, the probability the model gave it, and the test index".into()),
        image: (test.rows, test.cols),
        tiles: mistakes
            .iter()
            .map(|m| DigitTile {
                pixels: test.image(m.index).to_vec(),
                caption: vec![
                    format!("true {} → {}", m.label, m.predicted),
                    format!("p {:.3} · #{}", m.probability, m.index),
                ],
            })
            .collect(),
        columns: 8,
        scale: 4,
    }
}
