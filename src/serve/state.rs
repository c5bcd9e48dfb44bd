//! What every request shares: the settings, the model (loaded once, owned by the inference
//! thread), what `GET /api/model` says about it, and the metrics.

use super::config::ServeConfig;
use super::inference::Inference;
use super::metrics::Metrics;
use crate::data::MNIST_SIDE;
use crate::eval::Metrics as TestMetrics;
use crate::layout::RunDir;
use crate::model::{Classifier, Classify};
use crate::{Error, Result};
use serde::Serialize;
use std::sync::Arc;

/// The state shared by the handlers.
pub struct AppState {
    pub config: ServeConfig,
    pub model: ModelInfo,
    pub inference: Inference,
    pub metrics: Arc<Metrics>,
}

/// What the server says about its model (`GET /api/model`, the page's header).
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    /// The model's name (`cnn-32-64`; an ensemble's says how many members it has).
    pub name: String,
    /// `run` or `ensemble`.
    pub kind: &'static str,
    /// Networks averaged (1 for a run).
    pub members: usize,
    /// Parameters as Keras counts them: trainable, non-trainable (batch-norm statistics), total.
    pub parameters: Parameters,
    /// Input height, width and channels.
    pub input: [usize; 3],
    pub classes: usize,
    /// Test accuracy and loss from the model's `metrics.json`, when it has one.
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_samples: Option<u64>,
    /// The model directory's last component (not the full path: that is the server's business).
    pub directory: String,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Parameters {
    pub trainable: usize,
    pub non_trainable: usize,
    pub total: usize,
}

impl AppState {
    /// Loads the model of `config` and starts its inference thread. Only models that read
    /// 28×28 grey images are served: pictures are prepared to that shape.
    pub fn load(config: &ServeConfig) -> Result<Arc<AppState>> {
        let mut classifier = Classifier::load(&config.model)?;
        let shape = classifier.input_shape();
        if (shape.h, shape.w, shape.c) != (MNIST_SIDE, MNIST_SIDE, 1) {
            return Err(Error::Shape {
                what: format!("serving {}", classifier.name()),
                expected_what: "the pictures' prepared shape".into(),
                expected: "28x28x1".into(),
                found_what: "the model's input".into(),
                found: format!("{}x{}x{}", shape.h, shape.w, shape.c),
            });
        }
        let model = describe(config, &mut classifier)?;
        let metrics = Arc::new(Metrics::new());
        let inference = Inference::start(classifier, metrics.clone())?;
        Ok(Arc::new(AppState { config: config.clone(), model, inference, metrics }))
    }
}

fn describe(config: &ServeConfig, classifier: &mut Classifier) -> Result<ModelInfo> {
    let (trainable, non_trainable, members, kind) = match classifier {
        Classifier::Single(_, net) => {
            let (t, n) = net.param_counts();
            (t, n, 1, "run")
        }
        Classifier::Ensemble(_, e) => {
            let counts = e.members.iter().map(|m| m.param_counts());
            let (t, n) = counts.fold((0, 0), |(t, n), (a, b)| (t + a, n + b));
            (t, n, e.members.len(), "ensemble")
        }
    };
    let metrics_path = RunDir::new(&config.model).metrics_json();
    let test: Option<TestMetrics> =
        if metrics_path.is_file() { Some(crate::input::read_json(&metrics_path)?) } else { None };
    let shape = classifier.input_shape();
    let directory = config.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(ModelInfo {
        name: classifier.name(),
        kind,
        members,
        parameters: Parameters { trainable, non_trainable, total: trainable + non_trainable },
        input: [shape.h, shape.w, shape.c],
        classes: classifier.classes(),
        test_accuracy: test.as_ref().map(|m| m.accuracy),
        test_loss: test.as_ref().and_then(|m| m.loss),
        test_samples: test.as_ref().map(|m| m.samples),
        directory: crate::error::escape_control(&directory),
    })
}
