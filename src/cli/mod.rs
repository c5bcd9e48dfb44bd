//! Command-line interface: one file per subcommand.

mod augment_preview;
mod calibrate;
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
mod robustness;
mod serve;
mod study;
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

// Every command takes negative numbers as values, so that `--lr -1` is answered by the range
// check ("--lr must be a positive number") rather than clap's "unexpected argument".
#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model (a preset or a model file) and save it in a run directory.
    #[command(allow_negative_numbers = true)]
    Train(train::Args),
    /// Evaluate a trained model on the test set: loss, accuracy, per-class metrics, confusion matrix.
    #[command(allow_negative_numbers = true)]
    Evaluate(evaluate::Args),
    /// Predict digits in pictures (PNG, JPEG, BMP, GIF, WebP), IDX or CSV images; write a Kaggle submission.
    #[command(allow_negative_numbers = true)]
    Predict(predict::Args),
    /// Stratified k-fold cross-validation: accuracy per fold, mean and standard deviation.
    #[command(allow_negative_numbers = true)]
    Cv(cv::Args),
    /// Export a trained model or ensemble for other runtimes (ONNX, for onnxruntime).
    Export(export::Args),
    /// Write the data set as Kaggle CSV or MNIST IDX files.
    #[command(allow_negative_numbers = true)]
    ExportData(export_data::Args),
    /// Draw a grid of augmented versions of a few training digits (PNG).
    #[command(allow_negative_numbers = true)]
    AugmentPreview(augment_preview::Args),
    /// Average several trained models (optionally with test-time augmentation) into one; `train`: train the members as a shared study.
    #[command(allow_negative_numbers = true)]
    Ensemble(ensemble::Args),
    /// List the preset models.
    #[command(allow_negative_numbers = true)]
    Models(models::Args),
    /// Write the HTML report of a run (model, settings, history, metrics, every chart).
    #[command(allow_negative_numbers = true)]
    Report(report::Args),
    /// Overlay the learning curves of several runs (PNG and SVG).
    #[command(allow_negative_numbers = true)]
    Compare(compare::Args),
    /// Describe the data set: counts per class, pixel statistics, sample grid and histogram.
    #[command(allow_negative_numbers = true)]
    Data(data::Args),
    /// Fit a temperature on held-out images so the model's confidence is honest; stored with the model.
    #[command(allow_negative_numbers = true)]
    Calibrate(calibrate::Args),
    /// Accuracy under MNIST-C's 15 corruptions (noise, blur, affine changes, lines, fog, edges).
    #[command(allow_negative_numbers = true)]
    Robustness(robustness::Args),
    /// Serve a trained model over HTTP: a drawing page and a JSON API (until SIGINT/SIGTERM).
    Serve(serve::Args),
    /// Search hyper-parameters (random or Hyperband) over a search-space file; resumable.
    #[command(allow_negative_numbers = true)]
    Tune(tune::Args),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

/// Parses the command line; a train's arguments also learn which flags were typed (to tell
/// `--resume RUN --seed 0` from `--resume RUN`, which the values alone cannot).
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
    let command = Cli::command();
    let matches = command.clone().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let (Command::Train(a), Some(("train", m)), Some(train)) =
        (&mut cli.command, matches.subcommand(), command.find_subcommand("train"))
    {
        // Flattened structs show up among the ids as groups: keep the arguments only.
        let typed = train.get_arguments().map(|arg| arg.get_id().as_str());
        a.typed = typed.filter(|id| m.value_source(id) == Some(ValueSource::CommandLine)).map(String::from).collect();
    }
    cli
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    common::init_kernel()?;
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
        Command::Robustness(a) => robustness::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "digits", &mut std::io::stdout());
            Ok(())
        }
    }
}
