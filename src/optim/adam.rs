//! Adam (Kingma & Ba) as Keras implements it: bias correction folded into the step size,
//! epsilon 1e-7 added to `√v̂`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 }
    }
}

#[inline(always)]
pub fn update(c: &AdamConfig, t: u64, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    let t = t as i32;
    let alpha = c.lr * (1.0 - c.beta_2.powi(t)).sqrt() / (1.0 - c.beta_1.powi(t));
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m += (g - *m) * (1.0 - c.beta_1);
        *v += (g * g - *v) * (1.0 - c.beta_2);
        *w -= alpha * *m / (v.sqrt() + c.epsilon);
    }
}
