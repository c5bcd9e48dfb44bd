//! Recipes: whole training setups (model, optimizer, schedule, augmentation, callbacks, epochs)
//! under one name, run as `digits train --recipe NAME` or from a file of the same form.
//!
//! The built-in recipes are the TOML files in `recipes/`, compiled into the binary; copy one to
//! start your own. Flags given on the command line override a recipe's values.

use super::callbacks::{EarlyStopping, ReduceLrOnPlateau, Schedule};
use super::ranges;
use crate::Error;
use crate::data::augment::AugmentConfig;
use crate::model::ModelSpec;
use crate::optim::OptimizerConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The built-in recipes: name and TOML text.
pub const BUILTIN: &[(&str, &str)] = &[
    ("fast", include_str!("../../recipes/fast.toml")),
    ("best", include_str!("../../recipes/best.toml")),
    ("robust", include_str!("../../recipes/robust.toml")),
];

/// The model of a recipe: a preset name or model-file path, or the layers themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecipeModel {
    Named(String),
    Inline(ModelSpec),
}

/// A training setup. Every field but `model` may be left out (the flags' defaults apply).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default)]
    pub description: String,
    pub model: RecipeModel,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub optimizer: Option<String>,
    pub lr: Option<f32>,
    pub momentum: Option<f32>,
    pub schedule: Option<String>,
    pub validation_split: Option<f64>,
    pub augment: Option<AugmentConfig>,
    pub early_stopping: Option<EarlyStopping>,
    pub reduce_lr_on_plateau: Option<ReduceLrOnPlateau>,
}

fn parse(text: &str, path: &Path) -> Result<Recipe, Error> {
    let recipe: Recipe = crate::input::parse_toml(path, text)?;
    recipe.check().map_err(|message| Error::format(path, message))?;
    // The model is resolved (and an inline one built) here too, so that a bad one is reported
    // with the recipe's name rather than as if it came from a flag.
    recipe.model_spec().map_err(|e| Error::format(path, format!("model: {e}")))?;
    Ok(recipe)
}

impl Recipe {
    /// A built-in recipe by name, or a recipe file (`.toml`).
    pub fn resolve(name: &str) -> Result<Recipe, Error> {
        if let Some((n, text)) = BUILTIN.iter().find(|(n, _)| *n == name) {
            return parse(text, Path::new(&format!("recipes/{n}.toml")));
        }
        let path = Path::new(name);
        // Anything that exists is read as a recipe file (a FIFO or directory is then refused
        // by name, not taken for an unknown recipe).
        if path.exists() {
            return parse(&crate::input::read_text(path)?, path);
        }
        let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        Err(Error::Invalid(format!("'{name}' is neither a recipe ({}) nor a recipe file", names.join(", "))))
    }

    /// Every value in range (see [`super::ranges`]); the problem names the field.
    fn check(&self) -> Result<(), String> {
        let field = |name: &'static str| move |p: ranges::Problem| format!("{name} {p}");
        self.epochs.map_or(Ok(()), ranges::epochs).map_err(field("epochs"))?;
        self.batch_size.map_or(Ok(()), ranges::batch_size).map_err(field("batch_size"))?;
        self.lr.map_or(Ok(()), |x| ranges::lr(x as f64)).map_err(field("lr"))?;
        self.momentum.map_or(Ok(()), |x| ranges::momentum(x as f64)).map_err(field("momentum"))?;
        if let Some(name) = &self.optimizer {
            let optimizer = OptimizerConfig::by_name(name).map_err(|e| format!("optimizer: {e}"))?;
            if self.momentum.is_some() && optimizer.momentum().is_none() {
                return Err(format!("momentum applies to sgd and rmsprop, not {}", optimizer.name()));
            }
        }
        if let Some(schedule) = &self.schedule {
            schedule.parse::<Schedule>().map_err(|e| format!("schedule: {e}"))?;
        }
        if let Some(f) = self.validation_split.filter(|f| !(*f > 0.0 && *f < 1.0)) {
            return Err(format!("validation_split must be between 0 and 1 (exclusive), got {f}"));
        }
        if let Some(a) = &self.augment {
            a.validate().map_err(|e| e.to_string())?;
        }
        if let Some(e) = &self.early_stopping {
            ranges::early_stopping(e).map_err(|(f, p)| format!("early_stopping.{f} {p}"))?;
        }
        if let Some(r) = &self.reduce_lr_on_plateau {
            ranges::reduce_lr(r).map_err(|(f, p)| format!("reduce_lr_on_plateau.{f} {p}"))?;
        }
        Ok(())
    }

    /// The recipe's model.
    pub fn model_spec(&self) -> Result<ModelSpec, Error> {
        match &self.model {
            RecipeModel::Named(n) => crate::model::presets::resolve(n),
            RecipeModel::Inline(spec) => {
                spec.check()?;
                Ok(spec.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_recipes_parse_and_build() {
        for (name, _) in BUILTIN {
            let r = Recipe::resolve(name).unwrap();
            r.model_spec().unwrap().build(0).unwrap();
            assert!(!r.description.is_empty());
        }
        assert!(Recipe::resolve("slow").unwrap_err().to_string().contains("fast, best"));
    }
}
