//! Classification metrics for a K-class classifier, following scikit-learn.
//!
//! * [`confusion_matrix`] counts (true, predicted) pairs: rows are true classes, columns are
//!   predicted classes, like `sklearn.metrics.confusion_matrix`.
//! * [`Metrics::compute`] derives per-class precision, recall, F1 and support plus macro and weighted
//!   averages, like `sklearn.metrics.classification_report`. Undefined ratios (0/0) are
//!   reported as 0, like scikit-learn's `zero_division=0`.
//! * [`Metrics::to_table`] renders everything as human-readable text; [`Metrics`] also
//!   serializes to JSON with serde.
//!
//! # Input contract
//!
//! The caller guarantees that `labels` and `predicted` have the same length and that every
//! value is below `classes`. None of these functions panic when that is violated: in debug
//! builds a mismatched length trips a `debug_assert!`, and in release builds only the first
//! `min(labels.len(), predicted.len())` pairs are used. Pairs with a label or prediction
//! `>= classes` are left out of the confusion matrix (and so out of the per-class figures),
//! but still count in `samples` and in `accuracy` (correct only if label equals prediction).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassMetrics {
    /// Class index.
    pub class: usize,
    /// True positives / predicted positives (0 when the class was never predicted).
    pub precision: f64,
    /// True positives / actual positives (0 when the class has no support).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Number of samples whose true label is this class.
    pub support: u64,
}

/// Precision, recall and F1 averaged over classes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Averages {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Everything known about a model's predictions on one data set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    /// Mean loss over the data set, if the caller computed it.
    pub loss: Option<f64>,
    /// Fraction of samples predicted correctly (0 for empty input).
    pub accuracy: f64,
    /// Number of (label, prediction) pairs evaluated.
    pub samples: u64,
    /// One entry per class, in class order.
    pub per_class: Vec<ClassMetrics>,
    /// Unweighted mean over all classes (classes without support count as zeros, as in
    /// scikit-learn when the label set is given explicitly).
    pub macro_avg: Averages,
    /// Mean over classes weighted by support.
    pub weighted_avg: Averages,
    /// `confusion_matrix[true][predicted]` counts.
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Expected calibration error of the top probability (see [`super::calibration`]), when
    /// the probabilities were known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ece: Option<f64>,
}

/// Number of pairs to use: the common length of both slices.
fn paired_len(labels: &[u8], predicted: &[u8]) -> usize {
    debug_assert_eq!(labels.len(), predicted.len(), "labels and predictions must have the same length");
    labels.len().min(predicted.len())
}

/// `num / den`, or 0 when `den` is 0 (scikit-learn's `zero_division=0`).
fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

/// Counts (true, predicted) pairs into a `classes x classes` matrix.
///
/// Rows are true classes and columns are predicted classes, so `m[t][p]` is the number of
/// samples of class `t` predicted as `p`. Pairs with a value `>= classes` are skipped; see
/// the module docs for the length contract.
pub fn confusion_matrix(labels: &[u8], predicted: &[u8], classes: usize) -> Vec<Vec<u64>> {
    let n = paired_len(labels, predicted);
    let mut matrix = vec![vec![0u64; classes]; classes];
    for (&t, &p) in labels[..n].iter().zip(&predicted[..n]) {
        let (t, p) = (usize::from(t), usize::from(p));
        if t < classes && p < classes {
            matrix[t][p] += 1;
        }
    }
    matrix
}

impl Metrics {
    /// Builds a full [`Metrics`] from true labels and predictions over `classes` classes.
    ///
    /// `loss` is carried through unchanged. See the module docs for the input contract.
    pub fn compute(labels: &[u8], predicted: &[u8], classes: usize, loss: Option<f64>) -> Metrics {
        let n = paired_len(labels, predicted);
        let matrix = confusion_matrix(&labels[..n], &predicted[..n], classes);

        let correct = labels[..n].iter().zip(&predicted[..n]).filter(|(t, p)| t == p).count();
        let accuracy = ratio(correct as f64, n as f64);

        let per_class: Vec<ClassMetrics> = (0..classes)
            .map(|c| {
                let tp = matrix[c][c] as f64;
                let support: u64 = matrix[c].iter().sum();
                let predicted_as_c: u64 = matrix.iter().map(|row| row[c]).sum();
                let precision = ratio(tp, predicted_as_c as f64);
                let recall = ratio(tp, support as f64);
                let f1 = ratio(2.0 * precision * recall, precision + recall);
                ClassMetrics { class: c, precision, recall, f1, support }
            })
            .collect();

        let macro_avg = Averages {
            precision: ratio(per_class.iter().map(|m| m.precision).sum(), classes as f64),
            recall: ratio(per_class.iter().map(|m| m.recall).sum(), classes as f64),
            f1: ratio(per_class.iter().map(|m| m.f1).sum(), classes as f64),
        };

        let total_support = per_class.iter().map(|m| m.support).sum::<u64>() as f64;
        let weighted =
            |f: fn(&ClassMetrics) -> f64| ratio(per_class.iter().map(|m| f(m) * m.support as f64).sum(), total_support);
        let weighted_avg =
            Averages { precision: weighted(|m| m.precision), recall: weighted(|m| m.recall), f1: weighted(|m| m.f1) };

        Metrics {
            loss,
            accuracy,
            samples: n as u64,
            per_class,
            macro_avg,
            weighted_avg,
            confusion_matrix: matrix,
            ece: None,
        }
    }
}

