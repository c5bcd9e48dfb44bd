//! Hyper-parameter tuning: draw configurations from a search space, train each on the training
//! set and judge it on a validation split (never the test set), keep the best.
//!
//! The pieces, in the order a tuning run uses them:
//!
//! - [`space`]: the search-space file (choices, integer and float ranges, log scale,
//!   conditional parameters) and the builders that turn a configuration into a model and its
//!   training settings;
//! - [`study`]: a study from its settings to its best model: [`Study`] creates or resumes it,
//!   schedules the trials and keeps the best, reporting progress to an [`Observer`];
//! - [`search`]: random search, Hyperband ([`hyperband`] holds its bracket plan) and TPE
//!   ([`tpe`]), which say which trials are ready to run, and with which parameters, given the
//!   trials already finished;
//! - [`store`]: the [`StudyStore`] seam, where a study's settings, records and models live
//!   ([`DirStore`]: the files of a tuning directory);
//! - [`executor`]: the [`Executor`] seam, who trains the ready trials ([`Threads`]: `--jobs`
//!   trials at a time in this process);
//! - [`trial`]: one trial, trained with a checkpoint after every epoch;
//! - [`results`]: the results file every finished trial is appended to at once;
//! - [`shared`]: a study shared by workers with no chief: the [`SharedStore`] seam and the
//!   [`Worker`] that claims, trains and records trials until the study is finished, on
//!   PostgreSQL ([`pg`]) or the files of a directory ([`files`]); [`mod@export`] writes a finished
//!   shared study as a tuning directory;
//! - [`members`]: an ensemble's members as a shared study (the same workers train them), and
//!   [`members::assemble`], which writes the finished members as an ensemble directory.
//!
//! Everything random comes from the tuning seed: a trial's parameters from (seed, trial
//! number), and with TPE the results recorded before it, its training from the seed as
//! `digits train --seed` uses it. The strategies decide
//! only from recorded results, so a run that was killed and restarted makes the same choices
//! and ends with the same trials as one that was not.
//!
//! ```no_run
//! use digits::tune::{DirStore, Event, Settings, Space, Strategy, Study, Threads};
//! # fn main() -> digits::Result<()> {
//! let space = Space::from_file("examples/spaces/tiny.toml".as_ref())?;
//! let data = digits::data::Dataset::open("data/mnist")?;
//! let search = Strategy::from_name("hyperband", 0, 9, 3)?;
//! let settings = Settings::new(search, space, "data/mnist".into(), digits::engine::threads());
//! let mut study = Study::open(DirStore::new("tune-tiny"), settings)?;
//! let mut jobs = Threads::new(2, digits::engine::threads())?;
//! study.run(&data, &mut jobs, &mut |event: Event| println!("{event:?}"))?;
//! let outcome = study.finish(None)?;
//! println!("best: trial {} ({})", outcome.best.trial, outcome.best.command);
//! # Ok(())
//! # }
//! ```

pub mod executor;
pub mod export;
pub mod files;
pub mod hyperband;
pub mod members;
pub mod pg;
pub mod results;
pub mod search;
pub mod shared;
pub mod space;
pub mod store;
pub mod study;
pub mod tpe;
pub mod trial;

#[cfg(test)]
mod tests;

pub use executor::{Executor, Job, Threads, TrialData, TrialResult};
pub use export::export;
pub use files::FileStore;
pub use hyperband::Plan;
pub use members::{Assembled, MemberSetup, assemble};
pub use pg::PgStore;
pub use results::{ResultsFile, TrialRecord};
pub use search::{Strategy, Task};
pub use shared::{
    Claim, Claimed, ModelFiles, SharedStore, StudyMeta, TaskRow, TaskState, Worker, WorkerEvent, WorkerId,
};
pub use space::{Params, Space, Value, params_text};
pub use store::{BestPlace, DirStore, StudyStore};
pub use study::{BestTrial, Event, Observer, Outcome, Settings, Study, Subject};
pub use tpe::Tpe;
