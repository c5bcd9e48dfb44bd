//! `digits ensemble`: average several trained models into one that `evaluate` and `predict`
//! accept.

use anyhow::Context;
use digits::model::ensemble::{save_ensemble, tta_default};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directories of the members (same input shape and classes)
    #[arg(required = true, value_name = "RUN_DIR")]
    runs: Vec<PathBuf>,
    /// Directory to write the ensemble into (a new or empty one, not a run directory)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace the ensemble already in the --out directory
    #[arg(long)]
    overwrite: bool,
    /// Also average over N test-time augmented copies of each image (small rotations, shifts, zoom)
    #[arg(long, value_name = "N", default_value_t = 0)]
    tta: usize,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    save_ensemble(&a.out, &a.runs, a.tta, tta_default(), a.overwrite)
        .with_context(|| format!("making the ensemble in {}", a.out.display()))?;
    println!(
        "{}: ensemble of {} models{}",
        a.out.display(),
        a.runs.len(),
        if a.tta > 0 {
            format!(", averaged over the original and {} augmented copies of each image", a.tta)
        } else {
            String::new()
        }
    );
    Ok(())
}
