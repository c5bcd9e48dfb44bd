//! `digits data`: what the data set holds, as a table (or JSON), and its pictures.

use super::common::DataArgs;
use digits::data::{NUM_CLASSES, Split};
use digits::report::data_view::{summarize, summary_table, write_data_views};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Directory for the pictures (samples.png, pixel-histogram.png, and their SVGs)
    #[arg(long, value_name = "DIR", default_value = "data-views")]
    out: PathBuf,
    /// Print JSON: [{"name", "samples", "class_counts", "pixel_mean", ...}, ...]
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let train = a.data.load(Split::Train)?;
    let test = a.data.load(Split::Test)?;
    let sets = [summarize("train", &train, NUM_CLASSES), summarize("test", &test, NUM_CLASSES)];
    let files = write_data_views(&a.out, &[("train", &train), ("test", &test)], NUM_CLASSES)?;
    if a.json {
        let mut v = serde_json::to_value(&sets)?;
        v = serde_json::json!({ "sets": v, "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>() });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", summary_table(&sets));
        for f in &files {
            println!("wrote {}", f.display());
        }
    }
    Ok(())
}
