//! `digits train`: flags to a [`Trainer`], its events to the terminal.

use super::common::{DataArgs, init_threads};
use super::options::TrainOpts;
use super::progress::epoch_printer;
use anyhow::{Context, bail};
use digits::data::Split;
use digits::layout::RunDir;
use digits::train::{Run, Trainer, Validation};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct Args {
    #[command(flatten)]
    opts: TrainOpts,
    /// Hold out this fraction of the training set (stratified) for validation
    #[arg(long, value_name = "F", conflicts_with = "validation")]
    validation_split: Option<f64>,
    /// `test` to validate on the test set each epoch, `none` for no validation
    #[arg(long, value_name = "SET")]
    validation: Option<String>,
    /// Run directory (default: runs/<model>)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Test set scored at the end (an MNIST directory, labelled CSV or picture folder);
    /// default: the test files of the --data directory (none when --data is one data set)
    #[arg(long, value_name = "PATH")]
    test_data: Option<PathBuf>,
    /// Continue the interrupted run in RUN_DIR from its last checkpoint, with its settings and
    /// data (checked against their fingerprints); only --epochs may be given with it (to train
    /// a finished run further), and --force
    #[arg(long, value_name = "RUN_DIR")]
    #[serde(skip)]
    resume: Option<PathBuf>,
    /// Replace the run already in the --out directory (cleared first) instead of refusing
    #[arg(long)]
    #[serde(skip)]
    overwrite: bool,
    /// With --resume: continue even though the data differ from those the run started with
    #[arg(long, requires = "resume")]
    #[serde(skip)]
    force: bool,
    /// The flags typed on the command line (their ids), filled in by `cli::parse`.
    #[arg(skip)]
    #[serde(skip)]
    pub typed: Vec<String>,
}

impl Args {
    /// The validation asked for by the flags, else by the recipe.
    fn validation(&self) -> anyhow::Result<Validation> {
        Ok(match (self.validation_split, self.validation.as_deref()) {
            (Some(f), _) if !(f > 0.0 && f < 1.0) => {
                bail!("--validation-split must be between 0 and 1 (exclusive), got {f}")
            }
            (Some(f), _) => Validation::Split(f),
            (None, Some("test")) => Validation::Test,
            (None, Some("none")) => Validation::None,
            (None, None) => self.opts.recipe_validation()?.unwrap_or_default(),
            (None, Some(other)) => bail!("--validation must be `test` or `none`, got `{other}`"),
        })
    }
}

/// The arguments of the run in `dir` (`args.json`), with the flags given now that a resumed run
/// can honour: `--epochs` (train further), `--force`. Any other flag is an error naming it.
fn resumed_args(given: &Args, dir: &Path) -> anyhow::Result<Args> {
    let honoured = ["resume", "epochs", "force"];
    let changed: Vec<String> = given
        .typed
        .iter()
        .filter(|id| !honoured.contains(&id.as_str()))
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect();
    if !changed.is_empty() {
        bail!(
            "--resume continues the run in {} with the settings and data it was started with, so it cannot honour {}; only --epochs (to train further) and --force may be given with it",
            dir.display(),
            changed.join(", ")
        );
    }
    let mut stored = Run::resume_args(dir)?;
    if let (Some(epochs), Some(opts)) =
        (given.opts.epochs_given(), stored.get_mut("opts").and_then(|o| o.as_object_mut()))
    {
        opts.insert("epochs".into(), epochs.into());
    }
    let mut args = args_of(stored, dir)?;
    args.out = Some(dir.to_path_buf());
    args.force = given.force;
    Ok(args)
}

/// `stored`, the arguments the run in `dir` was started with (its `args.json`), as [`Args`].
fn args_of(stored: serde_json::Value, dir: &Path) -> anyhow::Result<Args> {
    serde_json::from_value(stored).with_context(|| format!("reading the arguments of the run in {}", dir.display()))
}

/// The validation split the run in `dir` held out (rebuilt from its `args.json`: the same
/// data, limit, fraction and seed give the same images), and how to name it.
pub fn held_out(dir: &Path) -> anyhow::Result<(digits::data::Dataset, String)> {
    let a = args_of(Run::resume_args(dir)?, dir)?;
    let Validation::Split(f) = a.validation()? else {
        bail!(
            "the run in {} held out no validation split to calibrate on: give --data PATH (labelled images it never saw), or train with --validation-split F",
            dir.display()
        );
    };
    let seed = a.opts.seed;
    let train = a.data.load(Split::Train)?.first(a.opts.limit.unwrap_or(usize::MAX));
    let (_, va) = digits::data::split::stratified_split(&train.labels, f, seed)?;
    Ok((
        train.subset(&va),
        format!("the run's validation split ({f} of its training set, seed {seed}, {} images)", va.len()),
    ))
}

/// A new run's data paths, made absolute so that `--resume` from anywhere reads the same files.
fn absolute_data(mut a: Args) -> anyhow::Result<Args> {
    a.data.data = Some(std::path::absolute(a.data.dir())?);
    a.test_data = a.test_data.as_deref().map(std::path::absolute).transpose()?;
    Ok(a)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    // A resumed run repeats the arguments it was started with.
    let (a, resume) = match &a.resume {
        Some(dir) => (resumed_args(&a, dir)?, true),
        None => (absolute_data(a)?, false),
    };
    init_threads(a.opts.threads)?;
    let (spec, config) = a.opts.options()?.resolve()?;
    let validation = a.validation()?;
    let train = a.data.load(Split::Train)?.first(a.opts.limit.unwrap_or(usize::MAX));
    let test = match &a.test_data {
        Some(p) => Some(a.data.load_other(p, Split::Test)?),
        None if a.data.has_test_split() => Some(a.data.load(Split::Test)?),
        None => None,
    };
    let out = a.out.clone().map_or_else(|| RunDir::default_for(spec.display_name()), RunDir::new);
    let mut trainer = Trainer::new(config, out.path()).validation(validation).test_set(test);
    trainer.data_source = a.data.dir().display().to_string();
    trainer.args = Some(serde_json::to_value(&a)?);
    trainer.resume = resume;
    trainer.data_files = a.data.data.iter().chain(&a.test_data).cloned().collect();
    (trainer.overwrite, trainer.force) = (a.overwrite, a.force);
    let batch = trainer.config.batch_size;
    let mut printer = epoch_printer(String::new(), train.len(), batch);
    let run = trainer.fit(&spec, &train, &mut |ev| {
        if let digits::train::Event::Resumed { epochs_done, epochs } = ev {
            println!("resuming {} after epoch {epochs_done} of {epochs}", out.path().display());
        }
        printer(ev)
    })?;
    print_outcome(&run);
    Ok(())
}

fn print_outcome(run: &Run) {
    let seconds = run.info.as_ref().map_or(0.0, |i| i.train_seconds);
    let dir = run.dir.path().display();
    match &run.scored {
        Some(s) => {
            println!(
                "{}: loss {:.4} - accuracy {:.4} ({}/{}) - trained in {seconds:.1}s - saved to {dir}",
                s.set, s.loss, s.accuracy, s.correct, s.samples
            );
            if let Some(files) = &run.report {
                println!("report: {}", files.html.display());
            }
        }
        None => println!(
            "no test or validation set to score (give --test-data or --validation-split) - trained in {seconds:.1}s - saved to {dir}"
        ),
    }
}
