//! The scheduling against the store seam: [`MemoryStore`], a second [`StudyStore`] that keeps
//! the settings and records in memory, runs the same [`Study`] code as the tuning directory.

use super::*;
use crate::data::Dataset;
use crate::layout::{RunDir, TuneDir};
use crate::{Error, Result};

/// Settings and records in memory; only the trials' run directories (training writes files)
/// are on disk, in a scratch directory.
struct MemoryStore {
    settings: Option<serde_json::Value>,
    records: Vec<String>,
    files: tempfile::TempDir,
}

impl MemoryStore {
    fn new() -> MemoryStore {
        MemoryStore { settings: None, records: Vec::new(), files: tempfile::tempdir().expect("scratch dir") }
    }

    fn scratch(&self) -> TuneDir {
        TuneDir::new(self.files.path())
    }
}

impl StudyStore for MemoryStore {
    fn open(&mut self, settings: &Settings) -> Result<Vec<TrialRecord>> {
        match &self.settings {
            None => self.settings = Some(serde_json::to_value(settings).expect("settings serialise")),
            Some(old) if !settings.differences(old).is_empty() => {
                return Err(Error::Invalid(format!("other settings ({})", settings.differences(old).join("; "))));
            }
            Some(_) => {}
        }
        Ok(self.records.iter().map(|r| serde_json::from_str(r).expect("a record")).collect())
    }

    fn record(&mut self, record: &TrialRecord) -> Result<TrialRecord> {
        self.records.push(serde_json::to_string(record).expect("a record serialises"));
        Ok(serde_json::from_str(self.records.last().expect("just pushed")).expect("a record reads back"))
    }

    fn trial_dir(&mut self, trial: usize) -> Result<RunDir> {
        Ok(self.scratch().trial(trial))
    }

    fn spend_checkpoint(&mut self, trial: usize) {
        let _ = std::fs::remove_file(self.scratch().trial(trial).checkpoint_last());
    }

    fn best_place(&self) -> BestPlace {
        let d = self.scratch();
        BestPlace { dir: d.best(), model_file: d.best_model_toml(), summary: d.best_json(), retrain: d.retrain() }
    }

    fn records_location(&self) -> String {
        "memory".into()
    }
}

/// 400 small images: each class a bright bar at its own row, with seeded noise.
fn data() -> Dataset {
    let (rows, cols, n) = (28, 28, 400);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut images = Vec::with_capacity(n * rows * cols);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % 10) as u8;
        for p in 0..rows * cols {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 * 0.3;
            let bar = if p / cols == 2 + 2 * label as usize { 0.7 } else { 0.0 };
            images.push(bar + noise);
        }
        labels.push(label);
    }
    Dataset { images, labels, rows, cols, source: "synthetic".into() }
}

fn settings() -> Settings {
    let space: Space = toml::from_str(
        "model = \"mlp\"\n[params]\nlayers = { choice = [1] }\nunits_1 = { choice = [4, 8] }\nlr = { float = [0.001, 0.05], log = true }\n",
    )
    .expect("a space");
    space.check().expect("a good space");
    let search = Strategy::Hyperband(Plan::new(3, 3).expect("a plan"));
    Settings { seed: 1, ..Settings::new(search, space, "synthetic".into(), crate::engine::threads()) }
}

/// The records without their timings, in a fixed order.
fn trials(records: &[TrialRecord]) -> Vec<TrialRecord> {
    let mut rs: Vec<TrialRecord> = records.iter().map(|r| TrialRecord { seconds: 0.0, ..r.clone() }).collect();
    rs.sort_by_key(|r| (r.trial, r.epochs));
    rs
}

