//! `digits predict`: labels and probabilities for pictures of digits, or for IDX or Kaggle CSV
//! images, and Kaggle submission files.

use super::common::{DataArgs, init_threads, load_classifier};
use anyhow::{Context, bail};
use digits::data::unlabelled::{read_images, test_images_in, write_prepared};
use digits::data::{MNIST_SIDE, csv, picture};
use digits::model::{Classifier, Classify, Predictions};
use rayon::prelude::*;
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
    #[arg(long, value_parser = super::common::at_least_1())]
    limit: Option<usize>,
    /// Print JSON lines: {"index" or "file", "label", "probabilities"} (pictures also "top3")
    #[arg(long)]
    json: bool,
    /// Answer "unsure" (JSON: label null) for an image whose top probability is below P
    /// (calibrate the model first: `digits calibrate`)
    #[arg(long, value_name = "P", value_parser = super::common::probability, conflicts_with = "submission")]
    min_confidence: Option<f32>,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

/// Image `i`'s answer as printed: its label, or `unsure` below the confidence asked for.
fn shown(predictions: &Predictions, i: usize, min: Option<f32>) -> (String, serde_json::Value) {
    match predictions.answer(i, min.unwrap_or(0.0)) {
        Some(l) => (l.to_string(), serde_json::json!(l)),
        None => ("unsure".into(), serde_json::Value::Null),
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    init_threads(a.threads)?;
    let mut model = load_classifier(&a.model)?;
    if a.pictures.is_empty() { predict_images(&a, &mut model) } else { predict_pictures(&a, &mut model) }
}

/// Every picture is tried: the usable ones are predicted (and their inputs written), each
/// unusable one is reported on stderr, and the command fails at the end if any was unusable.
fn predict_pictures(a: &Args, model: &mut Classifier) -> anyhow::Result<()> {
    let input = model.input_shape();
    if (input.h, input.w, input.c) != (MNIST_SIDE, MNIST_SIDE, 1) {
        bail!("the model expects {}x{}x{} inputs; pictures are prepared as 28x28x1", input.h, input.w, input.c);
    }
    let loaded: Vec<_> = a.pictures.par_iter().map(|p| picture::load_picture(p)).collect();
    let mut good: Vec<(&Path, Vec<f32>)> = Vec::new();
    for (path, r) in a.pictures.iter().zip(loaded) {
        match r {
            Ok(pixels) => good.push((path, pixels)),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if let Some(dir) = &a.show_input {
        write_prepared(dir, &good)?;
    }
    let x: Vec<f32> = good.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let predictions = model.predict(&x)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !a.json && !good.is_empty() {
        writeln!(out, "file\tlabel\ttop3")?;
    }
    for (i, (path, _)) in good.iter().enumerate() {
        let ((label, label_json), top3) = (shown(&predictions, i, a.min_confidence), predictions.top(i, 3));
        if a.json {
            let top: Vec<_> = top3.iter().map(|(d, p)| serde_json::json!({"digit": d, "probability": p})).collect();
            let p = predictions.row(i);
            let v = serde_json::json!({"file": path.display().to_string(), "label": label_json, "top3": top, "probabilities": p});
            writeln!(out, "{v}")?;
        } else {
            let top: Vec<String> = top3.iter().map(|(d, p)| format!("{d}:{p:.4}")).collect();
            writeln!(out, "{}\t{label}\t{}", path.display(), top.join(" "))?;
        }
    }
    out.flush()?;
    let failed = a.pictures.len() - good.len();
    if failed > 0 {
        bail!("{failed} of {} pictures could not be used (see above)", a.pictures.len());
    }
    Ok(())
}

fn predict_images(a: &Args, model: &mut Classifier) -> anyhow::Result<()> {
    let path = match &a.input {
        Some(p) => p.clone(),
        None => test_images_in(&a.data.dir())?,
    };
    let images = read_images(&path, a.limit)?;
    let want = model.input_shape();
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
    let predictions = model.predict(&images.pixels)?;
    if let Some(sub) = &a.submission {
        let labels = predictions.labels();
        csv::write_submission(sub, &labels)?;
        println!("{}: {} predictions (ImageId,Label) for {}", sub.display(), labels.len(), path.display());
        return Ok(());
    }
    print_rows(&predictions, a.json, a.min_confidence).context("writing the predictions")
}

fn print_rows(predictions: &Predictions, json: bool, min: Option<f32>) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let classes = predictions.classes;
    if !json {
        writeln!(out, "index\tlabel\t{}", (0..classes).map(|c| format!("p{c}")).collect::<Vec<_>>().join("\t"))?;
    }
    for i in 0..predictions.len() {
        let ((label, label_json), p) = (shown(predictions, i, min), predictions.row(i));
        if json {
            writeln!(out, "{}", serde_json::json!({"index": i, "label": label_json, "probabilities": p}))?;
        } else {
            let ps: Vec<String> = p.iter().map(|v| format!("{v:.4}")).collect();
            writeln!(out, "{i}\t{label}\t{}", ps.join("\t"))?;
        }
    }
    out.flush()
}
