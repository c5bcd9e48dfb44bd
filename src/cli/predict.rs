//! `digits predict`: labels and probabilities for IDX or Kaggle CSV images, and Kaggle
//! submission files.

use super::common::{DataArgs, init_threads, load_run};
use anyhow::{Context, bail};
use digits::data::{MNIST_SIDE, csv, idx};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `digits train`
    #[arg(long, value_name = "RUN_DIR")]
    model: PathBuf,
    /// Images: an IDX image file (raw or .gz) or a Kaggle CSV (test.csv, or train.csv whose
    /// labels are ignored); default: the test images of the data directory
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Write Kaggle's submission file (`ImageId,Label`, ids from 1) instead of printing
    #[arg(long, value_name = "FILE.csv")]
    submission: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Only the first N images
    #[arg(long)]
    limit: Option<usize>,
    /// Print JSON lines: {"index", "label", "probabilities"}
    #[arg(long)]
    json: bool,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    init_threads(a.threads);
    let (_, mut net) = load_run(&a.model)?;
    let path = match &a.input {
        Some(p) => p.clone(),
        None => {
            let dir = a.data.dir();
            ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"]
                .iter()
                .map(|n| dir.join(n))
                .find(|p| p.exists())
                .with_context(|| format!("no test images in {} (give --input FILE)", dir.display()))?
        }
    };
    let (count, rows, cols, bytes) = if csv::is_csv_path(&path) {
        let c = csv::read_csv(&path)?;
        (c.count, MNIST_SIDE, MNIST_SIDE, c.pixels)
    } else {
        let i = idx::read_idx_images(&path)?;
        (i.count, i.rows, i.cols, i.pixels)
    };
    let want = net.input;
    if rows != want.h || cols != want.w {
        bail!("{}: images are {rows}x{cols}, the model expects {}x{}", path.display(), want.h, want.w);
    }
    let n = a.limit.unwrap_or(count).min(count);
    let pixels = digits::data::scale_pixels(&bytes[..n * rows * cols]);
    let probs = net.predict(&pixels, digits::train::fit::EVAL_BATCH);
    let classes = net.outputs();
    if let Some(sub) = &a.submission {
        let labels: Vec<u8> = probs.chunks(classes).map(|p| digits::engine::loss::argmax(p) as u8).collect();
        csv::write_submission(sub, &labels)?;
        println!("{}: {} predictions (ImageId,Label) for {}", sub.display(), labels.len(), path.display());
        return Ok(());
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !a.json {
        writeln!(out, "index\tlabel\t{}", (0..classes).map(|c| format!("p{c}")).collect::<Vec<_>>().join("\t"))?;
    }
    for (i, p) in probs.chunks(classes).enumerate() {
        let label = digits::engine::loss::argmax(p);
        if a.json {
            let v = serde_json::json!({"index": i, "label": label, "probabilities": p});
            writeln!(out, "{v}")?;
        } else {
            let ps: Vec<String> = p.iter().map(|v| format!("{v:.4}")).collect();
            writeln!(out, "{i}\t{label}\t{}", ps.join("\t"))?;
        }
    }
    Ok(())
}
