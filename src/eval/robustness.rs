//! A model judged off the clean test set: its accuracy on the test images under each of
//! MNIST-C's 15 corruptions ([`super::corruptions`]), their mean, the worst, and how much the
//! error grows.

use super::corruptions::{ALL, Corruption, SIDE, corrupt_all};
use super::evaluate;
use crate::data::Dataset;
use crate::model::Classify;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Accuracy under one corruption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionScore {
    pub corruption: String,
    pub accuracy: f64,
}

/// The whole suite's result (what `robustness.json` holds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Robustness {
    /// Test images judged under each corruption.
    pub images: usize,
    /// Seed of the corruptions' randomness.
    pub seed: u64,
    pub clean_accuracy: f64,
    pub corruptions: Vec<CorruptionScore>,
    /// Mean accuracy over the 15 corruptions.
    pub mean_corruption_accuracy: f64,
    /// The corruption with the lowest accuracy.
    pub worst: CorruptionScore,
    /// (mean corruption error − clean error) / clean error: how many times the clean error is
    /// added by the corruptions (MNIST-C reports about 10 for a 99% CNN).
    pub relative_error_increase: f64,
    /// How many non-digits the model declines at the confidence that keeps 99% of the clean
    /// test set answered.
    pub non_digits: NonDigits,
}

/// Non-digits (letters, shapes, scribbles: [`super::nondigits`]) answered "unsure".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NonDigits {
    pub count: usize,
    /// The top-probability threshold that answers 99% of the clean test images.
    pub threshold: f32,
    /// The fraction of non-digits whose top probability is below it, in all and per kind
    /// (letters, shapes, scribbles).
    pub rejected: f64,
    pub rejected_letters: f64,
    pub rejected_shapes: f64,
    pub rejected_scribbles: f64,
}

/// Non-digits drawn per robustness run (a third of each kind).
pub const NON_DIGITS: usize = 600;

/// `data` with every image corrupted by `c` (seeded, see [`corrupt_all`]).
pub fn corrupted(data: &Dataset, c: Corruption, seed: u64) -> Dataset {
    Dataset {
        images: corrupt_all(&data.images, c, seed),
        source: format!("{} ({})", data.source, c.name()),
        ..data.clone()
    }
}

/// Evaluates `model` on `test` clean and under each corruption; `on_done(name, accuracy)`
/// after each. An error when the images are not 28×28 (MNIST-C's size) or the set is empty.
pub fn robustness<C: Classify + ?Sized>(
    model: &mut C,
    test: &Dataset,
    seed: u64,
    on_done: &mut dyn FnMut(&str, f64),
) -> Result<Robustness> {
    if test.rows != SIDE || test.cols != SIDE {
        return Err(Error::Invalid(format!(
            "{}: the corruptions are defined on 28×28 images, these are {}×{}",
            test.source, test.rows, test.cols
        )));
    }
    let clean = evaluate(model, test)?;
    let clean_accuracy = clean.accuracy;
    on_done("clean", clean_accuracy);
    let non_digits = non_digit_rejection(model, &top_probabilities(&clean.probabilities, model.classes()), seed);
    let mut scores = Vec::new();
    for c in ALL {
        let accuracy = evaluate(model, &corrupted(test, c, seed))?.accuracy;
        on_done(c.name(), accuracy);
        scores.push(CorruptionScore { corruption: c.name().into(), accuracy });
    }
    let mean = scores.iter().map(|s| s.accuracy).sum::<f64>() / scores.len() as f64;
    let worst = scores.iter().min_by(|a, b| a.accuracy.total_cmp(&b.accuracy)).cloned().expect("15 scores");
    let clean_error = (1.0 - clean_accuracy).max(1.0 / test.len() as f64);
    Ok(Robustness {
        images: test.len(),
        seed,
        clean_accuracy,
        corruptions: scores,
        mean_corruption_accuracy: mean,
        worst,
        relative_error_increase: ((1.0 - mean) - (1.0 - clean_accuracy)) / clean_error,
        non_digits,
    })
}

fn top_probabilities(probabilities: &[f32], classes: usize) -> Vec<f32> {
    probabilities.chunks_exact(classes.max(1)).map(|r| r.iter().copied().fold(0.0, f32::max)).collect()
}

