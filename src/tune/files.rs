//! The embedded shared store ([`FileStore`]): a shared study in the files of a directory, for
//! workers on one machine with no server, `--storage DIR --study NAME` (the study in `DIR/NAME/`).
//!
//! Files rather than SQLite: no C library to build or bundle, and the study stays readable
//! with the tools that read a tuning directory (the records are a `results.jsonl`, the models
//! run directories). Each [`SharedStore`] method is one transaction: it takes the study's lock
//! file with `flock` (blocking; the lock ends with the process, so a killed worker never leaves
//! it held), reads what it needs, and writes every file via temp + rename, the records appended
//! and synced. `flock` is only as good as the file system's: use PostgreSQL across machines
//! (a network file system's locks are not to be trusted).
//!
//! Layout: `study.json` (settings and meta), `state.json` (the tasks and the checkpoints'
//! epochs), `results.jsonl`, `checkpoints/NNNN.safetensors`, `models/NNNN/` (a run directory).

use super::results::{MAX_RESULTS_BYTES, ResultsFile, TrialRecord};
use super::search::Task;
use super::shared::{Claim, Claimed, Decide, ModelFiles, SharedStore, StudyMeta, TaskRow, TaskState, WorkerId};
use super::study::Settings;
use crate::layout::RunDir;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A study in `DIR/NAME/`.
pub struct FileStore {
    dir: PathBuf,
}

/// One task in `state.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FileTask {
    task: Task,
    state: TaskState,
    token: i64,
    worker: Option<WorkerId>,
    /// Seconds since the Unix epoch of the last heartbeat.
    heartbeat: Option<f64>,
    error: Option<String>,
}

/// `state.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct State {
    tasks: Vec<FileTask>,
    /// Epochs of each trial's stored checkpoint.
    checkpoints: BTreeMap<usize, usize>,
}

/// Largest `study.json` or `state.json` read.
const MAX_STATE_BYTES: u64 = 256 << 20;

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl FileStore {
    /// The study `name` in `dir`.
    pub fn open(dir: &Path, name: &str) -> Result<FileStore> {
        super::shared::check_name(name)?;
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        Ok(FileStore { dir })
    }

    fn bad(&self, message: String) -> Error {
        Error::Study { study: self.location(), message }
    }

    /// Runs `f` holding the study's lock: one transaction.
    fn locked<T>(&self, f: impl FnOnce(&FileStore) -> Result<T>) -> Result<T> {
        let _lock = crate::lock::DirLock::wait(&self.dir)?;
        f(self)
    }

    fn study_file(&self) -> PathBuf {
        self.dir.join("study.json")
    }

    fn checkpoint_file(&self, trial: usize) -> PathBuf {
        self.dir.join("checkpoints").join(format!("{trial:04}.safetensors"))
    }

    fn model_dir(&self, trial: usize) -> RunDir {
        RunDir::new(self.dir.join("models").join(format!("{trial:04}")))
    }

    fn read_state(&self) -> Result<State> {
        let path = self.dir.join("state.json");
        if !path.exists() {
            return Ok(State::default());
        }
        let bytes = crate::input::read_capped(&path, MAX_STATE_BYTES)?;
        serde_json::from_slice(&bytes).map_err(|e| self.bad(format!("state.json: {e}")))
    }

    fn write_state(&self, state: &State) -> Result<()> {
        crate::atomic::write_json(&self.dir.join("state.json"), state)
    }

    fn read_records(&self) -> Result<(ResultsFile, Vec<TrialRecord>)> {
        ResultsFile::open(&self.dir.join(crate::layout::RESULTS_JSONL))
    }

    /// Applies `change` to the claim's task when the claim still holds it; false when not.
    fn with_claim(&self, claim: &Claim, change: impl FnOnce(&mut State, usize) -> Result<()>) -> Result<bool> {
        self.locked(|s| {
            let mut state = s.read_state()?;
            let Some(i) = held(&state, claim) else { return Ok(false) };
            change(&mut state, i)?;
            s.write_state(&state)?;
            Ok(true)
        })
    }

    /// Queues those of `tasks` not there yet.
    fn queue(state: &mut State, tasks: Vec<Task>) {
        for task in tasks {
            if !state.tasks.iter().any(|t| t.task.trial == task.trial && t.task.round == task.round) {
                state.tasks.push(FileTask {
                    task,
                    state: TaskState::Queued,
                    token: 0,
                    worker: None,
                    heartbeat: None,
                    error: None,
                });
            }
        }
    }
}

