//! A shared study written out as a tuning directory ([`export`]): the settings, the results
//! file, every trial's last model and the best trial with its reproduce command, exactly what
//! `digits tune --out DIR` leaves, so everything that reads a tuning directory reads it.

use super::results::TrialRecord;
use super::search::leaderboard;
use super::shared::{SharedStore, blob_limit, decide};
use super::store::{DirStore, StudyStore};
use super::study::{Outcome, Study};
use crate::data::Dataset;
use crate::{Error, Result};
use std::path::Path;

/// Writes the finished study in `store` to the tuning directory `out` (a new one, or one that
/// holds this very study), scoring the best model on `test` if given.
pub fn export(store: &mut dyn SharedStore, out: &Path, test: Option<&Dataset>) -> Result<Outcome> {
    let study = store.location();
    let bad = |message: String| Error::Study { study: study.clone(), message };
    let (settings, _) = store.load()?;
    let Some(space) = settings.space() else {
        return Err(bad(format!(
            "an {}: assemble it with `digits ensemble --storage … --study … --out DIR`",
            settings.summary()
        )));
    };
    let records = store.records()?;
    let drawn = settings.configurations(&records);
    // Checks every record against the plan, and that nothing is left to run.
    if !decide(&settings, &drawn, &study, &records)?.is_empty() {
        return Err(bad("the study is not finished (see `digits tune status`)".into()));
    }
    let mut dir = DirStore::new(out);
    let already = dir.open(&settings)?;
    if !already.is_empty() && !same_records(&already, &records) {
        return Err(Error::Invalid(format!(
            "{} holds other results than the study; export to another --out",
            out.display()
        )));
    }
    if already.is_empty() {
        for r in &records {
            dir.record(r)?;
        }
    }
    for r in leaderboard(&records) {
        let (spec, _) = space.trial(&r.params).map_err(|e| bad(format!("trial {}: {e}", r.trial)))?;
        let (t, nt) = spec.build(0)?.param_counts();
        let Some(model) = store.model(r.trial, blob_limit(t + nt))? else { continue };
        let trial_dir = dir.trial_dir(r.trial)?;
        model.write(&trial_dir)?;
        crate::model::load_model(trial_dir.path()).map_err(|e| bad(format!("trial {}: model: {e}", r.trial)))?;
    }
    let mut study = Study::open(dir, settings)?;
    study.finish(test)
}

/// The same records, whatever their order (training seconds aside).
fn same_records(a: &[TrialRecord], b: &[TrialRecord]) -> bool {
    let key = |r: &TrialRecord| {
        let mut r = r.clone();
        r.seconds = 0.0;
        serde_json::to_string(&r).expect("a record serialises")
    };
    let (mut a, mut b): (Vec<String>, Vec<String>) = (a.iter().map(key).collect(), b.iter().map(key).collect());
    a.sort();
    b.sort();
    a == b
}
