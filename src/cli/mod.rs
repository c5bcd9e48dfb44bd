//! Command-line interface: one file per subcommand.

mod common;
mod compare;
mod data;
mod evaluate;
mod models;
mod predict;
mod report;
mod train;

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
    /// Predict digits for IDX images with a trained model.
    Predict(predict::Args),
    /// List the preset models.
    Models(models::Args),
    /// Write the HTML report of a run (model, settings, history, metrics, every chart).
    Report(report::Args),
    /// Overlay the learning curves of several runs (PNG and SVG).
    Compare(compare::Args),
    /// Describe the data set: counts per class, pixel statistics, sample grid and histogram.
    Data(data::Args),
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
        Command::Report(a) => report::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Data(a) => data::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "digits", &mut std::io::stdout());
            Ok(())
        }
    }
}
