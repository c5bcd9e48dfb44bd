//! A study: one search (random, Hyperband or TPE) over a space, from its settings to its best
//! model.
//!
//! [`Study::open`] creates the study in a [`StudyStore`] or resumes the one stored there (the
//! same settings; other settings are refused). [`Study::run`] splits the data, then hands every
//! trial the strategy says is ready to an [`Executor`], recording each result in the store as
//! it arrives and deciding what runs next only from the records. [`Study::finish`] keeps the best
//! trial's model and writes its summary with the `digits train` command that reproduces it. The
//! library prints nothing: progress goes to an [`Observer`].

use super::executor::{Executor, Job, TrialData, TrialResult};
use super::members::MemberSetup;
use super::results::TrialRecord;
use super::search::{Strategy, Task, leaderboard};
use super::space::{Params, Space, params_text};
use super::store::{BestPlace, StudyStore};
use crate::data::{Dataset, split::stratified_split};
use crate::layout::RunDir;
use crate::model::ModelSpec;
use crate::train::{TrainConfig, run::RunInfo};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Random search's configurations, unless told otherwise.
pub const DEFAULT_TRIALS: usize = 10;
/// Epochs per random trial; Hyperband's largest budget R.
pub const DEFAULT_MAX_EPOCHS: usize = 9;
/// Hyperband's factor η.
pub const DEFAULT_FACTOR: usize = 3;
/// The fraction of the training set held out to judge the trials.
pub const DEFAULT_VALIDATION_SPLIT: f64 = 0.1;

/// Everything a study's results depend on (`tune.json`). How many trials train at once is not
/// part of it: each trial's numbers depend on the engine's thread count, not on how many trials
/// share the threads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub digits_version: String,
    pub search: Strategy,
    /// Seed of the configurations drawn, the weights, shuffling, dropout and the split; an
    /// ensemble's member `i` trains with seed `seed + i` (its split too).
    pub seed: u64,
    /// The fraction of the training set held out (stratified) to judge each trial; none: the
    /// members of an ensemble whose setup holds nothing out (as `digits train` without one).
    pub validation_split: Option<f64>,
    /// Use the first `limit` training images only.
    pub limit: Option<usize>,
    /// The data set, as named to the study.
    pub data: PathBuf,
    /// The engine's thread count.
    pub threads: usize,
    /// What a trial trains: a configuration of a search space, or an ensemble's member. Stored
    /// as a `space` or a `member` field beside the others, so a tuning study's `tune.json` reads
    /// as it always has.
    #[serde(flatten)]
    pub subject: Subject,
}

/// What each trial of a study trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// Tuning: the configuration the strategy draws from this space.
    Space(Space),
    /// An ensemble ([`Strategy::Members`]): this setup, trained with the member's seed (boxed:
    /// a model and its training settings are large beside a space).
    Member(Box<MemberSetup>),
}

impl Settings {
    /// A study of `search` over `space` on `data` with the engine's `threads`, seed 0, the
    /// default validation split and every image.
    pub fn new(search: Strategy, space: Space, data: PathBuf, threads: usize) -> Settings {
        Settings {
            digits_version: env!("CARGO_PKG_VERSION").into(),
            search,
            seed: 0,
            validation_split: Some(DEFAULT_VALIDATION_SPLIT),
            limit: None,
            data,
            threads,
            subject: Subject::Space(space),
        }
    }

    /// An ensemble of `members`, each `setup` trained with seed `setup.config.seed + i` and
    /// judged on a `validation_split` of its own (none: trained on every image), on `data` with
    /// the engine's `threads` and every image: what `digits train` with those settings and
    /// seeds trains, member by member. Checked, the model built once.
    pub fn ensemble(
        members: usize,
        setup: MemberSetup,
        validation_split: Option<f64>,
        data: PathBuf,
        threads: usize,
    ) -> Result<Settings> {
        let settings = Settings {
            digits_version: env!("CARGO_PKG_VERSION").into(),
            search: Strategy::members(members, setup.config.epochs)?,
            seed: setup.config.seed,
            validation_split,
            limit: None,
            data,
            threads,
            subject: Subject::Member(Box::new(setup)),
        };
        settings.check()?;
        settings.check_model()?;
        Ok(settings)
    }

