//! `digits report`: the HTML report of a finished run, with every chart.

use super::common::{DataArgs, init_threads};
use anyhow::Context;
use digits::data::Split;
use digits::layout::RunDir;
use digits::report::{ReportOptions, write_loaded};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `digits train`, or an ensemble directory (`digits ensemble`)
    #[arg(value_name = "RUN_DIR")]
    run: PathBuf,
    /// The page to write (default: RUN_DIR/report.html); charts always go to RUN_DIR/report/
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Index of the test image whose feature maps are drawn
    #[arg(long, default_value_t = 0, value_name = "N")]
    sample: usize,
    #[command(flatten)]
    data: DataArgs,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    init_threads(a.threads)?;
    let started = Instant::now();
    // The run first: a mistyped run directory should not wait for the data to be read.
    let model = digits::model::Classifier::load(&a.run).context("loading the model")?;
    let test = a.data.load(Split::Test)?;
    let options = ReportOptions { html: a.out, sample: a.sample };
    let files = write_loaded(&a.run, model, &test, &options)
        .with_context(|| format!("writing the report of {}", a.run.display()))?;
    println!(
        "report: {} ({} charts in {}, {:.1}s)",
        files.html.display(),
        files.charts.len(),
        RunDir::new(&a.run).charts_dir().display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
