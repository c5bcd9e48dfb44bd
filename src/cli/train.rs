//! `digits train`: train a model and write its run directory.

use super::common::{DataArgs, init_threads};
use anyhow::{Context, bail};
use digits::data::augment::AugmentConfig;
use digits::data::{Dataset, Split, load_path, split::stratified_split};
use digits::engine::Loss;
use digits::model::{ModelSpec, presets, save_model};
use digits::optim::{Optimizer, OptimizerConfig};
use digits::train::callbacks::{EarlyStopping, ReduceLrOnPlateau};
use digits::train::checkpoint;
use digits::train::recipe::Recipe;
use digits::train::run::{RunInfo, write_history, write_json};
use digits::train::{EpochDone, Event, Progress, Schedule, TrainConfig, evaluate, fit_from};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

/// The options of a training run, shared by `train` and `cv`.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct TrainOpts {
    /// A whole training setup: `fast`, `best`, or a recipe file (.toml); the flags below
    /// override its values
    #[arg(long, value_name = "NAME|FILE")]
    recipe: Option<String>,
    /// Preset name (see `digits models`) or model file (.toml/.json) [default: mlp-512-512-d]
    #[arg(long)]
    model: Option<String>,
    /// Passes over the training set [default: 10]
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per training step [default: 128]
    #[arg(long)]
    batch_size: Option<usize>,
    /// sgd, adam or rmsprop, with Keras' defaults [default: adam]
    #[arg(long)]
    optimizer: Option<String>,
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
    /// Learning-rate schedule: constant, cosine (to 0 over the run), one-cycle, or
    /// step[:EVERY[:FACTOR]] (×FACTOR every EVERY epochs; default step:5:0.5) [default: constant]
    #[arg(long)]
    schedule: Option<String>,
    /// Seed of weights, shuffling, dropout and the validation split (same seed and threads: same run)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads (default: all cores)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Train on the first N training images only
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub augment: AugmentArgs,
    #[command(flatten)]
    pub callbacks: CallbackArgs,
}

/// EarlyStopping and ReduceLROnPlateau flags (Keras' defaults).
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct CallbackArgs {
    /// Stop when the monitored value has not improved for N epochs (EarlyStopping)
    #[arg(long, value_name = "N", help_heading = "Callbacks")]
    early_stopping: Option<usize>,
    /// What early stopping watches: val_loss, val_accuracy, loss or accuracy
    #[arg(long, value_name = "M", default_value = "val_loss", help_heading = "Callbacks")]
    early_stopping_monitor: String,
    /// Smallest change that counts as an improvement for early stopping
    #[arg(long, value_name = "D", default_value_t = 0.0, help_heading = "Callbacks")]
    early_stopping_min_delta: f64,
    /// When stopping early, go back to the best epoch's weights
    #[arg(long, help_heading = "Callbacks")]
    restore_best_weights: bool,
    /// Multiply the learning rate by --reduce-lr-factor after N epochs without improvement
    /// (ReduceLROnPlateau)
    #[arg(long, value_name = "N", help_heading = "Callbacks")]
    reduce_lr: Option<usize>,
    /// What ReduceLROnPlateau watches: val_loss, val_accuracy, loss or accuracy
    #[arg(long, value_name = "M", default_value = "val_loss", help_heading = "Callbacks")]
    reduce_lr_monitor: String,
    #[arg(long, value_name = "F", default_value_t = 0.1, help_heading = "Callbacks")]
    reduce_lr_factor: f64,
    /// Lowest learning rate ReduceLROnPlateau goes to
    #[arg(long, value_name = "LR", default_value_t = 0.0, help_heading = "Callbacks")]
    min_lr: f64,
}

impl CallbackArgs {
    fn apply(&self, cfg: &mut TrainConfig) -> anyhow::Result<()> {
        if let Some(patience) = self.early_stopping {
            cfg.early_stopping = Some(EarlyStopping {
                monitor: self.early_stopping_monitor.parse().map_err(anyhow::Error::msg)?,
                min_delta: self.early_stopping_min_delta,
                patience,
                restore_best_weights: self.restore_best_weights,
            });
        }
        if let Some(patience) = self.reduce_lr {
            if !(self.reduce_lr_factor > 0.0 && self.reduce_lr_factor < 1.0) {
                bail!("--reduce-lr-factor must be between 0 and 1, got {}", self.reduce_lr_factor);
            }
            cfg.reduce_lr_on_plateau = Some(ReduceLrOnPlateau {
                monitor: self.reduce_lr_monitor.parse().map_err(anyhow::Error::msg)?,
                factor: self.reduce_lr_factor,
                patience,
                min_lr: self.min_lr,
                ..Default::default()
            });
        }
        Ok(())
    }
}

