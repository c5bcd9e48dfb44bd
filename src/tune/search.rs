//! The search strategies: which trials can run now, given the ones already recorded.
//!
//! Both are pure functions of the recorded results, which is what makes a restarted run
//! continue exactly where the killed one stopped: nothing is decided from memory that is not
//! also in the results file.

use super::hyperband::{MAX_EPOCHS, MAX_TRIALS, Plan};
use super::results::TrialRecord;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Random search or Hyperband.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "strategy")]
pub enum Strategy {
    /// `trials` configurations, each trained for `epochs`.
    Random {
        trials: usize,
        epochs: usize,
    },
    Hyperband(Plan),
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
    /// The strategy called `name` (`random` or `hyperband`): random search tries `trials`
    /// configurations of `max_epochs` epochs; Hyperband's plan has budget `max_epochs` (R) and
    /// factor `factor` (η).
    pub fn from_name(name: &str, trials: usize, max_epochs: usize, factor: usize) -> Result<Strategy> {
        match name {
            "random" if !(1..=MAX_TRIALS).contains(&trials) || !(1..=MAX_EPOCHS).contains(&max_epochs) => {
                Err(Error::Invalid(format!(
                    "--trials must be 1 to {MAX_TRIALS} (got {trials}) and --max-epochs 1 to {MAX_EPOCHS} (got {max_epochs})"
                )))
            }
            "random" => Ok(Strategy::Random { trials, epochs: max_epochs }),
            "hyperband" => Ok(Strategy::Hyperband(Plan::new(max_epochs, factor)?)),
            other => Err(Error::Invalid(format!("--strategy must be `random` or `hyperband`, got `{other}`"))),
        }
    }

    /// Configurations drawn in all.
    pub fn configurations(&self) -> usize {
        match self {
            Strategy::Random { trials, .. } => *trials,
            Strategy::Hyperband(plan) => plan.configurations(),
        }
    }

    /// Every task not yet recorded whose inputs are decided, in a fixed order.
    pub fn ready(&self, done: &[TrialRecord]) -> Vec<Task> {
        match self {
            Strategy::Random { trials, epochs } => (0..*trials)
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
        }
    }

    /// The name used on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Random { .. } => "random",
            Strategy::Hyperband(_) => "hyperband",
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
