//! A study shared by workers with no chief: every worker claims the next runnable trial from a
//! shared store, trains it with a checkpoint to the store after every epoch, records the result
//! and claims again, until the study is finished.
//!
//! [`SharedStore`] is the seam: the scheduling here ([`Worker`]) talks only to it, so the same
//! code runs on PostgreSQL ([`super::pg::PgStore`], workers on many machines) and on the files of
//! a tuning directory ([`super::files::FileStore`], workers on one machine). The store does the
//! transactions; the decisions are this module's and are made only from recorded results:
//! [`SharedStore::finish`] records a result and, in the same transaction, queues every task the
//! strategy ([`Strategy::ready`]) says the records now allow. So Hyperband promotes a round
//! exactly when its last result is recorded, whoever recorded it; TPE queues a trial once the
//! results it is decided from are recorded, and whichever worker claims it decides its
//! parameters from them ([`super::tpe`]). A study worked by any number of workers, some of them
//! killed, ends with the same trials, results and best model as a single-process run with the
//! same seed.
//!
//! A claim holds a lease: the worker heart-beats from a thread, and a trial whose heartbeat is
//! older than the study's lease can be claimed again, continuing from its last checkpoint. Each
//! claim has a token; a worker whose claim was taken over (it stalled past its lease) has its
//! checkpoints and result refused and moves on.
//!
//! The same machinery trains an ensemble's members ([`super::members`]): a study whose tasks
//! are the members, whose records are their scores and whose models are the members'.
//!
//! Everything read back from a store is checked before it is used: records and tasks against
//! the study's plan ([`check_record`], [`check_task`]), blobs against a size derived from the
//! trial's planned parameter count before they are fetched ([`blob_limit`]).

use super::executor::TrialData;
use super::hyperband::MAX_EPOCHS;
use super::members::member_text;
use super::results::TrialRecord;
use super::search::{Strategy, Task};
use super::space::{Params, params_text};
use super::study::Settings;
use super::trial::{pack_checkpoints, restores_best, run_trial_with, unpack_checkpoints};
use crate::data::Dataset;
use crate::layout::RunDir;
use crate::model::ModelSpec;
use crate::train::{Progress, TrainConfig, checkpoint};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::mpsc;
use std::time::Duration;

/// The default lease: a trial whose worker has not heart-beaten for this long is claimed again.
pub const DEFAULT_LEASE_SECONDS: f64 = 60.0;
/// The shortest and longest lease a study accepts.
pub const LEASE_RANGE: (f64, f64) = (1.0, 86_400.0);
/// The longest study name.
pub const MAX_NAME: usize = 100;

/// A study's name: 1 to [`MAX_NAME`] letters, digits, `-`, `_` or `.` (it names files too).
pub fn check_name(name: &str) -> Result<()> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(ok) || name.starts_with('.') {
        return Err(Error::Invalid(format!(
            "--study must be 1 to {MAX_NAME} letters, digits, `-`, `_` or `.` (not first), got `{}`",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// What a shared study holds beside its [`Settings`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyMeta {
    /// The checksum of the data set the study trains on ([`crate::data::Dataset::checksum`]).
    pub data_checksum: String,
    /// Seconds without a heartbeat after which a running trial may be claimed again.
    pub lease_seconds: f64,
}

/// A lease in [`LEASE_RANGE`].
pub fn check_lease(seconds: f64) -> Result<()> {
    let (lo, hi) = LEASE_RANGE;
    if !(lo..=hi).contains(&seconds) {
        return Err(Error::Invalid(format!("--lease must be {lo} to {hi} seconds, got {seconds}")));
    }
    Ok(())
}

impl StudyMeta {
    pub fn check(&self) -> Result<()> {
        check_lease(self.lease_seconds)?;
        if self.data_checksum.len() > 100 {
            return Err(Error::invalid("the data checksum is longer than 100 characters"));
        }
        Ok(())
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs_f64(self.lease_seconds)
    }
}

/// Who works on a trial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerId {
    pub host: String,
    pub pid: u32,
}

impl WorkerId {
    /// This process.
    pub fn me() -> WorkerId {
        WorkerId { host: crate::lock::hostname(), pid: std::process::id() }
    }
}

/// A claimed task: train it, then [`SharedStore::finish`] it with the same token.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub task: Task,
    /// Changes with every claim of the task: a worker whose claim was taken over is refused.
    pub token: i64,
}

/// What [`SharedStore::claim`] found.
#[derive(Clone, Debug, PartialEq)]
pub enum Claimed {
    Task(Claim),
    /// Nothing is runnable now, but trials are running: their results may queue more.
    Wait,
    /// No trial is queued or running: the study is finished.
    Finished,
    /// A trial failed (`trial`: its error): the study cannot finish.
    Failed(String),
}

/// A trained trial's files, as the store keeps them (absent for a trial that diverged).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ModelFiles {
    pub model_json: Vec<u8>,
    pub weights: Vec<u8>,
    pub history_json: Vec<u8>,
    pub history_csv: Vec<u8>,
}

