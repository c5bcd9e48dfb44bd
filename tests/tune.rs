//! `digits tune`: the search-space file, Hyperband's plan, the results file, and the promises of
//! the command: a run killed with SIGKILL and restarted ends with the same trials and the same
//! best model as an uninterrupted one, and the best trial's `digits train` command reproduces it.

mod common;

use common::{digits_cmd, ok_output, temp_dir, weights_hash};
use digits::tune::{Plan, ResultsFile, Space, TrialRecord, Value};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// Runs `digits ARGS`, which must succeed, and returns its standard output.
fn ok(args: &[String]) -> String {
    ok_output(args, digits_cmd().args(args).output().expect("run digits"))
}

fn space(dir: &Path, name: &str, text: &str) -> Result<Space, String> {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    Space::from_file(&path).map_err(|e| e.to_string())
}

const CNN: &str = r#"
model = "cnn"
[params]
blocks = { int = [1, 3] }
filters_1 = { choice = [16, 32] }
filters_2 = { choice = [32, 64], when = "blocks >= 2" }
filters_3 = { choice = [64, 128], when = "blocks >= 3" }
dense_units = { int = [64, 256], step = 64 }
dropout = { float = [0.0, 0.5] }
batch_norm = { choice = [true, false] }
lr = { float = [1e-4, 1e-2], log = true }
optimizer = { choice = ["adam", "rmsprop"] }
"#;

#[test]
fn draws_respect_ranges_steps_log_scale_and_conditions() {
    let dir = temp_dir("space");
    let s = space(&dir, "cnn.toml", CNN).unwrap();
    let mut decades = [0usize; 2];
    let mut blocks_seen = [0usize; 4];
    for t in 0..600 {
        let p = s.draw(7, t);
        assert_eq!(p, s.draw(7, t), "same seed and trial, same values");
        let Value::Int(blocks) = p["blocks"] else { panic!("{p:?}") };
        assert!((1..=3).contains(&blocks));
        blocks_seen[blocks as usize] += 1;
        // Conditional parameters exist exactly when their condition holds.
        assert_eq!(p.contains_key("filters_2"), blocks >= 2, "{p:?}");
        assert_eq!(p.contains_key("filters_3"), blocks >= 3, "{p:?}");
        let Value::Int(units) = p["dense_units"] else { panic!("{p:?}") };
        assert!([64, 128, 192, 256].contains(&units), "{units}");
        let Value::Float(d) = p["dropout"] else { panic!("{p:?}") };
        assert!((0.0..=0.5).contains(&d));
        let Value::Float(lr) = p["lr"] else { panic!("{p:?}") };
        assert!((1e-4..=1e-2).contains(&lr), "{lr}");
        decades[(lr >= 1e-3) as usize] += 1;
        assert!(matches!(&p["optimizer"], Value::Str(o) if o == "adam" || o == "rmsprop"));
        // Every draw builds.
        let (spec, cfg) = s.trial(&p).unwrap();
        spec.check().unwrap();
        assert_eq!(cfg.optimizer.lr(), lr as f32);
    }
    assert!(blocks_seen[1..].iter().all(|&n| n > 150), "{blocks_seen:?}");
    // Log-uniform over two decades: about half in each (uniform would put 90% in the upper one).
    assert!(decades.iter().all(|&n| n > 240), "{decades:?}");
    assert_ne!(s.draw(7, 0), s.draw(8, 0), "another seed, other values");
    // Trials differ from the ones before them while the space has configurations left.
    let small = space(
        &dir,
        "small.toml",
        "model = \"mlp\"\n[params]\nunits_1 = { choice = [8, 16, 32] }\nlayers = { int = [1, 2] }\n",
    )
    .unwrap();
    let six = small.draw_trials(1, 6);
    assert!(six.iter().enumerate().all(|(i, p)| !six[..i].contains(p)), "{six:?}");
    assert_eq!(small.draw_trials(1, 8)[..6], six[..], "more trials do not change the first ones");
    // A parameter's values do not depend on the other parameters in the file.
    let fewer =
        space(&dir, "fewer.toml", "model = \"cnn\"\n[params]\nlr = { float = [1e-4, 1e-2], log = true }\n").unwrap();
    for t in 0..20 {
        assert_eq!(fewer.draw(7, t)["lr"], s.draw(7, t)["lr"]);
    }
}