/// Label of the confusion matrix's corner cell.
const AXES: &str = "true \\ predicted";

impl Metrics {
    /// Number of correct predictions, recovered from `accuracy * samples`.
    fn correct(&self) -> u64 {
        (self.accuracy * self.samples as f64).round() as u64
    }

    /// Renders the report as text: a summary line, a scikit-learn style per-class table and
    /// the confusion matrix.
    ///
    /// ```text
    /// loss 0.0312  accuracy 0.9912 (9912/10000)
    ///
    ///              precision    recall  f1-score   support
    ///
    ///            0    0.9939    0.9959    0.9949       980
    ///          ...
    ///
    ///     accuracy                        0.9912     10000
    ///    macro avg    0.9911    0.9911    0.9911     10000
    /// weighted avg    0.9912    0.9912    0.9912     10000
    ///
    /// true \ predicted     0     1   ...
    ///                0   976     0   ...
    /// ```
    pub fn to_table(&self) -> String {
        let mut out = String::new();

        // Summary line. Writing to a String cannot fail, so the results are ignored.
        if let Some(loss) = self.loss {
            let _ = write!(out, "loss {loss:.4}  ");
        }
        let _ = write!(out, "accuracy {:.4} ({}/{})", self.accuracy, self.correct(), self.samples);
        if let Some(e) = self.ece {
            let _ = write!(out, "  ECE {e:.4}");
        }
        out.push('\n');
        out.push('\n');

        // Per-class table, laid out like sklearn's classification_report.
        const NAME: usize = 12; // width of "weighted avg"
        const COL: usize = 10;
        let total_support: u64 = self.per_class.iter().map(|m| m.support).sum();
        let _ = writeln!(
            out,
            "{:>NAME$}{:>COL$}{:>COL$}{:>COL$}{:>COL$}",
            "", "precision", "recall", "f1-score", "support"
        );
        out.push('\n');
        for m in &self.per_class {
            let _ = writeln!(
                out,
                "{:>NAME$}{:>COL$.4}{:>COL$.4}{:>COL$.4}{:>COL$}",
                m.class, m.precision, m.recall, m.f1, m.support
            );
        }
        out.push('\n');
        let _ = writeln!(
            out,
            "{:>NAME$}{:>COL$}{:>COL$}{:>COL$.4}{:>COL$}",
            "accuracy", "", "", self.accuracy, self.samples
        );
        for (name, avg) in [("macro avg", &self.macro_avg), ("weighted avg", &self.weighted_avg)] {
            let _ = writeln!(
                out,
                "{:>NAME$}{:>COL$.4}{:>COL$.4}{:>COL$.4}{:>COL$}",
                name, avg.precision, avg.recall, avg.f1, total_support
            );
        }
        out.push('\n');

        // Confusion matrix: header of predicted classes, left column of true classes.
        let classes = self.confusion_matrix.len();
        let widest_count = self.confusion_matrix.iter().flatten().map(|c| c.to_string().len()).max().unwrap_or(1);
        let widest_class = classes.saturating_sub(1).to_string().len();
        let cell = widest_count.max(widest_class) + 2;
        let left = AXES.len();
        let _ = write!(out, "{AXES:>left$}");
        for p in 0..classes {
            let _ = write!(out, "{p:>cell$}");
        }
        out.push('\n');
        for (t, row) in self.confusion_matrix.iter().enumerate() {
            let _ = write!(out, "{t:>left$}");
            for count in row {
                let _ = write!(out, "{count:>cell$}");
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-12;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!(close(actual, expected), "{what}: got {actual}, expected {expected}");
    }

    fn assert_class(m: &ClassMetrics, class: usize, p: f64, r: f64, f1: f64, support: u64) {
        assert_eq!(m.class, class);
        assert_close(m.precision, p, &format!("class {class} precision"));
        assert_close(m.recall, r, &format!("class {class} recall"));
        assert_close(m.f1, f1, &format!("class {class} f1"));
        assert_eq!(m.support, support, "class {class} support");
    }

    // labels [0,0,1,1,2,2,2], preds [0,1,1,1,2,0,2]
    const LABELS: [u8; 7] = [0, 0, 1, 1, 2, 2, 2];
    const PREDS: [u8; 7] = [0, 1, 1, 1, 2, 0, 2];

    #[test]
    fn confusion_matrix_hand_example() {
        // true 0: predicted 0, 1       -> [1, 1, 0]
        // true 1: predicted 1, 1       -> [0, 2, 0]
        // true 2: predicted 2, 0, 2    -> [1, 0, 2]
        let m = confusion_matrix(&LABELS, &PREDS, 3);
        assert_eq!(m, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 2]]);
        assert_eq!(m[2][0], 1); // a true 2 predicted as 0
        assert_eq!(m[0][1], 1); // a true 0 predicted as 1
    }