/// Augmentation flags, shared by `train`, `cv` and `augment-preview`.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct AugmentArgs {
    /// Augment the training images as the notebooks do (rotation 10°, shifts 0.1, zoom 0.1);
    /// the flags below set or override single transforms
    #[arg(long, help_heading = "Augmentation")]
    augment: bool,
    /// Random rotation range, degrees
    #[arg(long, value_name = "DEG", help_heading = "Augmentation")]
    rotation: Option<f32>,
    /// Random horizontal shift, fraction of the width
    #[arg(long, value_name = "F", help_heading = "Augmentation")]
    width_shift: Option<f32>,
    /// Random vertical shift, fraction of the height
    #[arg(long, value_name = "F", help_heading = "Augmentation")]
    height_shift: Option<f32>,
    /// Random zoom: each axis scaled by a factor in [1-F, 1+F]
    #[arg(long, value_name = "F", help_heading = "Augmentation")]
    zoom: Option<f32>,
    /// Random shear range, degrees
    #[arg(long, value_name = "DEG", help_heading = "Augmentation")]
    shear: Option<f32>,
    /// Elastic distortion strength in pixels (Simard et al.: 34); 0 is off
    #[arg(long, value_name = "PX", help_heading = "Augmentation")]
    elastic_alpha: Option<f32>,
    /// Smoothness of the elastic distortion (Gaussian sigma, pixels)
    #[arg(long, value_name = "PX", default_value_t = 4.0, help_heading = "Augmentation")]
    elastic_sigma: f32,
}

impl AugmentArgs {
    /// The transforms asked for: the notebook's set with `--augment`, each flag overriding one.
    pub fn config(&self) -> anyhow::Result<AugmentConfig> {
        self.config_over(AugmentConfig::default())
    }

    /// As [`config`](Self::config), starting from `base` (a recipe's) instead of no transforms.
    pub fn config_over(&self, base: AugmentConfig) -> anyhow::Result<AugmentConfig> {
        let mut augment = if self.augment { AugmentConfig::notebook() } else { base };
        augment.rotation = self.rotation.unwrap_or(augment.rotation);
        augment.width_shift = self.width_shift.unwrap_or(augment.width_shift);
        augment.height_shift = self.height_shift.unwrap_or(augment.height_shift);
        augment.zoom = self.zoom.unwrap_or(augment.zoom);
        augment.shear = self.shear.unwrap_or(augment.shear);
        augment.elastic_alpha = self.elastic_alpha.unwrap_or(augment.elastic_alpha);
        if self.elastic_alpha.is_some() {
            augment.elastic_sigma = if augment.elastic_alpha > 0.0 { self.elastic_sigma } else { 0.0 };
        }
        augment.validate().map_err(anyhow::Error::msg)?;
        Ok(augment)
    }
}

impl TrainOpts {
    /// The model and the run's settings, checked.
    /// The recipe named by `--recipe`, if any.
    pub fn recipe(&self) -> anyhow::Result<Option<Recipe>> {
        Ok(self.recipe.as_deref().map(Recipe::resolve).transpose()?)
    }

