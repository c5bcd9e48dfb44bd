//! Flatten: `h × w × c` to a vector of `h·w·c`, in Keras' (channels-last) order, so dense
//! weights after it match a Keras model's.

use super::{Ctx, Layer, LayerConfig, Shape};
use crate::Result;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// A Flatten layer as a model file gives it: it has no options (and accepts none).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlattenConfig {}

impl FlattenConfig {
    /// Builds the layer for `input`.
    pub fn init(&self, name: String, input: Shape) -> Flatten {
        Flatten { name, input }
    }
}

impl LayerConfig for FlattenConfig {
    fn base_name(&self) -> &'static str {
        "flatten"
    }
    fn build(&self, name: String, input: Shape, _rng: &mut Rng) -> Result<Box<dyn Layer>> {
        Ok(Box::new(self.init(name, input)))
    }
    fn plan(&self, input: Shape) -> Result<(usize, Shape)> {
        Ok((0, Shape::flat(input.len())))
    }
}

pub struct Flatten {
    name: String,
    input: Shape,
}

impl Layer for Flatten {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "Flatten"
    }
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn output_shape(&self) -> Shape {
        Shape::flat(self.input.len())
    }
    fn passthrough(&self, _training: bool) -> bool {
        true
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _batch: usize, _ctx: Ctx) {
        y.copy_from_slice(x);
    }
    fn backward(&mut self, _x: &[f32], _y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, _batch: usize) {
        if let Some(dx) = dx {
            dx.copy_from_slice(dy);
        }
    }
}
