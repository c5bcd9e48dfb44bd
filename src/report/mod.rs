//! Pictures of data, training and models, and the HTML page that gathers them.
//!
//! * [`charts`] draws each chart from plain data (a history, a confusion matrix, weights,
//!   images) as PNG or SVG.
//! * [`html`] writes the self-contained report page of a run.
//! * [`run_report`] puts them together for a run directory: every chart into `RUN/report/`
//!   and the page into `RUN/report.html`.
//! * [`data_view`] summarises a data set (counts, pixel statistics) and draws its pictures.

pub mod charts;
pub mod data_view;
pub mod html;

use crate::Error;
use crate::data::Dataset;
use crate::engine::{LayerOutput, Network};
use crate::eval::Metrics;
use crate::train::History;
use crate::train::run::RunInfo;
use charts::{
    Chart, ChartFormat, CompareCurves, ConfusionHeatmap, ConvFilters, DigitGrid, DigitTile, FeatureMap, FeatureMaps,
    LearningCurves, PerClassBars, WeightHistograms,
};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The charts directory inside a run directory.
pub const CHARTS_DIR: &str = "report";
/// The report page inside a run directory.
pub const REPORT_HTML: &str = "report.html";
/// How many of the most confident mistakes the report shows.
pub const MISTAKES: usize = 24;

/// Everything the report of a run shows. The test set's predictions come from the caller, which
/// has usually just computed them (`digits train`) or must anyway (`digits report`).
pub struct RunReport<'a> {
    /// The run directory: charts go to `dir/report/`, the page to `html` (default `dir/report.html`).
    pub dir: &'a Path,
    pub html: Option<PathBuf>,
    /// A name for titles (the model's name).
    pub name: String,
    pub info: Option<&'a RunInfo>,
    pub history: &'a History,
    pub metrics: &'a Metrics,
    pub net: &'a mut Network,
    pub test: &'a Dataset,
    /// Class probabilities for every test image, `test.len() × classes`.
    pub probabilities: &'a [f32],
    /// Index of the test image whose feature maps are drawn.
    pub sample: usize,
    /// For an ensemble: what it averages. `net` is then its first member, whose layers,
    /// weights, filters and feature maps the page shows; `history` is unused.
    pub ensemble: Option<EnsembleSummary<'a>>,
}

/// What the report of an ensemble says about it.
pub struct EnsembleSummary<'a> {
    /// Each member's name and history (empty when the member came without one).
    pub members: &'a [(String, History)],
    /// Augmented copies of each image averaged with the original (0: none).
    pub tta: usize,
}

/// What [`write_run_report`] wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    pub html: PathBuf,
    /// Every chart file (PNG and SVG).
    pub charts: Vec<PathBuf>,
}

/// One chart of the report: file stem, section, caption, and how to render it.
type Job<'a> =
    (&'static str, &'static str, String, Box<dyn Fn(ChartFormat) -> Result<Vec<u8>, Error> + Send + Sync + 'a>);

fn job<'a, C: Chart + Send + Sync + 'a>(
    stem: &'static str,
    section: &'static str,
    caption: String,
    chart: C,
) -> Job<'a> {
    (stem, section, caption, Box::new(move |f| charts::render(&chart, f)))
}

/// The test images the model got wrong, most confident first: (index, true, predicted, p).
pub fn confident_mistakes(labels: &[u8], probabilities: &[f32], classes: usize, n: usize) -> Vec<(usize, u8, u8, f32)> {
    let mut wrong: Vec<(usize, u8, u8, f32)> = probabilities
        .chunks(classes.max(1))
        .zip(labels)
        .enumerate()
        .filter_map(|(i, (p, &l))| {
            let pred = crate::engine::loss::argmax(p);
            (pred != l as usize).then(|| (i, l, pred as u8, p[pred]))
        })
        .collect();
    wrong.sort_by(|a, b| b.3.total_cmp(&a.3).then(a.0.cmp(&b.0)));
    wrong.truncate(n);
    wrong
}

