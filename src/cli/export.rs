//! `digits export`: a trained run or ensemble as a model file for other runtimes (ONNX).

use anyhow::Context;
use digits::export::{OnnxOptions, export_dir, onnx};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `digits train` (or `tune`'s best/), or an ensemble directory
    #[arg(value_name = "RUN|ENSEMBLE")]
    model: PathBuf,
    /// The format to write
    #[arg(long, value_parser = ["onnx"])]
    format: String,
    /// The file to write (replaced if it exists)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// ONNX opset, 13 to 21: 17 (IR version 8) by default, 13 for older runtimes
    #[arg(long, default_value_t = onnx::DEFAULT_OPSET, value_name = "N")]
    opset: i64,
    /// Print the graph's nodes (name, operator, output shape, attributes)
    #[arg(long)]
    print: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    debug_assert_eq!(a.format, "onnx");
    let model = export_dir(&a.model, &OnnxOptions { opset: a.opset, ..Default::default() })
        .with_context(|| format!("exporting {}", a.model.display()))?;
    model.write(&a.out)?;
    if a.print {
        print!("{}", model.node_list());
    }
    println!("{}: {}", a.out.display(), model.summary());
    for note in &model.notes {
        println!("note: {note}");
    }
    Ok(())
}