/// [`NonDigits`] of `model`, whose top probabilities on the clean test set are `clean_tops`.
fn non_digit_rejection<C: Classify + ?Sized>(model: &mut C, clean_tops: &[f32], seed: u64) -> NonDigits {
    use super::nondigits::{Kind, non_digits, rejected, threshold_for_coverage};
    let threshold = threshold_for_coverage(clean_tops, 0.99);
    let (images, kinds) = non_digits(NON_DIGITS, seed);
    let tops = top_probabilities(&model.predict_proba(&images, 1000), model.classes());
    let of = |k: Kind| {
        let t: Vec<f32> = tops.iter().zip(&kinds).filter(|(_, kk)| **kk == k).map(|(t, _)| *t).collect();
        rejected(&t, threshold)
    };
    NonDigits {
        count: tops.len(),
        threshold,
        rejected: rejected(&tops, threshold),
        rejected_letters: of(Kind::Letter),
        rejected_shapes: of(Kind::Shape),
        rejected_scribbles: of(Kind::Scribble),
    }
}

impl Robustness {
    /// The result as a text table.
    pub fn to_table(&self) -> String {
        let mut out = format!("{:<16} {:>8}\n", "corruption", "accuracy");
        out += &format!("{:<16} {:>8.4}\n", "clean", self.clean_accuracy);
        for s in &self.corruptions {
            out += &format!("{:<16} {:>8.4}\n", s.corruption, s.accuracy);
        }
        out += &format!(
            "mean corruption accuracy {:.4}, worst {} ({:.4}), error {:.1}× the clean error added ({} images, seed {})\n",
            self.mean_corruption_accuracy,
            self.worst.corruption,
            self.worst.accuracy,
            self.relative_error_increase,
            self.images,
            self.seed
        );
        let n = &self.non_digits;
        out += &format!(
            "non-digits answered unsure at confidence < {:.4} (which answers 99% of the clean test set): {:.1}% of {} (letters {:.1}%, shapes {:.1}%, scribbles {:.1}%)\n",
            n.threshold,
            100.0 * n.rejected,
            n.count,
            100.0 * n.rejected_letters,
            100.0 * n.rejected_shapes,
            100.0 * n.rejected_scribbles
        );
        out
    }
}

/// Several results side by side: one row per corruption (clean first), one column per run, then
/// the mean, the worst corruption, the relative error increase and the non-digits declined.
/// Results of other seeds or image counts than the first's are not comparable: the table says
/// so under them.
pub fn side_by_side(runs: &[(String, &Robustness)]) -> String {
    let width = runs.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(0).clamp(8, 24);
    let mut out = format!("{:<22}", "corruption");
    runs.iter().for_each(|(n, _)| out += &format!(" {:>width$}", truncate(n, width)));
    out.push('\n');
    let mut row = |label: &str, cell: &dyn Fn(&Robustness) -> String| {
        out += &format!("{label:<22}");
        runs.iter().for_each(|(_, r)| out += &format!(" {:>width$}", cell(r)));
        out.push('\n');
    };
    row("clean", &|r| format!("{:.4}", r.clean_accuracy));
    for (i, c) in runs.first().map_or(&[][..], |(_, r)| &r.corruptions[..]).iter().enumerate() {
        row(&c.corruption, &|r| r.corruptions.get(i).map_or("-".into(), |s| format!("{:.4}", s.accuracy)));
    }
    row("mean corruption", &|r| format!("{:.4}", r.mean_corruption_accuracy));
    row("worst", &|r| truncate(&format!("{} {:.2}", r.worst.corruption, r.worst.accuracy), width));
    row("error added (×clean)", &|r| format!("{:.1}", r.relative_error_increase));
    row("non-digits unsure", &|r| format!("{:.1}%", 100.0 * r.non_digits.rejected));
    if let Some((_, first)) = runs.first() {
        for (name, r) in &runs[1..] {
            if (r.seed, r.images) != (first.seed, first.images) {
                out += &format!(
                    "note: {name} was measured on {} images with seed {}, the first on {} with seed {}: not comparable\n",
                    r.images, r.seed, first.images, first.seed
                );
            }
        }
    }
    out
}

fn truncate(s: &str, width: usize) -> String {
    s.chars().take(width).collect()
}