#[test]
fn bad_space_files_are_clear_errors_naming_the_file_and_the_parameter() {
    let dir = temp_dir("bad-space");
    let cases = [
        (
            "model = \"mlp\"\n[params]\nunits = { int = [1, 3] }\n",
            "parameter `units`: not a parameter of the `mlp` builder",
        ),
        ("model = \"mlp\"\n[params]\nlayers = { int = [3, 1] }\n", "parameter `layers`: int range [3, 1] is empty"),
        (
            "model = \"mlp\"\n[params]\nlayers = { int = [1, 3], float = [1.0, 2.0] }\n",
            "parameter `layers`: give exactly one of",
        ),
        (
            "model = \"mlp\"\n[params]\nlr = { float = [0.0, 0.1], log = true }\n",
            "parameter `lr`: a log range must be positive",
        ),
        ("model = \"mlp\"\n[params]\ndropout = { choice = [\"x\"] }\n", "parameter `dropout`: x is not a number"),
        (
            "model = \"mlp\"\n[params]\ndropout = { float = [0.0, 1.5] }\n",
            "parameter `dropout`: 1.5 is not a number in [0, 1)",
        ),
        (
            "model = \"mlp\"\n[params]\noptimizer = { choice = [\"adamw\"] }\n",
            "parameter `optimizer`: unknown optimizer 'adamw'",
        ),
        (
            "model = \"cnn\"\n[params]\nblocks = { int = [1, 6] }\n",
            "parameter `blocks`: 6 is not a whole number in 1..=4",
        ),
        (
            "model = \"mlp\"\n[params]\nunits_2 = { choice = [8], when = \"layerz >= 2\" }\n",
            "names `layerz`, which is not a parameter",
        ),
        (
            "model = \"mlp\"\n[params]\nunits_2 = { choice = [8], when = \"layers twice\" }\n",
            "parameter `units_2`: condition `layers twice` is not",
        ),
        (
            "model = \"mlp\"\n[params]\nunits_1 = { choice = [8], when = \"units_2 == 8\" }\nunits_2 = { choice = [8], when = \"units_1 == 8\" }\n",
            "form a cycle",
        ),
        ("model = \"mlp\"\n[params]\nlayers = { int = [1, 3], stepp = 1 }\n", "unknown field `stepp`"),
        ("model = \"rnn\"\n[params]\n", "unknown variant `rnn`"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let name = format!("bad{i}.toml");
        let err = space(&dir, &name, text).unwrap_err();
        assert!(err.contains(&name) && err.contains(want), "case {i}: {err}");
    }
    let missing = Space::from_file(&dir.join("missing.toml")).unwrap_err().to_string();
    assert!(missing.contains("missing.toml"), "{missing}");
}

#[test]
fn hyperband_plan_matches_the_paper() {
    let rounds = |p: &Plan| -> Vec<Vec<(usize, usize)>> {
        p.brackets.iter().map(|b| b.rounds.iter().map(|r| (r.trials, r.epochs)).collect()).collect()
    };
    // Li et al.: R = 9, η = 3.
    let p = Plan::new(9, 3).unwrap();
    assert_eq!(p.brackets.iter().map(|b| b.s).collect::<Vec<_>>(), [2, 1, 0]);
    assert_eq!(rounds(&p), vec![vec![(9, 1), (3, 3), (1, 9)], vec![(5, 3), (1, 9)], vec![(3, 9)]]);
    assert_eq!(p.configurations(), 17);
    // Continuing promoted trials: 9 + 3·2 + 6 + 15 + 6 + 27.
    assert_eq!(p.total_epochs(), 69);
    assert!(p.table().contains("total: 69 epochs"), "{}", p.table());
    // The paper's Table 1: R = 81, η = 3.
    let p = Plan::new(81, 3).unwrap();
    assert_eq!(
        rounds(&p),
        vec![
            vec![(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
            vec![(34, 3), (11, 9), (3, 27), (1, 81)],
            vec![(15, 9), (5, 27), (1, 81)],
            vec![(8, 27), (2, 81)],
            vec![(5, 81)],
        ]
    );
    assert!(Plan::new(9, 1).is_err() && Plan::new(0, 3).is_err());
}

fn record(trial: usize, acc: f64) -> TrialRecord {
    TrialRecord {
        trial,
        bracket: None,
        round: None,
        params: [("lr".to_string(), Value::Float(0.1 + trial as f64 / 3.0))].into(),
        epochs: 1,
        val_accuracy: acc,
        val_loss: Some(1.0 / 3.0),
        seconds: 0.5,
    }
}

#[test]
fn a_torn_last_line_is_dropped_a_damaged_one_is_an_error() {
    let dir = temp_dir("results");
    let path = dir.join("results.jsonl");
    let (mut f, old) = ResultsFile::open(&path).unwrap();
    assert!(old.is_empty());
    let a = f.append(&record(0, 0.5)).unwrap();
    f.append(&record(1, 0.25)).unwrap();
    drop(f);
    assert_eq!(a, record(0, 0.5), "records read back unchanged");
    // Killed in the middle of the third line.
    let full = std::fs::read(&path).unwrap();
    let mut torn = full.clone();
    torn.extend_from_slice(br#"{"trial":2,"params":{"lr":0.7"#);
    std::fs::write(&path, &torn).unwrap();
    let (mut f, old) = ResultsFile::open(&path).unwrap();
    assert_eq!(old, vec![record(0, 0.5), record(1, 0.25)]);
    assert_eq!(std::fs::read(&path).unwrap(), full, "the torn tail is cut");
    f.append(&record(2, 0.75)).unwrap();
    drop(f);
    assert_eq!(ResultsFile::open(&path).unwrap().1.len(), 3);
    // A bad line before the end is not a kill's doing: refuse, naming the line.
    let text = std::fs::read_to_string(&path).unwrap().replacen("{\"trial\":1", "{\"trial\":x", 1);
    std::fs::write(&path, text).unwrap();
    let err = ResultsFile::open(&path).err().unwrap().to_string();
    assert!(err.contains("results.jsonl") && err.contains("line 2"), "{err}");
}

/// The recorded trials without their timings, in a fixed order.
fn results(dir: &Path) -> Vec<serde_json::Value> {
    let mut rs: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for r in &mut rs {
        r.as_object_mut().unwrap().remove("seconds");
    }
    rs.sort_by_key(|r| (r["trial"].as_u64(), r["epochs"].as_u64()));
    rs
}

fn best_json(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("best.json")).unwrap().replace(dir.to_str().unwrap(), "OUT")
}

fn tune_args(space: &str, out: &Path, jobs: &str) -> Vec<String> {
    ["tune", "--space", space, "--strategy", "hyperband", "--max-epochs", "9"]
        .into_iter()
        .chain(["--limit", "6000", "--threads", "2", "--jobs", jobs, "--seed", "3", "--out"])
        .map(String::from)
        .chain([out.to_str().unwrap().to_string()])
        .collect()
}

const TINY: &str = "examples/spaces/tiny.toml";

#[test]
fn a_tuning_run_killed_at_random_moments_resumes_to_the_same_trials_and_best() {
    let dir = temp_dir("kill");
    let whole = dir.join("whole");
    let out = ok(&tune_args(TINY, &whole, "1"));
    assert!(out.contains("Hyperband plan: max 9 epochs, factor 3") && out.contains("total: 69 epochs"), "{out}");
    let total = results(&whole).len();
    assert_eq!(total, 9 + 3 + 1 + 5 + 1 + 3);

    // Killed twice (the second time while resuming), with two trials at a time. The moment is
    // random in the run's progress, not in wall time, so that a fast or a busy machine both kill
    // inside the run: after a random number of recorded trials (at least two short of the end),
    // plus a random few milliseconds.
    let killed = dir.join("killed");
    let lines = |d: &Path| std::fs::read_to_string(d.join("results.jsonl")).map_or(0, |t| t.lines().count());
    // The moments come from a seed, printed so that a failing run can be replayed with
    // DIGITS_KILL_SEED=S (the kill lands after the same recorded trials).
    let seed = std::env::var("DIGITS_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos() as u64);
    eprintln!("kill moments from DIGITS_KILL_SEED={seed}");
    let mut state = seed;
    let mut random = |n: u64| {
        // SplitMix64.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    };
    let mut target = 0;
    for _ in 0..2 {
        target = (target + 1 + random(((total - 2 - target) / 2) as u64) as usize).min(total - 2);
        let mut child =
            digits_cmd().args(tune_args(TINY, &killed, "2")).stdout(std::process::Stdio::null()).spawn().unwrap();
        let start = Instant::now();
        while lines(&killed) < target {
            assert!(start.elapsed() < Duration::from_secs(120), "trial {target} was never recorded");
            assert!(child.try_wait().unwrap().is_none(), "the run ended before trial {target}");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(random(3)));
        child.kill().unwrap(); // SIGKILL
        assert!(!child.wait().unwrap().success(), "the run ended before it could be killed");
        assert!(!killed.join("best.json").exists(), "an interrupted run must not look finished");
    }
    let partial = lines(&killed);
    let out = ok(&tune_args(TINY, &killed, "2"));
    assert!(out.contains(&format!("resuming {}: {partial} trials already recorded", killed.display())), "{out}");
    assert!(partial < results(&whole).len(), "nothing was left to resume");
    assert_eq!(results(&whole), results(&killed));
    assert_eq!(best_json(&whole), best_json(&killed));
    assert_eq!(
        std::fs::read(whole.join("best/model.safetensors")).unwrap(),
        std::fs::read(killed.join("best/model.safetensors")).unwrap()
    );

    // Other settings in the same directory are refused, not mixed in.
    let mut other = tune_args(TINY, &killed, "1");
    let seed = other.iter().position(|a| a == "--seed").unwrap() + 1;
    other[seed] = "4".into();
    let bad = digits_cmd().args(&other).output().unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("other settings") && err.contains("seed: was 3, now 4"), "{err}");
}

/// Trains the best trial of the tuning run in `out` again with the `train_args` of its
/// `best.json`, and checks that the retrained model is the kept one bit for bit, with the same
/// validation numbers. Returns `best.json`.
fn assert_best_reproduces(out: &Path) -> serde_json::Value {
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).unwrap()).unwrap();
    let args: Vec<String> = best["train_args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().into()).collect();
    assert_eq!(format!("digits {}", args.join(" ")), best["command"], "the command is the arguments");
    ok(&args);
    let retrain = out.join("retrain");
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(retrain.join("history.json")).unwrap()).unwrap();
    let last = history.as_array().unwrap().last().unwrap();
    assert_eq!(last["val_accuracy"], best["val_accuracy"]);
    assert_eq!(last["val_loss"], best["val_loss"]);
    assert_eq!(
        weights_hash(&retrain.join("model.safetensors")),
        weights_hash(&out.join("best/model.safetensors")),
        "retraining gives other weights"
    );
    best
}

#[test]
fn the_best_trials_command_reproduces_it_and_evaluate_reads_best() {
    let dir = temp_dir("best");
    let out_dir = dir.join("out");
    let args = ["tune", "--space", TINY, "--strategy", "random", "--trials", "3", "--max-epochs", "2"]
        .into_iter()
        .chain(["--limit", "3000", "--threads", "2", "--seed", "5", "--out", out_dir.to_str().unwrap()])
        .map(String::from)
        .collect::<Vec<_>>();
    let out = ok(&args);
    assert!(out.contains("top trials") && out.contains("reproduce: digits train"), "{out}");
    assert!(out.contains("test accuracy of the best model (reported only"), "{out}");
    let best = assert_best_reproduces(&out_dir);
    let eval = ok(&["evaluate".into(), "--model".into(), out_dir.join("best").to_str().unwrap().into()]);
    let acc = format!("{:.4}", best["test_accuracy"].as_f64().unwrap());
    assert!(eval.contains(&acc), "evaluate of best/ disagrees with best.json's {acc}:\n{eval}");
}

/// A space of one configuration: every trial draws the same values, so all trials trained to
/// the same epochs tie, and the tie goes to the lowest trial number: trial 0, which Hyperband
/// promoted twice (1, then 3, then 9 epochs, continuing from its checkpoints).
const ONE: &str = r#"
model = "mlp"
[params]
layers = { choice = [1] }
units_1 = { choice = [16] }
lr = { choice = [0.01] }
batch_size = { choice = [64] }
"#;

#[test]
fn hyperbands_promoted_best_trial_reproduces_bit_for_bit() {
    let dir = temp_dir("hyperband-best");
    let space = dir.join("one.toml");
    std::fs::write(&space, ONE).unwrap();
    let out_dir = dir.join("out");
    ok(&tune_args(space.to_str().unwrap(), &out_dir, "2"));
    let best = assert_best_reproduces(&out_dir);
    assert_eq!((best["trial"].as_u64(), best["bracket"].as_u64(), best["round"].as_u64()), (Some(0), Some(2), Some(2)));
    assert_eq!(best["epochs"], 9);
    // Trained 1 + 2 + 6 epochs in three rounds, it equals bracket 0's trials, trained 9 from
    // scratch: the promotion itself changes nothing.
    for t in [14, 15, 16] {
        assert_eq!(
            weights_hash(&out_dir.join(format!("trials/{t:04}/model.safetensors"))),
            weights_hash(&out_dir.join("best/model.safetensors")),
            "trial {t}"
        );
    }

    // Mutation: a best.json whose command trains one epoch less must fail the check above.
    let path = out_dir.join("best.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("--epochs 9", "--epochs 8").replace("\"--epochs\",\n    \"9\"", "\"--epochs\",\n    \"8\""),
    )
    .unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains("\"8\""), "the mutation was planted");
    let checked = std::panic::catch_unwind(|| assert_best_reproduces(&out_dir));
    assert!(checked.is_err(), "a retrain of 8 epochs passed for the best trial of 9");
}

