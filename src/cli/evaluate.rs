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
    // Warm the workspaces once so the timing is of steady-state inference.
    net.predict(
        &test.images[..test.images.len().min(digits::train::fit::EVAL_BATCH * net.input.len())],
        digits::train::fit::EVAL_BATCH,
    );
    let start = std::time::Instant::now();
    let e = digits::train::evaluate(&mut net, &test);
    let seconds = start.elapsed().as_secs_f64();
    let report = digits::eval::report(&test.labels, &e.predicted, net.outputs(), Some(e.loss));
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["inference_seconds"] = serde_json::json!(seconds);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", report.to_table());
        println!(
            "inference: {} images in {:.3} s ({:.1} µs/image)",
            test.len(),
            seconds,
            seconds * 1e6 / test.len().max(1) as f64
        );
    }
    Ok(())
}
