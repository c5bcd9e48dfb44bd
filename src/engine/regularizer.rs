//! The L2 regulariser, for kernels (`l2 · Σ w²`) and for activities (`l2 · Σ y²` averaged over
//! the batch, as tf.keras adds activity losses).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L2 {
    pub l2: f32,
}

impl L2 {
    /// Fails unless the factor is finite and not negative (a negative one would reward large
    /// weights without bound).
    pub fn check(&self) -> crate::Result<()> {
        if self.l2.is_finite() && self.l2 >= 0.0 {
            Ok(())
        } else {
            Err(crate::Error::Invalid(format!("L2 factor {} must be finite and not negative", self.l2)))
        }
    }

    pub fn penalty(&self, w: &[f32]) -> f64 {
        self.l2 as f64 * w.iter().map(|&v| v as f64 * v as f64).sum::<f64>()
    }

    /// Adds `∂penalty/∂w · scale` to `grad`.
    pub fn add_grad(&self, w: &[f32], grad: &mut [f32], scale: f32) {
        let k = 2.0 * self.l2 * scale;
        for (g, &v) in grad.iter_mut().zip(w) {
            *g += k * v;
        }
    }
}