    /// The search space of a tuning study.
    pub fn space(&self) -> Option<&Space> {
        match &self.subject {
            Subject::Space(s) => Some(s),
            Subject::Member(_) => None,
        }
    }

    /// The setup of an ensemble study's members.
    pub fn member(&self) -> Option<&MemberSetup> {
        match &self.subject {
            Subject::Member(m) => Some(m.as_ref()),
            Subject::Space(_) => None,
        }
    }

    /// Checks the settings that no data are needed to judge: the validation split is a
    /// fraction strictly between 0 and 1 (given, unless an ensemble's), the limit at least 1
    /// image, the strategy fits the subject (an ensemble's members, see [`MemberSetup::check`]).
    /// Nothing is allocated: a stored study is checked with this before anything is sized by it.
    pub fn check(&self) -> Result<()> {
        match self.validation_split {
            Some(f) if !(f > 0.0 && f < 1.0) => {
                return Err(Error::Invalid(format!("--validation-split must be between 0 and 1 (exclusive), got {f}")));
            }
            None if self.space().is_some() => {
                return Err(Error::invalid("a tuning study needs a validation split to judge its trials"));
            }
            _ => {}
        }
        if self.limit == Some(0) {
            return Err(Error::invalid("--limit must be at least 1"));
        }
        match (&self.search, &self.subject) {
            (Strategy::Members { members, epochs }, Subject::Member(m)) => m.check(self, *members, *epochs),
            (Strategy::Members { .. }, Subject::Space(_)) => {
                Err(Error::invalid("an ensemble's members train a setup, not a search space"))
            }
            (s, Subject::Member(_)) => {
                Err(Error::Invalid(format!("a {} search draws from a space, not an ensemble's setup", s.name())))
            }
            _ => Ok(()),
        }
    }

    /// Builds the model (with seed 0): the check [`Settings::check`] leaves out, as it allocates.
    pub fn check_model(&self) -> Result<()> {
        match &self.subject {
            Subject::Space(space) => space.check(),
            Subject::Member(m) => m.model.check(),
        }
    }

    /// The seed trial `trial`'s training and validation split are drawn from: the study's for
    /// every trial of a search, the member's own for an ensemble's.
    pub fn trial_seed(&self, trial: usize) -> u64 {
        match self.subject {
            Subject::Space(_) => self.seed,
            Subject::Member(_) => self.seed.wrapping_add(trial as u64),
        }
    }

    /// The training and validation sets of the trials of a search (of member 0 of an ensemble):
    /// see [`Settings::task_data`].
    pub fn trial_data(&self, data: &Dataset) -> Result<TrialData> {
        self.task_data(data, 0)
    }

    /// The training and validation sets of trial `trial`: the first `limit` images of `data`,
    /// split (stratified) as `digits train --validation-split` splits them with the trial's
    /// seed ([`Settings::trial_seed`]), or all of them when there is no split. An error when
    /// the split leaves either set empty.
    pub fn task_data(&self, data: &Dataset, trial: usize) -> Result<TrialData> {
        self.check()?;
        let limited;
        let all = match self.limit {
            Some(n) if n < data.len() => {
                limited = data.subset(&(0..n).collect::<Vec<_>>());
                &limited
            }
            _ => data,
        };
        let Some(fraction) = self.validation_split else {
            return Ok(TrialData { train: all.clone(), validation: None });
        };
        let (tr, va) = stratified_split(&all.labels, fraction, self.trial_seed(trial))?;
        if tr.is_empty() || va.is_empty() {
            return Err(Error::Invalid(format!(
                "{} training images are too few to hold out a validation split of {fraction}",
                all.len()
            )));
        }
        Ok(TrialData { train: all.subset(&tr), validation: Some(all.subset(&va)) })
    }

