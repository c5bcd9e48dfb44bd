//! The MNIST data layer: reading the IDX files, holding a data set in memory, and splitting it.
//!
//! * [`idx`] reads and writes the IDX format (raw or gzip-compressed) and checks every file it
//!   reads against its header before trusting it: magic number, number of dimensions, exact
//!   byte count (no allocation is ever sized by an unchecked header) and label range.
//! * [`load_mnist`] finds the four standard MNIST files in a directory (raw or `.gz`), checks
//!   that images and labels agree, and returns a [`Dataset`] with pixels scaled to `[0, 1]`.
//! * [`csv`] reads and writes Kaggle's digit-recognizer CSV files and submissions.
//! * [`Dataset::open`] / [`Dataset::open_split`] load a labelled data set from whatever a path
//!   names (an MNIST directory, a labelled CSV file, a picture folder: see [`Source`]).
//! * [`split`] makes seeded, stratified train/validation splits and k-fold assignments.
//! * [`picture`] prepares a picture of a digit (PNG, JPEG, BMP, GIF, WebP; any size, either
//!   polarity) the way MNIST's digits were prepared, and [`folder`] reads a folder of them laid
//!   out as `0/ … 9/` as a labelled data set.
//!
//! Every failure is a [`Error`] that names the file (or directory) and says what is wrong.
//!
//! ```
//! use digits::data::{Dataset, Split};
//!
//! let test = Dataset::open_split("data/mnist", Split::Test)?.first(1000);
//! assert_eq!((test.len(), test.rows, test.cols), (1000, 28, 28));
//! println!("{:?} digits of each class", test.class_counts());
//! # Ok::<(), digits::Error>(())
//! ```

pub mod augment;
pub mod csv;
pub mod folder;
pub mod idx;
pub mod picture;
pub mod split;
pub mod unlabelled;

use crate::{Error, Result};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Which half of MNIST to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The 60,000 training images (`train-*` files).
    Train,
    /// The 10,000 test images (`t10k-*` files).
    Test,
}

impl Split {
    /// The file-name prefix MNIST uses for this split: `"train"` or `"t10k"`.
    pub fn file_prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }

    /// A human-readable name: `"train"` or `"test"`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Side length of an MNIST image.
pub const MNIST_SIDE: usize = 28;

/// Number of digit classes (labels are `0..=9`).
pub const NUM_CLASSES: usize = 10;

/// The most images (or labels) one data file may hold: an IDX file's count, a CSV file's data
/// lines. MNIST has 70,000, Kaggle's train.csv 42,000; at this ceiling the images take 78 MB as
/// bytes and 314 MB as the `f32` inputs (a command may hold two copies), so a file claiming more
/// (a decompression bomb, a corrupt header) is refused before it can take more than 1 GiB.
pub const MAX_IMAGES: usize = 100_000;

/// The largest image side an IDX file may declare, and the most pixel bytes it may hold in all
/// (the bytes of [`MAX_IMAGES`] 28×28 images).
pub const MAX_IDX_SIDE: usize = 4096;
/// See [`MAX_IDX_SIDE`].
pub const MAX_IDX_PIXEL_BYTES: usize = MAX_IMAGES * MNIST_SIDE * MNIST_SIDE;

/// The directory used when neither `--data` nor `DIGITS_DATA` is given.
pub const DEFAULT_DATA_DIR: &str = "data/mnist";

/// The environment variable naming the data directory.
pub const DATA_DIR_ENV: &str = "DIGITS_DATA";

/// A labelled image data set held in memory.
///
/// `images` is row-major, `len() * rows * cols` values, each pixel scaled to `[0, 1]`
/// (`byte / 255`); record `i` is `images[i * rows * cols..(i + 1) * rows * cols]` with label
/// `labels[i]`.
#[derive(Clone, PartialEq)]
pub struct Dataset {
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
    /// Where the data came from (for reports), e.g. the image file's path.
    pub source: String,
}

