//! Hyperband (Li et al., 2018): brackets of successive halving that trade many configurations
//! trained briefly against few trained long.
//!
//! With a maximum of `R` epochs and a factor `η`, `s_max = ⌊log_η R⌋` and the budget of one
//! bracket is `B = (s_max + 1)·R`. Bracket `s` (from `s_max` down to 0) starts
//! `n = ⌈B/R · η^s/(s+1)⌉` configurations at `r = R·η^-s` epochs; round `i` trains
//! `⌊n·η^-i⌋` of them for `r·η^i` epochs, the best `1/η` of each round going on to the next.
//! The epochs of a round are rounded to whole epochs (at least 1); the last round always
//! trains `R`.
//!
//! A promoted configuration continues from its checkpoint: with a constant learning rate the
//! loop's shuffling and dropout depend only on the seed and the epoch number, so `r₁` epochs
//! followed by `r₂ − r₁` more are the same, bit for bit, as `r₂` epochs from scratch.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The largest `--max-epochs` (Hyperband's R, and a random trial's epochs).
pub const MAX_EPOCHS: usize = 10_000;
/// The largest `--factor` η.
pub const MAX_FACTOR: usize = 1_000;
/// The most configurations a study draws (`--trials`, or a Hyperband plan's).
pub const MAX_TRIALS: usize = 100_000;

/// One round of a bracket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// Configurations trained in this round.
    pub trials: usize,
    /// Epochs each of them has been trained for at the end of the round (in total, not more).
    pub epochs: usize,
}

/// One bracket: its number `s` and its rounds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bracket {
    pub s: usize,
    /// The number of the bracket's first configuration (configurations are numbered through
    /// the brackets in plan order).
    pub first_trial: usize,
    pub rounds: Vec<Round>,
}

/// The whole plan of one Hyperband iteration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub max_epochs: usize,
    pub factor: usize,
    pub brackets: Vec<Bracket>,
}

impl Plan {
    /// The plan for `max_epochs` R and `factor` η (1 ≤ R ≤ [`MAX_EPOCHS`], 2 ≤ η ≤
    /// [`MAX_FACTOR`]), of at most [`MAX_TRIALS`] configurations.
    pub fn new(max_epochs: usize, factor: usize) -> Result<Plan> {
        if !(1..=MAX_EPOCHS).contains(&max_epochs) {
            return Err(Error::Invalid(format!("--max-epochs must be 1 to {MAX_EPOCHS}, got {max_epochs}")));
        }
        if !(2..=MAX_FACTOR).contains(&factor) {
            return Err(Error::Invalid(format!("--factor must be 2 to {MAX_FACTOR}, got {factor}")));
        }
        // s_max = ⌊log_η R⌋, in integers so R = η^k is exact (η^(s+1) ≤ R ≤ 10⁴: no overflow).
        let mut s_max = 0u32;
        while factor.checked_pow(s_max + 1).is_some_and(|p| p <= max_epochs) {
            s_max += 1;
        }
        let r_max = max_epochs as f64;
        let eta = factor as f64;
        let budget = (s_max as f64 + 1.0) * r_max;
        let mut brackets = Vec::new();
        let mut first_trial = 0usize;
        for s in (0..=s_max).rev() {
            let n = (budget / r_max * eta.powi(s as i32) / (s as f64 + 1.0)).ceil() as usize;
            let mut rounds = Vec::new();
            for i in 0..=s {
                let trials = factor.checked_pow(i).map_or(0, |p| n / p);
                if trials == 0 {
                    break;
                }
                let epochs = if i == s {
                    max_epochs
                } else {
                    ((r_max * eta.powi(i as i32 - s as i32)).round() as usize).clamp(1, max_epochs)
                };
                rounds.push(Round { trials, epochs });
            }
            brackets.push(Bracket { s: s as usize, first_trial, rounds });
            first_trial = first_trial.saturating_add(n);
        }
        if first_trial > MAX_TRIALS {
            return Err(Error::Invalid(format!(
                "--max-epochs {max_epochs} with --factor {factor} draws {first_trial} configurations, more than {MAX_TRIALS}"
            )));
        }
        Ok(Plan { max_epochs, factor, brackets })
    }

    /// Configurations drawn over all brackets.
    pub fn configurations(&self) -> usize {
        self.brackets.iter().map(|b| b.rounds[0].trials).sum()
    }

    /// Epochs trained in all: promoted configurations continue from their checkpoints, so a
    /// round costs only its epochs beyond the previous round's.
    pub fn total_epochs(&self) -> usize {
        self.brackets
            .iter()
            .map(|b| {
                let mut prev = 0;
                b.rounds
                    .iter()
                    .map(|r| {
                        let cost = r.trials * (r.epochs - prev);
                        prev = r.epochs;
                        cost
                    })
                    .sum::<usize>()
            })
            .sum()
    }

    /// The plan as a table: one line per round, then the totals.
    pub fn table(&self) -> String {
        let mut s = format!(
            "Hyperband plan: max {} epochs, factor {}: {} brackets, {} configurations\n",
            self.max_epochs,
            self.factor,
            self.brackets.len(),
            self.configurations()
        );
        s += &format!(
            "{:>7} {:>5} {:>6} {:>12} {:>14}\n",
            "bracket", "round", "trials", "epochs each", "epochs trained"
        );
        for b in &self.brackets {
            let mut prev = 0;
            for (i, r) in b.rounds.iter().enumerate() {
                let trained = r.trials * (r.epochs - prev);
                prev = r.epochs;
                s += &format!("{:>7} {:>5} {:>6} {:>12} {:>14}\n", b.s, i, r.trials, r.epochs, trained);
            }
        }
        s += &format!(
            "total: {} epochs (promoted trials continue from their checkpoints; {} epochs if each round trained from scratch)\n",
            self.total_epochs(),
            self.brackets.iter().flat_map(|b| &b.rounds).map(|r| r.trials * r.epochs).sum::<usize>()
        );
        s
    }
}
