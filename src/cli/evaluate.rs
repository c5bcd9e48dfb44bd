//! `digits evaluate`: judge a trained model on the test set.

use super::common::{DataArgs, init_threads, load_run};
use digits::data::Split;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `digits train`
    #[arg(long, value_name = "RUN_DIR")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Print JSON: {"loss", "accuracy", "per_class", "confusion_matrix", ...}
    #[arg(long)]
    json: bool,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    init_threads(a.threads);
    let (_, mut net) = load_run(&a.model)?;
    let test = a.data.load(Split::Test)?;
    let e = digits::train::evaluate(&mut net, &test);
    let report = digits::eval::report(&test.labels, &e.predicted, net.outputs(), Some(e.loss));
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
