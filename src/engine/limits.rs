//! The largest model the engine builds. Every size a model file (or an untrusted run's
//! `model.json`) gives is checked against these limits, with checked arithmetic, before any
//! buffer is sized from it, so a hostile or mistyped size is an error naming the layer, never
//! an allocation failure or an overflow.

use crate::{Error, Result};

/// Most layers in one model.
pub const MAX_LAYERS: usize = 256;
/// Largest input side (height or width), in pixels.
pub const MAX_INPUT_SIDE: usize = 1024;
/// Most input channels.
pub const MAX_INPUT_CHANNELS: usize = 16;
/// Most values one layer may output per sample (units of a Dense layer, `h·w·filters` of a
/// Conv2D): 2²⁰, 4 MiB per sample and buffer.
pub const MAX_VALUES: usize = 1 << 20;
/// Largest kernel, pool window or stride along one axis.
pub const MAX_WINDOW: usize = 64;
/// Largest patch matrix of a Conv2D per sample (`out_h·out_w·k_h·k_w·channels` values).
pub const MAX_PATCH_VALUES: usize = 1 << 24;
/// Most parameters (trainable and not) of a whole model: 100 million, 400 MB of f32.
pub const MAX_PARAMS: usize = 100_000_000;

/// An error unless `value` (the option `what`) is between 1 and `max`.
pub(crate) fn within(what: &str, value: usize, max: usize) -> Result<usize> {
    if value == 0 || value > max {
        return Err(Error::Invalid(format!("{what} {value} is outside the limit 1 to {max}")));
    }
    Ok(value)
}

/// The product of `factors` (what a layer allocates), or an error naming `what` when it
/// overflows or exceeds `max`.
pub(crate) fn product(what: &str, factors: &[usize], max: usize) -> Result<usize> {
    let text = || factors.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("×");
    match factors.iter().try_fold(1usize, |a, &f| a.checked_mul(f)) {
        Some(n) if n <= max => Ok(n),
        Some(n) => Err(Error::Invalid(format!("{what} {} = {n} exceeds the limit of {max}", text()))),
        None => Err(Error::Invalid(format!("{what} {} exceeds the limit of {max}", text()))),
    }
}

/// A layer's parameter count, `weights + biases`, within [`MAX_PARAMS`].
pub(crate) fn params(weights: &[usize], biases: usize) -> Result<usize> {
    let w = product("parameter count", weights, MAX_PARAMS)?;
    w.checked_add(biases)
        .filter(|&n| n <= MAX_PARAMS)
        .ok_or_else(|| Error::Invalid(format!("parameter count {w} + {biases} exceeds the limit of {MAX_PARAMS}")))
}

/// Every value of `values` is finite (no NaN, no infinity); vectorises, unlike `all`.
pub fn all_finite(values: &[f32]) -> bool {
    values.iter().fold(0u32, |acc, v| acc | ((v.to_bits() & 0x7f80_0000 == 0x7f80_0000) as u32)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_overflowing_or_over_the_limit_are_errors() {
        assert_eq!(product("n", &[3, 4], 12).unwrap(), 12);
        assert!(product("n", &[3, 5], 12).unwrap_err().to_string().contains("3×5 = 15 exceeds the limit of 12"));
        assert!(product("n", &[784, 1 << 62], usize::MAX).is_err());
        assert!(params(&[10, 10], MAX_PARAMS).is_err());
        assert!(within("units", 0, 5).is_err() && within("units", 6, 5).is_err());
        assert!(all_finite(&[0.0, -1.0, f32::MAX]));
        assert!(!all_finite(&[0.0, f32::NAN]) && !all_finite(&[f32::NEG_INFINITY]));
    }
}