    #[test]
    fn report_hand_example() {
        let r = Metrics::compute(&LABELS, &PREDS, 3, Some(0.25));
        assert_eq!(r.loss, Some(0.25));
        assert_eq!(r.samples, 7);
        // correct: positions 0,2,3,4,6 -> 5/7
        assert_close(r.accuracy, 5.0 / 7.0, "accuracy");
        assert_eq!(r.per_class.len(), 3);
        // class 0: tp 1, predicted-as-0 = col sum 1+0+1 = 2, support 2
        //   p = 1/2, r = 1/2, f1 = 2*(1/4)/(1) = 1/2
        assert_class(&r.per_class[0], 0, 0.5, 0.5, 0.5, 2);
        // class 1: tp 2, predicted-as-1 = 1+2+0 = 3, support 2
        //   p = 2/3, r = 1, f1 = 2*(2/3)/(5/3) = 4/5
        assert_class(&r.per_class[1], 1, 2.0 / 3.0, 1.0, 0.8, 2);
        // class 2: tp 2, predicted-as-2 = 0+0+2 = 2, support 3
        //   p = 1, r = 2/3, f1 = 4/5
        assert_class(&r.per_class[2], 2, 1.0, 2.0 / 3.0, 0.8, 3);
        // macro: p = (1/2 + 2/3 + 1)/3 = (13/6)/3 = 13/18 ~ 0.7222
        //        r = (1/2 + 1 + 2/3)/3 = 13/18
        //        f1 = (0.5 + 0.8 + 0.8)/3 = 0.7
        assert_close(r.macro_avg.precision, 13.0 / 18.0, "macro precision");
        assert_close(r.macro_avg.recall, 13.0 / 18.0, "macro recall");
        assert_close(r.macro_avg.f1, 0.7, "macro f1");
        // weighted (supports 2, 2, 3; total 7):
        //   p  = (2*1/2 + 2*2/3 + 3*1)/7 = (1 + 4/3 + 3)/7 = (16/3)/7 = 16/21 ~ 0.7619
        //   r  = (2*1/2 + 2*1 + 3*2/3)/7 = (1 + 2 + 2)/7 = 5/7 (= accuracy, as always)
        //   f1 = (2*0.5 + 2*0.8 + 3*0.8)/7 = (1 + 1.6 + 2.4)/7 = 5/7
        assert_close(r.weighted_avg.precision, 16.0 / 21.0, "weighted precision");
        assert_close(r.weighted_avg.recall, 5.0 / 7.0, "weighted recall");
        assert_close(r.weighted_avg.f1, 5.0 / 7.0, "weighted f1");
        assert_eq!(r.confusion_matrix, confusion_matrix(&LABELS, &PREDS, 3));
    }

