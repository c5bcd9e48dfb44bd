//! The data views: what a data set holds (images per class, shapes, pixel statistics) as a
//! table or JSON, and its pictures (a labelled sample grid and the pixel-value histogram),
//! drawn by the same chart code as the run reports.

use super::charts::{self, ChartFormat, DigitGrid, DigitTile, PixelHistogram};
use crate::Error;
use crate::data::Dataset;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Counts and pixel statistics of one data set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataSummary {
    pub name: String,
    pub source: String,
    pub samples: usize,
    pub rows: usize,
    pub cols: usize,
    /// Images per class, index = label.
    pub class_counts: Vec<usize>,
    pub pixel_min: f32,
    pub pixel_max: f32,
    pub pixel_mean: f64,
    pub pixel_std: f64,
    /// Fraction of pixels exactly 0 (background).
    pub zero_fraction: f64,
}

pub fn summarize(name: &str, d: &Dataset, classes: usize) -> DataSummary {
    let mut counts = vec![0usize; classes];
    for &l in &d.labels {
        if (l as usize) >= counts.len() {
            counts.resize(l as usize + 1, 0);
        }
        counts[l as usize] += 1;
    }
    let (mut lo, mut hi, mut sum, mut sq, mut zeros) = (f32::INFINITY, f32::NEG_INFINITY, 0.0f64, 0.0f64, 0usize);
    for &v in &d.images {
        lo = lo.min(v);
        hi = hi.max(v);
        sum += v as f64;
        sq += v as f64 * v as f64;
        zeros += (v == 0.0) as usize;
    }
    let n = d.images.len();
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    DataSummary {
        name: name.into(),
        source: d.source.clone(),
        samples: d.len(),
        rows: d.rows,
        cols: d.cols,
        class_counts: counts,
        pixel_min: if n > 0 { lo } else { 0.0 },
        pixel_max: if n > 0 { hi } else { 0.0 },
        pixel_mean: mean,
        pixel_std: if n > 0 { (sq / n as f64 - mean * mean).max(0.0).sqrt() } else { 0.0 },
        zero_fraction: if n > 0 { zeros as f64 / n as f64 } else { 0.0 },
    }
}

/// A plain-text table of the summaries side by side.
pub fn summary_table(sets: &[DataSummary]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = vec![
        ("images".into(), sets.iter().map(|s| s.samples.to_string()).collect()),
        ("shape".into(), sets.iter().map(|s| format!("{}×{}", s.rows, s.cols)).collect()),
    ];
    let classes = sets.iter().map(|s| s.class_counts.len()).max().unwrap_or(0);
    for c in 0..classes {
        rows.push((
            format!("class {c}"),
            sets.iter()
                .map(|s| {
                    let n = s.class_counts.get(c).copied().unwrap_or(0);
                    format!("{n} ({:.1}%)", 100.0 * n as f64 / s.samples.max(1) as f64)
                })
                .collect(),
        ));
    }
    rows.push(("pixel min".into(), sets.iter().map(|s| format!("{:.4}", s.pixel_min)).collect()));
    rows.push(("pixel max".into(), sets.iter().map(|s| format!("{:.4}", s.pixel_max)).collect()));
    rows.push(("pixel mean".into(), sets.iter().map(|s| format!("{:.4}", s.pixel_mean)).collect()));
    rows.push(("pixel std".into(), sets.iter().map(|s| format!("{:.4}", s.pixel_std)).collect()));
    rows.push(("zero pixels".into(), sets.iter().map(|s| format!("{:.2}%", 100.0 * s.zero_fraction)).collect()));
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..sets.len())
        .map(|j| rows.iter().map(|r| r.1[j].chars().count()).chain([sets[j].name.chars().count()]).max().unwrap_or(0))
        .collect();
    let mut out = format!("{:w0$}", "");
    for (s, w) in sets.iter().zip(&widths) {
        let _ = write!(out, "  {:>w$}", s.name);
    }
    out.push('\n');
    for (name, cells) in &rows {
        let _ = write!(out, "{name:w0$}");
        for (c, w) in cells.iter().zip(&widths) {
            let _ = write!(out, "  {c:>w$}");
        }
        out.push('\n');
    }
    out
}

/// The first `per_class` images of each class, one row per class, each captioned with its label.
pub fn sample_grid(title: &str, d: &Dataset, classes: usize, per_class: usize) -> DigitGrid {
    let mut tiles = Vec::new();
    for c in 0..classes {
        let idx: Vec<usize> = (0..d.len()).filter(|&i| d.labels[i] as usize == c).take(per_class).collect();
        for k in 0..per_class {
            tiles.push(match idx.get(k) {
                Some(&i) => DigitTile { pixels: d.image(i).to_vec(), caption: vec![format!("{c}")] },
                None => DigitTile { pixels: vec![0.0; d.rows * d.cols], caption: vec![format!("{c}: none")] },
            });
        }
    }
    DigitGrid {
        title: title.into(),
        subtitle: Some(format!("the first {per_class} images of each class, captioned with their label")),
        image: (d.rows, d.cols),
        tiles,
        columns: per_class,
        scale: 2,
    }
}

/// Writes `samples.{png,svg}` (the labelled grid of the first set) and
/// `pixel-histogram.{png,svg}` (every set) into `dir`; returns the files written.
pub fn write_data_views(dir: &Path, sets: &[(&str, &Dataset)], classes: usize) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.into(), source })?;
    let mut files = Vec::new();
    if let Some((name, first)) = sets.first() {
        let grid = sample_grid(&format!("{name} set: labelled samples"), first, classes, 12);
        for f in [ChartFormat::Png, ChartFormat::Svg] {
            let path = dir.join(format!("samples.{}", f.extension()));
            charts::save(&grid, f, &path)?;
            files.push(path);
        }
    }
    let hist = PixelHistogram {
        title: "pixel values".into(),
        sets: sets.iter().map(|(n, d)| (n.to_string(), d.images.as_slice())).collect(),
    };
    for f in [ChartFormat::Png, ChartFormat::Svg] {
        let path = dir.join(format!("pixel-histogram.{}", f.extension()));
        charts::save(&hist, f, &path)?;
        files.push(path);
    }
    Ok(files)
}
