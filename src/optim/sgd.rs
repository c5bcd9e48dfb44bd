//! Stochastic gradient descent with optional (Nesterov) momentum, as Keras defines it:
//! `v ← μv − η·g`, then `w ← w + v` (or `w ← w + μv − η·g` with Nesterov).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SgdConfig {
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 0.01, momentum: 0.0, nesterov: false }
    }
}

#[inline(always)]
pub fn update(c: &SgdConfig, w: &mut [f32], g: &[f32], v: &mut [f32]) {
    if c.momentum == 0.0 {
        w.iter_mut().zip(g).for_each(|(w, g)| *w -= c.lr * g);
        return;
    }
    for ((w, g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
        *v = c.momentum * *v - c.lr * g;
        *w += if c.nesterov { c.momentum * *v - c.lr * g } else { *v };
    }
}