    #[test]
    fn class_never_predicted_has_zero_precision() {
        // labels [0,1,1], preds [0,0,0]: class 1 has support 2 but is never predicted.
        // class 0: tp 1, predicted 3, support 1 -> p 1/3, r 1, f1 2*(1/3)/(4/3) = 1/2
        // class 1: tp 0, predicted 0 (0/0 -> 0), support 2 -> p 0, r 0, f1 0
        let r = Metrics::compute(&[0, 1, 1], &[0, 0, 0], 2, None);
        assert_class(&r.per_class[0], 0, 1.0 / 3.0, 1.0, 0.5, 1);
        assert_class(&r.per_class[1], 1, 0.0, 0.0, 0.0, 2);
        // macro p = (1/3 + 0)/2 = 1/6, r = (1 + 0)/2 = 1/2, f1 = (1/2 + 0)/2 = 1/4
        assert_close(r.macro_avg.precision, 1.0 / 6.0, "macro precision");
        assert_close(r.macro_avg.recall, 0.5, "macro recall");
        assert_close(r.macro_avg.f1, 0.25, "macro f1");
        // weighted p = (1*1/3 + 2*0)/3 = 1/9, r = 1/3, f1 = (1*1/2)/3 = 1/6
        assert_close(r.weighted_avg.precision, 1.0 / 9.0, "weighted precision");
        assert_close(r.weighted_avg.recall, 1.0 / 3.0, "weighted recall");
        assert_close(r.weighted_avg.f1, 1.0 / 6.0, "weighted f1");
        assert!(r.per_class.iter().all(|m| m.f1.is_finite()));
    }

    #[test]
    fn class_without_support() {
        // labels [0,0], preds [0,1]: class 1 is predicted once but never occurs.
        // class 0: tp 1, predicted 1, support 2 -> p 1, r 1/2, f1 2*(1/2)/(3/2) = 2/3
        // class 1: tp 0, predicted 1 -> p 0; support 0 -> r 0 (0/0); f1 0
        let r = Metrics::compute(&[0, 0], &[0, 1], 2, None);
        assert_class(&r.per_class[0], 0, 1.0, 0.5, 2.0 / 3.0, 2);
        assert_class(&r.per_class[1], 1, 0.0, 0.0, 0.0, 0);
        // macro includes the unsupported class: p 1/2, r 1/4, f1 1/3
        assert_close(r.macro_avg.precision, 0.5, "macro precision");
        assert_close(r.macro_avg.recall, 0.25, "macro recall");
        assert_close(r.macro_avg.f1, 1.0 / 3.0, "macro f1");
        // weighted ignores it (weight 0): equals class 0's figures
        assert_close(r.weighted_avg.precision, 1.0, "weighted precision");
        assert_close(r.weighted_avg.recall, 0.5, "weighted recall");
        assert_close(r.weighted_avg.f1, 2.0 / 3.0, "weighted f1");
    }

    #[test]
    fn extra_class_absent_everywhere_is_all_zero() {
        // Same hand example over 4 classes: class 3 has neither support nor predictions.
        let r = Metrics::compute(&LABELS, &PREDS, 4, None);
        assert_class(&r.per_class[3], 3, 0.0, 0.0, 0.0, 0);
        assert_eq!(r.confusion_matrix[3], vec![0, 0, 0, 0]);
        assert!(r.confusion_matrix.iter().all(|row| row[3] == 0));
        // macro divides by 4 now: p = (13/6)/4 = 13/24, f1 = 2.1/4
        assert_close(r.macro_avg.precision, 13.0 / 24.0, "macro precision");
        assert_close(r.macro_avg.f1, 2.1 / 4.0, "macro f1");
        // weighted is unchanged
        assert_close(r.weighted_avg.precision, 16.0 / 21.0, "weighted precision");
    }

    #[test]
    fn empty_input_gives_zeros() {
        let r = Metrics::compute(&[], &[], 10, None);
        assert_eq!(r.samples, 0);
        assert_eq!(r.accuracy, 0.0);
        assert_eq!(r.per_class.len(), 10);
        assert!(r.per_class.iter().all(|m| m.precision == 0.0 && m.support == 0));
        assert_eq!(r.macro_avg, Averages { precision: 0.0, recall: 0.0, f1: 0.0 });
        assert_eq!(r.weighted_avg, Averages { precision: 0.0, recall: 0.0, f1: 0.0 });
        assert!(r.to_table().contains("accuracy 0.0000 (0/0)"));

        // No classes at all: nothing to divide by, still no NaN and no panic.
        let r = Metrics::compute(&[], &[], 0, None);
        assert!(r.per_class.is_empty() && r.confusion_matrix.is_empty());
        assert_eq!(r.macro_avg.f1, 0.0);
        let _ = r.to_table();
    }