impl fmt::Debug for Dataset {
    // Summarise rather than print millions of pixels.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("len", &self.len())
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Dataset {
    /// `sha256:` and the hex SHA-256 of the images' shape, pixels (as f32 bits) and labels: what
    /// a shared study records so a worker elsewhere is refused other data.
    pub fn checksum(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update((self.rows as u64).to_le_bytes());
        h.update((self.cols as u64).to_le_bytes());
        h.update((self.labels.len() as u64).to_le_bytes());
        for chunk in self.images.chunks(4096) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect();
            h.update(&bytes);
        }
        h.update(&self.labels);
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// Opens the labelled data set at `path`: the training set of an MNIST directory, or the
    /// whole of a labelled CSV file or of a picture folder (see [`Source::detect`]).
    ///
    /// ```no_run
    /// let train = digits::data::Dataset::open("data/mnist")?;
    /// let mine = digits::data::Dataset::open("my-digits")?; // folders 0/ … 9/ of pictures
    /// # Ok::<(), digits::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Dataset> {
        Dataset::open_split(path, Split::Train)
    }

    /// Opens one split of the data set at `path`: an MNIST directory holds both; a CSV file or
    /// a picture folder is one set, returned whole for either split
    /// ([`Source::has_test_split`] tells them apart).
    ///
    /// ```
    /// use digits::data::{Dataset, Split};
    /// let test = Dataset::open_split("data/mnist", Split::Test)?;
    /// assert_eq!(test.len(), 10_000);
    /// # Ok::<(), digits::Error>(())
    /// ```
    pub fn open_split(path: impl AsRef<Path>, split: Split) -> Result<Dataset> {
        Source::detect(path.as_ref()).load(split)
    }

    /// The first `n` records (all of them when there are fewer), without copying.
    ///
    /// ```
    /// # use digits::data::{Dataset, Split};
    /// let few = Dataset::open_split("data/mnist", Split::Test)?.first(500);
    /// assert_eq!(few.len(), 500);
    /// # Ok::<(), digits::Error>(())
    /// ```
    pub fn first(mut self, n: usize) -> Dataset {
        let n = n.min(self.len());
        self.images.truncate(n * self.pixels_per_image());
        self.labels.truncate(n);
        self
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image (`rows * cols`).
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of record `i`, row-major. Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.pixels_per_image();
        &self.images[i * n..(i + 1) * n]
    }

    /// A new data set holding copies of the chosen records, in the order given (indices may
    /// repeat). Panics if an index is `>= len()`.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let n = self.pixels_per_image();
        let mut images = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset { images, labels, rows: self.rows, cols: self.cols, source: self.source.clone() }
    }

    /// How many records carry each label `0..=9` (labels outside that range are not counted).
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0usize; NUM_CLASSES];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }
}

/// Converts bytes `0..=255` to `[0, 1]` floats (`byte / 255`).
pub fn scale_pixels(pixels: &[u8]) -> Vec<f32> {
    let table: [f32; 256] = std::array::from_fn(|b| b as f32 / 255.0);
    pixels.iter().map(|&b| table[b as usize]).collect()
}

/// The names MNIST files go by for one split, raw first: e.g. `train-images-idx3-ubyte`,
/// `train-images-idx3-ubyte.gz`.
fn candidate_names(split: Split, what: &str) -> [String; 2] {
    let base = format!("{}-{what}", split.file_prefix());
    let gz = format!("{base}.gz");
    [base, gz]
}

/// Finds the first existing candidate in `dir`; the raw file wins over the `.gz` one. Whatever
/// exists counts (a FIFO or directory is then refused by name when it is opened, rather than
/// reported as missing).
fn find_file(dir: &Path, names: &[String]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.exists())
}

