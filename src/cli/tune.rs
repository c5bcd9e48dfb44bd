//! `digits tune`: hyper-parameter search (random or Hyperband) over a search-space file.
//!
//! The study itself (settings, scheduling, resuming, the best model) is [`digits::tune::Study`]
//! on the files of the `--out` directory ([`digits::tune::DirStore`]; the layout is in
//! [`digits::layout`]); this file turns the flags into its settings and prints its events.

use super::common::{DataArgs, init_threads};
use digits::data::Split;
use digits::layout::RESULTS_JSONL;
use digits::tune::study::{DEFAULT_FACTOR, DEFAULT_MAX_EPOCHS, DEFAULT_TRIALS, DEFAULT_VALIDATION_SPLIT};
use digits::tune::{DirStore, Event, Outcome, Settings, Space, Strategy, Study, Threads, TrialRecord, params_text};
use std::path::PathBuf;

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
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TRIALS)]
    trials: usize,
    /// Epochs per trial (random search); the largest budget of a trial (Hyperband's R)
    #[arg(long, value_name = "E", default_value_t = DEFAULT_MAX_EPOCHS)]
    max_epochs: usize,
    /// Hyperband's factor η: each round keeps the best 1/η of the trials for η× the epochs
    #[arg(long, value_name = "η", default_value_t = DEFAULT_FACTOR)]
    factor: usize,
    /// Trials trained at the same time (the threads are shared out between them)
    #[arg(long, value_name = "J", default_value_t = 1)]
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

pub fn run(a: Args) -> anyhow::Result<()> {
    let space = Space::from_file(&a.space)?;
    let search = Strategy::from_name(&a.strategy, a.trials, a.max_epochs, a.factor)?;
    let threads = init_threads(a.threads)?;
    let mut executor = Threads::new(a.jobs, threads)?;
    let settings = Settings {
        seed: a.seed,
        validation_split: a.validation_split,
        limit: a.limit,
        ..Settings::new(search, space, a.data.dir(), threads)
    };
    // The data and the settings are checked before the study is stored: a mistake leaves no
    // tune.json behind that a corrected run would be refused by.
    let data = a.data.load(Split::Train)?;
    settings.trial_data(&data)?;
    let mut study = Study::open(DirStore::new(&a.out), settings)?;
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
            println!("resuming {}: {recorded} trials already recorded in {RESULTS_JSONL}", a.out.display())
        }
        Event::TrialStarted { .. } => {}
        Event::TrialFinished { record, val_loss } => print_trial(record, val_loss),
    }
}

/// The study's line and its plan.
fn print_start(a: &Args, s: &Settings, train: usize, validation: usize) {
    println!(
        "digits tune: {} search over {} parameters ({} model), {train} training and {validation} validation images, seed {}, {} jobs, {} threads",
        s.search.name(),
        s.space.params.len(),
        format!("{:?}", s.space.model).to_lowercase(),
        s.seed,
        a.jobs,
        s.threads
    );
    match &s.search {
        Strategy::Random { trials, epochs } => {
            println!("plan: {trials} trials of {epochs} epochs each, {} epochs in all", trials * epochs)
        }
        Strategy::Hyperband(plan) => print!("{}", plan.table()),
    }
}

fn print_trial(r: &TrialRecord, val_loss: f64) {
    let stage = match (r.bracket, r.round) {
        (Some(b), Some(r)) => format!(" (bracket {b} round {r})"),
        _ => String::new(),
    };
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
fn print_outcome(o: &Outcome) {
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
