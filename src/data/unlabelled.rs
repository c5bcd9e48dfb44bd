//! Images without labels, to predict: an IDX image file (raw or .gz) or a Kaggle CSV (its label
//! column, if any, ignored), and the 28×28 inputs prepared from pictures written back as PNGs.

use super::{MNIST_SIDE, csv, idx, picture, scale_pixels};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Images read from one file, pixels scaled to [0, 1].
pub struct Images {
    pub path: PathBuf,
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<f32>,
}

/// Reads the first `limit` images (all without one) of an IDX or CSV file.
pub fn read_images(path: &Path, limit: Option<usize>) -> Result<Images> {
    let (count, rows, cols, bytes) = if csv::is_csv_path(path) {
        let c = csv::read_csv(path)?;
        (c.count, MNIST_SIDE, MNIST_SIDE, c.pixels)
    } else {
        let i = idx::read_idx_images(path)?;
        (i.count, i.rows, i.cols, i.pixels)
    };
    let n = limit.unwrap_or(count).min(count);
    Ok(Images { path: path.into(), count: n, rows, cols, pixels: scale_pixels(&bytes[..n * rows * cols]) })
}

/// The test images of an MNIST directory (raw or gzip-compressed).
pub fn test_images_in(dir: &Path) -> Result<PathBuf> {
    ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
        .ok_or_else(|| Error::NotFound { path: dir.into(), message: "no test images here (give --input FILE)".into() })
}

/// Writes each prepared picture as `dir/<picture's name>.png` (`-2`, `-3`… for repeated names,
/// so pictures of the same name in different folders do not overwrite each other).
pub fn write_prepared(dir: &Path, pictures: &[(&Path, Vec<f32>)]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut written = Vec::new();
    for (path, pixels) in pictures {
        let stem = path.file_stem().map_or("picture".into(), |s| s.to_string_lossy().into_owned());
        let n = taken.entry(stem.clone()).or_insert(0);
        *n += 1;
        let name = if *n == 1 { format!("{stem}.png") } else { format!("{stem}-{n}.png") };
        let out = dir.join(name);
        crate::atomic::write_file(&out, &picture::encode_png(pixels, MNIST_SIDE))?;
        written.push(out);
    }
    Ok(written)
}
