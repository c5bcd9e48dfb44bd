//! The search strategies: which trials can run now, and with which parameters, given the ones
//! already recorded.
//!
//! All of them are pure functions of the recorded results, which is what makes a restarted run
//! continue exactly where the killed one stopped: nothing is decided from memory that is not
//! also in the results file. Random search and Hyperband draw every configuration from the seed
//! alone; TPE ([`super::tpe`]) decides each from the results of the trials before it. An
//! ensemble's members ([`Strategy::Members`]) are a plan too, with nothing to draw: member `i` is
//! one training setup with its own seed ([`super::members`]).

use super::hyperband::{MAX_EPOCHS, MAX_TRIALS, Plan};
use super::results::TrialRecord;
use super::space::{Params, Space};
use super::tpe::Tpe;
use crate::model::ensemble::MAX_MEMBERS;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Random search, Hyperband, TPE, or an ensemble's members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "strategy")]
pub enum Strategy {
    /// `trials` configurations, each trained for `epochs`.
    Random {
        trials: usize,
        epochs: usize,
    },
    Hyperband(Plan),
    /// Tree-structured Parzen Estimator: `trials` configurations of `epochs` epochs, each after
    /// the startup ones chosen by a model of the results before it.
    Tpe(Tpe),
    /// An ensemble's `members`, each trained for all its `epochs`: no search, but the same
    /// claims, checkpoints and records (the study's subject is a [`super::members::MemberSetup`]).
    Members {
        members: usize,
        epochs: usize,
    },
}

/// One unit of work: configuration `trial` trained until it has `epochs` epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Task {
    pub trial: usize,
    pub bracket: Option<usize>,
    pub round: Option<usize>,
    pub epochs: usize,
}

impl Strategy {
    /// The strategy called `name` (`random`, `hyperband` or `tpe`): random search tries
    /// `trials` configurations of `max_epochs` epochs; Hyperband's plan has budget `max_epochs`
    /// (R) and factor `factor` (η); TPE tries `trials` configurations of `max_epochs` epochs,
    /// one at a time, with the default startup ([`Strategy::tpe`] sets the rest).
    pub fn from_name(name: &str, trials: usize, max_epochs: usize, factor: usize) -> Result<Strategy> {
        match name {
            "random" if !(1..=MAX_TRIALS).contains(&trials) || !(1..=MAX_EPOCHS).contains(&max_epochs) => {
                Err(Error::Invalid(format!(
                    "--trials must be 1 to {MAX_TRIALS} (got {trials}) and --max-epochs 1 to {MAX_EPOCHS} (got {max_epochs})"
                )))
            }
            "random" => Ok(Strategy::Random { trials, epochs: max_epochs }),
            "hyperband" => Ok(Strategy::Hyperband(Plan::new(max_epochs, factor)?)),
            "tpe" => Strategy::tpe(trials, max_epochs, None, 1),
            other => Err(Error::Invalid(format!("--strategy must be `random`, `hyperband` or `tpe`, got `{other}`"))),
        }
    }

    /// TPE over `trials` configurations of `epochs` epochs, the first `startup` random (default:
    /// [`Tpe::default_startup`]), at most `concurrent` training at once (see [`Tpe`]).
    pub fn tpe(trials: usize, epochs: usize, startup: Option<usize>, concurrent: usize) -> Result<Strategy> {
        Ok(Strategy::Tpe(Tpe::new(trials, epochs, startup, concurrent)?))
    }

    /// An ensemble of `members` (1 to [`MAX_MEMBERS`]) of `epochs` epochs each.
    pub fn members(members: usize, epochs: usize) -> Result<Strategy> {
        if !(1..=MAX_MEMBERS).contains(&members) {
            return Err(Error::Invalid(format!("--members must be 1 to {MAX_MEMBERS}, got {members}")));
        }
        if !(1..=MAX_EPOCHS).contains(&epochs) {
            return Err(Error::Invalid(format!("--epochs must be 1 to {MAX_EPOCHS}, got {epochs}")));
        }
        Ok(Strategy::Members { members, epochs })
    }

