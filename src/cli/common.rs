//! Helpers shared by the subcommands.

use anyhow::Context;
use digits::data::{self, Dataset, Split};
use digits::model::Classifier;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DataArgs {
    /// Data: an MNIST directory (IDX files, raw or .gz), a labelled Kaggle CSV file
    /// (`label,pixel0,…,pixel783`), or a picture folder with subfolders 0 to 9 (a single file
    /// or folder is one data set: what `train` trains on, what `evaluate` judges on); default:
    /// $DIGITS_DATA, else ./data/mnist
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
}

impl DataArgs {
    /// The path given (or the default data directory).
    pub fn dir(&self) -> PathBuf {
        data::resolve_data_dir(self.data.as_deref())
    }
    pub fn source(&self) -> data::Source {
        data::Source::detect(&self.dir())
    }
    /// Whether the data names a directory with a test set of its own.
    pub fn has_test_split(&self) -> bool {
        self.source().has_test_split()
    }
    /// Loads another data set given by path (e.g. `--test-data`).
    pub fn load_other(&self, path: &Path, split: Split) -> anyhow::Result<Dataset> {
        Dataset::open_split(path, split).with_context(|| format!("loading the test set {}", path.display()))
    }
    /// Loads one split ([`Dataset::open_split`]); a single file or folder is the whole data set
    /// whatever the split. Its errors already name the file and the line; a missing MNIST
    /// directory is said to be one.
    pub fn load(&self, split: Split) -> anyhow::Result<Dataset> {
        let set = Dataset::open_split(self.dir(), split);
        if self.source().has_test_split() {
            set.with_context(|| format!("loading the MNIST {split} set"))
        } else {
            Ok(set?)
        }
    }
}

/// The most threads `--threads` asks for: more than any machine digits runs on has cores, and
/// few enough that starting them cannot exhaust the system.
pub const MAX_THREADS: usize = 1024;

/// Sets the engine's thread count (default: every core, at most [`MAX_THREADS`]); `--threads`
/// must be 1 to [`MAX_THREADS`].
pub fn init_threads(threads: Option<usize>) -> anyhow::Result<usize> {
    if let Some(n) = threads.filter(|&n| n == 0 || n > MAX_THREADS) {
        anyhow::bail!("--threads must be 1 to {MAX_THREADS}, got {n}");
    }
    let n = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS));
    digits::engine::set_threads(n);
    Ok(digits::engine::threads())
}

/// Makes the matrix products use the kernel `DIGITS_GEMM` names (`avx512`, `avx2`, `fallback`),
/// when it is set: to compare the kernels, or to measure on one machine what another CPU runs.
pub fn init_kernel() -> anyhow::Result<()> {
    use digits::engine::gemm::{Kernel, set_kernel};
    let Some(name) = std::env::var_os("DIGITS_GEMM") else { return Ok(()) };
    let name = name.to_string_lossy();
    let kernel = Kernel::from_name(&name)
        .with_context(|| format!("DIGITS_GEMM must be avx512, avx2 or fallback, got {name:?}"))?;
    set_kernel(kernel).context("DIGITS_GEMM")?;
    Ok(())
}

/// A count flag that must be at least 1 (`--limit 0` is refused by clap, naming the flag).
pub fn at_least_1() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

/// A count flag between `min` and `max`.
pub fn between(min: u64, max: u64) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(min..=max)
}

/// Loads a run directory or an ensemble directory (the library's errors name the file).
pub fn load_classifier(dir: &Path) -> anyhow::Result<Classifier> {
    Classifier::load(dir).context("loading the model")
}

/// A probability flag: a number from 0 to 1.
pub fn probability(text: &str) -> Result<f32, String> {
    let p: f32 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&p) { Ok(p) } else { Err(format!("{p} is not a probability (0 to 1)")) }
}