/// Loads one MNIST split from `dir`.
///
/// Looks for `train-images-idx3-ubyte` and `train-labels-idx1-ubyte` (`t10k-...` for
/// [`Split::Test`]), each either raw or with a `.gz` suffix (the raw file is preferred when
/// both exist). Checks each file (see [`idx`]), that the image and label counts match and that
/// the images are 28x28.
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset> {
    let image_names = candidate_names(split, "images-idx3-ubyte");
    let label_names = candidate_names(split, "labels-idx1-ubyte");
    let image_path = find_file(dir, &image_names);
    let label_path = find_file(dir, &label_names);
    let (image_path, label_path) = match (image_path, label_path) {
        (Some(i), Some(l)) => (i, l),
        (i, l) => {
            let mut tried = Vec::new();
            if i.is_none() {
                tried.extend(image_names.iter().cloned());
            }
            if l.is_none() {
                tried.extend(label_names.iter().cloned());
            }
            return Err(Error::NotFound {
                path: dir.to_path_buf(),
                message: format!(
                    "MNIST {split} files not found in this directory (tried {}); \
                     pass --data DIR or set {DATA_DIR_ENV} to the directory holding them",
                    tried.join(", ")
                ),
            });
        }
    };

    let images = idx::read_idx_images(&image_path)?;
    if images.rows != MNIST_SIDE || images.cols != MNIST_SIDE {
        return Err(Error::Format {
            path: image_path,
            message: format!(
                "images are {}x{}, expected {MNIST_SIDE}x{MNIST_SIDE} for MNIST",
                images.rows, images.cols
            ),
        });
    }
    let labels = idx::read_idx_labels(&label_path)?;
    if labels.len() != images.count {
        return Err(Error::Mismatch {
            message: format!(
                "count mismatch: {} holds {} images but {} holds {} labels",
                file_name(&image_path),
                images.count,
                file_name(&label_path),
                labels.len()
            ),
            images: image_path,
            labels: label_path,
        });
    }

    Ok(Dataset {
        images: scale_pixels(&images.pixels),
        labels,
        rows: images.rows,
        cols: images.cols,
        source: image_path.display().to_string(),
    })
}

/// Loads a labelled CSV file (Kaggle's `train.csv` layout) as a [`Dataset`].
pub fn load_csv(path: &Path) -> Result<Dataset> {
    let c = csv::read_csv(path)?;
    let Some(labels) = c.labels else {
        return Err(Error::Format {
            path: path.to_path_buf(),
            message: "no `label` column (this is a test.csv layout): it can be predicted \
                      (`digits predict --input`), not trained on or evaluated"
                .into(),
        });
    };
    Ok(Dataset {
        images: scale_pixels(&c.pixels),
        labels,
        rows: MNIST_SIDE,
        cols: MNIST_SIDE,
        source: path.display().to_string(),
    })
}

pub use crate::input::open_regular;

/// What a `--data` path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A directory holding the MNIST IDX files (train and test).
    MnistDir(PathBuf),
    /// One labelled CSV file: a single data set, used whole whatever the split.
    Csv(PathBuf),
    /// A folder of pictures in subfolders `0` … `9`: a single data set, like a CSV file.
    Folder(PathBuf),
}

impl Source {
    /// Decides by the path: a `.csv`/`.csv.gz` file is CSV, a directory with digit subfolders a
    /// picture folder, anything else an MNIST directory.
    pub fn detect(path: &Path) -> Source {
        if csv::is_csv_path(path) {
            Source::Csv(path.into())
        } else if folder::is_picture_folder(path) {
            Source::Folder(path.into())
        } else {
            Source::MnistDir(path.into())
        }
    }

    /// Whether the source holds a separate test set (an MNIST directory does, a file does not).
    pub fn has_test_split(&self) -> bool {
        matches!(self, Source::MnistDir(_))
    }

    /// Loads one split; a single-set source returns its one set for either split.
    /// [`Dataset::open_split`] does the same from a path.
    pub fn load(&self, split: Split) -> Result<Dataset> {
        match self {
            Source::MnistDir(dir) => load_mnist(dir, split),
            Source::Csv(path) => load_csv(path),
            Source::Folder(path) => folder::load_folder(path),
        }
    }
}

