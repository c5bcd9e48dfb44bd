//! Helpers shared by the subcommands.

use anyhow::Context;
use digits::data::{self, Dataset, Split};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// MNIST directory (IDX files, raw or .gz); default: $DIGITS_DATA, else ./data/mnist
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl DataArgs {
    pub fn dir(&self) -> PathBuf {
        data::resolve_data_dir(self.data.as_deref())
    }
    pub fn load(&self, split: Split) -> anyhow::Result<Dataset> {
        let dir = self.dir();
        data::load_mnist(&dir, split).with_context(|| format!("loading the MNIST {} set", split.name()))
    }
}

/// Sets the engine's thread count (default: every core).
pub fn init_threads(threads: Option<usize>) -> usize {
    let n = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    digits::engine::set_threads(n);
    digits::engine::threads()
}

pub fn load_run(dir: &Path) -> anyhow::Result<(digits::model::SavedModel, digits::engine::Network)> {
    digits::model::load_model(dir).with_context(|| format!("loading the model in {}", dir.display()))
}