    /// The model and the run's settings, checked: flags first, then the recipe, then defaults.
    pub fn resolve(&self) -> anyhow::Result<(ModelSpec, TrainConfig)> {
        let recipe = self.recipe()?;
        let r = recipe.as_ref();
        let spec = match (&self.model, r) {
            (Some(m), _) => presets::resolve(m)?,
            (None, Some(r)) => r.model_spec()?,
            (None, None) => presets::resolve(presets::DEFAULT)?,
        };
        let opt_name = self.optimizer.clone().or(r.and_then(|r| r.optimizer.clone())).unwrap_or("adam".into());
        let mut optimizer = OptimizerConfig::by_name(&opt_name).map_err(anyhow::Error::msg)?;
        if let Some(lr) = self.lr.or(r.and_then(|r| r.lr)) {
            if !(lr > 0.0 && lr.is_finite()) {
                bail!("--lr must be a positive number, got {lr}");
            }
            optimizer.set_lr(lr);
        }
        let momentum = self.momentum.or(r.and_then(|r| r.momentum));
        match &mut optimizer {
            OptimizerConfig::Sgd(c) => {
                c.momentum = momentum.unwrap_or(c.momentum);
                c.nesterov = self.nesterov;
            }
            OptimizerConfig::Rmsprop(c) => c.momentum = momentum.unwrap_or(c.momentum),
            OptimizerConfig::Adam(_) if momentum.is_some() || self.nesterov => {
                bail!("--momentum/--nesterov apply to sgd and rmsprop, not adam")
            }
            _ => {}
        }
        let loss: Loss = self.loss.parse().map_err(anyhow::Error::msg)?;
        let schedule = self.schedule.clone().or(r.and_then(|r| r.schedule.clone())).unwrap_or("constant".into());
        let schedule: Schedule = schedule.parse().map_err(anyhow::Error::msg)?;
        let batch_size = self.batch_size.or(r.and_then(|r| r.batch_size)).unwrap_or(128);
        if batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        let augment = self.augment.config_over(r.and_then(|r| r.augment).unwrap_or_default())?;
        let mut cfg = TrainConfig {
            epochs: self.epochs.or(r.and_then(|r| r.epochs)).unwrap_or(10),
            batch_size,
            optimizer,
            loss,
            seed: self.seed,
            schedule,
            augment,
            early_stopping: r.and_then(|r| r.early_stopping.clone()),
            reduce_lr_on_plateau: r.and_then(|r| r.reduce_lr_on_plateau.clone()),
        };
        self.callbacks.apply(&mut cfg)?;
        Ok((spec, cfg))
    }

    /// The first `--limit` records of `data` (all without the flag).
    pub fn limited(&self, data: Dataset) -> Dataset {
        match self.limit {
            Some(n) if n < data.len() => data.subset(&(0..n).collect::<Vec<_>>()),
            _ => data,
        }
    }
}

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

/// The arguments of a run, kept in its directory so `--resume` can repeat them.
const ARGS_FILE: &str = "args.json";

