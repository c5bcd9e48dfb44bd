//! Cross-entropy losses. With a softmax output they work on the logits (log-sum-exp), which is
//! exact where probabilities would underflow; on other outputs they clip probabilities to
//! [1e-7, 1 − 1e-7] as Keras does.

use crate::Error;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Integer labels.
    #[default]
    SparseCategoricalCrossentropy,
    /// One-hot (or soft) target vectors.
    CategoricalCrossentropy,
}

impl Loss {
    /// The name Keras (and `--loss`) gives it.
    pub fn name(self) -> &'static str {
        match self {
            Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
        }
    }
}

impl std::str::FromStr for Loss {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "sparse_categorical_crossentropy" | "sparse" => Ok(Loss::SparseCategoricalCrossentropy),
            "categorical_crossentropy" | "categorical" => Ok(Loss::CategoricalCrossentropy),
            _ => Err(Error::Invalid(format!(
                "unknown loss '{s}' (expected sparse_categorical_crossentropy or categorical_crossentropy)"
            ))),
        }
    }
}

/// Targets for a batch: class labels, or target distributions (`classes` values per sample).
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    Labels(&'a [u8]),
    Dense(&'a [f32]),
}

impl Targets<'_> {
    fn get(&self, i: usize, k: usize, classes: usize) -> f32 {
        match self {
            Targets::Labels(l) => (l[i] as usize == k) as u8 as f32,
            Targets::Dense(t) => t[i * classes + k],
        }
    }
}

const CLIP: f32 = 1e-7;

/// Mean cross-entropy over a batch from logits, and its gradient with respect to the logits
/// (`(softmax − target) / batch`) written into `grad` unless it is empty.
pub fn softmax_cross_entropy(logits: &[f32], targets: Targets, classes: usize, grad: &mut [f32]) -> f64 {
    let batch = logits.len() / classes;
    let mut total = 0.0f64;
    for i in 0..batch {
        let z = &logits[i * classes..(i + 1) * classes];
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = z.iter().map(|&v| ((v - max) as f64).exp()).sum();
        let lse = max as f64 + sum.ln();
        for k in 0..classes {
            let t = targets.get(i, k, classes);
            let logp = z[k] as f64 - lse;
            if t != 0.0 {
                total -= t as f64 * logp;
            }
            if !grad.is_empty() {
                grad[i * classes + k] = ((logp.exp() as f32) - t) / batch as f32;
            }
        }
    }
    total / batch.max(1) as f64
}

/// Mean cross-entropy from probabilities (Keras' `from_logits=False` on a non-softmax output),
/// with its gradient with respect to the probabilities.
pub fn probability_cross_entropy(probs: &[f32], targets: Targets, classes: usize, grad: &mut [f32]) -> f64 {
    let batch = probs.len() / classes;
    let mut total = 0.0f64;
    for i in 0..batch {
        let p = &probs[i * classes..(i + 1) * classes];
        // Keras renormalises the outputs to sum to one before the log.
        let s: f32 = p.iter().sum::<f32>().max(f32::MIN_POSITIVE);
        for k in 0..classes {
            let t = targets.get(i, k, classes);
            let q = (p[k] / s).clamp(CLIP, 1.0 - CLIP);
            total -= t as f64 * (q as f64).ln();
            if !grad.is_empty() {
                // d/dp_k of −Σ t_j log(p_j / s) = −t_k/p_k + Σt/s (ignoring the clip's flat parts).
                let tsum: f32 = (0..classes).map(|j| targets.get(i, j, classes)).sum();
                let inside = p[k] / s > CLIP && p[k] / s < 1.0 - CLIP;
                let dq = if inside { -t / p[k].max(f32::MIN_POSITIVE) } else { 0.0 };
                grad[i * classes + k] = (dq + tsum / s) / batch as f32;
            }
        }
    }
    total / batch.max(1) as f64
}

/// Number of rows whose largest value is at the target label.
pub fn correct(outputs: &[f32], labels: &[u8], classes: usize) -> usize {
    outputs.chunks(classes).zip(labels).filter(|(o, l)| argmax(o) == **l as usize).count()
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value_and_stability() {
        // Uniform logits over 10 classes: loss ln 10.
        let l = softmax_cross_entropy(&[0.0; 10], Targets::Labels(&[3]), 10, &mut []);
        assert!((l - 10f64.ln()).abs() < 1e-9);
        // Logits far apart: the probability of the target underflows in f32, the loss does not.
        let mut z = [0.0f32; 10];
        z[0] = 200.0;
        let l = softmax_cross_entropy(&z, Targets::Labels(&[1]), 10, &mut []);
        assert!((l - 200.0).abs() < 1e-3, "{l}");
    }
}
