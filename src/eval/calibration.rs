//! Whether a model's confidence means what it says: the reliability of its top probability
//! (bins of confidence against the accuracy within them), the expected calibration error (ECE,
//! Guo et al. 2017, 15 equal-width bins), and temperature scaling, the one-parameter fix:
//! probabilities `softmax(ln p / T)` with `T` fitted on held-out images by minimising the
//! negative log-likelihood. Working from the probabilities (not logits) lets the same code
//! calibrate a single model and an averaged ensemble.

use serde::{Deserialize, Serialize};

/// Bins of the reliability diagram and the ECE.
pub const BINS: usize = 15;
/// The range searched for the temperature.
pub const TEMPERATURE_RANGE: (f64, f64) = (0.05, 20.0);

/// One bin of confidences `(lo, hi]`: how many predictions fell in it, their mean confidence
/// and the fraction of them that were right.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: u64,
    pub confidence: f64,
    pub accuracy: f64,
}

/// The top probability and whether its class is the label, for each row of `probabilities`
/// (`labels.len() × classes`).
pub fn tops<'a>(probabilities: &'a [f32], labels: &'a [u8], classes: usize) -> impl Iterator<Item = (f64, bool)> + 'a {
    probabilities.chunks_exact(classes).zip(labels).map(|(row, &label)| {
        let best = crate::engine::loss::argmax(row);
        (row[best] as f64, best == label as usize)
    })
}

/// The reliability diagram's [`BINS`] bins.
pub fn reliability(probabilities: &[f32], labels: &[u8], classes: usize) -> Vec<Bin> {
    let mut sums = vec![(0u64, 0.0f64, 0u64); BINS];
    for (p, right) in tops(probabilities, labels, classes) {
        let b = ((p * BINS as f64).ceil() as usize).clamp(1, BINS) - 1;
        sums[b].0 += 1;
        sums[b].1 += p;
        sums[b].2 += right as u64;
    }
    sums.iter()
        .enumerate()
        .map(|(b, &(count, conf, right))| Bin {
            lo: b as f64 / BINS as f64,
            hi: (b + 1) as f64 / BINS as f64,
            count,
            confidence: if count > 0 { conf / count as f64 } else { 0.0 },
            accuracy: if count > 0 { right as f64 / count as f64 } else { 0.0 },
        })
        .collect()
}

/// Expected calibration error: the bins' |accuracy − confidence|, weighted by their share of
/// the predictions.
pub fn ece(probabilities: &[f32], labels: &[u8], classes: usize) -> f64 {
    let n = labels.len().max(1) as f64;
    reliability(probabilities, labels, classes)
        .iter()
        .map(|b| b.count as f64 / n * (b.accuracy - b.confidence).abs())
        .sum()
}

/// Mean negative log-likelihood of the labels.
pub fn nll(probabilities: &[f32], labels: &[u8], classes: usize) -> f64 {
    let n = labels.len().max(1) as f64;
    probabilities
        .chunks_exact(classes)
        .zip(labels)
        .map(|(row, &l)| -(row[l as usize].max(1e-30) as f64).ln())
        .sum::<f64>()
        / n
}

/// `probabilities` at temperature `t`: each row `softmax(ln p / t)` (above 1 softens, below 1
/// sharpens; 1 leaves them as they are).
pub fn with_temperature(probabilities: &[f32], classes: usize, t: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(probabilities.len());
    for row in probabilities.chunks_exact(classes) {
        let logits: Vec<f64> = row.iter().map(|&p| (p.max(1e-30) as f64).ln() / t).collect();
        let max = logits.iter().copied().fold(f64::MIN, f64::max);
        let exps: Vec<f64> = logits.iter().map(|z| (z - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        out.extend(exps.iter().map(|e| (e / sum) as f32));
    }
    out
}

/// The temperature that minimises the negative log-likelihood of `labels`, by golden-section
/// search on ln T over [`TEMPERATURE_RANGE`] (the likelihood is unimodal in T).
pub fn fit_temperature(probabilities: &[f32], labels: &[u8], classes: usize) -> f64 {
    let loss = |ln_t: f64| nll(&with_temperature(probabilities, classes, ln_t.exp()), labels, classes);
    let (mut a, mut b) = (TEMPERATURE_RANGE.0.ln(), TEMPERATURE_RANGE.1.ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (loss(c), loss(d));
    for _ in 0..60 {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - g * (b - a);
            fc = loss(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + g * (b - a);
            fd = loss(d);
        }
    }
    ((a + b) / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_of_a_known_toy_case() {
        // Four predictions at confidence 0.9 (the 14th bin), three right: |0.75 − 0.9|; two at
        // 0.6 (0.6f32 is a hair above 0.6: the 10th bin), both right: |1 − 0.6|.
        // ECE = 4/6·0.15 + 2/6·0.4.
        let probs = [[0.9f32, 0.1], [0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]];
        let flat: Vec<f32> = probs.iter().flatten().copied().collect();
        let labels = [0u8, 0, 1, 1, 0, 1];
        let e = ece(&flat, &labels, 2);
        assert!((e - (4.0 / 6.0 * 0.15 + 2.0 / 6.0 * 0.4)).abs() < 1e-6, "{e}");
        let bins = reliability(&flat, &labels, 2);
        assert_eq!((bins[13].count, bins[9].count), (4, 2));
        assert!((bins[13].accuracy - 0.75).abs() < 1e-12);
        // Perfectly calibrated: confidence 1 and always right.
        assert_eq!(ece(&[1.0, 0.0, 0.0, 1.0], &[0, 1], 2), 0.0);
    }

    #[test]
    fn temperature_one_is_the_identity_and_the_fit_lowers_the_nll() {
        let probs: Vec<f32> = vec![0.7, 0.2, 0.1, 0.2, 0.5, 0.3];
        let same = with_temperature(&probs, 3, 1.0);
        assert!(probs.iter().zip(&same).all(|(a, b)| (a - b).abs() < 1e-6));
        // An overconfident model: 99% sure, right only 70% of the time.
        let mut flat = Vec::new();
        let mut labels = Vec::new();
        for i in 0..100 {
            flat.extend([0.99f32, 0.01]);
            labels.push(if i % 10 < 7 { 0u8 } else { 1 });
        }
        let t = fit_temperature(&flat, &labels, 2);
        assert!(t > 1.0, "an overconfident model is softened: T = {t}");
        let after = with_temperature(&flat, 2, t);
        assert!(nll(&after, &labels, 2) < nll(&flat, &labels, 2));
        assert!((after[0] - 0.7).abs() < 0.01, "the confidence becomes the accuracy: {}", after[0]);
        assert!(ece(&after, &labels, 2) < ece(&flat, &labels, 2));
    }
}
