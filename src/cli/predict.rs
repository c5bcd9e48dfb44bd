//! `digits predict`: labels and probabilities for IDX images.

use super::common::{DataArgs, init_threads, load_run};
use anyhow::{Context, bail};
use digits::data::idx;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `digits train`
    #[arg(long, value_name = "RUN_DIR")]
    model: PathBuf,
    /// IDX image file (raw or .gz); default: the test images of the data directory
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
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
    let images = idx::read_idx_images(&path)?;
    let want = net.input;
    if images.rows != want.h || images.cols != want.w {
        bail!(
            "{}: images are {}x{}, the model expects {}x{}",
            path.display(),
            images.rows,
            images.cols,
            want.h,
            want.w
        );
    }
    let n = a.limit.unwrap_or(images.count).min(images.count);
    let pixels = digits::data::scale_pixels(&images.pixels[..n * images.rows * images.cols]);
    let probs = net.predict(&pixels, digits::train::fit::EVAL_BATCH);
    let classes = net.outputs();
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
