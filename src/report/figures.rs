//! The figures of a run's report: which charts a run gets (a CNN has filters and feature maps,
//! an ensemble its members' curves), their file stems, sections and captions, and drawing them
//! all into the charts folder.

use super::charts::{
    self, CalibrationChart, Chart, ChartFormat, CompareCurves, ConfusionHeatmap, ConvFilters, FeatureMap, FeatureMaps,
    LearningCurves, PerClassBars, RobustnessBars, WeightHistograms,
};
use super::{EnsembleSummary, MISTAKES, ReportInput};
use crate::Error;
use crate::engine::{LayerOutput, Network, Param};
use crate::layout::charts as names;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The section of the page a figure stands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Curves,
    Metrics,
    Mistakes,
    Weights,
    Filters,
    Features,
    Robustness,
}

type Draw<'a> = Box<dyn Fn(ChartFormat) -> Result<Vec<u8>, Error> + Send + Sync + 'a>;

/// One chart of the report: its file stem (`report/STEM.png`, `.svg`), where it stands, its
/// caption, and how to draw it.
pub struct Figure<'a> {
    pub stem: &'static str,
    pub section: Section,
    pub caption: String,
    draw: Draw<'a>,
}

fn figure<'a, C: Chart + Send + Sync + 'a>(
    stem: &'static str,
    section: Section,
    caption: String,
    chart: C,
) -> Figure<'a> {
    Figure { stem, section, caption, draw: Box::new(move |f| charts::render(&chart, f)) }
}

/// Every chart of the run. `net` is the model whose layers are shown (an ensemble's first
/// member); `outputs` its layer outputs for the feature-map sample, `sample` that image's index.
pub fn run_figures<'a>(
    r: &'a ReportInput<'_>,
    net: &'a Network,
    outputs: &'a [LayerOutput],
    sample: usize,
) -> Vec<Figure<'a>> {
    let mut figures: Vec<Figure<'a>> = curves(r).into_iter().collect();
    figures.extend(metrics(r));
    figures.push(calibration(r));
    figures.push(mistakes(r, net.outputs()));
    figures.push(weights(&r.name, net));
    figures.extend(filters(&r.name, net));
    figures.extend(features(r, outputs, sample));
    figures.extend(r.robustness.into_iter().flat_map(|rob| robustness(&r.name, r.test, rob)));
    figures
}

/// The accuracy under each corruption, and what the corruptions look like.
pub fn robustness<'a>(name: &str, test: &'a crate::data::Dataset, rob: &'a crate::eval::Robustness) -> [Figure<'a>; 2] {
    let bars = RobustnessBars {
        title: format!("{name}: accuracy under MNIST-C's corruptions"),
        runs: vec![(name.to_string(), rob)],
    };
    let gallery = charts::corruption_gallery(format!("{name}: the corruptions (seed {})", rob.seed), test, rob.seed, 4);
    [
        figure(
            names::ROBUSTNESS,
            Section::Robustness,
            format!(
                "Accuracy on the {} test images, clean and under each of MNIST-C's 15 corruptions (mean {:.4}, worst {}).",
                rob.images, rob.mean_corruption_accuracy, rob.worst.corruption
            ),
            bars,
        ),
        figure(names::CORRUPTIONS, Section::Robustness, "Test images as the suite corrupted them.".into(), gallery),
    ]
}

/// The learning curves: the run's, or each ensemble member's that came with a history.
fn curves<'a>(r: &'a ReportInput<'_>) -> Option<Figure<'a>> {
    let name = &r.name;
    match &r.ensemble {
        None => Some(figure(
            names::LEARNING_CURVES,
            Section::Curves,
            "Loss and accuracy per epoch: training (solid) and validation (dashed).".into(),
            LearningCurves { title: format!("{name}: learning curves"), history: r.history },
        )),
        Some(EnsembleSummary { members, .. }) => {
            let runs: Vec<_> =
                members.iter().filter(|(_, h)| !h.epochs.is_empty()).map(|(n, h)| (n.clone(), h)).collect();
            (!runs.is_empty()).then(|| {
                figure(
                    names::LEARNING_CURVES,
                    Section::Curves,
                    "Each member's loss and accuracy per epoch: training (solid) and validation (dashed).".into(),
                    CompareCurves { title: format!("{name}: the members' learning curves"), runs },
                )
            })
        }
    }
}

/// The reliability diagram and the accuracy–coverage curve.
fn calibration<'a>(r: &'a ReportInput<'_>) -> Figure<'a> {
    use crate::eval::calibration::{ece, reliability, tops};
    let classes = (r.probabilities.len() / r.test.len().max(1)).max(1);
    let chart = CalibrationChart {
        title: format!("{}: calibration (test set)", r.name),
        bins: reliability(r.probabilities, &r.test.labels, classes),
        ece: ece(r.probabilities, &r.test.labels, classes),
        coverage: charts::coverage_curve(tops(r.probabilities, &r.test.labels, classes).collect()),
    };
    figure(
        names::CALIBRATION,
        Section::Metrics,
        "Reliability of the top probability (bars: accuracy per confidence bin; grey: perfect calibration) and the accuracy when only the most confident fraction of the test images is answered (what predict --min-confidence trades).".into(),
        chart,
    )
}