    #[test]
    fn out_of_range_values_are_skipped() {
        // 7 is not a class of a 3-class problem: left out of the matrix, counted in samples.
        let r = Metrics::compute(&[0, 7, 1], &[0, 1, 7], 3, None);
        assert_eq!(r.samples, 3);
        assert_close(r.accuracy, 1.0 / 3.0, "accuracy");
        assert_eq!(r.confusion_matrix, vec![vec![1, 0, 0], vec![0; 3], vec![0; 3]]);
    }

    // debug_assert fires in debug builds; only exercise the truncation path in release.
    #[cfg(not(debug_assertions))]
    #[test]
    fn mismatched_lengths_use_common_prefix() {
        let r = Metrics::compute(&[0, 1, 1, 2], &[0, 1], 3, None);
        assert_eq!(r.samples, 2);
        assert_eq!(r.accuracy, 1.0);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "same length")]
    fn mismatched_lengths_debug_assert() {
        let _ = confusion_matrix(&[0, 1, 1], &[0, 1], 3);
    }

    #[test]
    fn json_field_names() {
        let r = Metrics::compute(&LABELS, &PREDS, 3, Some(0.0312));
        let v = serde_json::to_value(&r).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["accuracy", "confusion_matrix", "loss", "macro_avg", "per_class", "samples", "weighted_avg"]);
        assert_eq!(v["loss"], 0.0312);
        assert_eq!(v["samples"], 7);
        assert_eq!(v["confusion_matrix"][2][0], 1);
        assert_eq!(v["per_class"][1]["support"], 2);
        let class_keys: Vec<&String> = v["per_class"][0].as_object().unwrap().keys().collect();
        assert_eq!(class_keys.len(), 5);
        for k in ["class", "precision", "recall", "f1", "support"] {
            assert!(v["per_class"][0].get(k).is_some(), "missing per_class key {k}");
        }
        for k in ["precision", "recall", "f1"] {
            assert!(v["macro_avg"].get(k).is_some(), "missing macro_avg key {k}");
            assert!(v["weighted_avg"].get(k).is_some(), "missing weighted_avg key {k}");
        }

        // Round trip, and `loss: None` serializes as null.
        let back: Metrics = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        let none = serde_json::to_value(Metrics::compute(&LABELS, &PREDS, 3, None)).unwrap();
        assert!(none["loss"].is_null());
    }

    #[test]
    fn table_contains_expected_rows() {
        let r = Metrics::compute(&LABELS, &PREDS, 3, Some(0.0312));
        let t = r.to_table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "loss 0.0312  accuracy 0.7143 (5/7)");
        // First line (after the summary) whose leading words are `prefix`, split into words.
        let row = |prefix: &str| {
            let want: Vec<&str> = prefix.split_whitespace().collect();
            lines[1..]
                .iter()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|words| words.starts_with(&want))
                .unwrap_or_else(|| panic!("no row starting with {prefix:?} in\n{t}"))
        };
        assert_eq!(row("precision"), ["precision", "recall", "f1-score", "support"]);
        assert_eq!(row("0"), ["0", "0.5000", "0.5000", "0.5000", "2"]);
        assert_eq!(row("1"), ["1", "0.6667", "1.0000", "0.8000", "2"]);
        assert_eq!(row("2"), ["2", "1.0000", "0.6667", "0.8000", "3"]);
        assert_eq!(row("accuracy"), ["accuracy", "0.7143", "7"]);
        assert_eq!(row("macro avg"), ["macro", "avg", "0.7222", "0.7222", "0.7000", "7"]);
        assert_eq!(row("weighted avg"), ["weighted", "avg", "0.7619", "0.7143", "0.7143", "7"]);
        assert_eq!(row("true \\ predicted"), ["true", "\\", "predicted", "0", "1", "2"]);

        // Matrix rows: the lines after the axes header, right-aligned under the header.
        let header = lines.iter().position(|l| l.starts_with(AXES)).unwrap();
        let matrix: Vec<Vec<&str>> = lines[header + 1..].iter().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(matrix, [["0", "1", "1", "0"], ["1", "0", "2", "0"], ["2", "1", "0", "2"]]);
        let widths: Vec<usize> = lines[header..].iter().map(|l| l.len()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "matrix not aligned:\n{t}");

        // Without a loss the summary line starts with accuracy.
        let t = Metrics::compute(&LABELS, &PREDS, 3, None).to_table();
        assert!(t.starts_with("accuracy 0.7143 (5/7)\n"));
    }
}
