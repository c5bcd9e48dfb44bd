//! digits: handwritten-digit recognition on a purpose-built CPU engine, as a library. The
//! `digits` command, and the server and tuning workers to come, are thin faces of it.
//!
//! Train a small model on 3,000 of the bundled MNIST images, evaluate it, load the saved run
//! back and predict:
//!
//! ```
//! use digits::data::{Dataset, Split};
//! use digits::model::Classifier;
//! use digits::train::{TrainOptions, Trainer};
//!
//! # fn main() -> digits::Result<()> {
//! let train = Dataset::open("data/mnist")?.first(3000);
//! let test = Dataset::open_split("data/mnist", Split::Test)?.first(1000);
//! let options = TrainOptions { model: Some("mlp-512-512-d".into()), epochs: Some(3), ..Default::default() };
//! let (model, config) = options.resolve()?;
//! let dir = tempfile::tempdir().expect("a scratch directory");
//! let run = Trainer::new(config, dir.path()).test_set(Some(test.clone())).fit(&model, &train, &mut |_| {})?;
//! println!("test accuracy after training: {:.3}", run.scored.expect("scored").accuracy);
//!
//! let mut classifier = Classifier::load(dir.path())?; // the run directory, or an ensemble's
//! let metrics = digits::eval::evaluate(&mut classifier, &test)?.metrics(&test);
//! assert!(metrics.accuracy > 0.85, "{}", metrics.to_table());
//! let predictions = classifier.predict(test.image(0))?;
//! println!("first test image: {} (top 3: {:?})", predictions.label(0), predictions.top(0, 3));
//! # Ok(())
//! # }
//! ```
//!
//! The modules follow the data flow: [`data`] reads files into data sets (IDX, Kaggle CSV,
//! pictures prepared as MNIST's digits were), [`engine`] holds the layers and losses, [`optim`]
//! updates parameters, [`model`] describes, saves and loads networks and ensembles (and the
//! [`Classifier`](model::Classifier) every consumer of a trained model uses), [`train`] joins
//! them in the fit loop and the [`Trainer`](train::Trainer) that leaves a run directory,
//! [`eval`] judges a model, and [`report`] draws charts and the HTML report. Beside them:
//! [`tune`] searches hyper-parameters through a study store and an executor (the seams for
//! other storage and other machines), [`layout`] names every file a run, an ensemble or a
//! study leaves, [`atomic`] writes them, [`input`] reads what others wrote, [`lock`] keeps one writer per directory, and [`Error`]
//! is the one error type.
//!
//! Progress reaches the caller through callbacks (`&mut dyn FnMut(Event)`, or
//! [`tune::Observer`]); the library prints nothing.
//!
//! A trained model leaves digits through [`export`]: a run or an ensemble as one ONNX model
//! that onnxruntime runs with digits' probabilities.

pub mod atomic;
pub mod data;
pub mod engine;
pub mod error;
pub mod eval;
pub mod export;
pub mod input;
pub mod layout;
pub mod lock;
pub mod model;
pub mod optim;
pub mod report;
pub mod rng;
pub mod serve;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
