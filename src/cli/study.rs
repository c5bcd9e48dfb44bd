//! `digits tune worker|status|export`, `digits tune --storage` and `digits ensemble train`:
//! shared studies ([`digits::tune::shared`]) in PostgreSQL or in a directory, searches and
//! ensembles alike. This file resolves the storage flags into a store (the URL's password never
//! printed), loads and checks the data, and prints the worker's events and the study's status.

use super::common::{DataArgs, init_threads};
use anyhow::Context;
use digits::data::Dataset;
use digits::data::Split;
use digits::tune::members::{member_name, member_text};
use digits::tune::search::leaderboard;
use digits::tune::{FileStore, PgStore, SharedStore, StudyMeta, TaskState, Worker, WorkerEvent, params_text};
use serde::Serialize;
use std::path::PathBuf;

/// Where a shared study lives.
#[derive(clap::Args, Debug, Clone)]
pub struct StorageArgs {
    /// The study's database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=require] (the
    /// password may come from PGPASSWORD or ~/.pgpass instead), or a directory (workers on
    /// this machine only)
    #[arg(long, value_name = "URL", conflicts_with = "storage_file")]
    pub storage: Option<String>,
    /// A file holding the --storage URL (so the password is in no command line)
    #[arg(long, value_name = "FILE")]
    pub storage_file: Option<PathBuf>,
    /// The study's name in the database
    #[arg(long, value_name = "NAME")]
    pub study: Option<String>,
}

impl StorageArgs {
    /// Whether a shared study is named.
    pub fn given(&self) -> bool {
        self.storage.is_some() || self.storage_file.is_some()
    }

    /// Connects to the study's store.
    pub fn open(&self) -> anyhow::Result<Box<dyn SharedStore>> {
        let url = match (&self.storage, &self.storage_file) {
            (Some(u), _) => u.clone(),
            (None, Some(f)) => {
                let bytes = digits::input::read_capped(f, 64 << 10)?;
                String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8 text", f.display()))?.trim().to_string()
            }
            (None, None) => anyhow::bail!("give --storage URL or --storage-file FILE"),
        };
        let study = self.study.as_deref().context("give the study's name with --study NAME")?;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Box::new(PgStore::connect(&url, study)?));
        }
        Ok(Box::new(FileStore::open(url.as_ref(), study)?))
    }
}

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Threads; must be the study's (its numbers depend on it); default: the study's
    #[arg(long)]
    threads: Option<usize>,
}

/// `digits tune worker`: joins the study and works on it until it is finished.
pub fn worker(a: WorkerArgs) -> anyhow::Result<()> {
    let worker = Worker::join(a.storage.open()?)?;
    let s = worker.settings();
    if let Some(t) = a.threads.filter(|&t| t != s.threads) {
        anyhow::bail!("this study trains with {} threads (its numbers depend on it); got --threads {t}", s.threads);
    }
    init_threads(Some(s.threads))?;
    let data = a.data.load(Split::Train)?;
    let sum = data.checksum();
    if sum != worker.meta().data_checksum {
        anyhow::bail!(
            "{}: these data ({sum}) are not the study's ({}); give the study's data with --data",
            a.data.dir().display(),
            worker.meta().data_checksum
        );
    }
    work(worker, &data)
}

/// Works on the study until it is finished, printing each trial (or member).
pub fn work(mut worker: Worker, data: &Dataset) -> anyhow::Result<()> {
    let s = worker.settings();
    let (train, validation) = s.split_sizes(data)?;
    let ensemble = s.member().is_some();
    let images = match (validation, ensemble) {
        (0, _) => format!("{train} training images per member, no validation split"),
        (_, true) => format!("{train} training and {validation} validation images per member"),
        _ => format!("{train} training and {validation} validation images"),
    };
    println!("digits tune worker: pid {} - {}, {images}, {} threads", std::process::id(), s.summary(), s.threads);
    let name = |trial: usize, params: &digits::tune::Params| {
        if ensemble { member_text(trial, params) } else { format!("trial {trial}") }
    };
    let n = worker.work(data, &mut |e: WorkerEvent| match e {
        WorkerEvent::Claimed { task, params, from_epoch } => println!(
            "claimed {}{} to {} epochs{}{}",
            name(task.trial, params),
            super::tune::stage_text(task.bracket, task.round),
            task.epochs,
            if from_epoch > 0 { format!(", from the checkpoint of epoch {from_epoch}") } else { String::new() },
            if ensemble { String::new() } else { format!(" - {}", params_text(params)) }
        ),
        WorkerEvent::Recorded { record, .. } if ensemble => print_member(record),
        WorkerEvent::Recorded { record, val_loss } => super::tune::print_trial(record, val_loss),
        WorkerEvent::Lost { task } => println!("trial {}: the claim was taken over; its work is dropped", task.trial),
        WorkerEvent::Waiting => {}
    })?;
    let what = if ensemble { "member" } else { "trial" };
    println!("study finished: this worker recorded {n} {what}{}", if n == 1 { "" } else { "s" });
    Ok(())
}

/// A member's validation scores, when it had a validation split.
fn member_scores(r: &digits::tune::TrialRecord) -> String {
    match r.val_loss {
        Some(l) => format!("val_accuracy {:.4} - val_loss {l:.4}", r.val_accuracy),
        None => "no validation split".into(),
    }
}

