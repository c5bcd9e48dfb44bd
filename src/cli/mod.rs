//! Command-line interface: one file per subcommand.

mod common;
mod evaluate;
mod models;
mod predict;
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
    /// Predict digits in pictures (PNG, JPEG, BMP, GIF, WebP) or IDX images with a trained model.
    Predict(predict::Args),
    /// List the preset models.
    Models(models::Args),
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
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "digits", &mut std::io::stdout());
            Ok(())
        }
    }
}