/// Grey levels `0..=255` back from pixels scaled by [`scale_pixels`] (exact for those).
pub fn unscale_pixels(pixels: &[f32]) -> Vec<u8> {
    pixels.iter().map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8).collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// The data directory: `--data DIR` if given, else the `DIGITS_DATA` environment variable (if
/// set and non-empty), else `./data/mnist`.
pub fn resolve_data_dir(cli: Option<&Path>) -> PathBuf {
    resolve_from(cli, std::env::var_os(DATA_DIR_ENV))
}

fn resolve_from(cli: Option<&Path>, env: Option<OsString>) -> PathBuf {
    if let Some(dir) = cli {
        return dir.to_path_buf();
    }
    match env {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_DATA_DIR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        // 4 records of 1x2 pixels.
        Dataset {
            images: vec![0.0, 0.1, 1.0, 1.1, 2.0, 2.1, 3.0, 3.1],
            labels: vec![3, 1, 3, 9],
            rows: 1,
            cols: 2,
            source: "tiny".into(),
        }
    }

    #[test]
    fn dataset_accessors() {
        let d = tiny();
        assert_eq!(d.len(), 4);
        assert!(!d.is_empty());
        assert_eq!(d.image(2), &[2.0, 2.1]);
        let mut counts = [0; 10];
        counts[1] = 1;
        counts[3] = 2;
        counts[9] = 1;
        assert_eq!(d.class_counts(), counts);
    }

    #[test]
    fn first_keeps_the_leading_records() {
        let d = tiny().first(2);
        assert_eq!((d.labels, d.images), (vec![3, 1], vec![0.0, 0.1, 1.0, 1.1]));
        assert_eq!(tiny().first(10), tiny());
        assert!(tiny().first(0).is_empty() && tiny().first(0).images.is_empty());
    }

    #[test]
    fn open_detects_what_a_path_names() {
        let dir = tempfile::tempdir().unwrap();
        let e = Dataset::open(dir.path()).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }) && e.to_string().contains("MNIST train files"), "{e}");
        let csv = dir.path().join("set.csv");
        csv::write_csv(&csv, &[7; 2 * csv::PIXELS], Some(&[4, 2])).unwrap();
        for split in [Split::Train, Split::Test] {
            let d = Dataset::open_split(&csv, split).unwrap();
            assert_eq!((d.labels, d.images[0]), (vec![4, 2], 7.0 / 255.0));
        }
        assert!(!Source::detect(&csv).has_test_split());
    }

    #[test]
    fn subset_copies_in_order() {
        let d = tiny();
        let s = d.subset(&[3, 0, 3]);
        assert_eq!(s.len(), 3);
        assert_eq!(s.labels, vec![9, 3, 9]);
        assert_eq!(s.images, vec![3.0, 3.1, 0.0, 0.1, 3.0, 3.1]);
        assert_eq!((s.rows, s.cols), (1, 2));
        assert!(d.subset(&[]).is_empty());
    }

    #[test]
    fn scaling_maps_bytes_to_unit_interval() {
        assert_eq!(scale_pixels(&[0, 255, 51]), vec![0.0, 1.0, 0.2]);
    }

    #[test]
    fn data_dir_precedence() {
        let cli = Path::new("/x/cli");
        assert_eq!(resolve_from(Some(cli), Some("/x/env".into())), cli);
        assert_eq!(resolve_from(None, Some("/x/env".into())), Path::new("/x/env"));
        assert_eq!(resolve_from(None, Some("".into())), Path::new(DEFAULT_DATA_DIR));
        assert_eq!(resolve_from(None, None), Path::new(DEFAULT_DATA_DIR));
        assert_eq!(resolve_data_dir(Some(cli)), cli);
    }

    #[test]
    fn error_display_names_the_path() {
        let e = Error::Format { path: "/d/f.gz".into(), message: "broken".into() };
        assert_eq!(e.to_string(), "/d/f.gz: broken");
    }
}