    /// How many images every trial trains and is judged on (the same for every seed), checked
    /// as [`Settings::task_data`] checks them, without copying the images.
    pub fn split_sizes(&self, data: &Dataset) -> Result<(usize, usize)> {
        self.check()?;
        let n = self.limit.map_or(data.len(), |l| l.min(data.len()));
        let Some(fraction) = self.validation_split else { return Ok((n, 0)) };
        let (tr, va) = stratified_split(&data.labels[..n], fraction, self.seed)?;
        if tr.is_empty() || va.is_empty() {
            return Err(Error::Invalid(format!(
                "{n} training images are too few to hold out a validation split of {fraction}"
            )));
        }
        Ok((tr.len(), va.len()))
    }

    /// The parameters of every trial the records `done` decide, by trial number (see
    /// [`Strategy::draw`]; an ensemble's member `i` has one, its seed).
    pub fn configurations(&self, done: &[TrialRecord]) -> Vec<Params> {
        let mut drawn = Vec::new();
        self.draw(done, &mut drawn);
        drawn
    }

    /// Extends `drawn` with the parameters of the trials the records `done` decide.
    pub fn draw(&self, done: &[TrialRecord], drawn: &mut Vec<Params>) {
        match &self.subject {
            Subject::Space(space) => self.search.draw(space, self.seed, done, drawn),
            Subject::Member(_) => {
                let n = self.search.configurations();
                drawn.extend((drawn.len()..n).map(|i| super::members::member_params(self.trial_seed(i))));
            }
        }
    }

    /// The model and training settings of `task`, whose parameters are `params`.
    pub fn task(&self, task: &Task, params: &Params) -> Result<(ModelSpec, TrainConfig)> {
        let (spec, mut cfg) = match &self.subject {
            Subject::Space(space) => {
                space.trial(params).map_err(|e| Error::Invalid(format!("trial {}: {e}", task.trial)))?
            }
            Subject::Member(m) => (m.model.clone(), m.config.clone()),
        };
        cfg.epochs = task.epochs;
        cfg.seed = self.trial_seed(task.trial);
        Ok((spec, cfg))
    }

    /// What the study does, in a few words (`hyperband search`, `ensemble of 3 cnn-fast
    /// members (seeds 0 to 2), 3 epochs each`).
    pub fn summary(&self) -> String {
        match (&self.search, &self.subject) {
            (Strategy::Members { members, epochs }, Subject::Member(m)) => format!(
                "ensemble of {members} {} member{} ({}), {epochs} epoch{} each",
                m.model.display_name(),
                if *members == 1 { "" } else { "s" },
                match members {
                    1 => format!("seed {}", self.seed),
                    n => format!("seeds {} to {}", self.seed, self.trial_seed(n - 1)),
                },
                if *epochs == 1 { "" } else { "s" },
            ),
            (s, _) => format!("{} search", s.name()),
        }
    }

    /// How these settings differ from `stored` (a study's settings as a store holds them), one
    /// `name: was OLD, now NEW` per setting (`member.config.epochs: …` within one); empty when
    /// they are the same.
    pub fn differences(&self, stored: &serde_json::Value) -> Vec<String> {
        let new = serde_json::to_value(self).expect("settings serialise");
        let mut out = Vec::new();
        differ("", stored, &new, &mut out);
        out
    }
}

/// The settings' values that differ between `old` and `new`, by their dotted names.
fn differ(name: &str, old: &serde_json::Value, new: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    if old == new {
        return;
    }
    if let (Value::Object(a), Value::Object(b)) = (old, new) {
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let (o, n) = (a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null));
            differ(&if name.is_empty() { k.clone() } else { format!("{name}.{k}") }, o, n, out);
        }
        return;
    }
    // A long value (a model's layers) is cut: the name says where to look.
    let short = |v: &Value| {
        let t = v.to_string();
        if t.chars().count() > 120 { format!("{}…", t.chars().take(120).collect::<String>()) } else { t }
    };
    let name = if name.is_empty() { "settings" } else { name };
    out.push(format!("{name}: was {}, now {}", short(old), short(new)));
}

