//! Training: the options a run is asked with, the fit loop and its callbacks, checkpoints, and
//! the [`Trainer`] that turns a model and a data set into a finished [`Run`] directory.

pub mod callbacks;
pub mod checkpoint;
pub mod cv;
pub mod fit;
pub mod history;
pub mod options;
pub mod ranges;
pub mod recipe;
pub mod run;
pub mod trainer;

pub use fit::{EpochDone, Event, Progress, Schedule, TrainConfig, fit, fit_from};
pub use history::{EpochRecord, History};
pub use options::TrainOptions;
pub use run::{Run, RunInfo, Scored};
pub use trainer::{RunStart, Trainer, Validation};
