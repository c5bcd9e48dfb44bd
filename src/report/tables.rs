//! The tables of the report page as text cells: the model's layers, the training settings, the
//! history (or an ensemble's members) and the per-class test metrics.

use crate::engine::Network;
use crate::eval::Metrics;
use crate::train::History;
use crate::train::run::RunInfo;

/// A table: the first column is left-aligned (names), the others right-aligned (numbers).
pub struct Table {
    pub headers: &'static [&'static str],
    pub rows: Vec<Row>,
}

/// A row of a [`Table`]; a total is drawn in bold under a rule.
pub struct Row {
    pub total: bool,
    pub cells: Vec<String>,
}

impl Row {
    fn new(cells: Vec<String>) -> Row {
        Row { total: false, cells }
    }
    fn total(cells: Vec<String>) -> Row {
        Row { total: true, cells }
    }
}

fn f4(v: f64) -> String {
    format!("{v:.4}")
}

/// One row per layer, after the input, with its trainable and other parameters; then the total.
pub fn model(net: &Network) -> Table {
    let mut rows = vec![Row::new(vec!["input".into(), "".into(), net.input.to_string(), "0".into(), "0".into()])];
    for l in &net.layers {
        let (mut t, mut n) = (0usize, 0usize);
        for p in l.params() {
            if p.trainable { t += p.value.len() } else { n += p.value.len() }
        }
        let cells = vec![l.name().into(), l.kind().into(), l.output_shape().to_string(), t.to_string(), n.to_string()];
        rows.push(Row::new(cells));
    }
    let (t, n) = net.param_counts();
    rows.push(Row::total(vec![format!("total {}", t + n), String::new(), String::new(), t.to_string(), n.to_string()]));
    Table { headers: &["layer", "type", "output shape", "trainable", "non-trainable"], rows }
}

/// The optimizer's own settings (betas, epsilon, momentum...) as `key value` pairs.
fn optimizer_details(info: &RunInfo) -> String {
    let Ok(serde_json::Value::Object(m)) = serde_json::to_value(&info.config.optimizer) else {
        return String::new();
    };
    m.iter()
        .filter_map(|(k, v)| match v {
            // Stored as f32: print the f32, not its widened f64 digits.
            serde_json::Value::Number(n) => Some(format!("{k} {}", n.as_f64().unwrap_or(0.0) as f32)),
            serde_json::Value::Bool(b) => Some(format!("{k} {b}")),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every setting and the provenance of a run, as (name, value) pairs.
pub fn settings(info: &RunInfo) -> Vec<(String, String)> {
    let c = &info.config;
    let loss = serde_json::to_value(c.loss).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    let row = |k: &str, v: String| (k.to_string(), v);
    vec![
        row("model", info.model.clone()),
        row("parameters", info.params.to_string()),
        row("training images", info.train_samples.to_string()),
        row("validation", format!("{} ({} images)", info.validation, info.validation_samples)),
        row("epochs", c.epochs.to_string()),
        row("batch size", c.batch_size.to_string()),
        row("optimizer", format!("{} ({})", c.optimizer.name(), optimizer_details(info))),
        row("learning-rate schedule", format!("{:?}", c.schedule).to_lowercase()),
        row("loss", loss),
        row("seed", c.seed.to_string()),
        row("threads", info.threads.to_string()),
        row("data", info.data.clone()),
        row("training time", format!("{:.1} s", info.train_seconds)),
        row("digits version", info.digits_version.clone()),
    ]
}

/// One row per ensemble member: its last epoch.
pub fn members(members: &[(String, History)]) -> Table {
    let f = |v: Option<f64>| v.map_or("-".to_string(), f4);
    let rows = members
        .iter()
        .map(|(name, h)| match h.epochs.last() {
            Some(r) => {
                vec![name.clone(), r.epoch.to_string(), f4(r.loss), f4(r.accuracy), f(r.val_loss), f(r.val_accuracy)]
            }
            None => vec![name.clone(), "-".into(), "-".into(), "-".into(), "-".into(), "-".into()],
        })
        .map(Row::new)
        .collect();
    Table { headers: &["member", "epochs", "loss", "accuracy", "val_loss", "val_accuracy"], rows }
}

/// One row per epoch.
pub fn history(h: &History) -> Table {
    let opt = |v: Option<f64>| v.map_or("–".to_string(), f4);
    let rows = h
        .epochs
        .iter()
        .map(|r| {
            Row::new(vec![
                r.epoch.to_string(),
                f4(r.loss),
                f4(r.accuracy),
                opt(r.val_loss),
                opt(r.val_accuracy),
                format!("{:.3e}", r.lr),
                format!("{:.1}", r.seconds),
            ])
        })
        .collect();
    Table { headers: &["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"], rows }
}

/// One row per class, then the macro and weighted averages.
pub fn metrics(m: &Metrics) -> Table {
    let scores = |name: String, precision: f64, recall: f64, f1: f64, support: String| {
        vec![name, f4(precision), f4(recall), f4(f1), support]
    };
    let mut rows: Vec<Row> = m
        .per_class
        .iter()
        .map(|c| Row::new(scores(c.class.to_string(), c.precision, c.recall, c.f1, c.support.to_string())))
        .collect();
    for (name, a) in [("macro avg", &m.macro_avg), ("weighted avg", &m.weighted_avg)] {
        rows.push(Row::total(scores(name.into(), a.precision, a.recall, a.f1, m.samples.to_string())));
    }
    Table { headers: &["class", "precision", "recall", "F1", "support"], rows }
}
