//! A finished run: the run directory ([`crate::layout::RunDir`]) read back as a model, its
//! settings, history and metrics, and the writers of those files.

use super::{History, TrainConfig};
use crate::engine::Network;
use crate::eval::Metrics;
use crate::layout::RunDir;
use crate::model::{ModelSpec, load_model};
use crate::report::ReportFiles;
use crate::{Error, Result, atomic};
use serde::de::DeserializeOwned;
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

/// How the trained model did on the set it was scored on at the end of training.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// `test` or `validation`.
    pub set: String,
    pub samples: usize,
    pub correct: usize,
    pub loss: f64,
    pub accuracy: f64,
}

/// A trained model with everything its run directory says about it.
pub struct Run {
    pub dir: RunDir,
    pub spec: ModelSpec,
    pub network: Network,
    /// `train.json` (absent for a model saved by other means).
    pub info: Option<RunInfo>,
    /// `history.json` (empty when absent).
    pub history: History,
    /// `metrics.json`, when the run was scored.
    pub metrics: Option<Metrics>,
    /// The final score, when this run was just trained.
    pub scored: Option<Scored>,
    /// The report written at the end of training.
    pub report: Option<ReportFiles>,
}

impl Run {
    /// Reads the run directory `dir`: its model (required), settings, history and metrics.
    pub fn open(dir: impl AsRef<Path>) -> Result<Run> {
        let dir = RunDir::new(dir.as_ref());
        let (saved, network) = load_model(dir.path())?;
        Ok(Run {
            info: read_optional(&dir.train_json())?,
            history: History { epochs: read_optional(&dir.history_json())?.unwrap_or_default() },
            metrics: read_optional(&dir.metrics_json())?,
            dir,
            spec: saved.spec,
            network,
            scored: None,
            report: None,
        })
    }

    /// The name of the run's model.
    pub fn name(&self) -> &str {
        self.spec.display_name()
    }

    /// The arguments the run was started with (`args.json`), for resuming it the same way.
    pub fn resume_args(dir: impl AsRef<Path>) -> Result<serde_json::Value> {
        let path = RunDir::new(dir.as_ref()).args_json();
        if !path.is_file() {
            return Err(Error::NotFound {
                path: dir.as_ref().into(),
                message: format!(
                    "not a run directory to resume (no {})",
                    path.file_name().unwrap_or_default().to_string_lossy()
                ),
            });
        }
        read_json(&path)
    }
}

/// Writes `history.csv` and `history.json` into a run directory.
pub fn write_history(dir: &RunDir, history: &History) -> Result<()> {
    atomic::write_file(&dir.history_csv(), history.to_csv().as_bytes())?;
    atomic::write_file(&dir.history_json(), history.to_json().as_bytes())
}

/// Reads `history.json` from a run (or member) directory; empty when there is none.
pub fn read_history(dir: &Path) -> Result<History> {
    let epochs = read_optional(&RunDir::new(dir).history_json())?.unwrap_or_default();
    Ok(History { epochs })
}

/// Reads `train.json` from a run directory, if it has one.
pub fn read_run_info(dir: &Path) -> Result<Option<RunInfo>> {
    read_optional(&RunDir::new(dir).train_json())
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    serde_json::from_str(&text).map_err(|e| Error::format(path, e.to_string()))
}

/// A JSON file that may be missing (`None`), but not broken.
fn read_optional<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if path.exists() { read_json(path).map(Some) } else { Ok(None) }
}