/// Prints one Keras-style line per epoch (prefixed, e.g. by the fold), with a progress bar
/// while an epoch runs when stderr is a terminal.
pub fn epoch_printer(prefix: String, train_len: usize, cfg: &TrainConfig) -> impl FnMut(Event) + use<> {
    let tty = std::io::stderr().is_terminal();
    let mut bar: Option<ProgressBar> = None;
    let (epochs, batch) = (cfg.epochs, cfg.batch_size);
    move |ev| match ev {
        Event::EpochStart { epoch, epochs, steps } => {
            if tty {
                let b = ProgressBar::new(steps as u64);
                b.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                b.set_prefix(format!("{prefix}Epoch {epoch}/{epochs}"));
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
            let steps = train_len.div_ceil(batch);
            let mut line = format!(
                "{prefix}Epoch {}/{} - {:.1}s {:.1}ms/step - loss: {:.4} - accuracy: {:.4}",
                r.epoch,
                epochs,
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
        Event::Note(note) => println!("{prefix}{note}"),
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (a, resume) = match &a.resume {
        Some(dir) => {
            let path = dir.join(ARGS_FILE);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{}: not a run directory to resume (no {ARGS_FILE})", dir.display()))?;
            let mut args: Args = serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
            args.out = Some(dir.clone());
            (args, true)
        }
        None => (a, false),
    };
    let threads = init_threads(a.opts.threads);
    let (spec, cfg) = a.opts.resolve()?;
    let optimizer = cfg.optimizer.clone();
    let train = a.opts.limited(a.data.load(Split::Train)?);
    let test = match &a.test_data {
        Some(p) => Some(load_path(p, Split::Test).with_context(|| format!("loading the test set {}", p.display()))?),
        None if a.data.source().has_test_split() => Some(a.data.load(Split::Test)?),
        None => None,
    };
    let recipe_split = if a.validation.is_none() { a.opts.recipe()?.and_then(|r| r.validation_split) } else { None };
    let (train, val, val_name) = match (a.validation_split.or(recipe_split), a.validation.as_deref()) {
        (Some(f), _) => {
            let (tr, va) = stratified_split(&train.labels, f, cfg.seed)?;
            (train.subset(&tr), Some(train.subset(&va)), format!("split {f} of the training set (stratified)"))
        }
        (None, Some("test")) => match &test {
            Some(t) => (train, Some(t.clone()), "test set".to_string()),
            None => bail!("--validation test: there is no test set (--data is a single file); give --test-data PATH"),
        },
        (None, None | Some("none")) => (train, None, "none".to_string()),
        (None, Some(other)) => bail!("--validation must be `test` or `none`, got `{other}`"),
    };
    if train.is_empty() {
        bail!("no training images");
    }
    cfg.check(val.is_some()).map_err(anyhow::Error::msg)?;
    let mut net = spec.build(cfg.seed)?;
    let (t, nt) = net.param_counts();
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(spec.display_name()));
    let mut opt = Optimizer::new(optimizer.clone());
    let (progress, best_weights) = if resume {
        let last = out.join(checkpoint::LAST);
        if !last.exists() {
            bail!("{}: no checkpoint to resume from (the run stopped before its first epoch ended)", last.display());
        }
        let p = checkpoint::load_checkpoint(&last, &mut net, &mut opt)?;
        let best = out.join(checkpoint::BEST);
        let bw = if cfg.early_stopping.as_ref().is_some_and(|e| e.restore_best_weights) && best.exists() {
            Some(checkpoint::load_weights(&best, &net)?)
        } else {
            None
        };
        println!("resuming {} after epoch {} of {}", out.display(), p.epochs_done, cfg.epochs);
        (p, bw)
    } else {
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        // A new run in an old directory must not resume the old run's checkpoints.
        for f in [checkpoint::LAST, checkpoint::BEST] {
            let _ = std::fs::remove_file(out.join(f));
        }
        write_json(&out.join(ARGS_FILE), &a)?;
        (Progress::default(), None)
    };
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
    let started = Instant::now();
    let checkpoints = &mut |e: EpochDone| {
        checkpoint::save_checkpoint(&out.join(checkpoint::LAST), e.net, e.optimizer, e.progress)?;
        if e.best {
            checkpoint::save_checkpoint(&out.join(checkpoint::BEST), e.net, e.optimizer, e.progress)?;
        }
        Ok(())
    };
    let progress = fit_from(
        &mut net,
        &mut opt,
        &train,
        val.as_ref(),
        &cfg,
        progress,
        best_weights,
        &mut epoch_printer(String::new(), train.len(), &cfg),
        checkpoints,
    )
    .with_context(|| format!("writing a checkpoint in {}", out.display()))?;
    let history = progress.history;
    let train_seconds = started.elapsed().as_secs_f64();
    // Score on the test set, else on the validation set (a single CSV file has no test set).
    let scored = test.as_ref().map(|t| ("test", t)).or(val.as_ref().map(|v| ("validation", v)));
    let scores = scored.map(|(name, set)| {
        let e = evaluate(&mut net, set);
        let report = digits::eval::Metrics::compute(&set.labels, &e.predicted, net.outputs(), Some(e.loss));
        (name, set, e, report)
    });
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
    match scores {
        Some((name, set, e, report)) => {
            write_json(&out.join("metrics.json"), &report)?;
            println!(
                "{name}: loss {:.4} - accuracy {:.4} ({}/{}) - trained in {:.1}s - saved to {}",
                e.loss,
                e.accuracy,
                e.predicted.iter().zip(&set.labels).filter(|(a, b)| a == b).count(),
                set.len(),
                train_seconds,
                out.display()
            );
            let files = digits::report::write_run(digits::report::ReportInput {
                dir: &out,
                html: None,
                name: spec.display_name().to_string(),
                info: Some(&info),
                history: &history,
                metrics: &report,
                net: &mut net,
                test: set,
                probabilities: &e.probabilities,
                sample: 0,
                ensemble: None,
            })
            .with_context(|| format!("writing the report of {}", out.display()))?;
            println!("report: {}", files.html.display());
        }
        None => println!(
            "no test or validation set to score (give --test-data or --validation-split) - trained in {:.1}s - saved to {}",
            train_seconds,
            out.display()
        ),
    }
    Ok(())
}
