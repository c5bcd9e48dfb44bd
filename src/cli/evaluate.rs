//! `digits evaluate`: judge a trained model on the test set.

use super::common::{DataArgs, init_threads, load_classifier};
use digits::data::Split;
use digits::eval::evaluate;
use digits::model::classifier::BATCH;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `digits train` (or an ensemble made by `digits ensemble`)
    #[arg(long, value_name = "RUN_DIR")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Print JSON: {"loss", "accuracy", "per_class", "confusion_matrix", ...}
    #[arg(long)]
    json: bool,
    /// Time inference this many times and report the fastest (for benchmarks)
    #[arg(long, default_value_t = 1, value_name = "N")]
    repeat: usize,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

/// Most timing passes `--repeat` asks for.
const MAX_REPEAT: usize = 1000;

pub fn run(a: Args) -> anyhow::Result<()> {
    init_threads(a.threads)?;
    if !(1..=MAX_REPEAT).contains(&a.repeat) {
        anyhow::bail!("--repeat must be 1 to {MAX_REPEAT}, got {}", a.repeat);
    }
    let mut model = load_classifier(&a.model)?;
    let test = a.data.load(Split::Test)?;
    // Warm the workspaces once (and check the model against the data) so the timing is of
    // steady-state inference.
    let first: Vec<usize> = (0..test.len().min(BATCH)).collect();
    evaluate(&mut model, &test.subset(&first))?;
    let mut seconds = f64::INFINITY;
    let mut e = None;
    for _ in 0..a.repeat {
        let start = std::time::Instant::now();
        e = Some(evaluate(&mut model, &test)?);
        seconds = seconds.min(start.elapsed().as_secs_f64());
    }
    let e = e.expect("at least one pass");
    let metrics = e.metrics(&test);
    if a.json {
        let mut v = serde_json::to_value(&metrics)?;
        v["inference_seconds"] = serde_json::json!(seconds);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", metrics.to_table());
        println!(
            "inference: {} images in {:.3} s ({:.1} µs/image)",
            test.len(),
            seconds,
            seconds * 1e6 / test.len().max(1) as f64
        );
    }
    Ok(())
}
