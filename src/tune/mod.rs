//! Hyper-parameter tuning: draw configurations from a search space, train each on the training
//! set and judge it on a validation split (never the test set), keep the best.
//!
//! The pieces, in the order a tuning run uses them:
//!
//! - [`space`]: the search-space file (choices, integer and float ranges, log scale,
//!   conditional parameters) and the builders that turn a configuration into a model and its
//!   training settings;
//! - [`search`]: random search and Hyperband ([`hyperband`] holds its bracket plan), which say
//!   which trials are ready to run given the trials already finished;
//! - [`trial`]: one trial, trained with a checkpoint after every epoch;
//! - [`results`]: the results file every finished trial is appended to at once.
//!
//! Everything random comes from the tuning seed: a trial's parameters from (seed, trial
//! number), its training from the seed as `digits train --seed` uses it. The strategies decide
//! only from recorded results, so a run that was killed and restarted makes the same choices
//! and ends with the same trials as one that was not.

pub mod hyperband;
pub mod results;
pub mod search;
pub mod space;
pub mod trial;

pub use hyperband::Plan;
pub use results::{ResultsFile, TrialRecord};
pub use search::{Strategy, Task};
pub use space::{Params, Space, Value};
