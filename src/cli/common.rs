//! Helpers shared by the subcommands.

use anyhow::Context;
use digits::data::{self, Dataset, Split};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// MNIST directory (IDX files, raw or .gz), or a picture folder with subfolders 0 to 9
    /// (used as both training and test set); default: $DIGITS_DATA, else ./data/mnist
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl DataArgs {
    pub fn dir(&self) -> PathBuf {
        data::resolve_data_dir(self.data.as_deref())
    }
    /// Loads one split. A picture folder (`0/ … 9/`) has no split: it serves as both the
    /// training and the test set, so `evaluate --data FOLDER` judges a model on it.
    pub fn load(&self, split: Split) -> anyhow::Result<Dataset> {
        let dir = self.dir();
        match DataKind::of(&dir) {
            DataKind::Mnist => {
                data::load_mnist(&dir, split).with_context(|| format!("loading the MNIST {} set", split.name()))
            }
            DataKind::PictureFolder => data::folder::load_folder(&dir)
                .with_context(|| format!("loading the picture folder {} as the {} set", dir.display(), split.name())),
        }
    }
}

/// The layouts `--data` can point at.
enum DataKind {
    /// The four MNIST IDX files.
    Mnist,
    /// Subfolders `0` to `9` of pictures.
    PictureFolder,
}

impl DataKind {
    fn of(dir: &Path) -> DataKind {
        if data::folder::is_picture_folder(dir) { DataKind::PictureFolder } else { DataKind::Mnist }
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
