//! digits: handwritten-digit recognition on a purpose-built CPU engine.
//!
//! The modules follow the data flow: [`data`] reads files into batches, [`engine`] holds the
//! layers and losses, [`optim`] updates parameters, [`model`] describes and saves networks,
//! [`train`] joins them in the fit loop, and [`eval`] judges a model.

pub mod atomic;
pub mod data;
pub mod engine;
pub mod error;
pub mod eval;
pub mod layout;
pub mod model;
pub mod optim;
pub mod report;
pub mod rng;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
