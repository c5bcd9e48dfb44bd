//! The short fuzz run: a thousand proptest cases per loader (arbitrary bytes, and valid
//! files changed by the mutator's ops, which proptest shrinks to a minimal failing case), each
//! run under the harness of `tests/fuzzing`: no panic, at most 1 GiB of live heap, at most 5 s.
//! The long run (millions of inputs) is `scripts/fuzz`; README's Safety section has its figures.
//!
//! Below the properties, the regression tests of the bugs the fuzzing found, each named after
//! its bug.

mod fuzzing;

use fuzzing::mutate::{Case, KINDS, Op};
use fuzzing::targets::{NAMES, Target, target};
use fuzzing::{Counting, Outcome, run_case};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::RefCell;
use std::sync::Mutex;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Cases per target; `FUZZ_CASES` overrides.
fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1000)
}

/// Memory is counted process-wide: one target runs at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn op() -> impl Strategy<Value = Op> {
    (0..KINDS.len(), any::<u32>(), any::<u32>(), any::<u64>()).prop_map(|(k, at, len, value)| Op {
        kind: KINDS[k],
        at,
        len,
        value,
    })
}

/// One case in eight arbitrary bytes (up to 2 KiB), else a seed with one to six ops.
fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        1 => (proptest::collection::vec(any::<u8>(), 0..2048), any::<u32>())
            .prop_map(|(raw, variant)| Case { seed: None, raw, ops: Vec::new(), variant }),
        7 => (any::<usize>(), proptest::collection::vec(op(), 1..6), any::<u32>())
            .prop_map(|(seed, ops, variant)| Case { seed: Some(seed), raw: Vec::new(), ops, variant }),
    ]
}

/// Runs the target's seeds, then `cases()` proptest cases; a finding fails the test with the
/// (shrunk) case and what went wrong.
fn fuzz(name: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    fuzzing::install_panic_hook();
    let tgt = RefCell::new(target(name));
    let seeds = tgt.borrow().seeds.clone();
    for (i, seed) in seeds.iter().enumerate() {
        let m = run_case(&mut tgt.borrow_mut(), seed, 0);
        assert_eq!(m.outcome, Outcome::Ok, "{name}: seed {i} is refused");
    }
    let config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
    let rng = proptest::test_runner::TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&case(), |case| check(&mut tgt.borrow_mut(), &case));
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

fn check(tgt: &mut Target, case: &Case) -> Result<(), TestCaseError> {
    let input = tgt.bytes(case);
    let m = run_case(tgt, &input, case.variant);
    match m.outcome {
        Outcome::Finding(what) => {
            Err(TestCaseError::fail(format!("{what} ({} bytes: {:?})", input.len(), shown(&input))))
        }
        _ => Ok(()),
    }
}

/// The input, shown as text when it is mostly text, cut short.
fn shown(input: &[u8]) -> String {
    String::from_utf8_lossy(&input[..input.len().min(600)]).into_owned()
}

/// The harness catches what it is there to catch: a panic, an allocation past the limit (made,
/// not just asked for, so the counting is checked too), and tells a refusal from success.
#[test]
fn the_harness_catches_planted_panics_and_allocations() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    fuzzing::install_panic_hook();
    let mut tgt = fuzzing::targets::planted(|input, _| match input {
        b"panic" => panic!("planted"),
        b"alloc" => {
            let big = vec![1u8; fuzzing::PEAK_LIMIT + 4096];
            std::hint::black_box(&big);
            Ok(())
        }
        b"seed" => Ok(()),
        _ => Err(digits::Error::invalid("refused")),
    });
    let m = run_case(&mut tgt, b"panic", 0);
    assert!(matches!(&m.outcome, Outcome::Finding(w) if w.contains("panic") && w.contains("planted")), "{m:?}");
    let m = run_case(&mut tgt, b"alloc", 0);
    assert!(matches!(&m.outcome, Outcome::Finding(w) if w.contains("live heap")), "{m:?}");
    assert!(m.largest > fuzzing::PEAK_LIMIT, "{m:?}");
    assert_eq!(run_case(&mut tgt, b"seed", 0).outcome, Outcome::Ok);
    assert_eq!(run_case(&mut tgt, b"other", 0).outcome, Outcome::Err("refused".into()));
}

/// The mutator changes its seeds, and the same case always gives the same bytes.
#[test]
fn mutations_change_the_seeds_and_are_reproducible() {
    let tgt = target("recipe");
    let mut rng = fuzzing::mutate::SplitMix(7);
    let mut changed = 0;
    for _ in 0..200 {
        let case = rng.case(tgt.seeds.len(), tgt.text);
        let bytes = tgt.bytes(&case);
        assert_eq!(bytes, tgt.bytes(&case));
        changed += usize::from(!tgt.seeds.contains(&bytes));
    }
    assert!(changed > 150, "only {changed} of 200 cases differ from their seed");
}

#[test]
fn every_target_is_fuzzed_here() {
    let here = include_str!("fuzz.rs");
    for name in NAMES {
        assert!(here.contains(&format!("fuzz(\"{name}\")")), "no test fuzzes {name}");
    }
}

#[test]
fn idx_images_survive_fuzzing() {
    fuzz("idx-images");
}

#[test]
fn idx_labels_survive_fuzzing() {
    fuzz("idx-labels");
}

