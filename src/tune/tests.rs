//! The scheduling against the store seam: [`MemoryStore`], a second [`StudyStore`] that keeps
//! the settings and records in memory, runs the same [`Study`] code as the tuning directory.

use super::*;
use crate::data::Dataset;
use crate::layout::{RunDir, TuneDir};
use crate::{Error, Result};
use shared::{StudyMeta, Worker, WorkerEvent};

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

// ---- Ensemble members ----

/// A small MLP member that stops early on the synthetic data (its validation accuracy soon
/// stops improving) and restores its best weights: 12 epochs at most, seed `seed`.
fn member_setup(seed: u64) -> MemberSetup {
    use crate::train::callbacks::{EarlyStopping, Monitor};
    let model = crate::model::presets::resolve("mlp-64-64").expect("a preset");
    let early_stopping =
        EarlyStopping { monitor: Monitor::ValLoss, min_delta: 0.05, patience: 2, restore_best_weights: true };
    let config = crate::train::TrainConfig {
        epochs: 12,
        batch_size: 32,
        seed,
        early_stopping: Some(early_stopping),
        ..Default::default()
    };
    MemberSetup { model, config }
}

/// The weights a run directory holds.
fn weights(dir: &RunDir) -> Vec<u8> {
    std::fs::read(dir.weights()).expect("a trained model")
}

/// Trains the member in `dir`, stopping it (as a kill would) once `stop_after` epochs are
/// checkpointed; the error.
fn interrupted(dir: &RunDir, setup: &MemberSetup, split: &TrialData, stop_after: usize) -> Error {
    let mut stop = |p: &crate::train::Progress| {
        if p.epochs_done >= stop_after { Err(Error::invalid("killed")) } else { Ok(()) }
    };
    trial::run_trial_with(dir, &setup.model, &setup.config, &split.train, split.validation.as_ref(), &mut stop)
        .err()
        .expect("stopped")
}

#[test]
fn a_member_that_restores_its_best_weights_ends_the_same_when_interrupted_between_its_best_epoch_and_its_stop() {
    let setup = member_setup(3);
    let settings = Settings::ensemble(1, setup.clone(), Some(0.2), "synthetic".into(), 1).unwrap();
    let split = settings.task_data(&data(), 0).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let dir = |name: &str| RunDir::new(scratch.path().join(name));
    let whole =
        trial::run_trial(&dir("whole"), &setup.model, &setup.config, &split.train, split.validation.as_ref()).unwrap();
    let (stopped, best) = (whole.progress.epochs_done, whole.progress.callbacks.early_stopping.best_epoch);
    assert!(whole.progress.callbacks.stopped && best + 2 <= stopped, "best {best}, stopped at {stopped}");

    // Interrupted after the best epoch, before the stop: continued from both checkpoints.
    interrupted(&dir("resumed"), &setup, &split, best + 1);
    let resumed =
        trial::run_trial(&dir("resumed"), &setup.model, &setup.config, &split.train, split.validation.as_ref())
            .unwrap();
    let epochs = |t: &trial::Trained| -> Vec<_> {
        t.progress.history.epochs.iter().map(|e| (e.epoch, e.loss, e.val_loss, e.val_accuracy)).collect()
    };
    assert_eq!(epochs(&resumed), epochs(&whole));
    assert_eq!(weights(&dir("resumed")), weights(&dir("whole")), "the best epoch's weights, bit for bit");

    // Mutation: without the best epoch's checkpoint the continued run restores other weights.
    interrupted(&dir("forgetful"), &setup, &split, best + 1);
    std::fs::remove_file(dir("forgetful").checkpoint_best()).unwrap();
    trial::run_trial(&dir("forgetful"), &setup.model, &setup.config, &split.train, split.validation.as_ref()).unwrap();
    assert_ne!(weights(&dir("forgetful")), weights(&dir("whole")), "the comparison above misses it");
}

