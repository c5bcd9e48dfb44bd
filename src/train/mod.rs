//! Training: the fit loop, the per-epoch history, evaluation of a network on a dataset, and
//! the run directory a finished run leaves.

pub mod callbacks;
pub mod checkpoint;
pub mod fit;
pub mod history;
pub mod recipe;
pub mod run;

pub use fit::{EpochDone, Evaluation, Event, Progress, Schedule, TrainConfig, evaluate, fit, fit_from};
pub use history::{EpochRecord, History};
