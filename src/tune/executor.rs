//! Who trains the trials a study schedules. [`Executor`] is the seam: [`super::Study`] hands it
//! each ready trial as a [`Job`] and waits for results, so the same scheduling drives threads in
//! this process ([`Threads`], `digits tune --jobs`) or any other way of running trials.

use super::search::Task;
use super::trial;
use crate::data::Dataset;
use crate::layout::RunDir;
use crate::model::ModelSpec;
use crate::train::TrainConfig;
use crate::{Error, Result};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;

/// The data every trial of a study trains and is judged on.
#[derive(Debug)]
pub struct TrialData {
    pub train: Dataset,
    /// None for an ensemble's members trained without validation (a search always has one).
    pub validation: Option<Dataset>,
}

/// One trial to train: configuration `task.trial`, to `task.epochs` epochs in all, in `dir`
/// (continuing from the checkpoint it finds there).
#[derive(Clone, Debug)]
pub struct Job {
    pub task: Task,
    pub spec: ModelSpec,
    pub config: TrainConfig,
    pub dir: RunDir,
}

/// What a trained trial reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrialResult {
    pub val_accuracy: f64,
    /// Not finite when training diverged.
    pub val_loss: f64,
    /// Training time, which differs from run to run.
    pub seconds: f64,
}

/// Runs the trials a study hands it.
pub trait Executor {
    /// Trials that may train at the same time.
    fn capacity(&self) -> usize;

    /// Starts training `job` on `data`.
    fn start(&mut self, job: Job, data: &Arc<TrialData>) -> Result<()>;

    /// Waits until a started job ends and returns it; `None` when none is running.
    fn wait(&mut self) -> Option<(Task, Result<TrialResult>)>;
}

/// Most trials trained at once in one process: each holds a model, its data and its thread.
pub const MAX_JOBS: usize = 64;

/// Trains `jobs` trials at a time, each on its own thread, the threads shared out between them.
pub struct Threads {
    jobs: usize,
    threads: usize,
    running: usize,
    tx: Sender<(Task, Result<TrialResult>)>,
    rx: Receiver<(Task, Result<TrialResult>)>,
}

impl Threads {
    /// `jobs` trials at a time (at least 1) on `threads` threads in all: the engine's thread
    /// count, which fixes how the work is split and so the numbers, whatever `jobs` is.
    pub fn new(jobs: usize, threads: usize) -> Result<Threads> {
        if !(1..=MAX_JOBS).contains(&jobs) {
            return Err(Error::invalid(format!("--jobs must be 1 to {MAX_JOBS}, got {jobs}")));
        }
        let (tx, rx) = channel();
        Ok(Threads { jobs, threads, running: 0, tx, rx })
    }
}

impl Executor for Threads {
    fn capacity(&self) -> usize {
        self.jobs
    }

    fn start(&mut self, job: Job, data: &Arc<TrialData>) -> Result<()> {
        let (tx, data) = (self.tx.clone(), Arc::clone(data));
        let (jobs, per_job) = (self.jobs, (self.threads / self.jobs).max(1));
        let trial = job.task.trial;
        std::thread::Builder::new()
            .name(format!("trial-{trial}"))
            .spawn(move || {
                let work = || -> Result<TrialResult> {
                    let start = Instant::now();
                    let run =
                        || trial::run_trial(&job.dir, &job.spec, &job.config, &data.train, data.validation.as_ref());
                    // One job trains on the global pool, as `digits train` does; several share
                    // the cores out. The engine's thread count (which fixes how the work is
                    // split, hence the numbers) stays the global one either way.
                    let t = if jobs == 1 {
                        run()?
                    } else {
                        let pool = rayon::ThreadPoolBuilder::new()
                            .num_threads(per_job)
                            .build()
                            .map_err(|e| Error::Invalid(e.to_string()))?;
                        pool.install(run)?
                    };
                    Ok(TrialResult {
                        val_accuracy: t.val_accuracy,
                        val_loss: t.val_loss,
                        seconds: start.elapsed().as_secs_f64(),
                    })
                };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                    .unwrap_or_else(|_| Err(Error::invalid("the trial panicked")));
                let _ = tx.send((job.task, r));
            })
            .map_err(|e| Error::Invalid(format!("starting trial {trial}: {e}")))?;
        self.running += 1;
        Ok(())
    }

    fn wait(&mut self) -> Option<(Task, Result<TrialResult>)> {
        if self.running == 0 {
            return None;
        }
        // The sender in `self` keeps the channel open; every started thread sends once.
        let done = self.rx.recv().expect("a running trial always reports");
        self.running -= 1;
        Some(done)
    }
}
