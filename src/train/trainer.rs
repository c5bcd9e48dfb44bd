//! The whole of a training run, as `digits train` does it: hold out the validation set, build
//! the model (or resume it from its checkpoint), fit with a checkpoint after every epoch, score
//! on the test set (else the validation set), and leave a complete run directory
//! ([`crate::layout`]) with the model, history, settings, metrics and report.

use super::checkpoint;
use super::fit::{EpochDone, Event, Progress, TrainConfig, fit_from};
use super::run::{DataPrint, Run, RunInfo, Scored, read_data_prints, write_history};
use crate::data::Dataset;
use crate::data::split::stratified_split;
use crate::engine::Network;
use crate::eval::{Evaluation, evaluate};
use crate::layout::RunDir;
use crate::lock::{DirLock, prepare_new_run};
use crate::model::{ModelSpec, check_model, save_model};
use crate::optim::Optimizer;
use crate::{Error, Result, atomic};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Where the validation set comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Validation {
    /// No validation.
    #[default]
    None,
    /// Hold out this fraction of the training set (stratified, seeded).
    Split(f64),
    /// Validate on the test set every epoch.
    Test,
}

/// What a run is about to do, as the first line of `digits train` says it.
#[derive(Clone, Debug)]
pub struct RunStart {
    pub model: String,
    pub params: usize,
    pub train_samples: usize,
    /// How the validation set was made (`none`, `test set`, `split 0.1 of …`).
    pub validation: String,
    pub config: TrainConfig,
    pub threads: usize,
}

/// Trains models into run directories.
#[derive(Clone, Debug)]
pub struct Trainer {
    pub config: TrainConfig,
    pub validation: Validation,
    /// Scored at the end (and validated on with [`Validation::Test`]).
    pub test: Option<Dataset>,
    pub out: RunDir,
    /// Where the data came from, for `train.json`.
    pub data_source: String,
    /// The caller's record of how the run was asked for, kept as `args.json` so that the same
    /// caller can resume it ([`Run::resume_args`]).
    pub args: Option<serde_json::Value>,
    /// Continue the run in `out` from its last checkpoint instead of starting anew.
    pub resume: bool,
    /// The data files or folders the run reads: a new run records their absolute paths and
    /// fingerprints in `data.json` ([`DataPrint`]); a resumed one refuses other data.
    pub data_files: Vec<std::path::PathBuf>,
    /// A new run replaces the run already in `out` (clearing it first) instead of refusing.
    pub overwrite: bool,
    /// A resumed run trains on data that differ from those it was started with.
    pub force: bool,
    /// Write the HTML report and its charts at the end.
    pub report: bool,
}

impl Trainer {
    /// A trainer writing to `out`, with no validation or test set.
    pub fn new(config: TrainConfig, out: impl AsRef<Path>) -> Self {
        Trainer {
            config,
            validation: Validation::None,
            test: None,
            out: RunDir::new(out.as_ref()),
            data_source: String::new(),
            args: None,
            resume: false,
            data_files: Vec::new(),
            overwrite: false,
            force: false,
            report: true,
        }
    }

    pub fn validation(mut self, v: Validation) -> Self {
        self.validation = v;
        self
    }
    pub fn test_set(mut self, test: Option<Dataset>) -> Self {
        self.test = test;
        self
    }
    pub fn report(mut self, on: bool) -> Self {
        self.report = on;
        self
    }
    /// Replace a run already in `out` (see [`Trainer::overwrite`]).
    pub fn overwrite(mut self, on: bool) -> Self {
        self.overwrite = on;
        self
    }

