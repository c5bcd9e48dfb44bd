//! `digits calibrate`: fit the temperature that makes a model's confidence honest, on images
//! it was not trained on, and store it with the model.

use super::common::{DataArgs, init_threads};
use digits::data::Split;
use digits::model::calibrate;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `digits train` (or an ensemble made by `digits ensemble`)
    #[arg(value_name = "RUN_DIR")]
    model: PathBuf,
    /// Labelled images the model never saw (an MNIST directory's training files, a CSV file or
    /// a picture folder, used whole); default: the validation split the run held out
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    init_threads(a.threads)?;
    let (held_out, fitted_on) = match &a.data {
        Some(p) => {
            let data = DataArgs { data: Some(p.clone()) }.load(Split::Train)?;
            let what = format!("{} ({} images)", p.display(), data.len());
            (data, what)
        }
        None => super::train::held_out(&a.model)?,
    };
    let c = calibrate(&a.model, &held_out, &fitted_on)?;
    println!(
        "{}: temperature {:.3} fitted on {}: NLL {:.4} → {:.4}, ECE {:.4} → {:.4}; applied from now on by predict, evaluate, report and serve",
        a.model.display(),
        c.temperature,
        c.fitted_on,
        c.nll_before,
        c.nll_after,
        c.ece_before,
        c.ece_after
    );
    Ok(())
}
