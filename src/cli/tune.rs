//! `digits tune`: hyper-parameter search (random, Hyperband or TPE) over a search-space file.
//!
//! The study itself (settings, scheduling, resuming, the best model) is [`digits::tune::Study`]
//! on the files of the `--out` directory ([`digits::tune::DirStore`]; the layout is in
//! [`digits::layout`]); this file turns the flags into its settings and prints its events.

use super::common::{DataArgs, init_threads};
use super::study::StorageArgs;
use digits::data::Split;
use digits::layout::RESULTS_JSONL;
use digits::tune::StudyMeta;
use digits::tune::shared::DEFAULT_LEASE_SECONDS;
use digits::tune::study::{DEFAULT_FACTOR, DEFAULT_MAX_EPOCHS, DEFAULT_TRIALS, DEFAULT_VALIDATION_SPLIT};
use digits::tune::{DirStore, Event, Outcome, Settings, Space, Strategy, Study, Threads, TrialRecord, params_text};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Search-space file (TOML; see examples/spaces/)
    #[arg(long, value_name = "FILE", required = true)]
    space: Option<PathBuf>,
    /// Output directory; run again with the same flags to resume an interrupted search
    #[arg(long, value_name = "DIR", required_unless_present_any = ["storage", "storage_file"], conflicts_with_all = ["storage", "storage_file"])]
    out: Option<PathBuf>,
    /// A shared study: create it in --storage (or join it with the same settings) and work on it
    #[command(flatten)]
    shared: StorageArgs,
    /// Shared studies: seconds without a heartbeat after which a running trial is claimed again
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_LEASE_SECONDS)]
    lease: f64,
    /// random, hyperband or tpe
    #[arg(long, default_value = "random")]
    strategy: String,
    /// Configurations to try (random search, TPE)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TRIALS)]
    trials: usize,
    /// TPE: random trials before the model decides (default: a third of --trials, at most 10)
    #[arg(long, value_name = "N")]
    startup: Option<usize>,
    /// TPE: trials that may train at once; each is decided without the results of the N-1
    /// before it, so the study does not depend on timing (default: --jobs)
    #[arg(long, value_name = "N")]
    concurrent: Option<usize>,
    /// Epochs per trial (random search, TPE); the largest budget of a trial (Hyperband's R)
    #[arg(long, value_name = "E", default_value_t = DEFAULT_MAX_EPOCHS)]
    max_epochs: usize,
    /// Hyperband's factor η: each round keeps the best 1/η of the trials for η× the epochs
    #[arg(long, value_name = "η", default_value_t = DEFAULT_FACTOR)]
    factor: usize,
    /// Trials trained at the same time (the threads are shared out between them); a shared
    /// study runs more workers instead
    #[arg(long, value_name = "J", default_value_t = 1, conflicts_with_all = ["storage", "storage_file"])]
    jobs: usize,
    /// Seed of the configurations drawn, the weights, shuffling, dropout and the validation split
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of the training set held out (stratified) to judge the trials
    #[arg(long, value_name = "F", default_value_t = DEFAULT_VALIDATION_SPLIT)]
    validation_split: f64,
    /// Use the first N training images only
    #[arg(long, value_name = "N", value_parser = super::common::at_least_1())]
    limit: Option<usize>,
    #[command(flatten)]
    data: DataArgs,
    /// Threads in all (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

/// The commands on shared studies.
#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Join a shared study and train its trials until it is finished (from any machine)
    Worker(super::study::WorkerArgs),
    /// A shared study's trials (done, running, queued, failed), workers and best trial
    Status(super::study::StatusArgs),
    /// Write a finished shared study as a tuning directory (results, best model, reproduce command)
    Export(super::study::ExportArgs),
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.action {
        Some(Action::Worker(w)) => return super::study::worker(w),
        Some(Action::Status(s)) => return super::study::status(s),
        Some(Action::Export(e)) => return super::study::export(e),
        None => {}
    }
    let space = Space::from_file(a.space.as_deref().expect("clap requires --space"))?;
    let search = match a.strategy.as_str() {
        "tpe" => Strategy::tpe(a.trials, a.max_epochs, a.startup, a.concurrent.unwrap_or(a.jobs))?,
        name if a.startup.is_some() || a.concurrent.is_some() => {
            Strategy::from_name(name, a.trials, a.max_epochs, a.factor)?;
            anyhow::bail!("--startup and --concurrent apply to --strategy tpe only")
        }
        name => Strategy::from_name(name, a.trials, a.max_epochs, a.factor)?,
    };
    let threads = init_threads(a.threads)?;
    let mut executor = Threads::new(a.jobs, threads)?;
    let settings = Settings {
        seed: a.seed,
        validation_split: Some(a.validation_split),
        limit: a.limit,
        ..Settings::new(search, space, a.data.dir(), threads)
    };
    // The data and the settings are checked before the study is stored: a mistake leaves no
    // tune.json behind that a corrected run would be refused by.
    let data = a.data.load(Split::Train)?;
    settings.split_sizes(&data)?;
    if a.shared.given() {
        let meta = StudyMeta { data_checksum: data.checksum(), lease_seconds: a.lease };
        meta.check()?;
        return super::study::create_and_work(&a.shared, settings, meta, &data);
    }
    let out = a.out.as_deref().expect("clap requires --out without --storage");
    let mut study = Study::open(DirStore::new(out), settings)?;
    study.run(&data, &mut executor, &mut |e: Event| print_event(&a, e))?;
    // The test set is looked at once, for the report, after the choice is made.
    let test = if a.data.source().has_test_split() { Some(a.data.load(Split::Test)?) } else { None };
    let outcome = study.finish(test.as_ref())?;
    print_outcome(&outcome);
    Ok(())
}

