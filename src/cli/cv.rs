//! `digits cv`: stratified k-fold cross-validation of a model and its training settings.

use super::common::{DataArgs, init_threads};
use super::options::TrainOpts;
use super::progress::epoch_printer;
use digits::data::Split;
use digits::train::cv::{CvEvent, cross_validate};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    opts: TrainOpts,
    /// Number of folds (each class is spread evenly over them)
    #[arg(long, default_value_t = 5, value_name = "K")]
    folds: usize,
    #[command(flatten)]
    data: DataArgs,
    /// Print JSON: {"folds": [{"fold", "train", "validation", "loss", "accuracy"}], "mean_accuracy", "std_accuracy"}
    #[arg(long)]
    json: bool,
}

/// The current fold's epoch printer.
type Printer = Box<dyn FnMut(digits::train::Event)>;

pub fn run(a: Args) -> anyhow::Result<()> {
    let threads = init_threads(a.opts.threads)?;
    let (spec, cfg) = a.opts.options()?.resolve()?;
    if a.folds < 2 {
        anyhow::bail!("--folds must be at least 2, got {}", a.folds);
    }
    let data = a.data.load(Split::Train)?.first(a.opts.limit.unwrap_or(usize::MAX));
    let mut printer: Option<Printer> = None;
    let mut prefix = String::new();
    let on_event = &mut |e: CvEvent| match e {
        _ if a.json => {}
        CvEvent::FoldStart { fold, folds, train } => {
            if fold == 1 {
                println!(
                    "digits cv: model {}, {} images in {folds} stratified folds, {} epochs, batch {}, seed {}, {threads} threads",
                    spec.display_name(),
                    data.len(),
                    cfg.epochs,
                    cfg.batch_size,
                    cfg.seed,
                );
            }
            prefix = format!("fold {fold}/{folds}: ");
            printer = Some(Box::new(epoch_printer(prefix.clone(), train, cfg.batch_size)));
        }
        CvEvent::Train(e) => printer.as_mut().expect("a fold started")(e),
        CvEvent::FoldEnd(f, _) => {
            println!("{prefix}val_loss: {:.4} - val_accuracy: {:.4} ({} images)", f.loss, f.accuracy, f.validation)
        }
    };
    let summary = cross_validate(&spec, &cfg, &data, a.folds, on_event)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let accs: Vec<String> = summary.folds.iter().map(|f| format!("{:.4}", f.accuracy)).collect();
        println!("accuracy per fold: {}", accs.join(" "));
        println!(
            "accuracy: {:.4} ± {:.4} (mean ± std over {} folds)",
            summary.mean_accuracy,
            summary.std_accuracy,
            summary.folds.len()
        );
    }
    Ok(())
}