#[test]
fn a_study_resumed_from_a_store_holding_some_records_ends_with_the_same_trials_and_best() {
    let data = data();
    let mut whole = Study::open(MemoryStore::new(), settings()).unwrap();
    let mut started = 0;
    whole
        .run(&data, &mut Threads::new(1, 1).unwrap(), &mut |e: Event| {
            started += matches!(e, Event::TrialStarted { .. }) as usize
        })
        .unwrap();
    let plan = Plan::new(3, 3).unwrap();
    let rounds: usize = plan.brackets.iter().flat_map(|b| &b.rounds).map(|r| r.trials).sum();
    assert_eq!((whole.records().len(), started), (rounds, rounds), "every round of the plan, once");
    let best = whole.finish(None).unwrap();

    // Another store holding the first records (and none of the checkpoints): the promoted
    // trials train again from scratch, two at a time, to the same numbers.
    let first: Vec<String> = whole.store().records[..3].to_vec();
    let (mut resumed, events) = resume(&data, first.clone());
    assert!(events[1].starts_with("Resumed { recorded: 3 }"), "{events:?}");
    assert_eq!(
        events.iter().filter(|e| e.starts_with("TrialStarted")).count(),
        rounds - 3,
        "recorded trials are not trained again"
    );
    assert_eq!(trials(whole.records()), trials(resumed.records()));
    let again = resumed.finish(None).unwrap();
    assert_eq!(
        (again.best.trial, again.best.epochs, &again.best.params),
        (best.best.trial, best.best.epochs, &best.best.params)
    );
    assert_eq!(again.best.val_accuracy, best.best.val_accuracy);
    assert_eq!(
        std::fs::read(again.best_dir.weights()).unwrap(),
        std::fs::read(best.best_dir.weights()).unwrap(),
        "the best model, bit for bit"
    );

    // Mutation: the decisions come from the store's records, not from memory: a store that
    // hands back a round-0 loser as its round's best makes the study promote that trial.
    let round1 = |s: &Study<MemoryStore>| -> Vec<usize> {
        s.records().iter().filter(|r| r.round == Some(1)).map(|r| r.trial).collect()
    };
    let promoted = round1(&whole);
    let mut forged: Vec<TrialRecord> = first.iter().map(|r| serde_json::from_str(r).unwrap()).collect();
    let loser = forged.iter_mut().find(|r| r.bracket == Some(1) && !promoted.contains(&r.trial)).expect("a loser");
    loser.val_accuracy = 1.0;
    let loser = loser.trial;
    let (forged, _) = resume(&data, forged.iter().map(|r| serde_json::to_string(r).unwrap()).collect());
    assert_eq!(round1(&forged), [loser], "the forged record was not what the study decided from");
    assert_ne!(trials(whole.records()), trials(forged.records()), "the comparison above misses it");
}

/// A study resumed from a memory store holding `records` (as JSON lines), run to the end with
/// two trials at a time; with the events it reported.
fn resume(data: &Dataset, records: Vec<String>) -> (Study<MemoryStore>, Vec<String>) {
    let mut store = MemoryStore::new();
    store.settings = Some(serde_json::to_value(settings()).unwrap());
    store.records = records;
    let mut study = Study::open(store, settings()).unwrap();
    let mut events = Vec::new();
    study.run(data, &mut Threads::new(2, 1).unwrap(), &mut |e: Event| events.push(format!("{e:?}"))).unwrap();
    (study, events)
}

#[test]
fn a_store_with_other_settings_or_foreign_records_is_refused() {
    let mut store = MemoryStore::new();
    store.settings = Some(serde_json::to_value(settings()).unwrap());
    let other = Settings { seed: 2, ..settings() };
    let err = Study::open(store, other).err().expect("other settings are refused").to_string();
    assert!(err.contains("seed: was 1, now 2"), "{err}");

    // A record whose parameters are not this study's draw: refused before anything trains.
    let study = Study::open(MemoryStore::new(), settings()).unwrap();
    let mut forged = TrialRecord {
        trial: 1,
        bracket: Some(1),
        round: Some(0),
        params: study.params(1).unwrap().clone(),
        epochs: 1,
        val_accuracy: 0.5,
        val_loss: Some(1.0),
        seconds: 0.0,
    };
    forged.params.insert("units_1".into(), Value::Int(999));
    let mut store = MemoryStore::new();
    store.records.push(serde_json::to_string(&forged).unwrap());
    let mut study = Study::open(store, settings()).unwrap();
    let mut started = 0;
    let err = study.run(&data(), &mut Threads::new(1, 1).unwrap(), &mut |e: Event| {
        started += matches!(e, Event::TrialStarted { .. }) as usize
    });
    let err = err.unwrap_err().to_string();
    assert!(
        err.starts_with("memory: trial 1 was recorded with other parameters") && err.contains("units_1=999"),
        "{err}"
    );
    assert_eq!(started, 0);
}