impl SharedStore for FileStore {
    fn create(&mut self, settings: &Settings, meta: &StudyMeta, decide: Decide) -> Result<()> {
        self.locked(|s| {
            let path = s.study_file();
            if path.exists() {
                let (old_settings, old_meta) = read_study(&path)?;
                return super::shared::same_study(settings, meta, &old_settings, &old_meta).map_err(|m| s.bad(m));
            }
            let mut state = State::default();
            FileStore::queue(&mut state, decide(&[])?);
            s.write_state(&state)?;
            let study = serde_json::json!({ "settings": settings, "meta": meta });
            crate::atomic::write_json(&path, &study)
        })
    }

    fn load(&mut self) -> Result<(Settings, StudyMeta)> {
        let path = self.study_file();
        if !path.exists() {
            return Err(
                self.bad("no such study here; create it with `digits tune --space … --storage … --study …` (or `digits ensemble train … --storage … --study …`)".into())
            );
        }
        let (s, m) = read_study(&path)?;
        super::shared::parse_study(&s, &m).map_err(|e| self.bad(e))
    }

    fn claim(&mut self, worker: &WorkerId) -> Result<Claimed> {
        let lease = self.load()?.1.lease_seconds;
        self.locked(|s| {
            let mut state = s.read_state()?;
            let t = now();
            let runnable = |f: &FileTask| {
                f.state == TaskState::Queued
                    || (f.state == TaskState::Running && f.heartbeat.is_none_or(|h| h < t - lease))
            };
            let mut order: Vec<usize> = (0..state.tasks.len()).filter(|&i| runnable(&state.tasks[i])).collect();
            order.sort_by_key(|&i| (state.tasks[i].task.trial, state.tasks[i].task.round));
            let Some(&i) = order.first() else { return Ok(what_now(&state)) };
            let f = &mut state.tasks[i];
            (f.state, f.token, f.worker, f.heartbeat, f.error) =
                (TaskState::Running, f.token + 1, Some(worker.clone()), Some(t), None);
            let claim = Claim { task: f.task, token: f.token };
            s.write_state(&state)?;
            Ok(Claimed::Task(claim))
        })
    }

    fn heartbeat(&mut self, claim: &Claim) -> Result<bool> {
        self.with_claim(claim, |state, i| {
            state.tasks[i].heartbeat = Some(now());
            Ok(())
        })
    }

    fn checkpoint(&mut self, trial: usize, limit: usize) -> Result<Option<Vec<u8>>> {
        let path = self.checkpoint_file(trial);
        if !path.exists() {
            return Ok(None);
        }
        let len = std::fs::metadata(&path).map_err(Error::io(&path))?.len();
        if len > limit as u64 {
            return Err(
                self.bad(format!("trial {trial}: checkpoint: {len} bytes, more than the {limit} its model can take"))
            );
        }
        crate::input::read_capped(&path, limit as u64).map(Some)
    }

    fn save_checkpoint(&mut self, claim: &Claim, epochs: usize, bytes: &[u8]) -> Result<bool> {
        let path = self.checkpoint_file(claim.task.trial);
        self.with_claim(claim, |state, i| {
            std::fs::create_dir_all(path.parent().expect("in a folder")).map_err(Error::io(&path))?;
            crate::atomic::write_file(&path, bytes)?;
            state.checkpoints.insert(claim.task.trial, epochs);
            state.tasks[i].heartbeat = Some(now());
            Ok(())
        })
    }

