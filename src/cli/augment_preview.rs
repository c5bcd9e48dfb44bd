//! `digits augment-preview`: a grid of augmented versions of a few training digits, to see
//! what the augmentation flags do before training with them.

use super::common::DataArgs;
use super::options::AugmentArgs;
use anyhow::Context;
use digits::data::Split;
use digits::data::augment::AugmentConfig;
use digits::report::augment_preview::{PreviewGrid, augment_preview};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    augment: AugmentArgs,
    /// Digits to show (one row each, the first training images of distinct classes first)
    #[arg(long, default_value_t = 6, value_parser = super::common::between(1, 10))]
    rows: usize,
    /// Augmented versions per digit (after the original in the first column)
    #[arg(long, default_value_t = 8, value_parser = super::common::between(1, 32))]
    columns: usize,
    /// Pixels per image pixel
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    scale: u32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// PNG file to write
    #[arg(long, value_name = "FILE.png", default_value = "augment-preview.png")]
    out: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut cfg = a.augment.overrides().apply(AugmentConfig::default())?;
    if !cfg.is_active() {
        cfg = AugmentConfig::notebook(); // with no flags, show the notebook's augmentation
    }
    let train = a.data.load(Split::Train)?;
    let grid = PreviewGrid { rows: a.rows, columns: a.columns, scale: a.scale, seed: a.seed };
    let (png, digits) = augment_preview(&train, &cfg, &grid)?;
    digits::atomic::write(&a.out, &png).with_context(|| format!("writing {}", a.out.display()))?;
    let elastic = if cfg.elastic_alpha > 0.0 {
        format!("alpha {} sigma {}", cfg.elastic_alpha, cfg.elastic_sigma)
    } else {
        "off".into()
    };
    println!(
        "{}: {digits} digits (original, then {} augmented versions each); rotation {}°, shifts {}/{}, zoom {}, shear {}°, elastic {elastic}; stroke {}, blur {}, background {}, erase {}, noise {}, lines {}, outline {}, clean {}",
        a.out.display(),
        a.columns,
        cfg.rotation,
        cfg.width_shift,
        cfg.height_shift,
        cfg.zoom,
        cfg.shear,
        cfg.stroke,
        cfg.blur,
        cfg.background,
        cfg.erase,
        cfg.noise,
        cfg.lines,
        cfg.outline,
        cfg.clean,
    );
    Ok(())
}
