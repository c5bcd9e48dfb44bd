//! `digits predict`: labels and probabilities for pictures of digits, or for IDX or Kaggle CSV
//! images, and Kaggle submission files.

use super::common::{DataArgs, init_threads, load_any};
use anyhow::{Context, bail};
use digits::data::{MNIST_SIDE, csv, idx, picture};
use digits::model::ensemble::{Classifier, Model};
use rayon::prelude::*;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `digits train` (or an ensemble made by `digits ensemble`)
    #[arg(long, value_name = "RUN_DIR")]
    model: PathBuf,
    /// Pictures of single digits (PNG, JPEG, BMP, GIF, WebP; any size, dark ink on light paper
    /// or light on dark), each prepared as MNIST's digits were
    #[arg(value_name = "PICTURE", conflicts_with_all = ["input", "limit"])]
    pictures: Vec<PathBuf>,
    /// Write the 28×28 image the model saw for each picture to DIR/<name>.png
    #[arg(long, value_name = "DIR", requires = "pictures")]
    show_input: Option<PathBuf>,
    /// Images: an IDX image file (raw or .gz) or a Kaggle CSV (test.csv, or train.csv whose
    /// labels are ignored); default: the test images of the data directory
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Write Kaggle's submission file (`ImageId,Label`, ids from 1) instead of printing
    #[arg(long, value_name = "FILE.csv", conflicts_with = "pictures")]
    submission: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Only the first N images (IDX)
    #[arg(long)]
    limit: Option<usize>,
    /// Print JSON lines: {"index" or "file", "label", "probabilities"} (pictures also "top3")
    #[arg(long)]
    json: bool,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    init_threads(a.threads);
    let mut net = load_any(&a.model)?;
    if a.pictures.is_empty() { predict_idx(&a, &mut net) } else { predict_pictures(&a, &mut net) }
}

/// Every picture is tried: the usable ones are predicted (and their inputs written), each
/// unusable one is reported on stderr, and the command fails at the end if any was unusable.
fn predict_pictures(a: &Args, net: &mut Model) -> anyhow::Result<()> {
    let input = net.input_shape();
    if (input.h, input.w, input.c) != (MNIST_SIDE, MNIST_SIDE, 1) {
        bail!("the model expects {}x{}x{} inputs; pictures are prepared as 28x28x1", input.h, input.w, input.c);
    }
    let loaded: Vec<_> = a.pictures.par_iter().map(|p| picture::load_picture(p)).collect();
    let mut good: Vec<(&Path, Vec<f32>)> = Vec::new();
    let mut failed = 0;
    for (path, r) in a.pictures.iter().zip(loaded) {
        match r {
            Ok(pixels) => good.push((path, pixels)),
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    if let Some(dir) = &a.show_input {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut taken: HashMap<String, usize> = HashMap::new();
        for (path, pixels) in &good {
            let stem = path.file_stem().map_or("picture".into(), |s| s.to_string_lossy().into_owned());
            // Two pictures with the same name in different folders must not overwrite each other.
            let n = taken.entry(stem.clone()).or_insert(0);
            *n += 1;
            let name = if *n == 1 { format!("{stem}.png") } else { format!("{stem}-{n}.png") };
            let out = dir.join(name);
            digits::atomic::write(&out, &picture::encode_png(pixels, MNIST_SIDE))
                .with_context(|| format!("writing {}", out.display()))?;
        }
    }
    let x: Vec<f32> = good.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let probs = net.predict_proba(&x, digits::train::fit::EVAL_BATCH);
    let classes = net.classes();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !a.json && !good.is_empty() {
        writeln!(out, "file\tlabel\ttop3")?;
    }
    for ((path, _), p) in good.iter().zip(probs.chunks(classes)) {
        let label = digits::engine::loss::argmax(p);
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&i, &j| p[j].total_cmp(&p[i]).then(i.cmp(&j)));
        let top3 = &order[..3.min(classes)];
        if a.json {
            let top: Vec<_> = top3.iter().map(|&d| serde_json::json!({"digit": d, "probability": p[d]})).collect();
            let v = serde_json::json!({"file": path.display().to_string(), "label": label, "top3": top, "probabilities": p});
            writeln!(out, "{v}")?;
        } else {
            let top: Vec<String> = top3.iter().map(|&d| format!("{d}:{:.4}", p[d])).collect();
            writeln!(out, "{}\t{label}\t{}", path.display(), top.join(" "))?;
        }
    }
    out.flush()?;
    if failed > 0 {
        bail!("{failed} of {} pictures could not be used (see above)", a.pictures.len());
    }
    Ok(())
}

fn predict_idx(a: &Args, net: &mut Model) -> anyhow::Result<()> {
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
    let want = net.input_shape();
    if rows != want.h || cols != want.w {
        bail!("{}: images are {rows}x{cols}, the model expects {}x{}", path.display(), want.h, want.w);
    }
    let n = a.limit.unwrap_or(count).min(count);
    let pixels = digits::data::scale_pixels(&bytes[..n * rows * cols]);
    let probs = net.predict_proba(&pixels, digits::train::fit::EVAL_BATCH);
    let classes = net.classes();
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
