//! Command-line interface: one file per subcommand.

mod augment_preview;
mod common;
mod compare;
mod cv;
mod data;
mod ensemble;
mod evaluate;
mod export;
mod export_data;
mod models;
mod options;
mod predict;
mod progress;
mod report;
mod train;
mod tune;

use clap::{CommandFactory, Parser, Subcommand};

/// Handwritten-digit recognition: train, evaluate and use digit classifiers on MNIST.
#[derive(Parser, Debug)]
#[command(name = "digits", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model (a preset or a model file) and save it in a run directory.
    Train(train::Args),
    /// Evaluate a trained model on the test set: loss, accuracy, per-class metrics, confusion matrix.
    Evaluate(evaluate::Args),
    /// Predict digits in pictures (PNG, JPEG, BMP, GIF, WebP), IDX or CSV images; write a Kaggle submission.
    Predict(predict::Args),
    /// Stratified k-fold cross-validation: accuracy per fold, mean and standard deviation.
    Cv(cv::Args),
    /// Export a trained model or ensemble for other runtimes (ONNX, for onnxruntime).
    Export(export::Args),
    /// Write the data set as Kaggle CSV or MNIST IDX files.
    ExportData(export_data::Args),
    /// Draw a grid of augmented versions of a few training digits (PNG).
    AugmentPreview(augment_preview::Args),
    /// Average several trained models (optionally with test-time augmentation) into one.
    Ensemble(ensemble::Args),
    /// List the preset models.
    Models(models::Args),
    /// Write the HTML report of a run (model, settings, history, metrics, every chart).
    Report(report::Args),
    /// Overlay the learning curves of several runs (PNG and SVG).
    Compare(compare::Args),
    /// Describe the data set: counts per class, pixel statistics, sample grid and histogram.
    Data(data::Args),
    /// Search hyper-parameters (random or Hyperband) over a search-space file; resumable.
    Tune(tune::Args),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(a) => train::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Models(a) => models::run(a),
        Command::Cv(a) => cv::run(a),
        Command::Ensemble(a) => ensemble::run(a),
        Command::AugmentPreview(a) => augment_preview::run(a),
        Command::Export(a) => export::run(a),
        Command::ExportData(a) => export_data::run(a),
        Command::Report(a) => report::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Data(a) => data::run(a),
        Command::Tune(a) => tune::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "digits", &mut std::io::stdout());
            Ok(())
        }
    }
}
