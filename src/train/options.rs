//! Training options as a user gives them (flags, a recipe, or code), resolved in one step into
//! a checked model and [`TrainConfig`]: what is given wins, then the recipe, then the defaults
//! below (which the CLI's help shows).

use super::callbacks::{EarlyStopping, Monitor, ReduceLrOnPlateau, Schedule};
use super::ranges;
use super::recipe::Recipe;
use super::{TrainConfig, Validation};
use crate::data::augment::AugmentConfig;
use crate::engine::Loss;
use crate::model::{ModelSpec, presets};
use crate::optim::OptimizerConfig;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Epochs when neither the options nor the recipe say.
pub const DEFAULT_EPOCHS: usize = 10;
/// Batch size when neither the options nor the recipe say.
pub const DEFAULT_BATCH_SIZE: usize = 128;
/// Optimizer when neither the options nor the recipe say.
pub const DEFAULT_OPTIMIZER: &str = "adam";
/// Learning-rate schedule when neither the options nor the recipe say.
pub const DEFAULT_SCHEDULE: &str = "constant";

/// EarlyStopping as given: patience turns it on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingOptions {
    pub patience: Option<usize>,
    pub monitor: Monitor,
    pub min_delta: f64,
    pub restore_best_weights: bool,
}

/// ReduceLROnPlateau as given: patience turns it on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReduceLrOptions {
    pub patience: Option<usize>,
    pub monitor: Monitor,
    pub factor: f64,
    pub min_lr: f64,
}

impl Default for ReduceLrOptions {
    fn default() -> Self {
        let keras = ReduceLrOnPlateau::default();
        ReduceLrOptions { patience: None, monitor: keras.monitor, factor: keras.factor, min_lr: keras.min_lr }
    }
}

/// Everything that can be said about a training run; `None` means "the recipe's, else the
/// default".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// A built-in recipe name or a recipe file.
    pub recipe: Option<String>,
    /// A preset name or a model file.
    pub model: Option<String>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub optimizer: Option<String>,
    pub lr: Option<f32>,
    pub momentum: Option<f32>,
    pub nesterov: bool,
    pub loss: Loss,
    pub schedule: Option<String>,
    pub seed: u64,
    /// Augmentation: single transforms over the recipe's (or none).
    pub augment: AugmentOverrides,
    pub early_stopping: EarlyStoppingOptions,
    pub reduce_lr: ReduceLrOptions,
}

impl TrainOptions {
    /// The recipe named, if any.
    pub fn recipe(&self) -> Result<Option<Recipe>> {
        self.recipe.as_deref().map(Recipe::resolve).transpose()
    }

    /// The model and the run's settings, checked.
    pub fn resolve(&self) -> Result<(ModelSpec, TrainConfig)> {
        let recipe = self.recipe()?;
        let r = recipe.as_ref();
        let spec = match (&self.model, r) {
            (Some(m), _) => presets::resolve(m)?,
            (None, Some(r)) => r.model_spec()?,
            (None, None) => presets::resolve(presets::DEFAULT)?,
        };
        let optimizer = self.optimizer_config(r)?;
        let schedule = self.schedule.clone().or(r.and_then(|r| r.schedule.clone()));
        let schedule: Schedule = schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE).parse()?;
        let batch_size = flag(self.batch_size, "--batch-size", ranges::batch_size)?.or(r.and_then(|r| r.batch_size));
        let epochs = flag(self.epochs, "--epochs", ranges::epochs)?.or(r.and_then(|r| r.epochs));
        let augment = self.augment.apply(r.and_then(|r| r.augment).unwrap_or_default())?;
        let mut cfg = TrainConfig {
            epochs: epochs.unwrap_or(DEFAULT_EPOCHS),
            batch_size: batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
            optimizer,
            loss: self.loss,
            seed: self.seed,
            schedule,
            augment,
            early_stopping: r.and_then(|r| r.early_stopping.clone()),
            reduce_lr_on_plateau: r.and_then(|r| r.reduce_lr_on_plateau.clone()),
        };
        self.apply_callbacks(&mut cfg)?;
        Ok((spec, cfg))
    }

    /// The validation the recipe asks for, when the caller asks for none.
    pub fn recipe_validation(&self) -> Result<Option<Validation>> {
        Ok(self.recipe()?.and_then(|r| r.validation_split).map(Validation::Split))
    }

    fn optimizer_config(&self, r: Option<&Recipe>) -> Result<OptimizerConfig> {
        let name = self.optimizer.clone().or(r.and_then(|r| r.optimizer.clone()));
        let mut optimizer = OptimizerConfig::by_name(name.as_deref().unwrap_or(DEFAULT_OPTIMIZER))?;
        if let Some(lr) = flag(self.lr, "--lr", |x| ranges::lr(x as f64))?.or(r.and_then(|r| r.lr)) {
            optimizer.set_lr(lr);
        }
        let momentum =
            flag(self.momentum, "--momentum", |x| ranges::momentum(x as f64))?.or(r.and_then(|r| r.momentum));
        match &mut optimizer {
            OptimizerConfig::Sgd(c) => {
                c.momentum = momentum.unwrap_or(c.momentum);
                c.nesterov = self.nesterov;
            }
            OptimizerConfig::Rmsprop(c) => c.momentum = momentum.unwrap_or(c.momentum),
            OptimizerConfig::Adam(_) if momentum.is_some() || self.nesterov => {
                // A momentum from the recipe (with Adam from a flag or the default) names it.
                if let (None, false, Some(recipe)) = (self.momentum, self.nesterov, &self.recipe) {
                    let message =
                        "momentum applies to sgd and rmsprop, not adam (give optimizer = \"sgd\" or --optimizer sgd)";
                    return Err(Error::format(std::path::Path::new(recipe), message));
                }
                return Err(Error::invalid("--momentum/--nesterov apply to sgd and rmsprop, not adam"));
            }
            _ => {}
        }
        Ok(optimizer)
    }

    fn apply_callbacks(&self, cfg: &mut TrainConfig) -> Result<()> {
        let es = &self.early_stopping;
        if let Some(patience) = es.patience {
            cfg.early_stopping = Some(EarlyStopping {
                monitor: es.monitor,
                min_delta: es.min_delta,
                patience,
                restore_best_weights: es.restore_best_weights,
            });
        }
        let rl = &self.reduce_lr;
        if let Some(patience) = rl.patience {
            cfg.reduce_lr_on_plateau = Some(ReduceLrOnPlateau {
                monitor: rl.monitor,
                factor: rl.factor,
                patience,
                min_lr: rl.min_lr,
                ..Default::default()
            });
        }
        let named = |(field, problem): (&str, ranges::Problem)| {
            let flag = match field {
                "factor" => "--reduce-lr-factor",
                "min_lr" => "--min-lr",
                _ => "--early-stopping-min-delta",
            };
            Error::Invalid(format!("{flag} {problem}"))
        };
        if es.patience.is_some() {
            cfg.early_stopping.as_ref().map_or(Ok(()), ranges::early_stopping).map_err(named)?;
        }
        if rl.patience.is_some() {
            cfg.reduce_lr_on_plateau.as_ref().map_or(Ok(()), ranges::reduce_lr).map_err(named)?;
        }
        Ok(())
    }
}

