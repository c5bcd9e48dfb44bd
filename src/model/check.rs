//! Model validation in one place: a model is checked against the data it is trained on or
//! judges (each image its input shape) and against the ten digit classes (one output per
//! class) when it is built for training or loaded, with an error naming both shapes.

use super::Classify;
use crate::data::{Dataset, NUM_CLASSES};
use crate::{Error, Result};

/// An error naming both shapes unless `model` gives one output per digit class and, when
/// `data` is given, takes `data`'s images as its input. `what` says what is being done
/// ("training model 'x' on the training set").
pub fn check_model<C: Classify + ?Sized>(model: &C, data: Option<&Dataset>, what: &str) -> Result<()> {
    let classes = model.classes();
    if classes != NUM_CLASSES {
        return Err(Error::Shape {
            what: what.into(),
            expected_what: "the number of digit classes".into(),
            expected: NUM_CLASSES.to_string(),
            found_what: "the model's output".into(),
            found: format!("{classes} values per image"),
        });
    }
    if let Some(data) = data {
        let input = model.input_shape();
        if (input.h, input.w, input.c) != (data.rows, data.cols, 1) {
            return Err(Error::Shape {
                what: what.into(),
                expected_what: "the model's input".into(),
                expected: input.to_string(),
                found_what: "each image of the data".into(),
                found: format!("{}×{}×1", data.rows, data.cols),
            });
        }
    }
    Ok(())
}
