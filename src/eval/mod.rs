//! Evaluation: judges a trained model by comparing its predictions with the true labels.
//!
//! [`evaluate()`] runs a classifier over a labelled data set; [`metrics`] computes the confusion
//! matrix, per-class precision / recall / F1 and their macro and weighted averages, in the
//! manner of scikit-learn's `confusion_matrix` and `classification_report`, and renders them as
//! JSON (via serde) or as a text table. [`corruptions`] holds MNIST-C's 15 corruptions, for
//! judging a model off the clean test set.

pub mod calibration;
pub mod corruptions;
pub mod evaluation;
pub mod metrics;
pub mod nondigits;
pub mod robustness;

pub use evaluation::{Evaluation, evaluate};
pub use metrics::{Averages, ClassMetrics, Metrics, confusion_matrix};
pub use robustness::{Robustness, robustness, side_by_side};
