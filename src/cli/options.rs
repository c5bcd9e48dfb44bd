//! The training flags shared by `train` and `cv`, turned into the library's
//! [`TrainOptions`](digits::train::TrainOptions) in one step; the defaults shown in the help
//! are the library's.

use digits::engine::Loss;
use digits::model::presets;
use digits::train::callbacks::{EarlyStopping, Monitor, ReduceLrOnPlateau};
use digits::train::options::{
    AugmentOverrides, DEFAULT_BATCH_SIZE, DEFAULT_ELASTIC_SIGMA, DEFAULT_EPOCHS, DEFAULT_OPTIMIZER, DEFAULT_SCHEDULE,
    EarlyStoppingOptions, ReduceLrOptions,
};
use digits::train::{TrainOptions, Validation};
use serde::{Deserialize, Serialize};

/// The options of a training run, shared by `train` and `cv`.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct TrainOpts {
    /// A whole training setup: `fast`, `best`, or a recipe file (.toml); the flags below
    /// override its values
    #[arg(long, value_name = "NAME|FILE")]
    recipe: Option<String>,
    #[arg(long, help = format!("Preset name (see `digits models`) or model file (.toml/.json) [default: {}]", presets::DEFAULT))]
    model: Option<String>,
    #[arg(long, help = format!("Passes over the training set [default: {DEFAULT_EPOCHS}]"))]
    epochs: Option<usize>,
    #[arg(long, help = format!("Images per training step [default: {DEFAULT_BATCH_SIZE}]"))]
    batch_size: Option<usize>,
    #[arg(long, help = format!("sgd, adam or rmsprop, with Keras' defaults [default: {DEFAULT_OPTIMIZER}]"))]
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
    #[arg(long, default_value = Loss::default().name())]
    loss: String,
    #[arg(long, help = format!("Learning-rate schedule: constant, cosine (to 0 over the run), one-cycle, or \
        step[:EVERY[:FACTOR]] (×FACTOR every EVERY epochs; default step:5:0.5) [default: {DEFAULT_SCHEDULE}]"))]
    schedule: Option<String>,
    /// Seed of weights, shuffling, dropout and the validation split (same seed and threads: same run)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads (default: all cores)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Train on the first N training images only
    #[arg(long, value_name = "N", value_parser = super::common::at_least_1())]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub augment: AugmentArgs,
    #[command(flatten)]
    pub callbacks: CallbackArgs,
}

impl TrainOpts {
    /// The library's options, checked as far as flags alone can be.
    pub fn options(&self) -> anyhow::Result<TrainOptions> {
        Ok(TrainOptions {
            recipe: self.recipe.clone(),
            model: self.model.clone(),
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer.clone(),
            lr: self.lr,
            momentum: self.momentum,
            nesterov: self.nesterov,
            loss: self.loss.parse().map_err(anyhow::Error::msg)?,
            schedule: self.schedule.clone(),
            seed: self.seed,
            augment: self.augment.overrides(),
            early_stopping: self.callbacks.early_stopping()?,
            reduce_lr: self.callbacks.reduce_lr()?,
        })
    }

    /// `--epochs`, when given.
    pub fn epochs_given(&self) -> Option<usize> {
        self.epochs
    }

    /// The validation a recipe asks for (used when no validation flag is given).
    pub fn recipe_validation(&self) -> anyhow::Result<Option<Validation>> {
        Ok(self.options()?.recipe_validation()?)
    }
}

