//! `digits tune`: hyper-parameter search (random or Hyperband) over a search-space file.
//!
//! ```text
//! OUT/tune.json         the settings; a restart with different ones is refused
//! OUT/results.jsonl     one line per finished trial, written and synced when it finishes
//! OUT/trials/NNNN/      each configuration's model, history and last checkpoint
//! OUT/best/             the best configuration's model (for `digits evaluate --model`), its
//!                       history and model file (model.toml)
//! OUT/best.json         its parameters, validation metrics and the `digits train` command
//!                       that reproduces it
//! ```

use super::common::{DataArgs, init_threads};
use anyhow::{Context, bail};
use digits::atomic::write_json;
use digits::data::{Dataset, Split, split::stratified_split};
use digits::train::TrainConfig;
use digits::train::run::RunInfo;
use digits::tune::search::leaderboard;
use digits::tune::{Params, Plan, ResultsFile, Space, Strategy, Task, TrialRecord, Value, trial};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Search-space file (TOML; see examples/spaces/)
    #[arg(long, value_name = "FILE")]
    space: PathBuf,
    /// Output directory; run again with the same flags to resume an interrupted search
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// random or hyperband
    #[arg(long, default_value = "random")]
    strategy: String,
    /// Configurations to try (random search)
    #[arg(long, value_name = "N", default_value_t = 10)]
    trials: usize,
    /// Epochs per trial (random search); the largest budget of a trial (Hyperband's R)
    #[arg(long, value_name = "E", default_value_t = 9)]
    max_epochs: usize,
    /// Hyperband's factor η: each round keeps the best 1/η of the trials for η× the epochs
    #[arg(long, value_name = "η", default_value_t = 3)]
    factor: usize,
    /// Trials trained at the same time (the threads are shared out between them)
    #[arg(long, value_name = "J", default_value_t = 1)]
    jobs: usize,
    /// Seed of the configurations drawn, the weights, shuffling, dropout and the validation split
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of the training set held out (stratified) to judge the trials
    #[arg(long, value_name = "F", default_value_t = 0.1)]
    validation_split: f64,
    /// Use the first N training images only
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    data: DataArgs,
    /// Threads in all (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

/// `tune.json`: everything the trials' results depend on. `--jobs` is not part of it: each
/// trial's numbers depend on the engine's thread count, not on how many trials run beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Settings {
    digits_version: String,
    search: Strategy,
    seed: u64,
    validation_split: f64,
    limit: Option<usize>,
    data: PathBuf,
    threads: usize,
    space: Space,
}

const SETTINGS: &str = "tune.json";
const RESULTS: &str = "results.jsonl";

/// What `best.json` holds.
#[derive(Serialize)]
struct Best<'a> {
    trial: usize,
    bracket: Option<usize>,
    round: Option<usize>,
    epochs: usize,
    val_accuracy: f64,
    val_loss: Option<f64>,
    params: &'a Params,
    model: String,
    /// The model file of the best configuration (a model file `digits train --model` reads).
    model_file: PathBuf,
    /// The `digits train` arguments that train the best configuration again, to the same weights.
    train_args: Vec<String>,
    command: String,
    /// Accuracy of the best model on the test set: reported at the end, never used to choose.
    test_accuracy: Option<f64>,
}

fn trial_dir(out: &Path, trial: usize) -> PathBuf {
    out.join("trials").join(format!("{trial:04}"))
}

/// The model and training settings of a trial.
fn configure(
    space: &Space,
    settings: &Settings,
    params: &Params,
    task: &Task,
) -> anyhow::Result<(digits::model::ModelSpec, TrainConfig)> {
    let (spec, mut cfg) =
        space.trial(params).map_err(anyhow::Error::msg).with_context(|| format!("trial {}", task.trial))?;
    cfg.epochs = task.epochs;
    cfg.seed = settings.seed;
    Ok((spec, cfg))
}

