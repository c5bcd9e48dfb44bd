//! `digits cv`: stratified k-fold cross-validation of a model and its training settings.

use super::common::{DataArgs, init_threads};
use super::train::{TrainOpts, epoch_printer};
use digits::data::{Split, split::stratified_kfold};
use digits::optim::Optimizer;
use digits::train::{evaluate, fit};
use serde::Serialize;

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

#[derive(Serialize)]
struct Fold {
    fold: usize,
    train: usize,
    validation: usize,
    loss: f64,
    accuracy: f64,
}

#[derive(Serialize)]
struct Summary {
    model: String,
    folds: Vec<Fold>,
    mean_accuracy: f64,
    /// Population standard deviation over the folds (numpy's default, as scikit-learn reports).
    std_accuracy: f64,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let threads = init_threads(a.opts.threads);
    let (spec, cfg) = a.opts.resolve()?;
    let data = a.opts.limited(a.data.load(Split::Train)?);
    cfg.check(false).map_err(anyhow::Error::msg)?; // folds train without a validation set
    let folds = stratified_kfold(&data.labels, a.folds, cfg.seed)?;
    if !a.json {
        println!(
            "digits cv: model {}, {} images in {} stratified folds, {} epochs, batch {}, seed {}, {} threads",
            spec.display_name(),
            data.len(),
            folds.len(),
            cfg.epochs,
            cfg.batch_size,
            cfg.seed,
            threads
        );
    }
    let mut results = Vec::new();
    for (k, held_out) in folds.iter().enumerate() {
        let mut in_fold = vec![false; data.len()];
        held_out.iter().for_each(|&i| in_fold[i] = true);
        let train_idx: Vec<usize> = (0..data.len()).filter(|&i| !in_fold[i]).collect();
        let (train, val) = (data.subset(&train_idx), data.subset(held_out));
        // Every fold starts from the same initial weights, as a fresh Keras model with one seed.
        let mut net = spec.build(cfg.seed)?;
        let mut opt = Optimizer::new(cfg.optimizer.clone());
        let prefix = format!("fold {}/{}: ", k + 1, folds.len());
        if a.json {
            fit(&mut net, &mut opt, &train, None, &cfg, &mut |_| {});
        } else {
            fit(&mut net, &mut opt, &train, None, &cfg, &mut epoch_printer(prefix.clone(), train.len(), &cfg));
        }
        let e = evaluate(&mut net, &val);
        if !a.json {
            println!("{prefix}val_loss: {:.4} - val_accuracy: {:.4} ({} images)", e.loss, e.accuracy, val.len());
        }
        results.push(Fold {
            fold: k + 1,
            train: train.len(),
            validation: val.len(),
            loss: e.loss,
            accuracy: e.accuracy,
        });
    }
    let n = results.len() as f64;
    let mean = results.iter().map(|f| f.accuracy).sum::<f64>() / n;
    let std = (results.iter().map(|f| (f.accuracy - mean).powi(2)).sum::<f64>() / n).sqrt();
    let summary = Summary { model: spec.display_name().into(), folds: results, mean_accuracy: mean, std_accuracy: std };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let accs: Vec<String> = summary.folds.iter().map(|f| format!("{:.4}", f.accuracy)).collect();
        println!("accuracy per fold: {}", accs.join(" "));
        println!("accuracy: {mean:.4} ± {std:.4} (mean ± std over {} folds)", summary.folds.len());
    }
    Ok(())
}
