//! `digits train`: train a model and write its run directory.

use super::common::{DataArgs, init_threads};
use anyhow::{Context, bail};
use digits::data::{Split, split::stratified_split};
use digits::engine::Loss;
use digits::model::{presets, save_model};
use digits::optim::{Optimizer, OptimizerConfig};
use digits::train::run::{RunInfo, write_history, write_json};
use digits::train::{Event, Schedule, TrainConfig, evaluate, fit};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Preset name (see `digits models`) or model file (.toml/.json)
    #[arg(long, default_value = presets::DEFAULT)]
    model: String,
    /// Passes over the training set
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Images per training step
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// sgd, adam or rmsprop (Keras defaults)
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rate (default: the optimizer's Keras default)
    #[arg(long)]
    lr: Option<f32>,
    /// Momentum for sgd/rmsprop
    #[arg(long)]
    momentum: Option<f32>,
    /// Nesterov momentum for sgd
    #[arg(long)]
    nesterov: bool,
    /// sparse_categorical_crossentropy or categorical_crossentropy
    #[arg(long, default_value = "sparse_categorical_crossentropy")]
    loss: String,
    /// Hold out this fraction of the training set (stratified) for validation
    #[arg(long, value_name = "F", conflicts_with = "validation")]
    validation_split: Option<f64>,
    /// `test` to validate on the test set each epoch, `none` for no validation
    #[arg(long, value_name = "SET")]
    validation: Option<String>,
    /// Learning-rate schedule: constant, or cosine (decays to 0 over the run)
    #[arg(long, default_value = "constant")]
    schedule: String,
    /// Seed of weights, shuffling, dropout and the validation split (same seed and threads: same run)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
    /// Train on the first N training images only
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Run directory (default: runs/<model>)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let threads = init_threads(a.threads);
    let spec = presets::resolve(&a.model)?;
    let mut optimizer = OptimizerConfig::by_name(&a.optimizer).map_err(anyhow::Error::msg)?;
    if let Some(lr) = a.lr {
        if !(lr > 0.0 && lr.is_finite()) {
            bail!("--lr must be a positive number, got {lr}");
        }
        optimizer.set_lr(lr);
    }
    match &mut optimizer {
        OptimizerConfig::Sgd(c) => {
            c.momentum = a.momentum.unwrap_or(c.momentum);
            c.nesterov = a.nesterov;
        }
        OptimizerConfig::Rmsprop(c) => c.momentum = a.momentum.unwrap_or(c.momentum),
        OptimizerConfig::Adam(_) if a.momentum.is_some() || a.nesterov => {
            bail!("--momentum/--nesterov apply to sgd and rmsprop, not adam")
        }
        _ => {}
    }
    let loss: Loss = a.loss.parse().map_err(anyhow::Error::msg)?;
    let schedule: Schedule = a.schedule.parse().map_err(anyhow::Error::msg)?;
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let mut train = a.data.load(Split::Train)?;
    if let Some(n) = a.limit {
        let n = n.min(train.len());
        train = train.subset(&(0..n).collect::<Vec<_>>());
    }
    let test = a.data.load(Split::Test)?;
    let (train, val, val_name) = match (a.validation_split, a.validation.as_deref()) {
        (Some(f), _) => {
            let (tr, va) = stratified_split(&train.labels, f, a.seed)?;
            (train.subset(&tr), Some(train.subset(&va)), format!("split {f} of the training set (stratified)"))
        }
        (None, Some("test")) => (train, Some(test.clone()), "test set".to_string()),
        (None, None | Some("none")) => (train, None, "none".to_string()),
        (None, Some(other)) => bail!("--validation must be `test` or `none`, got `{other}`"),
    };
    if train.is_empty() {
        bail!("no training images");
    }
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        optimizer: optimizer.clone(),
        loss,
        seed: a.seed,
        schedule,
    };
    let mut net = spec.build(a.seed)?;
    let (t, nt) = net.param_counts();
    let out = a.out.unwrap_or_else(|| PathBuf::from("runs").join(spec.display_name()));
    println!(
        "digits train: model {} ({} params), {} training images, validation: {}, {} epochs, batch {}, {} lr {} ({:?}), seed {}, {} threads",
        spec.display_name(),
        t + nt,
        train.len(),
        val_name,
        cfg.epochs,
        cfg.batch_size,
        optimizer.name(),
        optimizer.lr(),
        cfg.schedule,
        cfg.seed,
        threads
    );
    let mut opt = Optimizer::new(optimizer);
    let tty = std::io::stderr().is_terminal();
    let mut bar: Option<ProgressBar> = None;
    let started = Instant::now();
    let history = fit(&mut net, &mut opt, &train, val.as_ref(), &cfg, &mut |ev| match ev {
        Event::EpochStart { epoch, epochs, steps } => {
            if tty {
                let b = ProgressBar::new(steps as u64);
                b.set_style(
                    ProgressStyle::with_template(
                        "Epoch {prefix} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                b.set_prefix(format!("{epoch}/{epochs}"));
                bar = Some(b);
            }
        }
        Event::Step { step, loss, accuracy, .. } => {
            if let Some(b) = &bar {
                b.set_position(step as u64);
                if step % 10 == 0 {
                    b.set_message(format!("loss {loss:.4} accuracy {accuracy:.4}"));
                }
            }
        }
        Event::EpochEnd(r) => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            let steps = train.len().div_ceil(cfg.batch_size);
            let mut line = format!(
                "Epoch {}/{} - {:.1}s {:.1}ms/step - loss: {:.4} - accuracy: {:.4}",
                r.epoch,
                cfg.epochs,
                r.seconds,
                r.seconds * 1000.0 / steps as f64,
                r.loss,
                r.accuracy
            );
            if let (Some(vl), Some(va)) = (r.val_loss, r.val_accuracy) {
                line += &format!(" - val_loss: {vl:.4} - val_accuracy: {va:.4}");
            }
            println!("{line}");
        }
    });
    let train_seconds = started.elapsed().as_secs_f64();
    let e = evaluate(&mut net, &test);
    let report = digits::eval::report(&test.labels, &e.predicted, net.outputs(), Some(e.loss));
    save_model(&out, &spec, &net).with_context(|| format!("saving the model to {}", out.display()))?;
    write_history(&out, &history).with_context(|| format!("writing the history to {}", out.display()))?;
    let info = RunInfo {
        digits_version: env!("CARGO_PKG_VERSION").into(),
        model: spec.display_name().into(),
        config: cfg,
        threads,
        data: a.data.dir().display().to_string(),
        train_samples: train.len(),
        validation: val_name,
        validation_samples: val.as_ref().map_or(0, |v| v.len()),
        params: t + nt,
        train_seconds,
    };
    write_json(&out.join("train.json"), &info)?;
    write_json(&out.join("metrics.json"), &report)?;
    println!(
        "test: loss {:.4} - accuracy {:.4} ({}/{}) - trained in {:.1}s - saved to {}",
        e.loss,
        e.accuracy,
        e.predicted.iter().zip(&test.labels).filter(|(a, b)| a == b).count(),
        test.len(),
        train_seconds,
        out.display()
    );
    let files = digits::report::write_run_report(digits::report::RunReport {
        dir: &out,
        html: None,
        name: spec.display_name().to_string(),
        info: Some(&info),
        history: &history,
        metrics: &report,
        net: &mut net,
        test: &test,
        probabilities: &e.probabilities,
        sample: 0,
    })
    .with_context(|| format!("writing the report of {}", out.display()))?;
    println!("report: {}", files.html.display());
    Ok(())
}
