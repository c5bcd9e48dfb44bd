//! Training: the fit loop, the per-epoch history, evaluation of a network on a dataset, and
//! the run directory a finished run leaves.

pub mod fit;
pub mod history;
pub mod run;

pub use fit::{Evaluation, Event, Schedule, TrainConfig, evaluate, fit};
pub use history::{EpochRecord, History};
