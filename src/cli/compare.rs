//! `digits compare`: the learning curves of several runs on the same axes, and their
//! robustness side by side when `digits robustness` measured it.

use anyhow::{Context, bail};
use digits::eval::{Robustness, side_by_side};
use digits::report::charts::{self, Chart, ChartFormat, CompareCurves, RobustnessBars};
use digits::train::History;
use digits::train::run::{read_history, read_robustness};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directories written by `digits train` (or ensembles, for their robustness)
    #[arg(value_name = "RUN_DIR", required = true)]
    runs: Vec<PathBuf>,
    /// Directory for compare.png/svg (and robustness.png/svg)
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

/// What one directory holds to compare.
struct Compared {
    name: String,
    history: History,
    robustness: Option<Robustness>,
}

fn read_all(dirs: &[PathBuf]) -> anyhow::Result<Vec<Compared>> {
    let mut runs = Vec::new();
    for dir in dirs {
        let history = read_history(dir).with_context(|| format!("reading the history of {}", dir.display()))?;
        let robustness =
            read_robustness(dir).with_context(|| format!("reading the robustness of {}", dir.display()))?;
        if history.epochs.is_empty() && robustness.is_none() {
            bail!("{}: no history and no robustness.json to compare", dir.display());
        }
        runs.push(Compared { name: run_name(dir), history, robustness });
    }
    // Two runs with the same directory name (a/run, b/run) would be indistinguishable.
    for i in 0..runs.len() {
        if runs[..i].iter().any(|r| r.name == runs[i].name) {
            runs[i].name = dirs[i].display().to_string();
        }
    }
    Ok(runs)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let runs = read_all(&a.runs)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let trained: Vec<(String, &History)> =
        runs.iter().filter(|r| !r.history.epochs.is_empty()).map(|r| (r.name.clone(), &r.history)).collect();
    if !trained.is_empty() {
        print_histories(&trained);
        let title = format!("{} runs: loss and accuracy per epoch", trained.len());
        save(&CompareCurves { title, runs: trained }, &a.out, "compare")?;
    }
    let measured: Vec<(String, &Robustness)> =
        runs.iter().filter_map(|r| r.robustness.as_ref().map(|rob| (r.name.clone(), rob))).collect();
    if !measured.is_empty() {
        print!("\n{}", side_by_side(&measured));
        let title = format!("{} runs: accuracy under MNIST-C's corruptions", measured.len());
        save(&RobustnessBars { title, runs: measured }, &a.out, "robustness")?;
    }
    Ok(())
}

fn print_histories(runs: &[(String, &History)]) {
    println!("{:<24} {:>6} {:>8} {:>9} {:>9} {:>9}", "run", "epochs", "loss", "accuracy", "val_loss", "val_acc");
    for (name, h) in runs {
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
}

/// Writes `chart` as `name`.png and `name`.svg into `out`.
fn save(chart: &impl Chart, out: &Path, name: &str) -> anyhow::Result<()> {
    for f in [ChartFormat::Png, ChartFormat::Svg] {
        let path = out.join(format!("{name}.{}", f.extension()));
        charts::save(chart, f, &path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
