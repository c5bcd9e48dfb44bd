//! Optimisers with Keras' update rules and defaults. State (moments, velocities) is kept per
//! trainable tensor, in the order the network lists them.

pub mod adam;
pub mod rmsprop;
pub mod sgd;

use crate::Error;
use crate::engine::Network;
use crate::engine::limits::all_finite;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// An optimiser and its hyper-parameters (`lr` may be changed between steps by schedules).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum OptimizerConfig {
    Sgd(sgd::SgdConfig),
    Adam(adam::AdamConfig),
    Rmsprop(rmsprop::RmspropConfig),
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Adam(adam::AdamConfig::default())
    }
}

impl OptimizerConfig {
    /// The optimiser by name with Keras' defaults (`sgd`, `adam`, `rmsprop`).
    pub fn by_name(name: &str) -> Result<Self, Error> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "sgd" => OptimizerConfig::Sgd(Default::default()),
            "adam" => OptimizerConfig::Adam(Default::default()),
            "rmsprop" => OptimizerConfig::Rmsprop(Default::default()),
            _ => {
                return Err(Error::Invalid(format!("unknown optimizer '{name}' (expected sgd, adam or rmsprop)")));
            }
        })
    }

    pub fn lr(&self) -> f32 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adam(c) => c.lr,
            OptimizerConfig::Rmsprop(c) => c.lr,
        }
    }

    /// The momentum, for the optimizers that have one.
    pub fn momentum(&self) -> Option<f32> {
        match self {
            OptimizerConfig::Sgd(c) => Some(c.momentum),
            OptimizerConfig::Rmsprop(c) => Some(c.momentum),
            OptimizerConfig::Adam(_) => None,
        }
    }

    pub fn set_lr(&mut self, lr: f32) {
        match self {
            OptimizerConfig::Sgd(c) => c.lr = lr,
            OptimizerConfig::Adam(c) => c.lr = lr,
            OptimizerConfig::Rmsprop(c) => c.lr = lr,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => "sgd",
            OptimizerConfig::Adam(_) => "adam",
            OptimizerConfig::Rmsprop(_) => "rmsprop",
        }
    }
}

/// Per-tensor slots: first and second moment (Adam), velocity and mean square (RMSprop), or
/// velocity (SGD).
#[derive(Default)]
pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Steps taken (Adam's bias correction uses it).
    pub iterations: u64,
    pub slots: Vec<[Vec<f32>; 2]>,
}

/// Updates on more than this many values are split across threads.
const PAR: usize = 1 << 15;

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer { config, iterations: 0, slots: Vec::new() }
    }

    /// Applies one update from the gradients in `net`; whether every value it wrote is finite
    /// (each piece checked while still in cache, instead of the whole network again after).
    pub fn step(&mut self, net: &mut Network) -> bool {
        self.iterations += 1;
        let t = self.iterations;
        let mut i = 0;
        let mut finite = true;
        // Straight over the layers: building the named list would allocate on every step.
        for p in net.layers.iter_mut().flat_map(|l| l.params_mut()) {
            if !p.trainable {
                continue;
            }
            if self.slots.len() <= i {
                self.slots.push([vec![0.0; p.value.len()], vec![0.0; p.value.len()]]);
            }
            let [s1, s2] = &mut self.slots[i];
            let cfg = &self.config;
            finite &= p
                .value
                .par_chunks_mut(PAR)
                .zip(p.grad.par_chunks(PAR))
                .zip(s1.par_chunks_mut(PAR).zip(s2.par_chunks_mut(PAR)))
                .map(|((w, g), (a, b))| {
                    crate::engine::wide(
                        #[inline(always)]
                        || {
                            match cfg {
                                OptimizerConfig::Sgd(c) => sgd::update(c, w, g, a),
                                OptimizerConfig::Adam(c) => adam::update(c, t, w, g, a, b),
                                OptimizerConfig::Rmsprop(c) => rmsprop::update(c, w, g, a, b),
                            }
                            all_finite(w)
                        },
                    )
                })
                .reduce(|| true, |a, b| a && b);
            i += 1;
        }
        finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step says whether what it wrote is finite: an overflow in any piece of any tensor
    /// (here the last value of the largest, past the first parallel piece) is reported, and
    /// every other piece is still updated.
    #[test]
    fn a_step_reports_values_it_made_infinite() {
        for name in ["sgd", "adam", "rmsprop"] {
            let mut net = crate::model::presets::preset("mlp-64-64").unwrap().build(0).unwrap();
            let mut opt = Optimizer::new(OptimizerConfig::by_name(name).unwrap());
            for (_, p) in net.named_params_mut() {
                p.grad.fill(1e-3);
            }
            assert!(opt.step(&mut net), "{name}: a small step is finite");
            let first = net.named_params_mut()[0].1.value[0];
            let mut params = net.named_params_mut();
            let kernel = &mut params[0].1;
            assert!(kernel.value.len() > PAR);
            *kernel.value.last_mut().unwrap() = f32::MAX;
            kernel.grad.fill(-1e-3);
            *kernel.grad.last_mut().unwrap() = -f32::MAX;
            opt.config.set_lr(1e30);
            assert!(!opt.step(&mut net), "{name}: an overflow is reported");
            assert_ne!(net.named_params_mut()[0].1.value[0], first, "{name}: the other pieces are updated");
        }
    }
}