/// A trained member's line.
fn print_member(r: &digits::tune::TrialRecord) {
    println!(
        "{}: {} epoch{} - {} - {:.1}s",
        member_text(r.trial, &r.params),
        r.epochs,
        if r.epochs == 1 { "" } else { "s" },
        member_scores(r),
        r.seconds
    );
}

/// The creator's settings stored (or checked against the stored study), then a worker on it.
pub fn create_and_work(
    storage: &StorageArgs,
    settings: digits::tune::Settings,
    meta: StudyMeta,
    data: &Dataset,
) -> anyhow::Result<()> {
    let mut store = storage.open()?;
    let drawn = settings.configurations(&[]);
    let shown = store.location();
    let decide = |done: &[digits::tune::TrialRecord]| digits::tune::shared::decide(&settings, &drawn, &shown, done);
    store.create(&settings, &meta, &decide)?;
    work(Worker::join(store)?, data)
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Status {
    study: String,
    /// `tuning` or `ensemble`.
    kind: String,
    /// The study in a few words (`hyperband search`, `ensemble of 3 cnn-fast members …`).
    summary: String,
    strategy: String,
    done: usize,
    running: usize,
    queued: usize,
    failed: usize,
    workers: Vec<WorkerStatus>,
    /// A search's best trial so far (none for an ensemble).
    best: Option<digits::tune::TrialRecord>,
    /// An ensemble's finished members, in member order (none for a search).
    members: Vec<digits::tune::TrialRecord>,
    errors: Vec<String>,
}

#[derive(Serialize)]
struct WorkerStatus {
    host: String,
    pid: u32,
    /// The trial, or the member of an ensemble.
    trial: usize,
    /// An ensemble's member's seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    epochs: usize,
    checkpoint_epochs: Option<usize>,
    heartbeat_seconds_ago: Option<f64>,
}

/// `digits tune status`.
pub fn status(a: StatusArgs) -> anyhow::Result<()> {
    let mut store = a.storage.open()?;
    let (settings, _) = store.load()?;
    let tasks = store.tasks()?;
    let records = store.records()?;
    let count = |s: TaskState| tasks.iter().filter(|t| t.state == s).count();
    let workers = tasks
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .filter_map(|t| {
            let w = t.worker.clone()?;
            Some(WorkerStatus {
                host: w.host,
                pid: w.pid,
                trial: t.task.trial,
                seed: settings.member().map(|_| settings.trial_seed(t.task.trial)),
                epochs: t.task.epochs,
                checkpoint_epochs: t.checkpoint_epochs,
                heartbeat_seconds_ago: t.heartbeat_age,
            })
        })
        .collect();
    let ensemble = settings.member().is_some();
    let mut members = if ensemble { records.clone() } else { Vec::new() };
    members.sort_by_key(|r| r.trial);
    let status = Status {
        study: store.location(),
        kind: if ensemble { "ensemble" } else { "tuning" }.into(),
        summary: settings.summary(),
        strategy: settings.search.name().into(),
        done: count(TaskState::Done),
        running: count(TaskState::Running),
        queued: count(TaskState::Queued),
        failed: count(TaskState::Failed),
        workers,
        best: if ensemble { None } else { leaderboard(&records).first().map(|r| (*r).clone()) },
        members,
        errors: tasks.iter().filter_map(|t| t.error.clone()).collect(),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_status(&status);
    }
    Ok(())
}

fn print_status(s: &Status) {
    let ensemble = s.kind == "ensemble";
    let what = if ensemble { "members" } else { "trials" };
    println!("study {}: {}", s.study, s.summary);
    println!("{what}: {} done, {} running, {} queued, {} failed", s.done, s.running, s.queued, s.failed);
    for w in &s.workers {
        let beat = w.heartbeat_seconds_ago.map_or("never".into(), |a| format!("{a:.1}s ago"));
        let ckpt = w.checkpoint_epochs.map_or(String::new(), |c| format!(", checkpoint at epoch {c}"));
        let task = match w.seed {
            Some(seed) => member_name(w.trial, seed),
            None => format!("trial {}", w.trial),
        };
        println!("worker {} pid {}: {task} to {} epochs{ckpt}, heartbeat {beat}", w.host, w.pid, w.epochs);
    }
    for e in &s.errors {
        println!("failed: {e}");
    }
    if ensemble {
        for r in &s.members {
            println!("done: {} - {} epochs - {}", member_text(r.trial, &r.params), r.epochs, member_scores(r));
        }
        if s.done > 0 && s.running + s.queued + s.failed == 0 {
            println!("finished: assemble it with `digits ensemble --storage … --study … --out DIR`");
        }
        return;
    }
    match &s.best {
        Some(b) => println!(
            "best so far: trial {} ({} epochs): val_accuracy {:.4} - {}",
            b.trial,
            b.epochs,
            b.val_accuracy,
            params_text(&b.params)
        ),
        None => println!("best so far: none yet"),
    }
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The tuning directory to write (as `digits tune --out` leaves it)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The data, for the best model's test accuracy (default: the study's data path)
    #[command(flatten)]
    data: DataArgs,
}

/// `digits tune export`.
pub fn export(a: ExportArgs) -> anyhow::Result<()> {
    let mut store = a.storage.open()?;
    let test = if a.data.has_test_split() { Some(a.data.load(Split::Test)?) } else { None };
    let outcome = digits::tune::export(store.as_mut(), &a.out, test.as_ref())?;
    super::tune::print_outcome(&outcome);
    Ok(())
}
