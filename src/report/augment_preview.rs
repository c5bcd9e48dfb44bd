//! A grid of augmented versions of a few training digits: each row an original digit (one per
//! class first, so the grid shows different digits) and then its augmented copies, as a PNG.

use crate::data::Dataset;
use crate::data::augment::{AugmentConfig, augment_one};
use crate::rng::Rng;
use crate::{Error, Result};

/// Largest grid and scale drawn, so a flag cannot size a huge picture.
pub const MAX_ROWS: usize = 100;
pub const MAX_COLUMNS: usize = 100;
pub const MAX_SCALE: u32 = 16;

/// What the grid shows.
#[derive(Clone, Debug)]
pub struct PreviewGrid {
    /// Digits (rows).
    pub rows: usize,
    /// Augmented copies per digit (columns after the original).
    pub columns: usize,
    /// Screen pixels per image pixel.
    pub scale: u32,
    /// Seed of the copies.
    pub seed: u64,
}

/// The grid as PNG bytes, and how many digits it shows.
pub fn augment_preview(train: &Dataset, cfg: &AugmentConfig, grid: &PreviewGrid) -> Result<(Vec<u8>, usize)> {
    let (rows, columns, s) = (grid.rows, grid.columns, grid.scale);
    if rows == 0 || columns == 0 || s == 0 || rows > MAX_ROWS || columns > MAX_COLUMNS || s > MAX_SCALE {
        return Err(Error::invalid(format!("--rows and --columns must be 1-{MAX_ROWS} and --scale 1-{MAX_SCALE}")));
    }
    let picks = pick_digits(train, rows);
    let (h, w) = (train.rows, train.cols);
    let gap = 2u32;
    let cell = |n: usize| n as u32 * s + gap;
    let (width, height) = (cell(w) * (columns as u32 + 1) + gap * 3, cell(h) * picks.len() as u32 + gap);
    let mut img = image::GrayImage::from_pixel(width, height, image::Luma([128]));
    let mut buf = vec![0f32; h * w];
    for (r, &i) in picks.iter().enumerate() {
        for c in 0..=columns {
            if c == 0 {
                buf.copy_from_slice(train.image(i));
            } else {
                let mut rng = Rng::derive(&[grid.seed, i as u64, c as u64]);
                augment_one(cfg, train.image(i), h, w, &mut rng, &mut buf);
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
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| Error::Chart {
        action: "encoding as PNG",
        chart: "augmentation preview",
        message: e.to_string(),
    })?;
    Ok((png, picks.len()))
}

/// One digit per class first, then the next ones in order, `rows` in all.
fn pick_digits(train: &Dataset, rows: usize) -> Vec<usize> {
    let mut picks = Vec::new();
    for class in 0..10u8 {
        if let Some(i) = train.labels.iter().position(|&l| l == class) {
            picks.push(i);
        }
    }
    let rest: Vec<usize> = (0..train.len()).filter(|i| !picks.contains(i)).take(rows).collect();
    picks.extend(rest);
    picks.truncate(rows);
    picks
}
