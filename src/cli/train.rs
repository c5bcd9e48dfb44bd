//! `digits train`: flags to a [`Trainer`], its events to the terminal.

use super::common::{DataArgs, init_threads};
use super::options::TrainOpts;
use super::progress::epoch_printer;
use anyhow::{Context, bail};
use digits::data::Split;
use digits::layout::RunDir;
use digits::train::{Run, Trainer, Validation};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// Continue the interrupted run in RUN_DIR from its last checkpoint, with its settings
    /// (every other flag is taken from the run)
    #[arg(long, value_name = "RUN_DIR")]
    #[serde(skip)]
    resume: Option<PathBuf>,
}

impl Args {
    /// The validation asked for by the flags, else by the recipe.
    fn validation(&self) -> anyhow::Result<Validation> {
        Ok(match (self.validation_split, self.validation.as_deref()) {
            (Some(f), _) => Validation::Split(f),
            (None, Some("test")) => Validation::Test,
            (None, Some("none")) => Validation::None,
            (None, None) => self.opts.recipe_validation()?.unwrap_or_default(),
            (None, Some(other)) => bail!("--validation must be `test` or `none`, got `{other}`"),
        })
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    // A resumed run repeats the arguments it was started with.
    let (a, resume) = match &a.resume {
        Some(dir) => {
            let mut args: Args = serde_json::from_value(Run::resume_args(dir)?)
                .with_context(|| format!("reading the arguments of the run in {}", dir.display()))?;
            args.out = Some(dir.clone());
            (args, true)
        }
        None => (a, false),
    };
    init_threads(a.opts.threads);
    let (spec, config) = a.opts.options()?.resolve()?;
    let train = a.data.load(Split::Train)?.first(a.opts.limit.unwrap_or(usize::MAX));
    let test = match &a.test_data {
        Some(p) => Some(a.data.load_other(p, Split::Test)?),
        None if a.data.has_test_split() => Some(a.data.load(Split::Test)?),
        None => None,
    };
    let out = a.out.clone().map_or_else(|| RunDir::default_for(spec.display_name()), RunDir::new);
    let mut trainer = Trainer::new(config, out.path()).validation(a.validation()?).test_set(test);
    trainer.data_source = a.data.dir().display().to_string();
    trainer.args = Some(serde_json::to_value(&a)?);
    trainer.resume = resume;
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