fn tpe_args(out: &Path, jobs: &str) -> Vec<String> {
    ["tune", "--space", TINY, "--strategy", "tpe", "--trials", "8", "--max-epochs", "1", "--concurrent", "2"]
        .into_iter()
        .chain(["--limit", "3000", "--threads", "1", "--jobs", jobs, "--seed", "3", "--out"])
        .map(String::from)
        .chain([out.to_str().unwrap().to_string()])
        .collect()
}

#[test]
fn a_tpe_run_resumed_with_other_jobs_ends_like_an_uninterrupted_one_and_bad_flags_are_named() {
    let dir = temp_dir("tpe");
    let whole = dir.join("whole");
    let out = ok(&tpe_args(&whole, "1"));
    assert!(
        out.contains("plan: 8 trials of 1 epochs each, 8 epochs in all: 3 random, then TPE; at most 2 at once"),
        "{out}"
    );
    assert_eq!(results(&whole).len(), 8);

    // Interrupted after three results (its checkpoints and models left as they were), then
    // resumed two trials at a time: the same trials, results and best model.
    let cut = dir.join("cut");
    ok(&tpe_args(&cut, "2"));
    let text = std::fs::read_to_string(cut.join("results.jsonl")).unwrap();
    let first: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(cut.join("results.jsonl"), first).unwrap();
    std::fs::remove_file(cut.join("best.json")).unwrap();
    let out = ok(&tpe_args(&cut, "2"));
    assert!(out.contains("3 trials already recorded"), "{out}");
    assert_eq!(results(&whole), results(&cut));
    assert_eq!(best_json(&whole), best_json(&cut));
    assert_eq!(weights_hash(&whole.join("best/model.safetensors")), weights_hash(&cut.join("best/model.safetensors")));

    let fails = |args: &[&str]| -> String {
        let out = digits_cmd()
            .args(["tune", "--space", TINY, "--out", dir.join("bad").to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = fails(&["--strategy", "bayes"]);
    assert!(err.contains("--strategy must be `random`, `hyperband` or `tpe`, got `bayes`"), "{err}");
    let err = fails(&["--strategy", "random", "--startup", "3"]);
    assert!(err.contains("--startup and --concurrent apply to --strategy tpe only"), "{err}");
    let err = fails(&["--strategy", "tpe", "--trials", "5000"]);
    assert!(err.contains("--trials must be 1 to 1000 with tpe, got 5000"), "{err}");
    assert!(!dir.join("bad").exists(), "a refused run leaves nothing behind");
}