    fn finish(
        &mut self,
        claim: &Claim,
        record: &TrialRecord,
        model: Option<&ModelFiles>,
        decide: Decide,
    ) -> Result<bool> {
        let model_dir = self.model_dir(claim.task.trial);
        self.locked(|s| {
            let mut state = s.read_state()?;
            let Some(i) = held(&state, claim) else { return Ok(false) };
            if let Some(m) = model {
                m.write(&model_dir)?;
            }
            let (mut results, mut records) = s.read_records()?;
            // A worker killed between the append and the state left the record: keep that one.
            if !records.iter().any(|r| r.trial == record.trial && r.round == record.round) {
                records.push(results.append(record)?);
            }
            state.tasks[i].state = TaskState::Done;
            FileStore::queue(&mut state, decide(&records)?);
            s.write_state(&state)?;
            Ok(true)
        })
    }

    fn fail(&mut self, claim: &Claim, error: &str) -> Result<()> {
        let error: String = error.chars().take(4000).collect();
        self.with_claim(claim, |state, i| {
            (state.tasks[i].state, state.tasks[i].error) = (TaskState::Failed, Some(error));
            Ok(())
        })
        .map(|_| ())
    }

    fn records(&mut self) -> Result<Vec<TrialRecord>> {
        self.locked(|s| Ok(s.read_records()?.1))
    }

    fn tasks(&mut self) -> Result<Vec<TaskRow>> {
        let state = self.locked(|s| s.read_state())?;
        let t = now();
        let mut rows: Vec<TaskRow> = state
            .tasks
            .iter()
            .map(|f| TaskRow {
                task: f.task,
                state: f.state,
                worker: f.worker.clone(),
                heartbeat_age: f.heartbeat.map(|h| t - h),
                checkpoint_epochs: state.checkpoints.get(&f.task.trial).copied(),
                error: f.error.clone(),
            })
            .collect();
        rows.sort_by_key(|r| (r.task.trial, r.task.round));
        Ok(rows)
    }

    fn model(&mut self, trial: usize, limit: usize) -> Result<Option<ModelFiles>> {
        let dir = self.model_dir(trial);
        if !dir.weights().exists() {
            return Ok(None);
        }
        let files = [dir.model_json(), dir.weights(), dir.history_json(), dir.history_csv()];
        let len: u64 = files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
        if len > limit as u64 {
            return Err(
                self.bad(format!("trial {trial}: model: {len} bytes, more than the {limit} its model can take"))
            );
        }
        ModelFiles::read(&dir).map(Some)
    }

    fn reopen(&self) -> Result<Box<dyn SharedStore>> {
        Ok(Box::new(FileStore { dir: self.dir.clone() }))
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }
}

/// The settings and meta of `study.json`, as JSON texts.
fn read_study(path: &Path) -> Result<(String, String)> {
    let bytes = crate::input::read_capped(path, MAX_STATE_BYTES.min(MAX_RESULTS_BYTES))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::format(path, e.to_string()))?;
    Ok((v["settings"].to_string(), v["meta"].to_string()))
}

/// The index of the claim's task when the claim still holds it.
fn held(state: &State, claim: &Claim) -> Option<usize> {
    state.tasks.iter().position(|t| t.task == claim.task && t.token == claim.token && t.state == TaskState::Running)
}

/// What a worker does when nothing is runnable: stop on a failure, wait on running trials.
fn what_now(state: &State) -> Claimed {
    if let Some(f) = state.tasks.iter().find(|t| t.state == TaskState::Failed) {
        return Claimed::Failed(format!("trial {}: {}", f.task.trial, f.error.clone().unwrap_or_default()));
    }
    let open = state.tasks.iter().any(|t| matches!(t.state, TaskState::Queued | TaskState::Running));
    if open { Claimed::Wait } else { Claimed::Finished }
}