/// EarlyStopping and ReduceLROnPlateau flags (Keras' defaults).
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct CallbackArgs {
    /// Stop when the monitored value has not improved for N epochs (EarlyStopping)
    #[arg(long, value_name = "N", help_heading = "Callbacks")]
    early_stopping: Option<usize>,
    /// What early stopping watches: val_loss, val_accuracy, loss or accuracy
    #[arg(long, value_name = "M", default_value = EarlyStopping::default().monitor.name(), help_heading = "Callbacks")]
    early_stopping_monitor: String,
    /// Smallest change that counts as an improvement for early stopping
    #[arg(long, value_name = "D", default_value_t = EarlyStopping::default().min_delta, help_heading = "Callbacks")]
    early_stopping_min_delta: f64,
    /// When stopping early, go back to the best epoch's weights
    #[arg(long, help_heading = "Callbacks")]
    restore_best_weights: bool,
    /// Multiply the learning rate by --reduce-lr-factor after N epochs without improvement
    /// (ReduceLROnPlateau)
    #[arg(long, value_name = "N", help_heading = "Callbacks")]
    reduce_lr: Option<usize>,
    /// What ReduceLROnPlateau watches: val_loss, val_accuracy, loss or accuracy
    #[arg(long, value_name = "M", default_value = ReduceLrOnPlateau::default().monitor.name(), help_heading = "Callbacks")]
    reduce_lr_monitor: String,
    #[arg(long, value_name = "F", default_value_t = ReduceLrOnPlateau::default().factor, help_heading = "Callbacks")]
    reduce_lr_factor: f64,
    /// Lowest learning rate ReduceLROnPlateau goes to
    #[arg(long, value_name = "LR", default_value_t = ReduceLrOnPlateau::default().min_lr, help_heading = "Callbacks")]
    min_lr: f64,
}

impl CallbackArgs {
    fn early_stopping(&self) -> anyhow::Result<EarlyStoppingOptions> {
        Ok(EarlyStoppingOptions {
            patience: self.early_stopping,
            monitor: self.early_stopping_monitor.parse::<Monitor>()?,
            min_delta: self.early_stopping_min_delta,
            restore_best_weights: self.restore_best_weights,
        })
    }

    fn reduce_lr(&self) -> anyhow::Result<ReduceLrOptions> {
        Ok(ReduceLrOptions {
            patience: self.reduce_lr,
            monitor: self.reduce_lr_monitor.parse::<Monitor>()?,
            factor: self.reduce_lr_factor,
            min_lr: self.min_lr,
        })
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
    #[arg(long, value_name = "PX", default_value_t = DEFAULT_ELASTIC_SIGMA, help_heading = "Augmentation")]
    elastic_sigma: f32,
    /// Random stroke width change: dilate or erode by up to PX pixels (at most 3)
    #[arg(long, value_name = "PX", help_heading = "Augmentation")]
    stroke: Option<f32>,
    /// Random Gaussian blur, sigma up to PX pixels (at most 3)
    #[arg(long, value_name = "PX", help_heading = "Augmentation")]
    blur: Option<f32>,
    /// Random background: fade the ink by up to F (0..1) over grey, uneven paper
    #[arg(long, value_name = "F", help_heading = "Augmentation")]
    background: Option<f32>,
    /// Random erasing: with probability P, one rectangle (2-25% of the image) of one grey level
    #[arg(long, value_name = "P", help_heading = "Augmentation")]
    erase: Option<f32>,
    /// Random noise up to SD (at most 1): Gaussian (added) or speckle (multiplying the ink)
    #[arg(long, value_name = "SD", help_heading = "Augmentation")]
    noise: Option<f32>,
    /// Stray lines: with probability P, 1-2 straight, bent or dashed lines over the digit
    #[arg(long, value_name = "P", help_heading = "Augmentation")]
    lines: Option<f32>,
    /// Outlines: with probability P, the digit drawn as the one-pixel contour of its ink
    #[arg(long, value_name = "P", help_heading = "Augmentation")]
    outline: Option<f32>,
    /// With probability P, an image's ink and paper are left as written (only the geometry
    /// applies): the share of clean digits among those the flags above change
    #[arg(long, value_name = "P", help_heading = "Augmentation")]
    clean: Option<f32>,
}

impl AugmentArgs {
    /// The transforms asked for, as overrides of a base (a recipe's, or none).
    pub fn overrides(&self) -> AugmentOverrides {
        AugmentOverrides {
            notebook: self.augment,
            rotation: self.rotation,
            width_shift: self.width_shift,
            height_shift: self.height_shift,
            zoom: self.zoom,
            shear: self.shear,
            elastic_alpha: self.elastic_alpha,
            elastic_sigma: self.elastic_sigma,
            stroke: self.stroke,
            blur: self.blur,
            background: self.background,
            erase: self.erase,
            noise: self.noise,
            lines: self.lines,
            outline: self.outline,
            clean: self.clean,
        }
    }
}