fn print_event(a: &Args, event: Event) {
    match event {
        Event::Started { settings, train, validation } => print_start(a, settings, train, validation),
        Event::Resumed { recorded } => {
            println!(
                "resuming {}: {recorded} trials already recorded in {RESULTS_JSONL}",
                a.out.as_deref().unwrap_or_else(|| "".as_ref()).display()
            )
        }
        Event::TrialStarted { .. } => {}
        Event::TrialFinished { record, val_loss } => print_trial(record, val_loss),
    }
}

/// The study's line and its plan.
fn print_start(a: &Args, s: &Settings, train: usize, validation: usize) {
    let Some(space) = s.space() else { return };
    println!(
        "digits tune: {} search over {} parameters ({} model), {train} training and {validation} validation images, seed {}, {} jobs, {} threads",
        s.search.name(),
        space.params.len(),
        format!("{:?}", space.model).to_lowercase(),
        s.seed,
        a.jobs,
        s.threads
    );
    match &s.search {
        Strategy::Random { trials, epochs } | Strategy::Members { members: trials, epochs } => {
            println!("plan: {trials} trials of {epochs} epochs each, {} epochs in all", trials * epochs)
        }
        Strategy::Hyperband(plan) => print!("{}", plan.table()),
        Strategy::Tpe(t) => {
            println!(
                "plan: {} trials of {} epochs each, {} epochs in all: {} random, then TPE; at most {} at once, each decided without the results of the {} before it",
                t.trials,
                t.epochs,
                t.trials * t.epochs,
                t.startup,
                t.concurrent,
                t.concurrent - 1
            );
            if a.jobs > t.concurrent && !a.shared.given() {
                println!("(--jobs {} > --concurrent {}: the other jobs wait)", a.jobs, t.concurrent);
            }
        }
    }
}

/// ` (bracket B round R)` for a Hyperband task, nothing for random search.
pub fn stage_text(bracket: Option<usize>, round: Option<usize>) -> String {
    match (bracket, round) {
        (Some(b), Some(r)) => format!(" (bracket {b} round {r})"),
        _ => String::new(),
    }
}

pub fn print_trial(r: &TrialRecord, val_loss: f64) {
    let stage = stage_text(r.bracket, r.round);
    println!(
        "trial {}{stage}: {} epoch{} - val_accuracy {:.4} - val_loss {val_loss:.4} - {:.1}s - {}",
        r.trial,
        r.epochs,
        if r.epochs == 1 { "" } else { "s" },
        r.val_accuracy,
        r.seconds,
        params_text(&r.params)
    );
}

/// The top trials, the best one and the command that reproduces it.
pub fn print_outcome(o: &Outcome) {
    println!("top trials (by validation accuracy, then loss):");
    println!("{:>4} {:>5} {:>6} {:>12} {:>8}  params", "rank", "trial", "epochs", "val_accuracy", "val_loss");
    for (i, r) in o.leaderboard.iter().take(5).enumerate() {
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
    let b = &o.best;
    println!(
        "best: trial {} ({}, {} epochs): val_accuracy {:.4} - saved to {}",
        b.trial,
        b.model,
        b.epochs,
        b.val_accuracy,
        o.best_dir.path().display()
    );
    println!("reproduce: {}", b.command);
    if let Some(acc) = b.test_accuracy {
        println!("test accuracy of the best model (reported only, not used to choose): {acc:.4}");
    }
}