/// A TPE study over the synthetic data: 7 trials of one epoch, 2 random, at most 2 at once.
fn tpe_settings() -> Settings {
    let search = Strategy::tpe(7, 1, Some(2), 2).expect("a tpe search");
    Settings { search, ..settings() }
}

#[test]
fn a_tpe_study_ends_the_same_whatever_the_jobs_and_wherever_it_was_resumed() {
    let data = data();
    let mut whole = Study::open(MemoryStore::new(), tpe_settings()).unwrap();
    whole.run(&data, &mut Threads::new(1, 1).unwrap(), &mut ()).unwrap();
    assert_eq!(whole.records().len(), 7);
    let best = whole.finish(None).unwrap();

    // Two at a time, from a store holding the first three results: the same trials, the same
    // numbers (which trial finishes first decides nothing), the same best model.
    let mut store = MemoryStore::new();
    store.records = whole.store().records[..3].to_vec();
    let mut resumed = Study::open(store, tpe_settings()).unwrap();
    resumed.run(&data, &mut Threads::new(2, 1).unwrap(), &mut ()).unwrap();
    assert_eq!(trials(whole.records()), trials(resumed.records()));
    let again = resumed.finish(None).unwrap();
    assert_eq!((again.best.trial, &again.best.params), (best.best.trial, &best.best.params));
    assert_eq!(std::fs::read(again.best_dir.weights()).unwrap(), std::fs::read(best.best_dir.weights()).unwrap());
}

#[test]
fn a_tampered_tpe_record_is_a_named_error_before_anything_trains() {
    let data = data();
    let mut whole = Study::open(MemoryStore::new(), tpe_settings()).unwrap();
    whole.run(&data, &mut Threads::new(1, 1).unwrap(), &mut ()).unwrap();
    let records: Vec<TrialRecord> = whole.store().records.iter().map(|r| serde_json::from_str(r).unwrap()).collect();
    let by_trial = |t: usize| records.iter().position(|r| r.trial == t).unwrap();
    let resume = |records: Vec<TrialRecord>| -> (String, usize) {
        let mut store = MemoryStore::new();
        store.records = records.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
        let mut study = Study::open(store, tpe_settings()).unwrap();
        let mut started = 0;
        let err = study
            .run(&data, &mut Threads::new(1, 1).unwrap(), &mut |e: Event| {
                started += matches!(e, Event::TrialStarted { .. }) as usize
            })
            .expect_err("a tampered record is refused");
        (err.to_string(), started)
    };

    // The best result of a random trial made the worst: the trials decided after it see
    // another ranking, so their recorded parameters are no longer the ones it gives.
    let mut forged = records.clone();
    let first = by_trial(0);
    forged[first].val_accuracy = if forged[first].val_accuracy > 0.5 { 0.0 } else { 1.0 };
    let (err, started) = resume(forged);
    assert!(
        err.contains("was recorded with other parameters than this space and seed give after the results"),
        "{err}"
    );
    assert_eq!(started, 0);

    // A record of a trial its earlier results do not decide yet (they are missing).
    let (err, started) = resume(records[by_trial(6)..].iter().filter(|r| r.trial == 6).cloned().collect());
    assert!(err.starts_with("memory: trial 6 was recorded with other parameters"), "{err}");
    assert_eq!(started, 0);

    // A trial beyond the study, and absurd numbers: errors, not panics.
    let mut beyond = records[by_trial(3)].clone();
    beyond.trial = usize::MAX;
    beyond.val_accuracy = -1e308;
    let (err, _) = resume(vec![beyond]);
    assert!(err.contains(&format!("trial {} was recorded with other parameters", usize::MAX)), "{err}");
}