#[test]
fn csv_survives_fuzzing() {
    fuzz("csv");
}

#[test]
fn csv_gz_survives_fuzzing() {
    fuzz("csv-gz");
}

#[test]
fn pictures_survive_fuzzing() {
    fuzz("picture");
}

#[test]
fn model_json_survives_fuzzing() {
    fuzz("model-json");
}

#[test]
fn model_weights_survive_fuzzing() {
    fuzz("model-weights");
}

#[test]
fn model_files_survive_fuzzing() {
    fuzz("model-file");
}

#[test]
fn recipes_survive_fuzzing() {
    fuzz("recipe");
}

#[test]
fn search_spaces_survive_fuzzing() {
    fuzz("space");
}

#[test]
fn ensembles_survive_fuzzing() {
    fuzz("ensemble");
}

#[test]
fn checkpoints_survive_fuzzing() {
    fuzz("checkpoint");
}

// ---- Regressions: bugs the fuzzing found ----

/// `TrainOptions { recipe }.resolve()` on a recipe file holding `text`: its error message.
fn recipe_error(text: &str) -> String {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let path = dir.path().join("r.toml");
    std::fs::write(&path, text).expect("write the recipe");
    let options =
        digits::train::TrainOptions { recipe: Some(path.to_string_lossy().into_owned()), ..Default::default() };
    let e = options.resolve().expect_err("a bad recipe").to_string();
    assert!(e.starts_with(&format!("{}: ", path.display())), "the error does not name the recipe: {e}");
    e
}

/// Regression: a recipe's unknown optimizer, unknown schedule, momentum given to Adam, or bad
/// model (an unknown preset, an inline layer that does not fit) was reported without the
/// recipe's name, as if a flag were wrong (`--momentum/--nesterov apply to sgd and rmsprop`).
#[test]
fn recipe_errors_of_meaning_name_the_recipe() {
    let e = recipe_error("model = \"mlp-64-64\"\noptimizer = \"adamw\"\n");
    assert!(e.contains("optimizer: unknown optimizer 'adamw'"), "{e}");
    let e = recipe_error("model = \"mlp-64-64\"\nschedule = \"linear\"\n");
    assert!(e.contains("schedule: unknown schedule 'linear'"), "{e}");
    let e = recipe_error("model = \"mlp-64-64\"\noptimizer = \"adam\"\nmomentum = 0.9\n");
    assert!(e.contains("momentum applies to sgd and rmsprop, not adam") && !e.contains("--momentum"), "{e}");
    let e = recipe_error("model = \"mlp-64-64\"\nmomentum = 0.9\n");
    assert!(e.contains("momentum applies to sgd and rmsprop, not adam") && !e.contains("--momentum"), "{e}");
    let e = recipe_error("model = \"mlp-9\"\n");
    assert!(e.contains("model: 'mlp-9' is neither a preset nor a model file"), "{e}");
    let e = recipe_error("[model]\nlayers = [{ type = \"conv2d\", filters = 4, kernel_size = 64 }]\n");
    assert!(e.contains("model: ") && e.contains("kernel"), "{e}");
}

/// An ensemble directory whose `ensemble.json` lists `members/0` (a saved `model`) `n` times.
fn repeated_member_ensemble(model: &str, n: usize) -> tempfile::TempDir {
    use digits::model::ensemble::{FORMAT, FORMAT_VERSION};
    let dir = tempfile::tempdir().expect("a scratch directory");
    let spec = digits::model::presets::resolve(model).expect("a preset");
    let net = spec.build(0).expect("it builds");
    digits::model::format::save_model(&dir.path().join("members/0"), &spec, &net).expect("save the member");
    let members = vec!["members/0"; n];
    let file = serde_json::json!({ "format": FORMAT, "format_version": FORMAT_VERSION, "members": members });
    std::fs::write(dir.path().join("ensemble.json"), serde_json::to_vec(&file).expect("json")).expect("write");
    dir
}

/// Regression: an `ensemble.json` listing one member over and over loaded it as often as it
/// was listed: 291 copies of a 670,000-parameter member took 1.56 GB for a 6 KB file (the
/// fuzzer's `ensemble` input 47176, seed 0). The members together are now held to one
/// model's limit of parameters, and to at most 256 members, checked as they load.
#[test]
fn an_ensemble_repeating_a_member_is_refused_before_it_takes_gigabytes() {
    use digits::model::ensemble::load_ensemble;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    fuzzing::install_panic_hook();
    let many = repeated_member_ensemble("mlp-512-512-d", 200);
    let path = many.path().to_path_buf();
    let mut tgt = fuzzing::targets::planted(move |_, _| load_ensemble(&path).map(drop));
    let m = run_case(&mut tgt, b"", 0);
    let Outcome::Err(e) = &m.outcome else { panic!("{m:?}") };
    assert!(e.contains("ensemble.json") && e.contains("more than an ensemble may hold in all (100000000)"), "{e}");
    assert!(m.peak < 1 << 30, "{} bytes of heap", m.peak);
    let e = load_ensemble(repeated_member_ensemble("mlp-64-64", 257).path()).err().expect("refused").to_string();
    assert!(e.contains("257 members, more than an ensemble may have (256)"), "{e}");
    assert!(load_ensemble(repeated_member_ensemble("mlp-64-64", 3).path()).is_ok());
}