/// Per-layer rows of the model table: name, kind, output shape, trainable and other parameters.
fn model_rows(net: &Network) -> Vec<Vec<String>> {
    let mut rows = vec![vec!["input".into(), "".into(), net.input.to_string(), "0".into(), "0".into()]];
    for l in &net.layers {
        let (mut t, mut n) = (0usize, 0usize);
        for p in l.params() {
            if p.trainable { t += p.value.len() } else { n += p.value.len() }
        }
        rows.push(vec![l.name().into(), l.kind().into(), l.output_shape().to_string(), t.to_string(), n.to_string()]);
    }
    let (t, n) = net.param_counts();
    rows.push(vec![format!("=total {}", t + n), String::new(), String::new(), t.to_string(), n.to_string()]);
    rows
}

fn settings_rows(info: &RunInfo) -> Vec<(String, String)> {
    let c = &info.config;
    // The optimizer's own settings (betas, epsilon, momentum...) as `key value` pairs.
    let details = match serde_json::to_value(&c.optimizer) {
        Ok(serde_json::Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| match v {
                // Stored as f32: print the f32, not its widened f64 digits.
                serde_json::Value::Number(n) => Some(format!("{k} {}", n.as_f64().unwrap_or(0.0) as f32)),
                serde_json::Value::Bool(b) => Some(format!("{k} {b}")),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    let row = |k: &str, v: String| (k.to_string(), v);
    vec![
        row("model", info.model.clone()),
        row("parameters", info.params.to_string()),
        row("training images", info.train_samples.to_string()),
        row("validation", format!("{} ({} images)", info.validation, info.validation_samples)),
        row("epochs", c.epochs.to_string()),
        row("batch size", c.batch_size.to_string()),
        row("optimizer", format!("{} ({details})", c.optimizer.name())),
        row("learning-rate schedule", format!("{:?}", c.schedule).to_lowercase()),
        row("loss", serde_json::to_value(c.loss).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()),
        row("seed", c.seed.to_string()),
        row("threads", info.threads.to_string()),
        row("data", info.data.clone()),
        row("training time", format!("{:.1} s", info.train_seconds)),
        row("digits version", info.digits_version.clone()),
    ]
}

/// One row per ensemble member: its last epoch.
fn member_rows(members: &[(String, History)]) -> Vec<Vec<String>> {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    members
        .iter()
        .map(|(name, h)| match h.epochs.last() {
            Some(r) => vec![
                name.clone(),
                r.epoch.to_string(),
                f(Some(r.loss)),
                f(Some(r.accuracy)),
                f(r.val_loss),
                f(r.val_accuracy),
            ],
            None => vec![name.clone(), "-".into(), "-".into(), "-".into(), "-".into(), "-".into()],
        })
        .collect()
}

fn history_rows(h: &History) -> Vec<Vec<String>> {
    let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
    h.epochs
        .iter()
        .map(|r| {
            vec![
                r.epoch.to_string(),
                format!("{:.4}", r.loss),
                format!("{:.4}", r.accuracy),
                opt(r.val_loss),
                opt(r.val_accuracy),
                format!("{:.3e}", r.lr),
                format!("{:.1}", r.seconds),
            ]
        })
        .collect()
}

fn metrics_rows(m: &Metrics) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = m
        .per_class
        .iter()
        .map(|c| {
            vec![
                c.class.to_string(),
                format!("{:.4}", c.precision),
                format!("{:.4}", c.recall),
                format!("{:.4}", c.f1),
                c.support.to_string(),
            ]
        })
        .collect();
    for (name, a) in [("=macro avg", &m.macro_avg), ("=weighted avg", &m.weighted_avg)] {
        rows.push(vec![
            name.into(),
            format!("{:.4}", a.precision),
            format!("{:.4}", a.recall),
            format!("{:.4}", a.f1),
            m.samples.to_string(),
        ]);
    }
    rows
}

/// Draws every chart of a run into `RUN/report/` (PNG and SVG) and writes the report page
/// with the PNGs embedded. Returns the paths written.
pub fn write_run_report(r: RunReport) -> Result<ReportFiles, Error> {
    let classes = r.net.outputs();
    let side = (r.test.rows, r.test.cols);
    if r.probabilities.len() != r.test.len() * classes {
        return Err(Error::Invalid(format!(
            "{} probabilities for {} test images of {classes} classes",
            r.probabilities.len(),
            r.test.len()
        )));
    }
    let charts_dir = r.dir.join(CHARTS_DIR);
    std::fs::create_dir_all(&charts_dir).map_err(|source| Error::Io { path: charts_dir.clone(), source })?;

    // Feature maps need the network itself (a forward pass); everything after only reads.
    let sample = r.sample.min(r.test.len().saturating_sub(1));
    let outputs: Vec<LayerOutput> =
        if r.test.is_empty() { Vec::new() } else { r.net.layer_outputs(r.test.image(sample)) };
    let net: &Network = r.net;

    let mut jobs: Vec<Job> = Vec::new();
    match &r.ensemble {
        None => jobs.push(job(
            "learning-curves",
            "curves",
            "Loss and accuracy per epoch: training (solid) and validation (dashed).".into(),
            LearningCurves { title: format!("{}: learning curves", r.name), history: r.history },
        )),
        Some(e) if e.members.iter().any(|(_, h)| !h.epochs.is_empty()) => jobs.push(job(
            "learning-curves",
            "curves",
            "Each member's loss and accuracy per epoch: training (solid) and validation (dashed).".into(),
            CompareCurves {
                title: format!("{}: the members' learning curves", r.name),
                runs: e.members.iter().filter(|(_, h)| !h.epochs.is_empty()).map(|(n, h)| (n.clone(), h)).collect(),
            },
        )),
        Some(_) => {}
    }
    jobs.push(job(
        "confusion-matrix",
        "metrics",
        "Confusion matrix on the test set: rows are true classes, columns predicted classes.".into(),
        ConfusionHeatmap {
            title: format!("{}: confusion matrix (test set)", r.name),
            matrix: &r.metrics.confusion_matrix,
        },
    ));
    jobs.push(job(
        "per-class",
        "metrics",
        "Precision, recall and F1 of each class on the test set.".into(),
        PerClassBars {
            title: format!("{}: precision, recall and F1 per class", r.name),
            per_class: &r.metrics.per_class,
        },
    ));
    let mistakes = confident_mistakes(&r.test.labels, r.probabilities, classes, MISTAKES);
    let total_wrong = r.metrics.samples as usize - (r.metrics.accuracy * r.metrics.samples as f64).round() as usize;
    jobs.push(job(
        "misclassified",
        "mistakes",
        format!("The {} most confident of the {total_wrong} mistakes on the test set.", mistakes.len()),
        DigitGrid {
            title: format!("{}: most confident mistakes", r.name),
            subtitle: Some("true label, predicted label, the probability the model gave it, and the test index".into()),
            image: side,
            tiles: mistakes
                .iter()
                .map(|&(i, t, p, prob)| DigitTile {
                    pixels: r.test.image(i).to_vec(),
                    caption: vec![format!("true {t} → {p}"), format!("p {prob:.3} · #{i}")],
                })
                .collect(),
            columns: 8,
            scale: 4,
        },
    ));
    let params = net.named_params();
    let kernels: Vec<(String, &[f32])> =
        params.iter().filter(|(_, p)| p.name == "kernel").map(|(k, p)| (k.clone(), p.value.as_slice())).collect();
    let tensors = if kernels.is_empty() {
        params.iter().filter(|(_, p)| p.trainable).map(|(k, p)| (k.clone(), p.value.as_slice())).collect()
    } else {
        kernels
    };
    jobs.push(job(
        "weights",
        "weights",
        "Distribution of each layer's weights (kernels).".into(),
        WeightHistograms { title: format!("{}: weight distributions", r.name), tensors },
    ));
    let first_conv = net.layers.iter().find(|l| l.kind() == "Conv2D").and_then(|l| {
        let name = l.name().to_string();
        l.params().into_iter().find(|p| p.name == "kernel" && p.shape.len() == 4).map(|p| (name, p))
    });
    if let Some((name, p)) = first_conv {
        jobs.push(job(
            "conv-filters",
            "filters",
            format!("The {} filters of the first convolution layer ({name}).", p.shape[3]),
            ConvFilters {
                title: format!("{}: filters of {name}", r.name),
                kernel: &p.value,
                shape: [p.shape[0], p.shape[1], p.shape[2], p.shape[3]],
            },
        ));
    }
    let maps: Vec<FeatureMap> = outputs
        .iter()
        .filter(|o| matches!(o.kind, "Conv2D" | "MaxPooling2D"))
        .map(|o| FeatureMap {
            label: format!("{} ({})", o.name, o.kind),
            h: o.shape.h,
            w: o.shape.w,
            c: o.shape.c,
            values: &o.values,
        })
        .collect();
    if !maps.is_empty() {
        let label = r.test.labels.get(sample).copied().unwrap_or(0);
        let input = FeatureMap {
            label: format!("test image #{sample}, label {label}"),
            h: side.0,
            w: side.1,
            c: 1,
            values: r.test.image(sample),
        };
        jobs.push(job(
            "feature-maps",
            "features",
            format!("Every channel of each convolution and pooling layer for test image #{sample} (a {label})."),
            FeatureMaps { title: format!("{}: feature maps of test image #{sample}", r.name), input, layers: maps },
        ));
    }

    // Charts are independent: draw them in parallel, PNG and SVG.
    type Rendered = Result<(Vec<u8>, Vec<u8>), Error>;
    let rendered: Vec<Rendered> =
        jobs.par_iter().map(|(_, _, _, f)| Ok((f(ChartFormat::Png)?, f(ChartFormat::Svg)?))).collect();
    let mut files = Vec::new();
    let mut pngs = std::collections::HashMap::new();
    for ((stem, _, _, _), res) in jobs.iter().zip(rendered) {
        let (png, svg) = res?;
        for (ext, bytes) in [("png", &png), ("svg", &svg)] {
            let path = charts_dir.join(format!("{stem}.{ext}"));
            crate::atomic::write(&path, bytes).map_err(|source| Error::Io { path: path.clone(), source })?;
            files.push(path);
        }
        pngs.insert(*stem, png);
    }

    // The page.
    let mut page = html::Page::new(&format!("digits report: {}", r.name));
    let m = r.metrics;
    page.lead(&format!(
        "Test accuracy {:.2}% ({} images){}; run directory {}.",
        100.0 * m.accuracy,
        m.samples,
        m.loss.map_or(String::new(), |l| format!(", test loss {l:.4}")),
        r.dir.display()
    ));
    let figure = |page: &mut html::Page, section: &str| {
        for (stem, s, caption, _) in &jobs {
            if *s == section {
                page.png(&pngs[stem], stem, &format!("{caption} Files: report/{stem}.png, report/{stem}.svg."));
            }
        }
    };
    page.section("model", "Model");
    let (t, n) = net.param_counts();
    if let Some(e) = &r.ensemble {
        page.paragraph(&format!(
            "An ensemble of {} models: it averages their class probabilities{}. The layers, weight \
             distributions, filters and feature maps below are those of the first member, {}.",
            e.members.len(),
            if e.tta > 0 {
                format!(" over the original and {} augmented copies of each image", e.tta)
            } else {
                String::new()
            },
            e.members.first().map_or("", |m| m.0.as_str())
        ));
    }
    page.paragraph(&format!(
        "{}: {} layers, {} parameters ({t} trainable, {n} non-trainable).",
        if r.ensemble.is_some() { "First member" } else { r.name.as_str() },
        net.layers.len(),
        t + n
    ));
    page.table(&["layer", "type", "output shape", "trainable", "non-trainable"], &model_rows(net));
    page.section("settings", "Training settings");
    match (r.info, &r.ensemble) {
        (Some(info), _) => page.key_values(&settings_rows(info)),
        (None, Some(_)) => page.note("Each member was trained on its own: see the members' reports."),
        (None, None) => page.note("No train.json in the run directory: the settings are unknown."),
    }
    page.section("history", "History");
    if let Some(e) = &r.ensemble {
        page.table(&["member", "epochs", "loss", "accuracy", "val_loss", "val_accuracy"], &member_rows(e.members));
    } else if r.history.epochs.is_empty() {
        page.note("No history in the run directory.");
    } else {
        page.table(
            &["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"],
            &history_rows(r.history),
        );
    }
    page.section("curves", "Learning curves");
    if jobs.iter().any(|j| j.1 == "curves") {
        figure(&mut page, "curves");
    } else {
        page.note("No member came with its history.");
    }
    page.section("metrics", "Test metrics");
    page.paragraph(&format!(
        "Accuracy {:.4}{} on {} test images.",
        m.accuracy,
        m.loss.map_or(String::new(), |l| format!(", loss {l:.4}")),
        m.samples
    ));
    page.table(&["class", "precision", "recall", "F1", "support"], &metrics_rows(m));
    figure(&mut page, "metrics");
    page.section("mistakes", "Misclassified digits");
    figure(&mut page, "mistakes");
    page.section("weights", "Weight distributions");
    figure(&mut page, "weights");
    page.section("filters", "Convolution filters");
    if jobs.iter().any(|j| j.1 == "filters") {
        figure(&mut page, "filters");
    } else {
        page.note("The model has no convolution layer.");
    }
    page.section("features", "Feature maps");
    if jobs.iter().any(|j| j.1 == "features") {
        figure(&mut page, "features");
    } else {
        page.note("The model has no convolution or pooling layer.");
    }
    let html_path = r.html.unwrap_or_else(|| r.dir.join(REPORT_HTML));
    crate::atomic::write(&html_path, page.finish().as_bytes())
        .map_err(|source| Error::Io { path: html_path.clone(), source })?;
    Ok(ReportFiles { html: html_path, charts: files })
}

/// Options of a report drawn from a run or ensemble directory.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// The page to write (default: `DIR/report.html`); charts always go to `DIR/report/`.
    pub html: Option<PathBuf>,
    /// Index of the test image whose feature maps are drawn.
    pub sample: usize,
}

/// Writes the report of a run just trained, from the evaluation of its final model on `test`.
pub fn write_after_training(
    run: &mut crate::train::Run,
    test: &Dataset,
    evaluation: &crate::eval::Evaluation,
) -> Result<ReportFiles, Error> {
    let metrics = run.metrics.clone().ok_or_else(|| Error::invalid("the run was not scored"))?;
    let name = run.name().to_string();
    write_run_report(RunReport {
        dir: run.dir.path(),
        html: None,
        name,
        info: run.info.as_ref(),
        history: &run.history,
        metrics: &metrics,
        net: &mut run.network,
        test,
        probabilities: &evaluation.probabilities,
        sample: 0,
        ensemble: None,
    })
}

/// Writes the report of the run or ensemble directory `dir`, evaluating its model on `test`. A
/// run may lack its history or settings (a model saved by other means): the page says so.
pub fn write_dir(dir: &Path, test: &Dataset, options: &ReportOptions) -> Result<ReportFiles, Error> {
    use crate::model::Classifier;
    use crate::train::run::{read_history, read_run_info};
    let mut model = Classifier::load(dir)?;
    let history = read_history(dir)?;
    let info = read_run_info(dir)?;
    let e = crate::eval::evaluate(&mut model, test)?;
    let metrics = Metrics::compute(&test.labels, &e.predicted, crate::model::Classify::classes(&model), Some(e.loss));
    let (members, tta) = match &model {
        Classifier::Single(..) => (Vec::new(), 0),
        Classifier::Ensemble(file, _) => {
            let mut members = Vec::new();
            for (i, m) in file.members.iter().enumerate() {
                let name = file.sources.get(i).cloned().unwrap_or_else(|| format!("member {}", i + 1));
                members.push((name, read_history(&dir.join(m))?));
            }
            (members, file.tta)
        }
    };
    let name = model.name();
    let is_ensemble = !members.is_empty();
    write_run_report(RunReport {
        dir,
        html: options.html.clone(),
        name,
        info: info.as_ref(),
        history: &history,
        metrics: &metrics,
        net: model.first_network(),
        test,
        probabilities: &e.probabilities,
        sample: options.sample,
        ensemble: is_ensemble.then_some(EnsembleSummary { members: &members, tta }),
    })
}
