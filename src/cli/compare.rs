//! `digits compare`: the learning curves of several runs on the same axes.

use anyhow::{Context, bail};
use digits::report::charts::{self, ChartFormat, CompareCurves};
use digits::train::run::read_history;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directories written by `digits train`
    #[arg(value_name = "RUN_DIR", required = true)]
    runs: Vec<PathBuf>,
    /// Directory for compare.png and compare.svg
    #[arg(long, value_name = "DIR", default_value = "compare")]
    out: PathBuf,
}

/// The legend name of a run: its directory's name.
fn run_name(dir: &Path) -> String {
    let dir = if dir.as_os_str().is_empty() || dir == Path::new(".") {
        std::env::current_dir().unwrap_or_else(|_| dir.to_path_buf())
    } else {
        dir.to_path_buf()
    };
    dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for dir in &a.runs {
        let h = read_history(dir).with_context(|| format!("reading the history of {}", dir.display()))?;
        if h.epochs.is_empty() {
            bail!("{}: the history has no epochs", dir.display());
        }
        runs.push((run_name(dir), h));
    }
    // Two runs with the same directory name (a/run, b/run) would be indistinguishable.
    for i in 0..runs.len() {
        if runs[..i].iter().any(|r| r.0 == runs[i].0) {
            runs[i].0 = a.runs[i].display().to_string();
        }
    }
    println!("{:<24} {:>6} {:>8} {:>9} {:>9} {:>9}", "run", "epochs", "loss", "accuracy", "val_loss", "val_acc");
    for (name, h) in &runs {
        let r = h.epochs.last().expect("not empty");
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        println!(
            "{:<24} {:>6} {:>8.4} {:>9.4} {:>9} {:>9}",
            name,
            r.epoch,
            r.loss,
            r.accuracy,
            opt(r.val_loss),
            opt(r.val_accuracy)
        );
    }
    let chart = CompareCurves {
        title: format!("{} runs: loss and accuracy per epoch", runs.len()),
        runs: runs.iter().map(|(n, h)| (n.clone(), h)).collect(),
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    for f in [ChartFormat::Png, ChartFormat::Svg] {
        let path = a.out.join(format!("compare.{}", f.extension()));
        charts::save(&chart, f, &path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
