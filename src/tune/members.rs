//! An ensemble's members as a shared study: `digits ensemble train --members N --storage …`
//! queues the members (member `i` is one training setup with seed `seed + i`) as the tasks of a
//! study ([`Strategy::Members`] over a [`MemberSetup`]), which any number of workers train with
//! the machinery of [`super::shared`] (claims, heartbeats, a checkpoint per epoch in the store,
//! a killed worker's member taken over from its last checkpoint); [`assemble`] then writes the
//! finished members as an ensemble directory ([`crate::model::ensemble`]).
//!
//! Nothing is searched and nothing is ranked: a member is what `digits train` with the same
//! settings and seed trains (the same split of the same images, the same weights, bit for bit),
//! and the ensemble is the one `digits ensemble` makes of those runs. A member that diverges
//! fails the study, as `digits train` fails.

use super::search::Strategy;
use super::shared::{SharedStore, TaskState, blob_limit, decide};
use super::space::{Params, Value};
use super::study::Settings;
use crate::data::augment::AugmentConfig;
use crate::engine::limits::MAX_PARAMS;
use crate::model::ModelSpec;
use crate::model::ensemble::save_ensemble_named;
use crate::train::TrainConfig;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What every member of an ensemble study trains: one model and its training settings (a recipe
/// and flags, resolved once by whoever created the study, so every worker trains the same).
/// `config.seed` is the study's seed, member 0's; `config.epochs` the plan's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberSetup {
    pub model: ModelSpec,
    pub config: TrainConfig,
}

impl MemberSetup {
    /// Checks the setup against the study (`settings`, whose plan is `members` of `epochs`), as
    /// far as can be without building the model: the plan's numbers, the seed and epochs the
    /// same as the plan's, every member's seed a whole number the records can hold, the
    /// training settings in range (a callback watching validation needs a split), the model's
    /// planned size and all members' within what an ensemble may hold.
    pub fn check(&self, settings: &Settings, members: usize, epochs: usize) -> Result<()> {
        if Strategy::members(members, epochs)? != settings.search {
            return Err(Error::invalid("the plan is not the one its members and epochs give"));
        }
        if self.config.seed != settings.seed || self.config.epochs != epochs {
            return Err(Error::Invalid(format!(
                "the members' seed {} and epochs {} are not the study's ({} and {epochs})",
                self.config.seed, self.config.epochs, settings.seed
            )));
        }
        let last = settings.seed.checked_add(members as u64 - 1).filter(|&s| s <= i64::MAX as u64);
        if last.is_none() {
            return Err(Error::Invalid(format!(
                "--seed {} with {members} members: the last member's seed must be at most {}",
                settings.seed,
                i64::MAX
            )));
        }
        self.config.check(settings.validation_split.is_some())?;
        let params = self.model.planned_params()?;
        if params.saturating_mul(members) > MAX_PARAMS {
            return Err(Error::Invalid(format!(
                "{members} members of {params} parameters are more than an ensemble may hold in all ({MAX_PARAMS})"
            )));
        }
        Ok(())
    }
}

/// A member's parameters as its records hold them: its seed.
pub fn member_params(seed: u64) -> Params {
    // The seed fits: `MemberSetup::check` keeps every member's at most i64::MAX.
    Params::from([("seed".to_string(), Value::Int(seed as i64))])
}

/// `member 2 (seed 7)`.
pub fn member_name(trial: usize, seed: u64) -> String {
    format!("member {trial} (seed {seed})")
}

/// [`member_name`] from a record's parameters (`member 2` when they hold no seed).
pub fn member_text(trial: usize, params: &Params) -> String {
    match params.get("seed") {
        Some(seed) => format!("member {trial} (seed {seed})"),
        None => format!("member {trial}"),
    }
}

/// What [`assemble`] wrote.
#[derive(Clone, Debug)]
pub struct Assembled {
    pub members: usize,
    /// Each member's seed, by member.
    pub seeds: Vec<u64>,
    pub settings: Settings,
}

/// Writes the finished members of the ensemble study in `store` as the ensemble directory `out`
/// (the format `digits ensemble RUN… --out DIR` writes, averaging over `tta` augmented copies
/// with `tta_augment`; an ensemble already in `out` is replaced only with `overwrite`), each
/// member named `NAME seed S` in its report. Refused, saying why, when the study is not an
/// ensemble, or when a member is not finished or failed. Every record is checked against the
/// plan and every model against its size before it is fetched, and loaded before it is kept.
pub fn assemble(
    store: &mut dyn SharedStore,
    name: &str,
    out: &Path,
    tta: usize,
    tta_augment: AugmentConfig,
    overwrite: bool,
) -> Result<Assembled> {
    let study = store.location();
    let bad = |message: String| Error::Study { study: study.clone(), message };
    let (settings, _) = store.load()?;
    let Strategy::Members { members, .. } = settings.search else {
        return Err(bad(format!(
            "a tuning study ({}), not an ensemble; write it out with `digits tune export`",
            settings.summary()
        )));
    };
    let setup = settings.member().ok_or_else(|| bad("an ensemble study without its members' setup".into()))?;
    let tasks = store.tasks()?;
    if let Some(t) = tasks.iter().find(|t| t.state == TaskState::Failed) {
        let member = member_name(t.task.trial, settings.trial_seed(t.task.trial));
        let error = t.error.as_deref().unwrap_or("no error recorded");
        // A worker's error names the member already.
        let error = error.strip_prefix(&format!("{member}: ")).unwrap_or(error);
        return Err(bad(format!("{member} failed, so the ensemble cannot be assembled: {error}")));
    }
    let records = store.records()?;
    let drawn = settings.configurations(&records);
    // Checks every record against the plan; what is left to run is what is not finished.
    let left = decide(&settings, &drawn, &study, &records)?;
    if !left.is_empty() {
        let count = |s: TaskState| tasks.iter().filter(|t| t.state == s).count();
        return Err(bad(format!(
            "the ensemble is not finished: {} of {members} members done, {} running, {} queued; wait for its workers (`digits tune status`)",
            members - left.len(),
            count(TaskState::Running),
            count(TaskState::Queued),
        )));
    }
    let limit = blob_limit(setup.model.planned_params()?);
    let scratch = tempfile::tempdir().map_err(Error::io(std::env::temp_dir()))?;
    let (mut runs, mut sources, mut seeds) = (Vec::new(), Vec::new(), Vec::new());
    for member in 0..members {
        let seed = settings.trial_seed(member);
        let dir = crate::layout::RunDir::new(scratch.path().join(format!("seed-{seed}")));
        let model = store.model(member, limit)?.ok_or_else(|| bad(format!("member {member}: no model stored")))?;
        model.write(&dir)?;
        crate::model::load_model(dir.path()).map_err(|e| bad(format!("member {member}: model: {e}")))?;
        runs.push(PathBuf::from(dir.path()));
        sources.push(format!("{name} seed {seed}"));
        seeds.push(seed);
    }
    save_ensemble_named(out, &runs, sources, tta, tta_augment, overwrite)?;
    Ok(Assembled { members, seeds, settings })
}