/// The parameters on one line, numbers shortened (the results file keeps them exactly).
fn params_text(p: &Params) -> String {
    let short = |v: &Value| match v {
        Value::Float(x) if *x != 0.0 && x.abs() < 0.01 => format!("{x:.3e}"),
        Value::Float(x) => format!("{x:.4}"),
        v => v.to_string(),
    };
    p.iter().map(|(k, v)| format!("{k}={}", short(v))).collect::<Vec<_>>().join(" ")
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let space = Space::from_file(&a.space)?;
    let search = match a.strategy.as_str() {
        "random" => {
            if a.trials == 0 || a.max_epochs == 0 {
                bail!("--trials and --max-epochs must be at least 1");
            }
            Strategy::Random { trials: a.trials, epochs: a.max_epochs }
        }
        "hyperband" => Strategy::Hyperband(Plan::new(a.max_epochs, a.factor).map_err(anyhow::Error::msg)?),
        other => bail!("--strategy must be `random` or `hyperband`, got `{other}`"),
    };
    if a.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let threads = init_threads(a.threads);
    let settings = Settings {
        digits_version: env!("CARGO_PKG_VERSION").into(),
        search: search.clone(),
        seed: a.seed,
        validation_split: a.validation_split,
        limit: a.limit,
        data: a.data.dir(),
        threads,
        space: space.clone(),
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let settings_path = a.out.join(SETTINGS);
    if settings_path.exists() {
        let text =
            std::fs::read_to_string(&settings_path).with_context(|| format!("reading {}", settings_path.display()))?;
        let old: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a tuning settings file", settings_path.display()))?;
        let new = serde_json::to_value(&settings)?;
        if old != new {
            let differ: Vec<String> = new
                .as_object()
                .expect("settings are an object")
                .iter()
                .filter(|(k, v)| old.get(k.as_str()) != Some(v))
                .map(|(k, v)| format!("{k}: was {}, now {v}", old.get(k.as_str()).unwrap_or(&serde_json::Value::Null)))
                .collect();
            bail!(
                "{} holds a tuning run with other settings ({}); resume it with the same flags and space, or use another --out",
                a.out.display(),
                differ.join("; ")
            );
        }
    } else {
        write_json(&settings_path, &settings)?;
    }
    let (mut results, mut done) = ResultsFile::open(&a.out.join(RESULTS))?;

    // Trials are judged on a stratified split of the training set, as `digits train
    // --validation-split` makes it from the same seed; the test set plays no part.
    let all = a.data.load(Split::Train)?;
    let all = match a.limit {
        Some(n) if n < all.len() => all.subset(&(0..n).collect::<Vec<_>>()),
        _ => all,
    };
    let (tr, va) = stratified_split(&all.labels, a.validation_split, a.seed)?;
    let (train, val) = (all.subset(&tr), all.subset(&va));
    if train.is_empty() || val.is_empty() {
        bail!("{} training images are too few to hold out a validation split of {}", all.len(), a.validation_split);
    }

    println!(
        "digits tune: {} search over {} parameters ({} model), {} training and {} validation images, seed {}, {} jobs, {} threads",
        search.name(),
        space.params.len(),
        format!("{:?}", space.model).to_lowercase(),
        train.len(),
        val.len(),
        a.seed,
        a.jobs,
        threads
    );
    match &search {
        Strategy::Random { trials, epochs } => {
            println!("plan: {trials} trials of {epochs} epochs each, {} epochs in all", trials * epochs)
        }
        Strategy::Hyperband(plan) => print!("{}", plan.table()),
    }
    if !done.is_empty() {
        println!("resuming {}: {} trials already recorded in {RESULTS}", a.out.display(), done.len());
    }

    let configurations = match &search {
        Strategy::Random { trials, .. } => *trials,
        Strategy::Hyperband(plan) => plan.configurations(),
    };
    let drawn = space.draw_trials(a.seed, configurations);
    // The recorded trials must be this search's: the same draws from the same space and seed.
    if let Some(r) = done.iter().find(|r| drawn.get(r.trial) != Some(&r.params)) {
        bail!(
            "{}: trial {} was recorded with other parameters than this space and seed give ({}); use another --out",
            a.out.join(RESULTS).display(),
            r.trial,
            params_text(&r.params)
        );
    }
    run_trials(&a, &space, &settings, &drawn, &search, &train, &val, &mut results, &mut done)?;
    finish(&a, &space, &settings, &drawn, &done, threads)
}

/// Runs every trial the strategy asks for, up to `--jobs` at a time, recording each as it ends.
#[allow(clippy::too_many_arguments)]
fn run_trials(
    a: &Args,
    space: &Space,
    settings: &Settings,
    drawn: &[Params],
    search: &Strategy,
    train: &Dataset,
    val: &Dataset,
    results: &mut ResultsFile,
    done: &mut Vec<TrialRecord>,
) -> anyhow::Result<()> {
    let per_job = (settings.threads / a.jobs).max(1);
    let (tx, rx) = std::sync::mpsc::channel::<(Task, anyhow::Result<(f64, f64, f64)>)>();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut running: BTreeSet<Task> = BTreeSet::new();
        let mut failure: Option<anyhow::Error> = None;
        loop {
            if failure.is_none() {
                for task in search.ready(done) {
                    if running.len() >= a.jobs {
                        break;
                    }
                    if running.contains(&task) {
                        continue;
                    }
                    running.insert(task);
                    let tx = tx.clone();
                    let (spec, cfg) = configure(space, settings, &drawn[task.trial], &task)?;
                    let dir = trial_dir(&a.out, task.trial);
                    let jobs = a.jobs;
                    scope.spawn(move || {
                        let work = || -> anyhow::Result<(f64, f64, f64)> {
                            let start = Instant::now();
                            // One job trains on the global pool, as `digits train` does; several
                            // share the cores out. The engine's thread count (which fixes how the
                            // work is split, hence the numbers) stays the global one either way.
                            let t = if jobs == 1 {
                                trial::run_trial(&dir, &spec, &cfg, train, val)?
                            } else {
                                let pool = rayon::ThreadPoolBuilder::new().num_threads(per_job).build()?;
                                pool.install(|| trial::run_trial(&dir, &spec, &cfg, train, val))?
                            };
                            Ok((t.val_accuracy, t.val_loss, start.elapsed().as_secs_f64()))
                        };
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("the trial panicked")));
                        let _ = tx.send((task, r));
                    });
                }
            }
            if running.is_empty() {
                break;
            }
            let (task, r) = rx.recv().expect("a running trial always reports");
            running.remove(&task);
            match r {
                Ok((val_accuracy, val_loss, seconds)) => {
                    let record = TrialRecord {
                        trial: task.trial,
                        bracket: task.bracket,
                        round: task.round,
                        params: drawn[task.trial].clone(),
                        epochs: task.epochs,
                        val_accuracy,
                        val_loss: val_loss.is_finite().then_some(val_loss),
                        seconds,
                    };
                    let record = results.append(&record)?;
                    let stage = match (task.bracket, task.round) {
                        (Some(b), Some(r)) => format!(" (bracket {b} round {r})"),
                        _ => String::new(),
                    };
                    println!(
                        "trial {}{stage}: {} epoch{} - val_accuracy {:.4} - val_loss {:.4} - {:.1}s - {}",
                        record.trial,
                        record.epochs,
                        if record.epochs == 1 { "" } else { "s" },
                        record.val_accuracy,
                        val_loss,
                        seconds,
                        params_text(&record.params)
                    );
                    if search.name() == "random" {
                        // Random search never continues a trial: its checkpoint is spent.
                        let _ =
                            std::fs::remove_file(trial_dir(&a.out, task.trial).join(digits::layout::CHECKPOINT_LAST));
                    }
                    done.push(record);
                }
                Err(e) => {
                    let e = e.context(format!("trial {} ({})", task.trial, params_text(&drawn[task.trial])));
                    failure.get_or_insert(e);
                }
            }
        }
        failure.map_or(Ok(()), Err)
    })
}