    /// Configurations drawn in all (an ensemble's members).
    pub fn configurations(&self) -> usize {
        match self {
            Strategy::Random { trials, .. } | Strategy::Members { members: trials, .. } => *trials,
            Strategy::Hyperband(plan) => plan.configurations(),
            Strategy::Tpe(t) => t.trials,
        }
    }

    /// Extends `drawn` (the parameters of trials `0..drawn.len()`) with those of every trial
    /// the records `done` decide: all of them for random search and Hyperband, which draw from
    /// the seed alone; for TPE those whose earlier results are recorded. What is decided never
    /// changes as more records come.
    /// An ensemble's members are not drawn from a space: see [`super::Settings::configurations`].
    pub fn draw(&self, space: &Space, seed: u64, done: &[TrialRecord], drawn: &mut Vec<Params>) {
        match self {
            Strategy::Tpe(t) => t.extend(space, seed, done, drawn),
            Strategy::Members { .. } => {}
            _ if drawn.len() < self.configurations() => *drawn = space.draw_trials(seed, self.configurations()),
            _ => {}
        }
    }

    /// Every task not yet recorded whose inputs are decided, in a fixed order.
    pub fn ready(&self, done: &[TrialRecord]) -> Vec<Task> {
        match self {
            Strategy::Random { trials, epochs } | Strategy::Members { members: trials, epochs } => (0..*trials)
                .filter(|&t| !done.iter().any(|r| r.trial == t))
                .map(|trial| Task { trial, bracket: None, round: None, epochs: *epochs })
                .collect(),
            Strategy::Hyperband(plan) => {
                let mut tasks = Vec::new();
                for b in &plan.brackets {
                    let mut candidates: Vec<usize> = (b.first_trial..b.first_trial + b.rounds[0].trials).collect();
                    for (i, round) in b.rounds.iter().enumerate() {
                        let recorded: Vec<&TrialRecord> = done
                            .iter()
                            .filter(|r| r.bracket == Some(b.s) && r.round == Some(i) && candidates.contains(&r.trial))
                            .collect();
                        let task = |trial| Task { trial, bracket: Some(b.s), round: Some(i), epochs: round.epochs };
                        tasks.extend(
                            candidates.iter().filter(|&&t| !recorded.iter().any(|r| r.trial == t)).map(|&t| task(t)),
                        );
                        if recorded.len() < candidates.len() {
                            break; // the next round waits for this one
                        }
                        // Successive halving: the best of this round go on.
                        let mut ranked = recorded;
                        ranked.sort_by(|a, b| a.better(b));
                        let keep = b.rounds.get(i + 1).map_or(0, |r| r.trials);
                        candidates = ranked.iter().take(keep).map(|r| r.trial).collect();
                    }
                }
                tasks
            }
            Strategy::Tpe(t) => t
                .ready(done)
                .into_iter()
                .map(|trial| Task { trial, bracket: None, round: None, epochs: t.epochs })
                .collect(),
        }
    }

    /// The name used on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Random { .. } => "random",
            Strategy::Hyperband(_) => "hyperband",
            Strategy::Tpe(_) => "tpe",
            Strategy::Members { .. } => "members",
        }
    }
}

/// Each configuration's last record (the most epochs it was trained for), best first: the
/// model a configuration leaves in its directory is the one of its last record.
pub fn leaderboard(done: &[TrialRecord]) -> Vec<&TrialRecord> {
    let mut last: Vec<&TrialRecord> = Vec::new();
    for r in done {
        match last.iter_mut().find(|l| l.trial == r.trial) {
            Some(l) if l.epochs < r.epochs => *l = r,
            Some(_) => {}
            None => last.push(r),
        }
    }
    last.sort_by(|a, b| a.better(b));
    last
}
