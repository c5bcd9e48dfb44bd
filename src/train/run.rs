//! The run directory: what a finished `digits train` leaves behind.
//!
//! ```text
//! RUN/model.json         architecture and format version
//! RUN/model.safetensors  weights and batch-norm statistics
//! RUN/train.json         every setting of the run
//! RUN/history.csv|json   one record per epoch
//! RUN/metrics.json       final evaluation on the test set
//! ```

use super::{History, TrainConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `train.json`: the settings and provenance of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    pub digits_version: String,
    pub model: String,
    pub config: TrainConfig,
    pub threads: usize,
    pub data: String,
    pub train_samples: usize,
    pub validation: String,
    pub validation_samples: usize,
    pub params: usize,
    pub train_seconds: f64,
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    crate::atomic::write(path, text.as_bytes())
}

/// The history file of a run directory, one JSON record per epoch.
pub const HISTORY_JSON: &str = "history.json";

pub fn write_history(dir: &Path, history: &History) -> std::io::Result<()> {
    crate::atomic::write(&dir.join("history.csv"), history.to_csv().as_bytes())?;
    crate::atomic::write(&dir.join(HISTORY_JSON), history.to_json().as_bytes())
}

/// Reads `history.json` from a run directory.
pub fn read_history(dir: &Path) -> std::io::Result<History> {
    let text = std::fs::read_to_string(dir.join(HISTORY_JSON))?;
    let epochs = serde_json::from_str(&text).map_err(std::io::Error::other)?;
    Ok(History { epochs })
}

/// Reads `train.json` from a run directory.
pub fn read_run_info(dir: &Path) -> std::io::Result<RunInfo> {
    let text = std::fs::read_to_string(dir.join("train.json"))?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}