/// The top trials, `best/`, `best.json` and the test-set report.
fn finish(
    a: &Args,
    space: &Space,
    settings: &Settings,
    drawn: &[Params],
    done: &[TrialRecord],
    threads: usize,
) -> anyhow::Result<()> {
    let board = leaderboard(done);
    let Some(best) = board.first().copied() else { bail!("no trial finished") };
    println!("top trials (by validation accuracy, then loss):");
    println!("{:>4} {:>5} {:>6} {:>12} {:>8}  params", "rank", "trial", "epochs", "val_accuracy", "val_loss");
    for (i, r) in board.iter().take(5).enumerate() {
        let loss = r.val_loss.map_or("nan".to_string(), |l| format!("{l:.4}"));
        println!(
            "{:>4} {:>5} {:>6} {:>12.4} {:>8}  {}",
            i + 1,
            r.trial,
            r.epochs,
            r.val_accuracy,
            loss,
            params_text(&r.params)
        );
    }
    let task = Task { trial: best.trial, bracket: best.bracket, round: best.round, epochs: best.epochs };
    let (spec, cfg) = configure(space, settings, &drawn[best.trial], &task)?;

    // best/: the best configuration's model and history, and its model file.
    let src = trial_dir(&a.out, best.trial);
    let dst = a.out.join("best");
    std::fs::create_dir_all(&dst).with_context(|| format!("creating {}", dst.display()))?;
    for f in ["model.json", "model.safetensors", "history.json", "history.csv"] {
        let bytes = std::fs::read(src.join(f)).with_context(|| format!("reading {}", src.join(f).display()))?;
        digits::atomic::write(&dst.join(f), &bytes).with_context(|| format!("writing {}", dst.join(f).display()))?;
    }
    let model_file = dst.join("model.toml");
    digits::atomic::write(&model_file, toml::to_string(&spec)?.as_bytes())?;
    let (t, nt) = digits::model::load_model(&dst)?.1.param_counts();
    let info = RunInfo {
        digits_version: env!("CARGO_PKG_VERSION").into(),
        model: spec.display_name().into(),
        config: cfg.clone(),
        threads,
        data: settings.data.display().to_string(),
        train_samples: 0,
        validation: format!("split {} of the training set (stratified)", settings.validation_split),
        validation_samples: 0,
        params: t + nt,
        train_seconds: done.iter().filter(|r| r.trial == best.trial).map(|r| r.seconds).sum(),
    };
    write_json(&dst.join("train.json"), &info)?;

    let mut train_args: Vec<String> = vec!["train".into(), "--model".into(), model_file.display().to_string()];
    let mut push = |k: &str, v: String| train_args.extend([k.to_string(), v]);
    push("--epochs", cfg.epochs.to_string());
    push("--batch-size", cfg.batch_size.to_string());
    push("--optimizer", cfg.optimizer.name().into());
    push("--lr", cfg.optimizer.lr().to_string());
    push("--seed", settings.seed.to_string());
    push("--validation-split", settings.validation_split.to_string());
    if let Some(n) = settings.limit {
        push("--limit", n.to_string());
    }
    push("--data", settings.data.display().to_string());
    push("--threads", threads.to_string());
    push("--out", a.out.join("retrain").display().to_string());
    let command = format!("digits {}", train_args.join(" "));

    // The test set is looked at once, for the report, after the choice is made.
    let test_accuracy = if a.data.source().has_test_split() {
        let test = a.data.load(Split::Test)?;
        let (_, mut net) = digits::model::load_model(&dst)?;
        Some(digits::eval::evaluate(&mut net, &test)?.accuracy)
    } else {
        None
    };
    let best_json = Best {
        trial: best.trial,
        bracket: best.bracket,
        round: best.round,
        epochs: best.epochs,
        val_accuracy: best.val_accuracy,
        val_loss: best.val_loss,
        params: &best.params,
        model: spec.display_name().into(),
        model_file,
        train_args,
        command: command.clone(),
        test_accuracy,
    };
    write_json(&a.out.join("best.json"), &best_json)?;
    println!(
        "best: trial {} ({}, {} epochs): val_accuracy {:.4} - saved to {}",
        best.trial,
        spec.display_name(),
        best.epochs,
        best.val_accuracy,
        dst.display()
    );
    println!("reproduce: {command}");
    if let Some(acc) = test_accuracy {
        println!("test accuracy of the best model (reported only, not used to choose): {acc:.4}");
    }
    // Every trial is finished: the checkpoints that let them continue are spent.
    for r in done {
        let _ = std::fs::remove_file(trial_dir(&a.out, r.trial).join(digits::layout::CHECKPOINT_LAST));
    }
    Ok(())
}
