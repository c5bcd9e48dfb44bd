//! Flatten: `h × w × c` to a vector of `h·w·c`, in Keras' (channels-last) order, so dense
//! weights after it match a Keras model's.

use super::{Ctx, Layer, Shape};

pub struct Flatten {
    name: String,
    input: Shape,
}

impl Flatten {
    pub fn new(name: String, input: Shape) -> Self {
        Flatten { name, input }
    }
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