impl ModelFiles {
    /// The files of `dir` (a trained trial's run directory).
    pub fn read(dir: &RunDir) -> Result<ModelFiles> {
        let read = |p: std::path::PathBuf| std::fs::read(&p).map_err(Error::io(&p));
        Ok(ModelFiles {
            model_json: read(dir.model_json())?,
            weights: read(dir.weights())?,
            history_json: read(dir.history_json())?,
            history_csv: read(dir.history_csv())?,
        })
    }

    /// Writes the files into `dir` (each exclusively, via temp + rename).
    pub fn write(&self, dir: &RunDir) -> Result<()> {
        std::fs::create_dir_all(dir.path()).map_err(Error::io(dir.path()))?;
        crate::atomic::write_file(&dir.model_json(), &self.model_json)?;
        crate::atomic::write_file(&dir.weights(), &self.weights)?;
        crate::atomic::write_file(&dir.history_json(), &self.history_json)?;
        crate::atomic::write_file(&dir.history_csv(), &self.history_csv)
    }

    pub fn len(&self) -> usize {
        self.model_json.len() + self.weights.len() + self.history_json.len() + self.history_csv.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The state of a trial in a shared study.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Queued,
    Running,
    Done,
    Failed,
}

impl TaskState {
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
        }
    }

    pub fn from_name(s: &str) -> Option<TaskState> {
        [TaskState::Queued, TaskState::Running, TaskState::Done, TaskState::Failed].into_iter().find(|t| t.name() == s)
    }
}

/// One task as [`SharedStore::tasks`] lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    pub task: Task,
    pub state: TaskState,
    pub worker: Option<WorkerId>,
    /// Seconds since the claiming worker's last heartbeat.
    pub heartbeat_age: Option<f64>,
    /// Epochs in the trial's checkpoint.
    pub checkpoint_epochs: Option<usize>,
    pub error: Option<String>,
}

/// The decision a store runs inside its recording transaction: the tasks the records allow.
pub type Decide<'a> = &'a dyn Fn(&[TrialRecord]) -> Result<Vec<Task>>;

/// The storage of a shared study: each method is one transaction.
pub trait SharedStore: Send {
    /// Creates the study (`settings`, `meta`, and the tasks `decide(&[])` allows), or joins the
    /// stored one when its settings and data checksum are the same; refuses others, naming each
    /// difference.
    fn create(&mut self, settings: &Settings, meta: &StudyMeta, decide: Decide) -> Result<()>;

    /// The stored study's settings and meta, checked ([`Settings::check`], the plan).
    fn load(&mut self) -> Result<(Settings, StudyMeta)>;

    /// Claims the first runnable task (queued, or running with an expired lease) for `worker`.
    fn claim(&mut self, worker: &WorkerId) -> Result<Claimed>;

    /// Renews the claim's lease; false when the claim was taken over.
    fn heartbeat(&mut self, claim: &Claim) -> Result<bool>;

    /// The trial's latest checkpoint (at most `limit` bytes, else an error naming the trial).
    fn checkpoint(&mut self, trial: usize, limit: usize) -> Result<Option<Vec<u8>>>;

    /// Stores the claim's checkpoint after `epochs` epochs; false when the claim was taken over.
    fn save_checkpoint(&mut self, claim: &Claim, epochs: usize, bytes: &[u8]) -> Result<bool>;

    /// Records the claim's result and model, then queues what `decide` allows from all records,
    /// in one transaction; false (nothing recorded) when the claim was taken over.
    fn finish(
        &mut self,
        claim: &Claim,
        record: &TrialRecord,
        model: Option<&ModelFiles>,
        decide: Decide,
    ) -> Result<bool>;

    /// Marks the claimed task failed with `error`: the study stops.
    fn fail(&mut self, claim: &Claim, error: &str) -> Result<()>;

    /// Every record, in the order recorded.
    fn records(&mut self) -> Result<Vec<TrialRecord>>;

