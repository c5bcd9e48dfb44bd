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
        if !path.exists() {
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

/// Reads `robustness.json` from a run or ensemble directory, if it has one.
pub fn read_robustness(dir: &Path) -> Result<Option<crate::eval::Robustness>> {
    read_optional(&RunDir::new(dir).robustness_json())
}

/// Reads `train.json` from a run directory, if it has one.
pub fn read_run_info(dir: &Path) -> Result<Option<RunInfo>> {
    read_optional(&RunDir::new(dir).train_json())
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    crate::input::read_json(path)
}

/// A JSON file that may be missing (`None`), but not broken.
fn read_optional<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if path.exists() { read_json(path).map(Some) } else { Ok(None) }
}

/// The most files a data path's fingerprint reads (a picture folder of every MNIST image has
/// 70,000).
pub const MAX_DATA_FILES: usize = 1_000_000;
/// How much of each data file's start, and of its end, the fingerprint hashes.
const PRINT_SPAN: u64 = 1 << 20;

/// One data path a run read, as `data.json` records it: its absolute path and a fingerprint of
/// its files, which `--resume` compares before training on them again.
///
/// The fingerprint is FNV-1a (64 bits) over each file's relative name, size and first and last
/// MiB, in name order: it reads at most 2 MiB of each file, so it is quick on a large CSV, and
/// it sees a file added, removed, renamed, truncated or rewritten at either end. It ignores
/// modification times, so a copied or touched data set still matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataPrint {
    pub path: std::path::PathBuf,
    pub files: usize,
    pub bytes: u64,
    pub fingerprint: String,
}

impl DataPrint {
    /// Fingerprints the file or folder `path` (made absolute).
    pub fn of(path: &Path) -> Result<DataPrint> {
        let abs = std::path::absolute(path).map_err(Error::io(path))?;
        let mut files = Vec::new();
        collect_files(&abs, Path::new(""), &mut files)?;
        files.sort();
        let mut h = Fnv::default();
        let mut bytes = 0u64;
        for rel in &files {
            let full = if rel.as_os_str().is_empty() { abs.clone() } else { abs.join(rel) };
            h.eat(rel.to_string_lossy().as_bytes());
            bytes += hash_ends(&full, &mut h)?;
        }
        Ok(DataPrint { path: abs, files: files.len(), bytes, fingerprint: format!("{:016x}", h.0) })
    }
}

/// The files under `base/rel` (relative to `base`), following no symbolic link to a folder.
fn collect_files(base: &Path, rel: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let here = if rel.as_os_str().is_empty() { base.to_path_buf() } else { base.join(rel) };
    let meta = std::fs::metadata(&here).map_err(Error::io(&here))?;
    if !meta.is_dir() {
        out.push(rel.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(&here).map_err(Error::io(&here))? {
        let entry = entry.map_err(Error::io(&here))?;
        if entry.file_type().is_ok_and(|t| t.is_symlink()) && entry.path().is_dir() {
            continue;
        }
        if out.len() >= MAX_DATA_FILES {
            return Err(Error::Invalid(format!("{}: more than {MAX_DATA_FILES} files", base.display())));
        }
        collect_files(base, &rel.join(entry.file_name()), out)?;
    }
    Ok(())
}

/// Feeds a file's size and its first and last [`PRINT_SPAN`] bytes to `h`; returns the size.
fn hash_ends(path: &Path, h: &mut Fnv) -> Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(Error::io(path))?;
    let size = f.metadata().map_err(Error::io(path))?.len();
    h.eat(&size.to_le_bytes());
    let mut buf = Vec::new();
    (&mut f).take(PRINT_SPAN).read_to_end(&mut buf).map_err(Error::io(path))?;
    if size > PRINT_SPAN {
        f.seek(SeekFrom::Start(size.saturating_sub(PRINT_SPAN).max(PRINT_SPAN))).map_err(Error::io(path))?;
        f.take(PRINT_SPAN).read_to_end(&mut buf).map_err(Error::io(path))?;
    }
    h.eat(&buf);
    Ok(size)
}

#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn eat(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Reads `data.json` of a run directory (`None` for a run started before it was recorded).
pub fn read_data_prints(dir: &RunDir) -> Result<Option<Vec<DataPrint>>> {
    read_optional(&dir.data_json())
}