#[test]
fn a_worker_continues_a_member_from_the_packed_checkpoints_another_left_in_the_store() {
    use super::shared::{Claimed, SharedStore, WorkerId};
    let data = data();
    let setup = member_setup(5);
    let settings = Settings::ensemble(2, setup.clone(), Some(0.2), "synthetic".into(), 1).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let whole = RunDir::new(scratch.path().join("whole"));
    let split = settings.task_data(&data, 0).unwrap();
    let t = trial::run_trial(&whole, &setup.model, &setup.config, &split.train, split.validation.as_ref()).unwrap();
    let best = t.progress.callbacks.early_stopping.best_epoch;

    // A worker that died after the member's best epoch left its packed checkpoints.
    let cut = RunDir::new(scratch.path().join("cut"));
    interrupted(&cut, &setup, &split, best + 1);
    let packed = trial::pack_checkpoints(
        &std::fs::read(cut.checkpoint_last()).unwrap(),
        Some(&std::fs::read(cut.checkpoint_best()).unwrap()),
    );
    let mut store = FileStore::open(&scratch.path().join("store"), "e").unwrap();
    let meta = StudyMeta { data_checksum: data.checksum(), lease_seconds: 1.0 };
    let drawn = settings.configurations(&[]);
    let decide = |done: &[TrialRecord]| shared::decide(&settings, &drawn, "e", done);
    store.create(&settings, &meta, &decide).unwrap();
    let Claimed::Task(dead) = store.claim(&WorkerId { host: "dead".into(), pid: 1 }).unwrap() else { panic!() };
    assert!(store.save_checkpoint(&dead, best + 1, &packed).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(1100)); // the lease runs out

    let mut from = Vec::new();
    let mut worker = Worker::join(store.reopen().unwrap()).unwrap();
    let recorded = worker
        .work(&data, &mut |e| {
            if let WorkerEvent::Claimed { task, from_epoch, .. } = e {
                from.push((task.trial, from_epoch))
            }
        })
        .unwrap();
    assert_eq!((recorded, from), (2, vec![(0, best + 1), (1, 0)]));
    let limit = shared::blob_limit(1 << 20);
    let member0 = store.model(0, limit).unwrap().expect("member 0's model");
    assert_eq!(member0.weights, weights(&whole), "member 0 continued to the uninterrupted weights");
    // Member 1 trains with its own seed and its own split.
    let split1 = settings.task_data(&data, 1).unwrap();
    assert_ne!(split1.validation.as_ref().unwrap().labels, split.validation.as_ref().unwrap().labels);
    let one = RunDir::new(scratch.path().join("one"));
    let cfg1 = crate::train::TrainConfig { seed: 6, ..setup.config.clone() };
    trial::run_trial(&one, &setup.model, &cfg1, &split1.train, split1.validation.as_ref()).unwrap();
    assert_eq!(store.model(1, limit).unwrap().expect("member 1's model").weights, weights(&one));
}

#[test]
fn packed_checkpoints_read_back_and_damaged_ones_are_named() {
    let blob = trial::pack_checkpoints(b"last", Some(b"best"));
    assert_eq!(trial::unpack_checkpoints(&blob).unwrap(), (&b"last"[..], Some(&b"best"[..])));
    let blob = trial::pack_checkpoints(b"last", None);
    assert_eq!(trial::unpack_checkpoints(&blob).unwrap(), (&b"last"[..], None));
    assert!(trial::unpack_checkpoints(b"a plain checkpoint").unwrap_err().contains("not a packed pair"));
    assert!(trial::unpack_checkpoints(&blob[..12]).unwrap_err().contains("cut short"));
    let mut long = blob.clone();
    long[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(trial::unpack_checkpoints(&long).unwrap_err().contains("length is more than the 4 bytes"));
}

#[test]
fn a_tuning_study_reads_and_writes_its_settings_as_before_and_an_ensemble_is_checked() {
    // A tuning study's `tune.json` as earlier versions wrote it reads back and writes the same.
    let old = serde_json::to_value(settings()).unwrap();
    assert!(old["space"].is_object() && old.get("member").is_none() && old["validation_split"] == 0.1);
    let back: Settings = serde_json::from_value(old.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), old);

    let e = Settings::ensemble(3, member_setup(7), Some(0.2), "synthetic".into(), 1).unwrap();
    let text = serde_json::to_string(&e).unwrap();
    let back: Settings = serde_json::from_str(&text).unwrap();
    assert_eq!(back, e);
    assert_eq!(e.configurations(&[]).iter().map(params_text).collect::<Vec<_>>(), ["seed=7", "seed=8", "seed=9"]);
    assert_eq!(e.summary(), "ensemble of 3 mlp-64-64 members (seeds 7 to 9), 12 epochs each");
    // Early stopping that watches val_loss needs a split.
    let err = Settings::ensemble(3, member_setup(7), None, "synthetic".into(), 1).unwrap_err().to_string();
    assert!(err.contains("early stopping watches val_loss but there is no validation set"), "{err}");
    let check = |s: &Settings| s.check().err().map(|e| e.to_string()).unwrap_or_default();
    let mut bad = e.clone();
    bad.seed = 8;
    assert!(check(&bad).contains("seed 7 and epochs 12 are not the study's (8 and 12)"), "{}", check(&bad));
    bad = e.clone();
    bad.search = Strategy::Members { members: 3, epochs: 11 };
    assert!(check(&bad).contains("are not the study's"), "{}", check(&bad));
    bad = e.clone();
    bad.seed = i64::MAX as u64 - 1;
    if let Subject::Member(m) = &mut bad.subject {
        m.config.seed = bad.seed;
    }
    assert!(check(&bad).contains("the last member's seed must be at most"), "{}", check(&bad));
    bad = Settings { search: Strategy::Members { members: 3, epochs: 1 }, ..settings() };
    assert!(check(&bad).contains("not a search space"), "{}", check(&bad));
    bad = Settings { search: Strategy::Random { trials: 2, epochs: 12 }, ..e.clone() };
    assert!(check(&bad).contains("draws from a space"), "{}", check(&bad));
    // Differences are named down to the field.
    let mut other = e.clone();
    if let Subject::Member(m) = &mut other.subject {
        m.config.batch_size = 64;
    }
    assert_eq!(other.differences(&serde_json::to_value(&e).unwrap()), ["member.config.batch_size: was 32, now 64"]);
}
