//! RMSprop as Keras implements it (`rho` 0.9, epsilon 1e-7, optional momentum).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RmspropConfig {
    pub lr: f32,
    pub rho: f32,
    pub momentum: f32,
    pub epsilon: f32,
}

impl Default for RmspropConfig {
    fn default() -> Self {
        RmspropConfig { lr: 0.001, rho: 0.9, momentum: 0.0, epsilon: 1e-7 }
    }
}

#[inline(always)]
pub fn update(c: &RmspropConfig, w: &mut [f32], g: &[f32], vel: &mut [f32], ms: &mut [f32]) {
    for (((w, &g), vel), ms) in w.iter_mut().zip(g).zip(vel.iter_mut()).zip(ms.iter_mut()) {
        *ms = c.rho * *ms + (1.0 - c.rho) * g * g;
        let step = c.lr * g / (ms.sqrt() + c.epsilon);
        if c.momentum > 0.0 {
            *vel = c.momentum * *vel - step;
            *w += *vel;
        } else {
            *w -= step;
        }
    }
}
