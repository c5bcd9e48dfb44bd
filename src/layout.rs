//! Where everything lives on disk: the one place that spells a file name.
//!
//! A **run directory** (what `digits train` leaves; `evaluate`, `predict`, `report` and `serve`
//! take one):
//!
//! ```text
//! RUN/model.json                    format, version, architecture, class names
//! RUN/model.safetensors             weights and batch-norm statistics under `layer.param` keys
//! RUN/train.json                    every setting and the provenance of the run
//! RUN/args.json                     the run's options as given, so `--resume` repeats them
//! RUN/data.json                     the data's absolute paths and fingerprints (`--resume` checks)
//! RUN/.digits.lock                  held while a process writes the directory (pid and host)
//! RUN/history.csv, history.json     one record per epoch
//! RUN/metrics.json                  the final evaluation (test set, else validation set)
//! RUN/robustness.json               accuracy under MNIST-C's corruptions (`digits robustness`)
//! RUN/checkpoint-last.safetensors   the whole training state after the last epoch (resume)
//! RUN/checkpoint-best.safetensors   ... after the best epoch (restore_best_weights)
//! RUN/report.html, RUN/report/      the report page and its charts (PNG and SVG)
//! ```
//!
//! An **ensemble directory** (`digits ensemble`): `ensemble.json` and each member's model
//! files (and history) under `members/<i>/`, so the directory stands alone.
//!
//! A **tuning directory** (`digits tune`): `tune.json` (the settings), `results.jsonl` (a line
//! per finished trial), `trials/NNNN/` (each configuration's model, history and checkpoint),
//! `best/` (the best model, a run directory plus its model file `model.toml`) and `best.json`.
//!
//! Every file is written to a temporary name and renamed ([`crate::atomic`]); a directory is
//! written by one process at a time, which holds its [`LOCK`] file ([`crate::lock`]).

use std::path::{Path, PathBuf};

/// The model's architecture file in a run or member directory.
pub const MODEL_JSON: &str = "model.json";
/// The weights file beside it.
pub const WEIGHTS: &str = "model.safetensors";
/// The run's settings and provenance.
pub const TRAIN_JSON: &str = "train.json";
/// The run's options as given (for `--resume`).
pub const ARGS_JSON: &str = "args.json";
/// The per-epoch history, as CSV.
pub const HISTORY_CSV: &str = "history.csv";
/// The per-epoch history, as JSON.
pub const HISTORY_JSON: &str = "history.json";
/// The final evaluation.
pub const METRICS_JSON: &str = "metrics.json";
/// Accuracy under each corruption of MNIST-C (`digits robustness`; also in an ensemble's
/// directory).
pub const ROBUSTNESS_JSON: &str = "robustness.json";
/// The last epoch's checkpoint.
pub const CHECKPOINT_LAST: &str = "checkpoint-last.safetensors";
/// The best epoch's checkpoint.
pub const CHECKPOINT_BEST: &str = "checkpoint-best.safetensors";
/// The report page.
pub const REPORT_HTML: &str = "report.html";
/// The charts folder.
pub const CHARTS_DIR: &str = "report";
/// An ensemble's description.
pub const ENSEMBLE_JSON: &str = "ensemble.json";
/// An ensemble's member folders.
pub const MEMBERS_DIR: &str = "members";
/// A tuning run's settings.
pub const TUNE_JSON: &str = "tune.json";
/// A tuning run's results, one line per finished trial.
pub const RESULTS_JSONL: &str = "results.jsonl";
/// A tuning run's trial folders.
pub const TRIALS_DIR: &str = "trials";
/// A tuning run's best model (a run directory).
pub const BEST_DIR: &str = "best";
/// The best trial's summary and the command that retrains it.
pub const BEST_JSON: &str = "best.json";
/// The best trial's model file, in [`BEST_DIR`].
pub const MODEL_TOML: &str = "model.toml";
/// Where the best trial's reproduce command writes.
pub const RETRAIN_DIR: &str = "retrain";
/// The lock file held while a run, an ensemble or a tuning run writes its directory; it holds
/// the writer's pid and host ([`crate::lock`]).
pub const LOCK: &str = ".digits.lock";
/// The absolute paths and fingerprints of the data a run trained on (for `--resume`).
pub const DATA_JSON: &str = "data.json";
/// Where `digits train` writes without `--out`: `runs/<model>`.
pub const RUNS_DIR: &str = "runs";

/// Every name a run directory may hold (what `--overwrite` clears), besides temporary files.
pub const RUN_FILES: &[&str] = &[
    MODEL_JSON,
    WEIGHTS,
    TRAIN_JSON,
    ARGS_JSON,
    DATA_JSON,
    HISTORY_CSV,
    HISTORY_JSON,
    METRICS_JSON,
    ROBUSTNESS_JSON,
    CHECKPOINT_LAST,
    CHECKPOINT_BEST,
    REPORT_HTML,
    CHARTS_DIR,
    LOCK,
];