    /// Every task, by trial and round.
    fn tasks(&mut self) -> Result<Vec<TaskRow>>;

    /// The trial's last model (at most `limit` bytes in all), absent when it has none.
    fn model(&mut self, trial: usize, limit: usize) -> Result<Option<ModelFiles>>;

    /// Another handle on the same study (a second connection), for the heartbeat thread.
    fn reopen(&self) -> Result<Box<dyn SharedStore>>;

    /// The store and study as messages name them (never a password).
    fn location(&self) -> String;
}

/// Checks a record read back from a store against the study's plan: a planned trial, bracket,
/// round and epoch count, the trial's drawn parameters, plausible metrics.
pub fn check_record(settings: &Settings, drawn: &[Params], r: &TrialRecord) -> std::result::Result<(), String> {
    let task = Task { trial: r.trial, bracket: r.bracket, round: r.round, epochs: r.epochs };
    check_task(settings, &task)?;
    if drawn.get(r.trial) != Some(&r.params) {
        return Err(format!(
            "trial {}: recorded with other parameters than the study's space and seed give{} ({})",
            r.trial,
            match settings.search {
                Strategy::Tpe(_) => " after the results recorded before it",
                _ => "",
            },
            params_text(&r.params)
        ));
    }
    let fine = (0.0..=1.0).contains(&r.val_accuracy)
        && r.val_loss.is_none_or(|l| l.is_finite() && l >= 0.0)
        && r.seconds.is_finite()
        && r.seconds >= 0.0;
    if !fine {
        return Err(format!(
            "trial {}: implausible result (val_accuracy {}, val_loss {:?}, seconds {})",
            r.trial, r.val_accuracy, r.val_loss, r.seconds
        ));
    }
    Ok(())
}

/// Checks that `task` is one of the study's plan: its trial, bracket, round and epochs.
pub fn check_task(settings: &Settings, t: &Task) -> std::result::Result<(), String> {
    let n = settings.search.configurations();
    let planned = match (&settings.search, t.bracket, t.round) {
        _ if t.trial >= n || t.epochs > MAX_EPOCHS => false,
        (Strategy::Random { epochs, .. } | Strategy::Members { epochs, .. }, None, None) => t.epochs == *epochs,
        (Strategy::Tpe(tpe), None, None) => t.epochs == tpe.epochs,
        (Strategy::Hyperband(plan), Some(b), Some(i)) => plan.brackets.iter().any(|br| {
            br.s == b
                && (br.first_trial..br.first_trial + br.rounds[0].trials).contains(&t.trial)
                && br.rounds.get(i).is_some_and(|r| r.epochs == t.epochs)
        }),
        _ => false,
    };
    if planned {
        return Ok(());
    }
    Err(format!(
        "trial {} (bracket {:?}, round {:?}, {} epochs) is not a task of this study's plan",
        t.trial, t.bracket, t.round, t.epochs
    ))
}

/// The most bytes a checkpoint or model of a model with `params` parameters can take: weights
/// and two optimizer slots of 4 bytes each, and 16 MiB for headers and history.
pub fn blob_limit(params: usize) -> usize {
    params.saturating_mul(12).saturating_add(16 << 20)
}

/// The most bytes a trial's stored checkpoint can take: twice [`blob_limit`] when it holds the
/// best epoch's beside the last ([`pack_checkpoints`]).
fn checkpoint_limit(params: usize, cfg: &TrainConfig) -> usize {
    if restores_best(cfg) { blob_limit(params).saturating_mul(2) } else { blob_limit(params) }
}

