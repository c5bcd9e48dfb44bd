//! A folder of digit pictures as a labelled data set: `DIR/0/…`, `DIR/1/…`, …, `DIR/9/…`.
//!
//! Each subfolder named by a digit holds pictures of that digit (PNG, JPEG, BMP, GIF or WebP,
//! by extension; other files, hidden files and other subfolders are ignored, so a README or a
//! `.DS_Store` does no harm). Every picture is prepared by [`super::picture::preprocess`] into
//! the 28×28 MNIST form. Files are taken in sorted order, so the same folder always gives the
//! same data set; a picture that cannot be used is an error naming it. A picture (or a digit
//! subfolder) that is a symbolic link leading out of the folder is refused: a folder from
//! elsewhere must not make digits read `/etc/passwd` or another user's files.

use super::picture::{has_picture_extension, load_picture};
use super::{Dataset, MNIST_SIDE, NUM_CLASSES};
use crate::Error;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Whether `dir` is laid out as a picture folder: a directory with at least one subdirectory
/// named `0` to `9`.
pub fn is_picture_folder(dir: &Path) -> bool {
    (0..NUM_CLASSES).any(|d| dir.join(d.to_string()).is_dir())
}

/// The pictures of a folder with their labels, sorted by label then file name.
pub fn picture_files(dir: &Path) -> Result<Vec<(PathBuf, u8)>, Error> {
    if !dir.is_dir() {
        return Err(Error::NotFound { path: dir.to_path_buf(), message: "no such directory".into() });
    }
    let root = dir.canonicalize().map_err(Error::io(dir))?;
    let mut files = Vec::new();
    for digit in 0..NUM_CLASSES {
        let sub = dir.join(digit.to_string());
        if !sub.is_dir() {
            continue;
        }
        let io = |source| Error::Io { path: sub.clone(), source };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&sub).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
            // Not `is_file`: a FIFO or a dangling link named like a picture is refused by
            // name when it is opened, not silently left out.
            if !hidden && !path.is_dir() && has_picture_extension(&path) {
                check_inside(&root, &path)?;
                names.push(path);
            }
        }
        names.sort();
        files.extend(names.into_iter().map(|p| (p, digit as u8)));
    }
    if files.is_empty() {
        return Err(Error::NotFound {
            path: dir.to_path_buf(),
            message: "no pictures found: expected subfolders 0 to 9 holding PNG, JPEG, BMP, GIF or WebP files".into(),
        });
    }
    Ok(files)
}

/// Refuses `path` when, links followed, it lies outside the folder `root` (canonical).
fn check_inside(root: &Path, path: &Path) -> Result<(), Error> {
    let real = path.canonicalize().map_err(Error::io(path))?;
    if real.starts_with(root) {
        return Ok(());
    }
    let message =
        format!("refused: a symbolic link leading out of the picture folder (to {})", crate::error::shown(&real));
    Err(Error::format(path, message))
}

/// Loads a picture folder as a [`Dataset`] of 28×28 images (preprocessed in parallel). The
/// first unusable picture, in sorted order, is the error.
pub fn load_folder(dir: &Path) -> Result<Dataset, Error> {
    let files = picture_files(dir)?;
    let loaded: Vec<Result<Vec<f32>, Error>> = files.par_iter().map(|(p, _)| load_picture(p)).collect();
    let mut images = Vec::with_capacity(files.len() * MNIST_SIDE * MNIST_SIDE);
    for r in loaded {
        images.extend(r?);
    }
    Ok(Dataset {
        images,
        labels: files.iter().map(|f| f.1).collect(),
        rows: MNIST_SIDE,
        cols: MNIST_SIDE,
        source: dir.display().to_string(),
    })
}