/// The confusion matrix and the per-class scores.
fn metrics<'a>(r: &'a ReportInput<'_>) -> [Figure<'a>; 2] {
    let (name, m) = (&r.name, r.metrics);
    let heatmap =
        ConfusionHeatmap { title: format!("{name}: confusion matrix (test set)"), matrix: &m.confusion_matrix };
    let bars = PerClassBars { title: format!("{name}: precision, recall and F1 per class"), per_class: &m.per_class };
    [
        figure(
            names::CONFUSION_MATRIX,
            Section::Metrics,
            "Confusion matrix on the test set: rows are true classes, columns predicted classes.".into(),
            heatmap,
        ),
        figure(
            names::PER_CLASS,
            Section::Metrics,
            "Precision, recall and F1 of each class on the test set.".into(),
            bars,
        ),
    ]
}

/// The most confident of the model's mistakes on the test set.
fn mistakes<'a>(r: &'a ReportInput<'_>, classes: usize) -> Figure<'a> {
    let list = charts::confident_mistakes(&r.test.labels, r.probabilities, classes, MISTAKES);
    let m = r.metrics;
    let total_wrong = m.samples as usize - (m.accuracy * m.samples as f64).round() as usize;
    figure(
        names::MISCLASSIFIED,
        Section::Mistakes,
        format!("The {} most confident of the {total_wrong} mistakes on the test set.", list.len()),
        charts::mistakes_grid(format!("{}: most confident mistakes", r.name), r.test, &list),
    )
}

/// Histograms of each layer's kernels, or of every trainable tensor when no layer has one.
fn weights<'a>(name: &str, net: &'a Network) -> Figure<'a> {
    let params = net.named_params();
    let pick = |keep: &dyn Fn(&Param) -> bool| -> Vec<(String, &'a [f32])> {
        params
            .iter()
            .filter(|(_, p)| keep(p))
            .map(|&(ref k, p): &(String, &'a Param)| (k.clone(), p.value.as_slice()))
            .collect()
    };
    let kernels = pick(&|p| p.name == "kernel");
    let tensors = if kernels.is_empty() { pick(&|p| p.trainable) } else { kernels };
    figure(
        names::WEIGHTS,
        Section::Weights,
        "Distribution of each layer's weights (kernels).".into(),
        WeightHistograms { title: format!("{name}: weight distributions"), tensors },
    )
}

/// The filters of the first convolution layer, if the model has one.
fn filters<'a>(name: &str, net: &'a Network) -> Option<Figure<'a>> {
    let conv = net.layers.iter().find(|l| l.kind() == "Conv2D")?;
    let p = conv.params().into_iter().find(|p| p.name == "kernel" && p.shape.len() == 4)?;
    let layer = conv.name();
    Some(figure(
        names::CONV_FILTERS,
        Section::Filters,
        format!("The {} filters of the first convolution layer ({layer}).", p.shape[3]),
        ConvFilters {
            title: format!("{name}: filters of {layer}"),
            kernel: &p.value,
            shape: [p.shape[0], p.shape[1], p.shape[2], p.shape[3]],
        },
    ))
}

/// Every channel of each convolution and pooling layer for the sample image, if there are any.
fn features<'a>(r: &'a ReportInput<'_>, outputs: &'a [LayerOutput], sample: usize) -> Option<Figure<'a>> {
    let layers: Vec<FeatureMap> = outputs
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
    if layers.is_empty() {
        return None;
    }
    let label = r.test.labels.get(sample).copied().unwrap_or(0);
    let input = FeatureMap {
        label: format!("test image #{sample}, label {label}"),
        h: r.test.rows,
        w: r.test.cols,
        c: 1,
        values: r.test.image(sample),
    };
    Some(figure(
        names::FEATURE_MAPS,
        Section::Features,
        format!("Every channel of each convolution and pooling layer for test image #{sample} (a {label})."),
        FeatureMaps { title: format!("{}: feature maps of test image #{sample}", r.name), input, layers },
    ))
}

/// What [`write_figures`] leaves: every file written and each figure's PNG, for the page.
pub struct Written {
    pub files: Vec<PathBuf>,
    pub pngs: HashMap<&'static str, Vec<u8>>,
}

/// Draws every figure as PNG and SVG into `dir`. The charts are independent, so they are drawn
/// in parallel; the files are written afterwards, in the figures' order.
pub fn write_figures(dir: &Path, figures: &[Figure]) -> Result<Written, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    type Rendered = Result<(Vec<u8>, Vec<u8>), Error>;
    let rendered: Vec<Rendered> =
        figures.par_iter().map(|f| Ok(((f.draw)(ChartFormat::Png)?, (f.draw)(ChartFormat::Svg)?))).collect();
    let mut out = Written { files: Vec::new(), pngs: HashMap::new() };
    for (f, res) in figures.iter().zip(rendered) {
        let (png, svg) = res?;
        for (format, bytes) in [(ChartFormat::Png, &png), (ChartFormat::Svg, &svg)] {
            let path = dir.join(format!("{}.{}", f.stem, format.extension()));
            crate::atomic::write(&path, bytes).map_err(Error::io(&path))?;
            out.files.push(path);
        }
        out.pngs.insert(f.stem, png);
    }
    Ok(out)
}
