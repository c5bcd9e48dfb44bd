//! `digits report`: the HTML report of a finished run, with every chart.

use super::common::{DataArgs, init_threads, load_any};
use anyhow::Context;
use digits::data::Split;
use digits::model::ensemble::{Classifier, Model};
use digits::report::{EnsembleSummary, ReportInput, write_run};
use digits::train::run::{read_history, read_run_info};
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
    init_threads(a.threads);
    let started = Instant::now();
    let mut model = load_any(&a.run)?;
    // A run may lack its history or settings (a model saved by other means): the page says so.
    let history = read_history(&a.run).unwrap_or_default();
    let info = read_run_info(&a.run).ok();
    let test = a.data.load(Split::Test)?;
    let e = digits::train::evaluate(&mut model, &test);
    let metrics = digits::eval::Metrics::compute(&test.labels, &e.predicted, model.classes(), Some(e.loss));
    let (name, members, tta, net) = match &mut model {
        Model::Single(saved, net) => (saved.spec.display_name().to_string(), Vec::new(), 0, net),
        Model::Ensemble(file, ens) => {
            let members: Vec<_> = file
                .members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let name = file.sources.get(i).cloned().unwrap_or_else(|| format!("member {}", i + 1));
                    (name, read_history(&a.run.join(m)).unwrap_or_default())
                })
                .collect();
            (format!("ensemble of {}", members.len()), members, file.tta, &mut ens.members[0])
        }
    };
    let is_ensemble = !members.is_empty();
    let files = write_run(ReportInput {
        dir: &a.run,
        html: a.out,
        name,
        info: info.as_ref(),
        history: &history,
        metrics: &metrics,
        net,
        test: &test,
        probabilities: &e.probabilities,
        sample: a.sample,
        ensemble: is_ensemble.then_some(EnsembleSummary { members: &members, tta }),
    })
    .with_context(|| format!("writing the report of {}", a.run.display()))?;
    println!(
        "report: {} ({} charts in {}, {:.1}s)",
        files.html.display(),
        files.charts.len(),
        a.run.join(digits::layout::CHARTS_DIR).display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
