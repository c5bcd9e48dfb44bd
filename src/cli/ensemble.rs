//! `digits ensemble`: average several trained models into one that `evaluate` and `predict`
//! accept; `digits ensemble train` queues the members as a shared study that workers train
//! ([`digits::tune::members`]), and `digits ensemble --storage … --study …` assembles them.

use super::common::{DataArgs, between, init_threads};
use super::options::TrainOpts;
use super::study::StorageArgs;
use anyhow::Context;
use digits::data::Split;
use digits::model::ensemble::{MAX_MEMBERS, save_ensemble, tta_default};
use digits::tune::shared::DEFAULT_LEASE_SECONDS;
use digits::tune::{MemberSetup, Settings, StudyMeta};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Run directories of the members (same input shape and classes); a directory named
    /// `train` is written `./train`
    #[arg(value_name = "RUN_DIR", required_unless_present_any = ["storage", "storage_file", "study"], conflicts_with_all = ["storage", "storage_file", "study"])]
    runs: Vec<PathBuf>,
    /// Directory to write the ensemble into (a new or empty one, not a run directory)
    #[arg(long, value_name = "DIR", required = true)]
    out: Option<PathBuf>,
    /// Replace the ensemble already in the --out directory
    #[arg(long)]
    overwrite: bool,
    /// Also average over N test-time augmented copies of each image (small rotations, shifts, zoom)
    #[arg(long, value_name = "N", default_value_t = 0)]
    tta: usize,
    /// Instead of run directories: the finished members of an ensemble study (`digits ensemble
    /// train`)
    #[command(flatten)]
    shared: StorageArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Queue the members (seeds --seed, --seed+1, …) as a shared study and train them; any
    /// number of `digits tune worker`s join it
    Train(TrainArgs),
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Members to train: member i is the training below with seed --seed + i
    #[arg(long, value_name = "N", value_parser = between(1, MAX_MEMBERS as u64))]
    members: usize,
    #[command(flatten)]
    opts: TrainOpts,
    /// Hold out this fraction of each member's training images (stratified, with its seed) for
    /// validation; default: the recipe's, else none
    #[arg(long, value_name = "F", conflicts_with = "validation")]
    validation_split: Option<f64>,
    /// `none` to hold nothing out even when the recipe does
    #[arg(long, value_name = "none")]
    validation: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    /// Where the study lives (required): created there, or joined when its settings are the same
    #[command(flatten)]
    shared: StorageArgs,
    /// Seconds without a heartbeat after which a running member is claimed again
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_LEASE_SECONDS)]
    lease: f64,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(Action::Train(t)) = a.action {
        return train(t);
    }
    let out = a.out.as_deref().expect("clap requires --out");
    if a.shared.given() {
        let name = a.shared.study.clone().unwrap_or_default();
        let mut store = a.shared.open()?;
        let done = digits::tune::assemble(store.as_mut(), &name, out, a.tta, tta_default(), a.overwrite)
            .with_context(|| format!("assembling the ensemble in {}", out.display()))?;
        println!("{}: {}, from study {name}{}", out.display(), done.settings.summary(), tta_text(a.tta));
        return Ok(());
    }
    save_ensemble(out, &a.runs, a.tta, tta_default(), a.overwrite)
        .with_context(|| format!("making the ensemble in {}", out.display()))?;
    println!("{}: ensemble of {} models{}", out.display(), a.runs.len(), tta_text(a.tta));
    Ok(())
}

fn tta_text(tta: usize) -> String {
    if tta > 0 {
        format!(", averaged over the original and {tta} augmented copies of each image")
    } else {
        String::new()
    }
}

/// `digits ensemble train`: the members' settings resolved and checked against the data before
/// the study is stored (a mistake leaves nothing behind), then a worker on it.
fn train(a: TrainArgs) -> anyhow::Result<()> {
    if !a.shared.given() {
        anyhow::bail!(
            "give --storage (a PostgreSQL URL, or a directory for workers on this machine) and --study NAME: the members are queued as a study there"
        );
    }
    // Every flag is checked before the data are loaded, and all before the study is stored.
    digits::tune::shared::check_lease(a.lease)?;
    let threads = init_threads(a.opts.threads)?;
    let (model, config) = a.opts.options()?.resolve()?;
    let validation_split = match (a.validation_split, a.validation.as_deref()) {
        (Some(f), _) => Some(f),
        (None, Some("none")) => None,
        (None, Some(other)) => anyhow::bail!(
            "--validation must be `none` for an ensemble study (members hold out a split of the training set, or nothing), got `{other}`"
        ),
        (None, None) => a.opts.recipe_validation()?.and_then(|v| match v {
            digits::train::Validation::Split(f) => Some(f),
            _ => None,
        }),
    };
    let settings = Settings {
        limit: a.opts.limit,
        ..Settings::ensemble(a.members, MemberSetup { model, config }, validation_split, a.data.dir(), threads)?
    };
    let data = a.data.load(Split::Train)?;
    settings.split_sizes(&data)?;
    let meta = StudyMeta { data_checksum: data.checksum(), lease_seconds: a.lease };
    super::study::create_and_work(&a.shared, settings, meta, &data)?;
    println!(
        "every member is trained: assemble them with `digits ensemble --storage … --study {} --out DIR`",
        a.shared.study.as_deref().unwrap_or("…")
    );
    Ok(())
}