    /// Trains `model` on `train` and leaves the run directory; `on_event` hears of every step,
    /// epoch and callback (the library prints nothing).
    pub fn fit(&self, model: &ModelSpec, train: &Dataset, on_event: &mut dyn FnMut(Event)) -> Result<Run> {
        let (train, val, val_name) = self.split(train)?;
        if train.is_empty() {
            return Err(Error::invalid("no training images"));
        }
        self.config.check(val.is_some())?;
        let mut net = model.build(self.config.seed)?;
        let name = model.display_name();
        check_model(&net, Some(&train), &format!("training model '{name}' on the training set"))?;
        if let Some(test) = &self.test {
            if test.is_empty() {
                return Err(Error::invalid("the test set has no images to score the model on"));
            }
            check_model(&net, Some(test), &format!("scoring model '{name}' on the test set"))?;
        }
        let mut opt = Optimizer::new(self.config.optimizer.clone());
        let (progress, best_weights, owned) = self.start(&mut net, &mut opt, on_event)?;
        let (t, nt) = net.param_counts();
        on_event(Event::Started(&RunStart {
            model: model.display_name().into(),
            params: t + nt,
            train_samples: train.len(),
            validation: val_name.clone(),
            config: self.config.clone(),
            threads: crate::engine::threads(),
        }));
        let started = Instant::now();
        let out = &self.out;
        let checkpoints = &mut |e: EpochDone| {
            checkpoint::save_checkpoint(&out.checkpoint_last(), e.net, e.optimizer, e.progress)?;
            if e.best {
                checkpoint::save_checkpoint(&out.checkpoint_best(), e.net, e.optimizer, e.progress)?;
            }
            Ok(())
        };
        let progress = fit_from(
            &mut net,
            &mut opt,
            &train,
            val.as_ref(),
            &self.config,
            progress,
            best_weights,
            on_event,
            checkpoints,
        )?;
        let info = RunInfo {
            digits_version: env!("CARGO_PKG_VERSION").into(),
            model: model.display_name().into(),
            config: self.config.clone(),
            threads: crate::engine::threads(),
            data: self.data_source.clone(),
            train_samples: train.len(),
            validation: val_name,
            validation_samples: val.as_ref().map_or(0, |v| v.len()),
            params: t + nt,
            train_seconds: owned.earlier_seconds + started.elapsed().as_secs_f64(),
        };
        let scored = self.test.as_ref().map(|t| ("test", t)).or(val.as_ref().map(|v| ("validation", v)));
        self.finish(model, net, progress, info, scored)
    }

    /// The training set and the validation set, with a description of the latter.
    fn split(&self, train: &Dataset) -> Result<(Dataset, Option<Dataset>, String)> {
        Ok(match self.validation {
            Validation::Split(f) => {
                let (tr, va) = stratified_split(&train.labels, f, self.config.seed)?;
                (train.subset(&tr), Some(train.subset(&va)), format!("split {f} of the training set (stratified)"))
            }
            Validation::Test => match &self.test {
                Some(t) => (train.clone(), Some(t.clone()), "test set".into()),
                None => {
                    return Err(Error::invalid(
                        "--validation test: there is no test set (--data is a single file); give --test-data PATH",
                    ));
                }
            },
            Validation::None => (train.clone(), None, "none".into()),
        })
    }

