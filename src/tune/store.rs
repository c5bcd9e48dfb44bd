//! Where a study keeps what it must not lose: its settings, the record of every finished trial,
//! each trial's checkpoint and model, and the best trial's model and summary.
//!
//! [`StudyStore`] is the seam: the scheduling in [`super::Study`] talks only to it, so the same
//! code runs on the files of a tuning directory ([`DirStore`], today's `digits tune --out`) or on
//! another store (a database shared by workers on several machines). A store's records are the
//! whole truth about a study: the strategies decide only from them, which is what makes a study
//! resumable from any moment.

use super::results::{ResultsFile, TrialRecord};
use super::study::Settings;
use crate::layout::{RunDir, TuneDir};
use crate::lock::DirLock;
use crate::{Error, Result};
use std::path::PathBuf;

/// Where the best trial's model and summary go, and where its reproduce command trains again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BestPlace {
    /// A run directory: the best trial's model and history (what `digits evaluate` reads).
    pub dir: RunDir,
    /// Its model file (what `digits train --model` reads).
    pub model_file: PathBuf,
    /// The summary: parameters, validation metrics, test accuracy, the reproduce command.
    pub summary: PathBuf,
    /// Where the reproduce command writes.
    pub retrain: PathBuf,
}

/// The storage of a study.
pub trait StudyStore {
    /// Creates the study with `settings`, or joins the one stored here when its settings are the
    /// same; refuses other settings (naming each difference, see [`Settings::differences`]).
    /// Returns the trials recorded so far, in the order they were recorded.
    fn open(&mut self, settings: &Settings) -> Result<Vec<TrialRecord>>;

    /// Records a finished trial (or Hyperband round) durably, before anything is decided from
    /// it, and returns the record as it reads back from the store, so that the decisions made
    /// from it are the ones a resumed study makes.
    fn record(&mut self, record: &TrialRecord) -> Result<TrialRecord>;

    /// The run directory trial `trial` trains in: its last checkpoint, which a promoted or
    /// interrupted trial continues from, and once trained its model and history.
    fn trial_dir(&mut self, trial: usize) -> Result<RunDir>;

    /// Trial `trial` will not be trained further: its checkpoint may go. Best effort: a
    /// checkpoint left behind costs space, never a result.
    fn spend_checkpoint(&mut self, trial: usize);

    /// Where the best trial goes once the study is finished.
    fn best_place(&self) -> BestPlace;

    /// Where the records are kept, as messages name it (a file, a database and study name).
    fn records_location(&self) -> String;
}

/// The study in the files of a tuning directory (see [`crate::layout`]): `tune.json`,
/// `results.jsonl` (appended and synced as each trial ends), `trials/NNNN/`, `best/` and
/// `best.json`.
pub struct DirStore {
    dir: TuneDir,
    results: Option<ResultsFile>,
    /// The tuning directory's lock, held from [`StudyStore::open`] on.
    lock: Option<DirLock>,
}

impl DirStore {
    pub fn new(dir: impl Into<PathBuf>) -> DirStore {
        DirStore { dir: TuneDir::new(dir), results: None, lock: None }
    }

    pub fn dir(&self) -> &TuneDir {
        &self.dir
    }

    /// Removes the temporary files a killed run left in the trial folders and the best folder
    /// (the tuning directory's own are removed as its lock is taken).
    fn remove_stale_temps(&self) -> Result<()> {
        let trials = self.dir.trials();
        if let Ok(list) = std::fs::read_dir(&trials) {
            for entry in list {
                let entry = entry.map_err(Error::io(&trials))?;
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    crate::atomic::remove_stale_temps(&entry.path())?;
                }
            }
        }
        crate::atomic::remove_stale_temps(self.dir.best().path())?;
        Ok(())
    }

    /// Writes the settings of a new study, or checks them against the stored ones.
    fn settle(&self, settings: &Settings) -> Result<()> {
        let path = self.dir.settings();
        if !path.exists() {
            return crate::atomic::write_json(&path, settings);
        }
        let old: serde_json::Value = crate::input::read_json(&path)?;
        let differ = settings.differences(&old);
        if differ.is_empty() {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "{} holds a tuning run with other settings ({}); resume it with the same flags and space, or use another --out",
            self.dir.path().display(),
            differ.join("; ")
        )))
    }
}

impl StudyStore for DirStore {
    fn open(&mut self, settings: &Settings) -> Result<Vec<TrialRecord>> {
        if self.lock.is_none() {
            self.lock = Some(DirLock::acquire(self.dir.path())?);
        }
        self.settle(settings)?;
        self.remove_stale_temps()?;
        let (results, done) = ResultsFile::open(&self.dir.results())?;
        self.results = Some(results);
        Ok(done)
    }

    fn record(&mut self, record: &TrialRecord) -> Result<TrialRecord> {
        let results = self.results.as_mut().ok_or_else(|| Error::invalid("the study store is not open"))?;
        results.append(record)
    }

    fn trial_dir(&mut self, trial: usize) -> Result<RunDir> {
        Ok(self.dir.trial(trial))
    }

    fn spend_checkpoint(&mut self, trial: usize) {
        let _ = std::fs::remove_file(self.dir.trial(trial).checkpoint_last());
    }

    fn best_place(&self) -> BestPlace {
        BestPlace {
            dir: self.dir.best(),
            model_file: self.dir.best_model_toml(),
            summary: self.dir.best_json(),
            retrain: self.dir.retrain(),
        }
    }

    fn records_location(&self) -> String {
        self.dir.results().display().to_string()
    }
}
