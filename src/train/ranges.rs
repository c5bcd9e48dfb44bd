//! The range every training setting must be in, whoever gives it: a flag, a recipe, a search
//! space or code. Each check returns what is wrong; the caller says where the value came from
//! (`--lr`, `lr in recipe fast.toml`), so a bad value is blamed on the place that gave it.

use super::callbacks::{EarlyStopping, ReduceLrOnPlateau};

/// Most epochs one run may ask for.
pub const MAX_EPOCHS: usize = 10_000;
/// Largest batch: the CNN presets' buffers at this size take several GB; beyond it, a batch
/// size (usually a typo) would exhaust memory instead of training.
pub const MAX_BATCH_SIZE: usize = 8_192;

/// What is wrong with a setting, without its name (`must be …, got …`).
pub type Problem = String;

/// Epochs: 1 to [`MAX_EPOCHS`].
pub fn epochs(n: usize) -> Result<(), Problem> {
    whole(n, MAX_EPOCHS)
}

/// Batch size: 1 to [`MAX_BATCH_SIZE`].
pub fn batch_size(n: usize) -> Result<(), Problem> {
    whole(n, MAX_BATCH_SIZE)
}

fn whole(n: usize, max: usize) -> Result<(), Problem> {
    if (1..=max).contains(&n) { Ok(()) } else { Err(format!("must be 1 to {max}, got {n}")) }
}

/// A learning rate: positive and finite.
pub fn lr(x: f64) -> Result<(), Problem> {
    if x > 0.0 && x.is_finite() { Ok(()) } else { Err(format!("must be a positive number, got {x}")) }
}

/// Momentum: 0 ≤ m < 1 (at 1 or more the velocity never decays).
pub fn momentum(x: f64) -> Result<(), Problem> {
    if (0.0..1.0).contains(&x) { Ok(()) } else { Err(format!("must be at least 0 and below 1, got {x}")) }
}

/// A tolerance or floor: finite and not negative.
pub fn non_negative(x: f64) -> Result<(), Problem> {
    if x >= 0.0 && x.is_finite() { Ok(()) } else { Err(format!("must be a number ≥ 0, got {x}")) }
}

/// A callback's settings, as `(field, problem)` for the first bad one.
pub fn early_stopping(e: &EarlyStopping) -> Result<(), (&'static str, Problem)> {
    non_negative(e.min_delta).map_err(|p| ("min_delta", p))
}

/// ReduceLROnPlateau's settings, as `(field, problem)` for the first bad one.
pub fn reduce_lr(r: &ReduceLrOnPlateau) -> Result<(), (&'static str, Problem)> {
    if !(r.factor > 0.0 && r.factor < 1.0) {
        return Err(("factor", format!("must be between 0 and 1, got {}", r.factor)));
    }
    non_negative(r.min_lr).map_err(|p| ("min_lr", p))?;
    non_negative(r.min_delta).map_err(|p| ("min_delta", p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_nan_is_out() {
        assert!(epochs(1).is_ok() && epochs(MAX_EPOCHS).is_ok() && epochs(0).is_err());
        assert_eq!(batch_size(MAX_BATCH_SIZE + 1).unwrap_err(), format!("must be 1 to {MAX_BATCH_SIZE}, got 8193"));
        assert!(lr(1e-3).is_ok() && lr(0.0).is_err() && lr(f64::NAN).is_err() && lr(f64::INFINITY).is_err());
        assert!(momentum(0.0).is_ok() && momentum(0.99).is_ok() && momentum(1.0).is_err() && momentum(-0.1).is_err());
        assert!(non_negative(0.0).is_ok() && non_negative(f64::NAN).is_err());
        let r = ReduceLrOnPlateau { min_lr: -1.0, ..Default::default() };
        assert_eq!(reduce_lr(&r).unwrap_err().0, "min_lr");
    }
}