/// The files of a run directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir(PathBuf);

impl RunDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RunDir(dir.into())
    }
    /// `runs/<model>`, the default for a model of this name.
    pub fn default_for(model: &str) -> Self {
        RunDir(Path::new(RUNS_DIR).join(model))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn model_json(&self) -> PathBuf {
        self.0.join(MODEL_JSON)
    }
    pub fn weights(&self) -> PathBuf {
        self.0.join(WEIGHTS)
    }
    pub fn train_json(&self) -> PathBuf {
        self.0.join(TRAIN_JSON)
    }
    pub fn args_json(&self) -> PathBuf {
        self.0.join(ARGS_JSON)
    }
    pub fn data_json(&self) -> PathBuf {
        self.0.join(DATA_JSON)
    }
    pub fn history_csv(&self) -> PathBuf {
        self.0.join(HISTORY_CSV)
    }
    pub fn history_json(&self) -> PathBuf {
        self.0.join(HISTORY_JSON)
    }
    pub fn metrics_json(&self) -> PathBuf {
        self.0.join(METRICS_JSON)
    }
    pub fn robustness_json(&self) -> PathBuf {
        self.0.join(ROBUSTNESS_JSON)
    }
    pub fn checkpoint_last(&self) -> PathBuf {
        self.0.join(CHECKPOINT_LAST)
    }
    pub fn checkpoint_best(&self) -> PathBuf {
        self.0.join(CHECKPOINT_BEST)
    }
    pub fn report_html(&self) -> PathBuf {
        self.0.join(REPORT_HTML)
    }
    pub fn charts_dir(&self) -> PathBuf {
        self.0.join(CHARTS_DIR)
    }
    /// Whether a model was saved here.
    pub fn has_model(&self) -> bool {
        self.model_json().exists()
    }
}

/// The files of an ensemble directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnsembleDir(PathBuf);

impl EnsembleDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        EnsembleDir(dir.into())
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn ensemble_json(&self) -> PathBuf {
        self.0.join(ENSEMBLE_JSON)
    }
    /// Member `i`'s folder, relative to the ensemble directory (as `ensemble.json` records it).
    pub fn member_rel(i: usize) -> PathBuf {
        Path::new(MEMBERS_DIR).join(i.to_string())
    }
    pub fn member(&self, i: usize) -> RunDir {
        RunDir(self.0.join(Self::member_rel(i)))
    }
    /// Whether an ensemble was saved here.
    /// (Whatever holds the name counts: a FIFO there is refused by name when it is read.)
    pub fn is_ensemble(dir: &Path) -> bool {
        dir.join(ENSEMBLE_JSON).exists()
    }
}

/// The files of a tuning directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TuneDir(PathBuf);

impl TuneDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TuneDir(dir.into())
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn settings(&self) -> PathBuf {
        self.0.join(TUNE_JSON)
    }
    pub fn results(&self) -> PathBuf {
        self.0.join(RESULTS_JSONL)
    }
    pub fn trials(&self) -> PathBuf {
        self.0.join(TRIALS_DIR)
    }
    /// Trial `n`'s run directory: `trials/NNNN`.
    pub fn trial(&self, n: usize) -> RunDir {
        RunDir(self.trials().join(format!("{n:04}")))
    }
    pub fn best(&self) -> RunDir {
        RunDir(self.0.join(BEST_DIR))
    }
    pub fn best_model_toml(&self) -> PathBuf {
        self.0.join(BEST_DIR).join(MODEL_TOML)
    }
    pub fn best_json(&self) -> PathBuf {
        self.0.join(BEST_JSON)
    }
    pub fn retrain(&self) -> PathBuf {
        self.0.join(RETRAIN_DIR)
    }
}

/// The charts of a run's report, in [`CHARTS_DIR`]: each name is written as `.png` and `.svg`.
pub mod charts {
    pub const LEARNING_CURVES: &str = "learning-curves";
    pub const CONFUSION_MATRIX: &str = "confusion-matrix";
    pub const PER_CLASS: &str = "per-class";
    pub const MISCLASSIFIED: &str = "misclassified";
    pub const WEIGHTS: &str = "weights";
    pub const CONV_FILTERS: &str = "conv-filters";
    pub const FEATURE_MAPS: &str = "feature-maps";
    pub const ROBUSTNESS: &str = "robustness";
    pub const CALIBRATION: &str = "calibration";
    pub const CORRUPTIONS: &str = "corruptions";
}
