//! The results file, `results.jsonl`: one JSON line per finished trial, appended and synced to
//! disk the moment the trial ends, so a killed tuning run loses at most the trials that were
//! running. On restart the file is read back; a last line cut short by the kill is dropped (and
//! cut from the file), a damaged line anywhere else is an error naming the line.

use super::space::Params;
use crate::Error;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One finished trial: a configuration trained to a number of epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// The configuration's number (its parameters are drawn from the seed and this number).
    pub trial: usize,
    /// Hyperband's bracket and round (absent for random search).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bracket: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<usize>,
    pub params: Params,
    pub epochs: usize,
    pub val_accuracy: f64,
    /// Absent when training diverged (the loss is not a finite number).
    pub val_loss: Option<f64>,
    /// Training time of this trial (or round), which differs from run to run.
    pub seconds: f64,
}

impl TrialRecord {
    /// The record of `task` trained with `params`: a diverged trial (loss not finite) has no loss.
    pub fn of(
        task: &super::search::Task,
        params: &super::space::Params,
        val_accuracy: f64,
        val_loss: f64,
        seconds: f64,
    ) -> TrialRecord {
        TrialRecord {
            trial: task.trial,
            bracket: task.bracket,
            round: task.round,
            params: params.clone(),
            epochs: task.epochs,
            val_accuracy,
            val_loss: val_loss.is_finite().then_some(val_loss),
            seconds,
        }
    }

    /// Ranking: higher validation accuracy first, then lower validation loss, then the lower
    /// trial number, so ties are broken the same way every time.
    pub fn better(&self, other: &TrialRecord) -> std::cmp::Ordering {
        let loss = |r: &TrialRecord| r.val_loss.unwrap_or(f64::INFINITY);
        other
            .val_accuracy
            .total_cmp(&self.val_accuracy)
            .then(loss(self).total_cmp(&loss(other)))
            .then(self.trial.cmp(&other.trial))
            .then(other.epochs.cmp(&self.epochs))
    }
}

/// Largest results file read back: 256 MiB, several times a 100,000-configuration study's.
pub const MAX_RESULTS_BYTES: u64 = 256 << 20;

/// The open results file.
pub struct ResultsFile {
    path: PathBuf,
    file: std::fs::File,
}

impl ResultsFile {
    /// Opens (creating) the file and returns the trials already recorded.
    pub fn open(path: &Path) -> Result<(ResultsFile, Vec<TrialRecord>), Error> {
        let io = |source| Error::Io { path: path.into(), source };
        let bytes = if path.symlink_metadata().is_ok() {
            crate::input::read_capped(path, MAX_RESULTS_BYTES)?
        } else {
            Vec::new()
        };
        let mut records = Vec::new();
        let mut good = 0; // bytes of whole, valid lines
        let mut start = 0;
        let mut line_no = 0;
        while start < bytes.len() {
            line_no += 1;
            let end = bytes[start..].iter().position(|&b| b == b'\n').map(|p| start + p);
            let line = &bytes[start..end.unwrap_or(bytes.len())];
            let parsed = std::str::from_utf8(line).ok().and_then(|l| serde_json::from_str::<TrialRecord>(l).ok());
            match (parsed, end) {
                (Some(r), Some(end)) => {
                    records.push(r);
                    good = end + 1;
                    start = end + 1;
                }
                // The last line, without its newline: the run was killed while writing it.
                (_, None) => break,
                (None, Some(end)) if line.iter().all(u8::is_ascii_whitespace) => {
                    good = end + 1;
                    start = end + 1;
                }
                (None, Some(_)) => {
                    return Err(Error::Results {
                        path: path.into(),
                        message: format!(
                            "line {line_no} is not a trial record; the file is damaged (move it away to start over)"
                        ),
                    });
                }
            }
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        if good < bytes.len() {
            // Cut the torn line so the next record starts on a line of its own.
            file.set_len(good as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((ResultsFile { path: path.into(), file }, records))
    }

    /// Appends one record as a line and waits until it is on disk. Returns the record as it
    /// reads back from the file, so decisions made from it are the ones a resumed run makes.
    pub fn append(&mut self, record: &TrialRecord) -> Result<TrialRecord, Error> {
        let io = |source| Error::Io { path: self.path.clone(), source };
        let mut line = serde_json::to_string(record).expect("a trial record serialises");
        let back: TrialRecord = serde_json::from_str(&line).expect("a trial record reads back");
        line.push('\n');
        // One write of the whole line: a kill leaves either the line or a torn tail.
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        Ok(back)
    }
}
