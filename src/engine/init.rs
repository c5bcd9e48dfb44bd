//! Weight initialisers with Keras' definitions.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// The standard deviation of a unit normal truncated at ±2 (0.8796256610...), as an f32.
const TRUNCATED_STD: f32 = 0.879_625_7;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Initializer {
    /// U(-l, l) with l = √(6 / (fan_in + fan_out)): Keras' default for Dense and Conv2D.
    #[default]
    GlorotUniform,
    /// N(0, 2 / fan_in) truncated at two standard deviations, rescaled as Keras does.
    HeNormal,
    /// Uniform with l = √(6 / fan_in).
    HeUniform,
    Zeros,
}

impl Initializer {
    pub fn fill(self, w: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Rng) {
        match self {
            Initializer::GlorotUniform => {
                let l = (6.0 / (fan_in + fan_out) as f32).sqrt();
                w.iter_mut().for_each(|v| *v = rng.uniform_range(-l, l));
            }
            Initializer::HeUniform => {
                let l = (6.0 / fan_in as f32).sqrt();
                w.iter_mut().for_each(|v| *v = rng.uniform_range(-l, l));
            }
            Initializer::HeNormal => {
                // Keras' VarianceScaling divides by the std of a unit normal truncated at ±2.
                let std = (2.0 / fan_in as f32).sqrt() / TRUNCATED_STD;
                for v in w.iter_mut() {
                    *v = loop {
                        let z = rng.normal();
                        if z.abs() <= 2.0 {
                            break z * std;
                        }
                    };
                }
            }
            Initializer::Zeros => w.fill(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_uniform_bounds_and_variance() {
        let mut w = vec![0.0; 784 * 512];
        Initializer::GlorotUniform.fill(&mut w, 784, 512, &mut Rng::new(0));
        let l = (6.0f32 / (784.0 + 512.0)).sqrt();
        assert!(w.iter().all(|v| v.abs() <= l));
        let var = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        let want = 2.0 / (784.0 + 512.0);
        assert!((var / want - 1.0).abs() < 0.02, "{var} vs {want}");
    }

    #[test]
    fn he_normal_variance_is_two_over_fan_in() {
        let mut w = vec![0.0; 200_000];
        Initializer::HeNormal.fill(&mut w, 100, 10, &mut Rng::new(0));
        let var = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var / 0.02 - 1.0).abs() < 0.02, "{var}");
        let bound = 2.0 * (0.02f32).sqrt() / TRUNCATED_STD;
        assert!(w.iter().all(|v| v.abs() <= bound * 1.0001));
    }
}