    /// Takes the run directory (its lock is held until the run ends). A new run needs an empty
    /// directory or, with `overwrite`, a run directory it clears ([`prepare_new_run`]), and
    /// records its arguments and data; a resumed one checks its data and restores the network,
    /// the optimizer and the progress from its checkpoint.
    fn start(
        &self,
        net: &mut Network,
        opt: &mut Optimizer,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(Progress, BestWeights, Owned)> {
        let out = &self.out;
        if !self.resume {
            let lock = prepare_new_run(out, self.overwrite)?;
            let prints = self.data_files.iter().map(|p| DataPrint::of(p)).collect::<Result<Vec<_>>>()?;
            atomic::write_json(&out.data_json(), &prints)?;
            if let Some(args) = &self.args {
                atomic::write_json(&out.args_json(), args)?;
            }
            return Ok((Progress::default(), None, Owned { _lock: lock, earlier_seconds: 0.0 }));
        }
        let last = out.checkpoint_last();
        if !last.exists() {
            return Err(Error::format(
                &last,
                "no checkpoint to resume from (the run stopped before its first epoch ended)",
            ));
        }
        let lock = DirLock::acquire(out.path())?;
        self.check_data()?;
        let progress = checkpoint::load_checkpoint(&last, net, opt)?;
        if self.config.epochs < progress.epochs_done {
            return Err(Error::Invalid(format!(
                "the run in {} has already trained {done} epochs, so it cannot be resumed to {} (--epochs must be at least {done}; more trains it further)",
                crate::error::shown(out.path()),
                self.config.epochs,
                done = progress.epochs_done,
            )));
        }
        if let Some(args) = &self.args {
            // The arguments as resumed (with --epochs when given), for the next resume.
            atomic::write_json(&out.args_json(), args)?;
        }
        let best = out.checkpoint_best();
        let restore = self.config.early_stopping.as_ref().is_some_and(|e| e.restore_best_weights);
        let best_weights = if restore && best.exists() { Some(checkpoint::load_weights(&best, net)?) } else { None };
        on_event(Event::Resumed { epochs_done: progress.epochs_done, epochs: self.config.epochs });
        let earlier_seconds = progress.history.epochs.iter().map(|e| e.seconds).sum();
        Ok((progress, best_weights, Owned { _lock: lock, earlier_seconds }))
    }

    /// A resumed run's data must be those it started with (`data.json`), unless `force`, which
    /// records the new ones. A run from before `data.json` was kept is not checked.
    fn check_data(&self) -> Result<()> {
        let Some(recorded) = read_data_prints(&self.out)? else { return Ok(()) };
        let now = self.data_files.iter().map(|p| DataPrint::of(p)).collect::<Result<Vec<_>>>()?;
        let differ: Vec<String> = recorded
            .iter()
            .zip(now.iter().map(Some).chain(std::iter::repeat(None)))
            .filter(|(was, is)| Some(*was) != *is)
            .map(|(was, is)| match is {
                Some(is) if is.path == was.path => format!(
                    "{}: was {} files, {} bytes, fingerprint {}; now {} files, {} bytes, fingerprint {}",
                    was.path.display(),
                    was.files,
                    was.bytes,
                    was.fingerprint,
                    is.files,
                    is.bytes,
                    is.fingerprint
                ),
                Some(is) => format!("was {}, now {}", was.path.display(), is.path.display()),
                None => format!("{}: not given now", was.path.display()),
            })
            .collect();
        if recorded == now {
            return Ok(());
        }
        if self.force {
            return atomic::write_json(&self.out.data_json(), &now);
        }
        Err(Error::Invalid(format!(
            "{}: the data differ from those the run was started with ({}); resume on the same data, or give --force to continue on these",
            self.out.path().display(),
            if differ.is_empty() { "another number of data sets".into() } else { differ.join("; ") }
        )))
    }

    /// Scores the trained network, saves everything and writes the report.
    fn finish(
        &self,
        model: &ModelSpec,
        mut net: Network,
        progress: Progress,
        info: RunInfo,
        scored: Option<(&str, &Dataset)>,
    ) -> Result<Run> {
        let out = &self.out;
        let evaluation = scored.map(|(_, set)| evaluate(&mut net, set)).transpose()?;
        save_model(out.path(), model, &net)?;
        write_history(out, &progress.history)?;
        atomic::write_json(&out.train_json(), &info)?;
        let mut run = Run {
            dir: out.clone(),
            spec: model.clone(),
            network: net,
            info: Some(info),
            history: progress.history,
            metrics: None,
            scored: None,
            report: None,
        };
        if let (Some((name, set)), Some(e)) = (scored, evaluation) {
            let metrics = e.metrics(set);
            atomic::write_json(&out.metrics_json(), &metrics)?;
            run.scored = Some(Scored::new(name, set, &e));
            run.metrics = Some(metrics);
            if self.report {
                run.report = Some(crate::report::write(&mut run, set, &e)?);
            }
        }
        Ok(run)
    }
}

/// The best epoch's weights, restored on resume when the run restores them at its end.
type BestWeights = Option<Vec<Vec<f32>>>;

/// What [`Trainer::start`] hands the fit: the directory's lock, held to the end of the run, and
/// the training time of the epochs done before a resume (a resumed run's `train.json` records
/// the whole training time).
struct Owned {
    _lock: DirLock,
    earlier_seconds: f64,
}

impl Scored {
    fn new(set: &str, data: &Dataset, e: &Evaluation) -> Self {
        Scored {
            set: set.into(),
            samples: data.len(),
            correct: e.predicted.iter().zip(&data.labels).filter(|(a, b)| a == b).count(),
            loss: e.loss,
            accuracy: e.accuracy,
        }
    }
}
