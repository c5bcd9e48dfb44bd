//! `digits augment-preview`: a grid of augmented versions of a few training digits, to see
//! what the augmentation flags do before training with them.

use super::common::DataArgs;
use super::options::AugmentArgs;
use anyhow::{Context, bail};
use digits::data::Split;
use digits::data::augment::{AugmentConfig, augment_one};
use digits::rng::Rng;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    augment: AugmentArgs,
    /// Digits to show (one row each, the first training images of distinct classes first)
    #[arg(long, default_value_t = 6)]
    rows: usize,
    /// Augmented versions per digit (after the original in the first column)
    #[arg(long, default_value_t = 8)]
    columns: usize,
    /// Pixels per image pixel
    #[arg(long, default_value_t = 3)]
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
    if a.rows == 0 || a.columns == 0 || a.scale == 0 || a.rows > 100 || a.columns > 100 || a.scale > 16 {
        bail!("--rows and --columns must be 1-100 and --scale 1-16");
    }
    let train = a.data.load(Split::Train)?;
    let (h, w) = (train.rows, train.cols);
    // One digit per class first, so the grid shows different digits.
    let mut picks = Vec::new();
    for class in 0..10u8 {
        if let Some(i) = train.labels.iter().position(|&l| l == class) {
            picks.push(i);
        }
    }
    let rest: Vec<usize> = (0..train.len()).filter(|i| !picks.contains(i)).take(a.rows).collect();
    picks.extend(rest);
    picks.truncate(a.rows);
    let (gap, s) = (2u32, a.scale);
    let cell = |n: usize| n as u32 * s + gap;
    let (width, height) = (cell(w) * (a.columns as u32 + 1) + gap * 3, cell(h) * picks.len() as u32 + gap);
    let mut img = image::GrayImage::from_pixel(width, height, image::Luma([128]));
    let mut buf = vec![0f32; h * w];
    for (r, &i) in picks.iter().enumerate() {
        for c in 0..=a.columns {
            if c == 0 {
                buf.copy_from_slice(train.image(i));
            } else {
                let mut rng = Rng::derive(&[a.seed, i as u64, c as u64]);
                augment_one(&cfg, train.image(i), h, w, &mut rng, &mut buf);
            }
            // A wider gap after the original column.
            let x0 = gap + c as u32 * cell(w) + if c > 0 { gap * 3 } else { 0 };
            let y0 = gap + r as u32 * cell(h);
            for (p, v) in buf.iter().enumerate() {
                let g = image::Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8]);
                for dy in 0..s {
                    for dx in 0..s {
                        img.put_pixel(x0 + (p % w) as u32 * s + dx, y0 + (p / w) as u32 * s + dy, g);
                    }
                }
            }
        }
    }
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    digits::atomic::write(&a.out, &png).with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "{}: {} digits (original, then {} augmented versions each); rotation {}°, shifts {}/{}, zoom {}, shear {}°, elastic {}",
        a.out.display(),
        picks.len(),
        a.columns,
        cfg.rotation,
        cfg.width_shift,
        cfg.height_shift,
        cfg.zoom,
        cfg.shear,
        if cfg.elastic_alpha > 0.0 {
            format!("alpha {} sigma {}", cfg.elastic_alpha, cfg.elastic_sigma)
        } else {
            "off".into()
        }
    );
    Ok(())
}