/// What a worker reports as it goes.
#[derive(Clone, Debug)]
pub enum WorkerEvent<'a> {
    /// The worker claimed a task; `from_epoch` is where its checkpoint let it continue.
    Claimed { task: &'a Task, params: &'a Params, from_epoch: usize },
    /// The task finished and is recorded.
    Recorded { record: &'a TrialRecord, val_loss: f64 },
    /// The claim was taken over (this worker stalled past its lease); its work is dropped.
    Lost { task: &'a Task },
    /// Nothing to claim now; others are training.
    Waiting,
}

/// A worker on a shared study.
pub struct Worker {
    store: Box<dyn SharedStore>,
    settings: Settings,
    meta: StudyMeta,
    drawn: Vec<Params>,
    id: WorkerId,
    /// The last split made, by its seed ([`Settings::trial_seed`]): a search's trials all
    /// share one; an ensemble's members each have their own.
    split: Option<(u64, TrialData)>,
}

/// How often a waiting worker asks again, at most.
const MAX_POLL: Duration = Duration::from_secs(2);

impl Worker {
    /// A worker on the study in `store` (which must exist: see [`SharedStore::create`]).
    pub fn join(mut store: Box<dyn SharedStore>) -> Result<Worker> {
        let (settings, meta) = store.load()?;
        let drawn = settings.configurations(&[]);
        Ok(Worker { store, settings, meta, drawn, id: WorkerId::me(), split: None })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn meta(&self) -> &StudyMeta {
        &self.meta
    }

    /// Claims and trains tasks on `data` (the study's data, whose checksum the caller checked;
    /// each task's split is made from it: [`Settings::task_data`]) until the study is finished.
    /// Returns the number of tasks this worker recorded.
    pub fn work(&mut self, data: &Dataset, observer: &mut dyn FnMut(WorkerEvent)) -> Result<usize> {
        let mut recorded = 0;
        let poll = (self.meta.lease() / 4).min(MAX_POLL);
        loop {
            match self.store.claim(&self.id)? {
                Claimed::Task(claim) => recorded += usize::from(self.train(&claim, data, observer)?),
                Claimed::Wait => {
                    observer(WorkerEvent::Waiting);
                    std::thread::sleep(poll);
                }
                Claimed::Finished => return Ok(recorded),
                Claimed::Failed(e) => return Err(self.error(format!("the study failed: {e}"))),
            }
        }
    }

    fn error(&self, message: String) -> Error {
        Error::Study { study: self.store.location(), message }
    }

    /// Trains one claimed task; true when its result was recorded. Any error marks the task
    /// failed (so the study stops with it rather than waiting out the lease) and is returned.
    fn train(&mut self, claim: &Claim, data: &Dataset, observer: &mut dyn FnMut(WorkerEvent)) -> Result<bool> {
        match self.try_train(claim, data, observer) {
            Ok(done) => Ok(done),
            Err(e) => {
                let message = match &e {
                    Error::Study { message, .. } => message.clone(),
                    e => format!("{}: {e}", self.trial_text(claim.task.trial)),
                };
                self.store.fail(claim, &message)?;
                Err(self.error(message))
            }
        }
    }

    /// `trial 3`, or `member 3 (seed 3)` in an ensemble study.
    fn trial_text(&self, trial: usize) -> String {
        match (self.settings.member(), self.drawn.get(trial)) {
            (Some(_), Some(params)) => member_text(trial, params),
            _ => format!("trial {trial}"),
        }
    }

    fn try_train(&mut self, claim: &Claim, data: &Dataset, observer: &mut dyn FnMut(WorkerEvent)) -> Result<bool> {
        let task = claim.task;
        check_task(&self.settings, &task).map_err(|e| self.error(e))?;
        if task.trial >= self.drawn.len() {
            // TPE decides a configuration from the results before it: the store has them, as
            // the task was queued only once they were recorded.
            let done = self.store.records()?;
            self.settings.draw(&done, &mut self.drawn);
        }
        let (spec, cfg) = self.configure(&task)?;
        let split = self.take_split(data, task.trial)?;
        let scratch = tempfile::tempdir().map_err(Error::io(std::env::temp_dir()))?;
        let dir = RunDir::new(scratch.path());
        let from_epoch = self.restore(&task, &spec, &cfg, &dir)?;
        observer(WorkerEvent::Claimed { task: &task, params: &self.drawn[task.trial], from_epoch });
        let start = std::time::Instant::now();
        let fitted = self.fit(claim, &spec, &cfg, &dir, &split);
        self.split = Some((self.settings.trial_seed(task.trial), split));
        let (trained, lost) = fitted?;
        if lost {
            observer(WorkerEvent::Lost { task: &task });
            return Ok(false);
        }
        let what = || format!("{} ({})", self.trial_text(task.trial), params_text(&self.drawn[task.trial]));
        let t = trained.map_err(|e| self.error(format!("{}: {e}", what())))?;
        if let (Some(e), Some(_)) = (&t.diverged, self.settings.member()) {
            // A member that does not train fails the ensemble, as `digits train` fails.
            return Err(self.error(format!("{}: {e}", self.trial_text(task.trial))));
        }
        let seconds = start.elapsed().as_secs_f64();
        let record = TrialRecord::of(&task, &self.drawn[task.trial], t.val_accuracy, t.val_loss, seconds);
        let model = if dir.weights().exists() { Some(ModelFiles::read(&dir)?) } else { None };
        let finished = {
            let (settings, drawn, shown) = (&self.settings, &self.drawn, self.store.location());
            let decide = |done: &[TrialRecord]| decide(settings, drawn, &shown, done);
            self.store.finish(claim, &record, model.as_ref(), &decide)?
        };
        if !finished {
            observer(WorkerEvent::Lost { task: &task });
            return Ok(false);
        }
        observer(WorkerEvent::Recorded { record: &record, val_loss: t.val_loss });
        Ok(true)
    }

    /// The training and validation sets of `trial`, made from `data` unless the last split
    /// made is the one (every trial of a search has the same).
    fn take_split(&mut self, data: &Dataset, trial: usize) -> Result<TrialData> {
        let seed = self.settings.trial_seed(trial);
        match self.split.take() {
            Some((s, split)) if s == seed => Ok(split),
            _ => self.settings.task_data(data, trial),
        }
    }

    /// Trains the claimed task in `dir` while a thread heart-beats, copying each epoch's
    /// checkpoint to the store (with the best epoch's, when the task restores its best
    /// weights); also says whether the claim was lost on the way.
    fn fit(
        &mut self,
        claim: &Claim,
        spec: &ModelSpec,
        cfg: &TrainConfig,
        dir: &RunDir,
        data: &TrialData,
    ) -> Result<(Result<super::trial::Trained>, bool)> {
        let heart = Heartbeat::start(self.store.reopen()?, claim.clone(), self.meta.lease() / 3)?;
        let mut lost = false;
        let (store, last, best, pack) =
            (&mut self.store, dir.checkpoint_last(), dir.checkpoint_best(), restores_best(cfg));
        let mut copy = |p: &Progress| -> Result<()> {
            let read = |path: &std::path::Path| std::fs::read(path).map_err(Error::io(path));
            let mut bytes = read(&last)?;
            if pack {
                let best = if best.exists() { Some(read(&best)?) } else { None };
                bytes = pack_checkpoints(&bytes, best.as_deref());
            }
            if store.save_checkpoint(claim, p.epochs_done, &bytes)? {
                return Ok(());
            }
            lost = true;
            Err(Error::invalid("the claim was taken over"))
        };
        let trained = run_trial_with(dir, spec, cfg, &data.train, data.validation.as_ref(), &mut copy);
        heart.stop();
        Ok((trained, lost))
    }

    /// Puts the trial's stored checkpoint in `dir` (the best epoch's too, when the task restores
    /// its best weights), checked against the model; returns its epochs.
    fn restore(&mut self, task: &Task, spec: &ModelSpec, cfg: &TrainConfig, dir: &RunDir) -> Result<usize> {
        let mut net = spec.build(cfg.seed)?;
        let (t, nt) = net.param_counts();
        let Some(bytes) = self.store.checkpoint(task.trial, checkpoint_limit(t + nt, cfg))? else { return Ok(0) };
        let what = self.trial_text(task.trial);
        let (last, best) = if restores_best(cfg) {
            unpack_checkpoints(&bytes).map_err(|e| self.error(format!("{what}: checkpoint: {e}")))?
        } else {
            (&bytes[..], None)
        };
        let path = dir.checkpoint_last();
        crate::atomic::write_file(&path, last)?;
        let mut opt = crate::optim::Optimizer::new(cfg.optimizer.clone());
        let progress = checkpoint::load_checkpoint(&path, &mut net, &mut opt)
            .map_err(|e| self.error(format!("{what}: checkpoint: {e}")))?;
        if let Some(best) = best {
            crate::atomic::write_file(&dir.checkpoint_best(), best)?;
            checkpoint::load_weights(&dir.checkpoint_best(), &net)
                .map_err(|e| self.error(format!("{what}: best checkpoint: {e}")))?;
        }
        if progress.epochs_done > task.epochs {
            return Err(self.error(format!(
                "{what}: checkpoint: {} epochs done, more than the {} of the task",
                progress.epochs_done, task.epochs
            )));
        }
        Ok(progress.epochs_done)
    }

    /// The model and training settings of a task.
    fn configure(&self, task: &Task) -> Result<(ModelSpec, TrainConfig)> {
        let params = self.drawn.get(task.trial).ok_or_else(|| {
            self.error(format!("trial {}: the recorded results do not decide its parameters yet", task.trial))
        })?;
        self.settings.task(task, params).map_err(|e| self.error(e.to_string()))
    }
}

/// The thread that renews a claim's lease while its trial trains.
struct Heartbeat {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Heartbeat {
    fn start(mut store: Box<dyn SharedStore>, claim: Claim, every: Duration) -> Result<Heartbeat> {
        let (stop, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("heartbeat-{}", claim.task.trial))
            .spawn(move || {
                // A failed heartbeat is not fatal: the checkpoints and the result check the claim.
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    if !matches!(store.heartbeat(&claim), Ok(true)) {
                        break;
                    }
                }
            })
            .map_err(|e| Error::Invalid(format!("starting the heartbeat thread: {e}")))?;
        Ok(Heartbeat { stop, thread })
    }

    fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// The tasks the strategy allows from `done`, every record first checked against the plan.
/// `drawn` holds the configurations decided from fewer records, if any (TPE decides the rest
/// from `done`: [`Strategy::draw`]).
pub fn decide(settings: &Settings, drawn: &[Params], study: &str, done: &[TrialRecord]) -> Result<Vec<Task>> {
    let mut all = drawn.to_vec();
    settings.draw(done, &mut all);
    for r in done {
        check_record(settings, &all, r).map_err(|message| Error::Study { study: study.into(), message })?;
    }
    Ok(settings.search.ready(done))
}

/// Longest a study's settings and meta may be as stored.
pub const MAX_SETTINGS_BYTES: usize = 16 << 20;

/// Whether a stored study (`settings` and `meta` as stored) is the one `new` and `meta` describe:
/// an error naming each difference when not.
pub fn same_study(
    new: &Settings,
    meta: &StudyMeta,
    settings: &str,
    stored_meta: &str,
) -> std::result::Result<(), String> {
    let old: serde_json::Value = serde_json::from_str(settings).map_err(|e| format!("stored settings: {e}"))?;
    let old_meta: StudyMeta = serde_json::from_str(stored_meta).map_err(|e| format!("stored meta: {e}"))?;
    let kind = |v: &serde_json::Value| if v.get("member").is_some() { "an ensemble" } else { "a tuning study" };
    let new_value = serde_json::to_value(new).expect("settings serialise");
    if kind(&old) != kind(&new_value) {
        return Err(format!("the stored study is {}, this is {}; use another --study", kind(&old), kind(&new_value)));
    }
    let mut differ = new.differences(&old);
    if old_meta.data_checksum != meta.data_checksum {
        differ.push(format!("data checksum: was {}, now {}", old_meta.data_checksum, meta.data_checksum));
    }
    if differ.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the stored study has other settings ({}); join it with `digits tune worker`, or use another --study",
        differ.join("; ")
    ))
}

/// A stored study's settings and meta, parsed and checked: the settings' own checks, the space's,
/// the plan equal to the one its strategy's numbers give, the thread count and lease in range.
pub fn parse_study(settings: &str, meta: &str) -> std::result::Result<(Settings, StudyMeta), String> {
    if settings.len() + meta.len() > MAX_SETTINGS_BYTES {
        return Err(format!("settings: more than {MAX_SETTINGS_BYTES} bytes"));
    }
    let s: Settings = serde_json::from_str(settings).map_err(|e| format!("settings: {e}"))?;
    let m: StudyMeta = serde_json::from_str(meta).map_err(|e| format!("meta: {e}"))?;
    s.check().map_err(|e| format!("settings: {e}"))?;
    m.check().map_err(|e| format!("meta: {e}"))?;
    let what = if s.member().is_some() { "model" } else { "space" };
    s.check_model().map_err(|e| format!("settings: {what}: {e}"))?;
    let again = match &s.search {
        Strategy::Random { trials, epochs } => Strategy::from_name("random", *trials, *epochs, 2),
        Strategy::Hyperband(p) => Strategy::from_name("hyperband", 0, p.max_epochs, p.factor),
        Strategy::Tpe(t) => Strategy::tpe(t.trials, t.epochs, Some(t.startup), t.concurrent),
        Strategy::Members { members, epochs } => Strategy::members(*members, *epochs),
    };
    if again.map_err(|e| format!("settings: {e}"))? != s.search {
        return Err("settings: the stored plan is not the one its max_epochs and factor give".into());
    }
    if !(1..=MAX_THREADS).contains(&s.threads) {
        return Err(format!("settings: threads {} is not 1 to {MAX_THREADS}", s.threads));
    }
    Ok((s, m))
}

/// The most engine threads a stored study may ask for.
pub const MAX_THREADS: usize = 1024;
