//! `digits export-data`: write a loaded data set as Kaggle CSV or as MNIST IDX files.

use super::common::DataArgs;
use anyhow::Context;
use digits::data::{Split, csv, idx, unscale_pixels};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// csv (train.csv and test.csv, both with the label column) or idx (MNIST's four files)
    #[arg(long, value_parser = ["csv", "idx"])]
    format: String,
    /// Directory to write into (created if needed)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Compress the files (.gz)
    #[arg(long)]
    gzip: bool,
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let splits: &[Split] =
        if a.data.source().has_test_split() { &[Split::Train, Split::Test] } else { &[Split::Train] };
    let gz = if a.gzip { ".gz" } else { "" };
    for &split in splits {
        let set = a.data.load(split)?;
        let pixels = unscale_pixels(&set.images);
        let written = match a.format.as_str() {
            "csv" => {
                let path = a.out.join(format!("{}.csv{gz}", split.name()));
                csv::write_csv(&path, &pixels, Some(&set.labels))?;
                vec![path]
            }
            _ => {
                let prefix = split.file_prefix();
                let images = a.out.join(format!("{prefix}-images-idx3-ubyte{gz}"));
                let labels = a.out.join(format!("{prefix}-labels-idx1-ubyte{gz}"));
                let imgs = idx::IdxImages { count: set.len(), rows: set.rows, cols: set.cols, pixels };
                idx::write_idx_images(&images, &imgs)?;
                idx::write_idx_labels(&labels, &set.labels)?;
                vec![images, labels]
            }
        };
        for p in written {
            println!("{}: {} images ({split})", p.display(), set.len());
        }
    }
    Ok(())
}
