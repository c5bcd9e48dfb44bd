//! `digits robustness`: a model's accuracy on the test set under MNIST-C's 15 corruptions,
//! kept beside the model as `robustness.json`.

use super::common::{DataArgs, init_threads, load_classifier};
use digits::data::Split;
use digits::eval::robustness;
use digits::layout::RunDir;
use digits::lock::DirLock;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `digits train` (or an ensemble made by `digits ensemble`)
    #[arg(value_name = "RUN_DIR")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Seed of the corruptions' randomness (noise, angles, lines)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON: {"clean_accuracy", "corruptions": [{"corruption", "accuracy"}], "mean_corruption_accuracy", ...}
    #[arg(long)]
    json: bool,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    init_threads(a.threads)?;
    let mut model = load_classifier(&a.model)?;
    let test = a.data.load(Split::Test)?;
    let quiet = a.json;
    let result = robustness(&mut model, &test, a.seed, &mut |name, accuracy| {
        if !quiet {
            eprintln!("{name}: {accuracy:.4}");
        }
    })?;
    let _lock = DirLock::acquire(&a.model)?;
    digits::atomic::write_json(&RunDir::new(&a.model).robustness_json(), &result)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", result.to_table());
        println!("kept in {}; `digits report {0}` adds a robustness section to its report", a.model.display());
    }
    Ok(())
}