/// What a study reports as it goes.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// The data are split; the trials are about to start.
    Started { settings: &'a Settings, train: usize, validation: usize },
    /// The store already held `recorded` trials, which are not trained again.
    Resumed { recorded: usize },
    /// A trial (or a Hyperband round) starts training.
    TrialStarted { task: &'a Task, params: &'a Params },
    /// A trial (or round) finished and is recorded; `val_loss` as trained (not finite when
    /// training diverged, where the record holds none).
    TrialFinished { record: &'a TrialRecord, val_loss: f64 },
}

/// Receives a study's [`Event`]s; any `FnMut(Event)` is one (write the closure's argument type,
/// `|e: Event| …`), and `()` ignores them.
pub trait Observer {
    fn on_event(&mut self, event: Event<'_>);
}

impl Observer for () {
    fn on_event(&mut self, _: Event<'_>) {}
}

impl<F: FnMut(Event<'_>)> Observer for F {
    fn on_event(&mut self, event: Event<'_>) {
        self(event)
    }
}

/// The best trial's summary (`best.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestTrial {
    pub trial: usize,
    pub bracket: Option<usize>,
    pub round: Option<usize>,
    pub epochs: usize,
    pub val_accuracy: f64,
    pub val_loss: Option<f64>,
    pub params: Params,
    pub model: String,
    /// The model file of the best configuration (a model file `digits train --model` reads).
    pub model_file: PathBuf,
    /// The `digits train` arguments that train the best configuration again, to the same weights.
    pub train_args: Vec<String>,
    pub command: String,
    /// Accuracy of the best model on the test set: reported at the end, never used to choose.
    pub test_accuracy: Option<f64>,
}

/// How a finished study ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Each configuration's last record, best first.
    pub leaderboard: Vec<TrialRecord>,
    pub best: BestTrial,
    /// The best model's run directory.
    pub best_dir: RunDir,
}

/// A study, open on its store.
pub struct Study<S: StudyStore> {
    store: S,
    settings: Settings,
    /// The parameters of every configuration decided so far, by trial number.
    drawn: Vec<Params>,
    /// The records, in the order recorded.
    done: Vec<TrialRecord>,
    /// Records already in the store when it was opened.
    resumed: usize,
}

impl<S: StudyStore> Study<S> {
    /// Creates the study in `store`, or resumes the one stored there with the same settings.
    /// The settings are checked first ([`Settings::check`]): bad ones leave the store as it was.
    /// Check them against the data too ([`Settings::trial_data`]) before opening, so that a
    /// study whose data are wrong is never stored.
    pub fn open(mut store: S, settings: Settings) -> Result<Study<S>> {
        settings.check()?;
        if settings.member().is_some() {
            // Its members split the data each with their own seed; workers do that.
            return Err(Error::invalid(
                "an ensemble study is trained by workers on shared storage: `digits ensemble train --storage …`",
            ));
        }
        let done = store.open(&settings)?;
        let drawn = settings.configurations(&done);
        Ok(Study { store, settings, drawn, resumed: done.len(), done })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The trials recorded so far, in the order recorded.
    pub fn records(&self) -> &[TrialRecord] {
        &self.done
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Trial `trial`'s parameters, once decided.
    pub fn params(&self, trial: usize) -> Option<&Params> {
        self.drawn.get(trial)
    }

    /// The training and validation sets of the trials: the first `limit` images of `data`,
    /// split (stratified) as `digits train --validation-split` splits them with the same seed.
    pub fn split(&self, data: &Dataset) -> Result<TrialData> {
        self.settings.trial_data(data)
    }

    /// Trains every trial the strategy asks for on `executor`, judged on a split of `data`
    /// (the training set; the test set plays no part), until none is left. A trial that fails
    /// stops new ones from starting; those running are recorded, then the error is returned.
    pub fn run(&mut self, data: &Dataset, executor: &mut dyn Executor, observer: &mut dyn Observer) -> Result<()> {
        let data = Arc::new(self.split(data)?);
        let (train, validation) = (data.train.len(), data.validation.as_ref().map_or(0, Dataset::len));
        observer.on_event(Event::Started { settings: &self.settings, train, validation });
        if self.resumed > 0 {
            observer.on_event(Event::Resumed { recorded: self.resumed });
        }
        // The recorded trials must be this study's: the same draws from the same space and seed
        // (and, with TPE, the results before them).
        if let Some(r) = self.done.iter().find(|r| self.drawn.get(r.trial) != Some(&r.params)) {
            return Err(Error::format(
                self.store.records_location(),
                format!(
                    "trial {} was recorded with other parameters than this space and seed give{} ({}); use another --out",
                    r.trial,
                    match self.settings.search {
                        Strategy::Tpe(_) => " after the results recorded before it",
                        _ => "",
                    },
                    params_text(&r.params)
                ),
            ));
        }
        self.schedule(&data, executor, observer)
    }

    fn schedule(
        &mut self,
        data: &Arc<TrialData>,
        executor: &mut dyn Executor,
        observer: &mut dyn Observer,
    ) -> Result<()> {
        let mut running: BTreeSet<Task> = BTreeSet::new();
        let mut failure: Option<Error> = None;
        loop {
            if failure.is_none()
                && let Err(e) = self.start_ready(&mut running, data, executor, observer)
            {
                failure = Some(e);
            }
            if running.is_empty() {
                break;
            }
            let Some((task, result)) = executor.wait() else { break };
            running.remove(&task);
            let recorded = match result {
                Ok(t) => self.record(task, t, observer),
                Err(e) => {
                    Err(Error::Invalid(format!("trial {} ({}): {e}", task.trial, params_text(&self.drawn[task.trial]))))
                }
            };
            if let Err(e) = recorded {
                failure.get_or_insert(e);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Starts the ready trials that are not running, while the executor has room.
    fn start_ready(
        &mut self,
        running: &mut BTreeSet<Task>,
        data: &Arc<TrialData>,
        executor: &mut dyn Executor,
        observer: &mut dyn Observer,
    ) -> Result<()> {
        for task in self.settings.search.ready(&self.done) {
            if running.len() >= executor.capacity() {
                break;
            }
            if running.contains(&task) {
                continue;
            }
            let (spec, config) = self.configure(&task)?;
            let dir = self.store.trial_dir(task.trial)?;
            observer.on_event(Event::TrialStarted { task: &task, params: &self.drawn[task.trial] });
            executor.start(Job { task, spec, config, dir }, data)?;
            running.insert(task);
        }
        Ok(())
    }

    /// Records a finished trial and tells the observer.
    fn record(&mut self, task: Task, t: TrialResult, observer: &mut dyn Observer) -> Result<()> {
        let record = TrialRecord::of(&task, &self.drawn[task.trial], t.val_accuracy, t.val_loss, t.seconds);
        let record = self.store.record(&record)?;
        observer.on_event(Event::TrialFinished { record: &record, val_loss: t.val_loss });
        if !matches!(self.settings.search, Strategy::Hyperband(_)) {
            // Only Hyperband continues a trial: any other's checkpoint is spent.
            self.store.spend_checkpoint(task.trial);
        }
        self.done.push(record);
        // TPE decides the next configurations from this result.
        self.settings.draw(&self.done, &mut self.drawn);
        Ok(())
    }

    /// The model and training settings of a task.
    fn configure(&self, task: &Task) -> Result<(ModelSpec, TrainConfig)> {
        let params = self.drawn.get(task.trial).ok_or_else(|| Error::Invalid(format!("no trial {}", task.trial)))?;
        self.settings.task(task, params)
    }

    /// Keeps the best trial's model where the store says, writes its summary with the command
    /// that reproduces it, and scores it on `test` (reported only: the choice is made).
    pub fn finish(&mut self, test: Option<&Dataset>) -> Result<Outcome> {
        let board: Vec<TrialRecord> = leaderboard(&self.done).into_iter().cloned().collect();
        let best = board.first().ok_or_else(|| Error::invalid("no trial finished"))?;
        let task = Task { trial: best.trial, bracket: best.bracket, round: best.round, epochs: best.epochs };
        let (spec, cfg) = self.configure(&task)?;
        let place = self.store.best_place();
        self.keep_best(best.trial, &spec, &cfg, &place)?;
        let train_args = self.train_args(&cfg, &place);
        // The test set is looked at once, for the report, after the choice is made.
        let test_accuracy = match test {
            Some(test) => {
                let (_, mut net) = crate::model::load_model(place.dir.path())?;
                Some(crate::eval::evaluate(&mut net, test)?.accuracy)
            }
            None => None,
        };
        let summary = BestTrial {
            trial: best.trial,
            bracket: best.bracket,
            round: best.round,
            epochs: best.epochs,
            val_accuracy: best.val_accuracy,
            val_loss: best.val_loss,
            params: best.params.clone(),
            model: spec.display_name().into(),
            model_file: place.model_file.clone(),
            command: format!("digits {}", train_args.join(" ")),
            train_args,
            test_accuracy,
        };
        crate::atomic::write_json(&place.summary, &summary)?;
        // Every trial is finished: the checkpoints that let them continue are spent.
        for r in &self.done {
            self.store.spend_checkpoint(r.trial);
        }
        Ok(Outcome { leaderboard: board, best: summary, best_dir: place.dir })
    }

    /// Copies the trial's model and history to the best place, with its model file and a
    /// `train.json`, so that it is a run directory of its own.
    fn keep_best(&mut self, trial: usize, spec: &ModelSpec, cfg: &TrainConfig, place: &BestPlace) -> Result<()> {
        let (src, dst) = (self.store.trial_dir(trial)?, &place.dir);
        std::fs::create_dir_all(dst.path()).map_err(Error::io(dst.path()))?;
        let files = |d: &RunDir| [d.model_json(), d.weights(), d.history_json(), d.history_csv()];
        for (from, to) in files(&src).iter().zip(files(dst).iter()) {
            let bytes = std::fs::read(from).map_err(Error::io(from))?;
            crate::atomic::write_file(to, &bytes)?;
        }
        let text = toml::to_string(spec).map_err(|e| Error::format(&place.model_file, e.to_string()))?;
        crate::atomic::write_file(&place.model_file, text.as_bytes())?;
        let (t, nt) = crate::model::load_model(dst.path())?.1.param_counts();
        let info = RunInfo {
            digits_version: env!("CARGO_PKG_VERSION").into(),
            model: spec.display_name().into(),
            config: cfg.clone(),
            threads: self.settings.threads,
            data: self.settings.data.display().to_string(),
            train_samples: 0,
            validation: format!(
                "split {} of the training set (stratified)",
                self.settings.validation_split.unwrap_or(DEFAULT_VALIDATION_SPLIT)
            ),
            validation_samples: 0,
            params: t + nt,
            train_seconds: self.done.iter().filter(|r| r.trial == trial).map(|r| r.seconds).sum(),
        };
        crate::atomic::write_json(&dst.train_json(), &info)
    }

    /// The `digits train` arguments that train the best configuration again, bit for bit.
    fn train_args(&self, cfg: &TrainConfig, place: &BestPlace) -> Vec<String> {
        let s = &self.settings;
        let mut args: Vec<String> = vec!["train".into(), "--model".into(), place.model_file.display().to_string()];
        let mut push = |k: &str, v: String| args.extend([k.to_string(), v]);
        push("--epochs", cfg.epochs.to_string());
        push("--batch-size", cfg.batch_size.to_string());
        push("--optimizer", cfg.optimizer.name().into());
        push("--lr", cfg.optimizer.lr().to_string());
        push("--seed", s.seed.to_string());
        if let Some(f) = s.validation_split {
            push("--validation-split", f.to_string());
        }
        if let Some(n) = s.limit {
            push("--limit", n.to_string());
        }
        push("--data", s.data.display().to_string());
        push("--threads", s.threads.to_string());
        push("--out", place.retrain.display().to_string());
        args
    }
}