/// The flag's value, if given, once `check` passes it; else an error naming the flag. (A
/// recipe's values are checked when it is read, naming the recipe.)
fn flag<T: Copy>(value: Option<T>, name: &str, check: impl Fn(T) -> Result<(), ranges::Problem>) -> Result<Option<T>> {
    match value {
        Some(v) => check(v).map(|()| Some(v)).map_err(|p| Error::Invalid(format!("{name} {p}"))),
        None => Ok(None),
    }
}

/// Augmentation as given: the notebooks' set, or single transforms over a base (a recipe's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentOverrides {
    /// Start from the notebooks' set (rotation 10°, shifts 0.1, zoom 0.1) instead of the base.
    pub notebook: bool,
    pub rotation: Option<f32>,
    pub width_shift: Option<f32>,
    pub height_shift: Option<f32>,
    pub zoom: Option<f32>,
    pub shear: Option<f32>,
    pub elastic_alpha: Option<f32>,
    /// Used when `elastic_alpha` is given and positive.
    pub elastic_sigma: f32,
    pub stroke: Option<f32>,
    pub blur: Option<f32>,
    pub background: Option<f32>,
    pub erase: Option<f32>,
    pub noise: Option<f32>,
    pub lines: Option<f32>,
    pub outline: Option<f32>,
    pub clean: Option<f32>,
}

/// Smoothness of the elastic distortion when only its strength is given (Gaussian sigma, px).
pub const DEFAULT_ELASTIC_SIGMA: f32 = 4.0;

impl Default for AugmentOverrides {
    fn default() -> Self {
        AugmentOverrides {
            notebook: false,
            rotation: None,
            width_shift: None,
            height_shift: None,
            zoom: None,
            shear: None,
            elastic_alpha: None,
            elastic_sigma: DEFAULT_ELASTIC_SIGMA,
            stroke: None,
            blur: None,
            background: None,
            erase: None,
            noise: None,
            lines: None,
            outline: None,
            clean: None,
        }
    }
}

impl AugmentOverrides {
    /// The transforms asked for over `base`, checked.
    pub fn apply(&self, base: AugmentConfig) -> Result<AugmentConfig> {
        let mut a = if self.notebook { AugmentConfig::notebook() } else { base };
        a.rotation = self.rotation.unwrap_or(a.rotation);
        a.width_shift = self.width_shift.unwrap_or(a.width_shift);
        a.height_shift = self.height_shift.unwrap_or(a.height_shift);
        a.zoom = self.zoom.unwrap_or(a.zoom);
        a.shear = self.shear.unwrap_or(a.shear);
        a.elastic_alpha = self.elastic_alpha.unwrap_or(a.elastic_alpha);
        if self.elastic_alpha.is_some() {
            a.elastic_sigma = if a.elastic_alpha > 0.0 { self.elastic_sigma } else { 0.0 };
        }
        a.stroke = self.stroke.unwrap_or(a.stroke);
        a.blur = self.blur.unwrap_or(a.blur);
        a.background = self.background.unwrap_or(a.background);
        a.erase = self.erase.unwrap_or(a.erase);
        a.noise = self.noise.unwrap_or(a.noise);
        a.lines = self.lines.unwrap_or(a.lines);
        a.outline = self.outline.unwrap_or(a.outline);
        a.clean = self.clean.unwrap_or(a.clean);
        a.validate()?;
        Ok(a)
    }
}
