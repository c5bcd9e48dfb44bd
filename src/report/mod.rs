//! Pictures of data, training and models, and the HTML page that gathers them.
//!
//! * [`charts`] draws each chart from plain data (a history, a confusion matrix, weights,
//!   images) as PNG or SVG, one chart per module.
//! * [`write_run`] is the report of a run: every chart into `RUN/report/` (PNG and SVG) and the
//!   page, with the PNGs embedded, into `RUN/report.html`. It takes plain data
//!   ([`ReportInput`]), so it serves a run just trained, a run read back from disk and an
//!   ensemble alike.
//! * [`data_view`] summarises a data set (counts, pixel statistics) and draws its pictures.
//!
//! The page is the askama template `templates/report.html`.

pub mod augment_preview;
pub mod charts;
pub mod data_view;
mod figures;
mod page;
mod tables;

use crate::Error;
use crate::data::Dataset;
use crate::engine::{LayerOutput, Network};
use crate::eval::Metrics;
use crate::layout::RunDir;
use crate::train::History;
use crate::train::run::RunInfo;
use std::path::{Path, PathBuf};

/// How many of the most confident mistakes the report shows.
pub const MISTAKES: usize = 24;

/// Everything the report of a run shows. The test set's predictions come from the caller, which
/// has usually just computed them (`digits train`) or must anyway (`digits report`).
pub struct ReportInput<'a> {
    /// The run directory: charts go to `dir/report/`, the page to `html` (default `dir/report.html`).
    pub dir: &'a Path,
    pub html: Option<PathBuf>,
    /// A name for titles (the model's name).
    pub name: String,
    /// The run's settings and provenance; `None`: the page says they are unknown.
    pub info: Option<&'a RunInfo>,
    pub history: &'a History,
    pub metrics: &'a Metrics,
    /// Mutable only for one forward pass: the feature maps of the sample image.
    pub net: &'a mut Network,
    pub test: &'a Dataset,
    /// Class probabilities for every test image, `test.len() × classes`.
    pub probabilities: &'a [f32],
    /// Index of the test image whose feature maps are drawn.
    pub sample: usize,
    /// For an ensemble: what it averages. `net` is then its first member, whose layers,
    /// weights, filters and feature maps the page shows; `history` is unused.
    pub ensemble: Option<EnsembleSummary<'a>>,
    /// The accuracy under MNIST-C's corruptions, when `digits robustness` measured it.
    pub robustness: Option<&'a crate::eval::Robustness>,
}

/// What the report of an ensemble says about it.
pub struct EnsembleSummary<'a> {
    /// Each member's name and history (empty when the member came without one).
    pub members: &'a [(String, History)],
    /// Augmented copies of each image averaged with the original (0: none).
    pub tta: usize,
}

/// What [`write_run`] wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    pub html: PathBuf,
    /// Every chart file (PNG and SVG).
    pub charts: Vec<PathBuf>,
}

/// Draws every chart of a run into `RUN/report/` (PNG and SVG) and writes the report page with
/// the PNGs embedded. Returns the paths written.
///
/// Fails when the probabilities do not cover the test set, or a chart, the page or a file
/// cannot be drawn or written.
pub fn write_run(r: ReportInput) -> Result<ReportFiles, Error> {
    check_probabilities(&r)?;
    // Feature maps need the network itself (a forward pass); everything after only reads.
    let sample = r.sample.min(r.test.len().saturating_sub(1));
    let outputs: Vec<LayerOutput> =
        if r.test.is_empty() { Vec::new() } else { r.net.layer_outputs(r.test.image(sample)) };
    let r = &r;
    let net: &Network = &*r.net;
    let figures = figures::run_figures(r, net, &outputs, sample);
    let run = RunDir::new(r.dir);
    let written = figures::write_figures(&run.charts_dir(), &figures)?;
    let html = r.html.clone().unwrap_or_else(|| run.report_html());
    let text = page::render(&page::build(r, net, &figures, &written.pngs), &html)?;
    crate::atomic::write(&html, text.as_bytes()).map_err(Error::io(&html))?;
    Ok(ReportFiles { html, charts: written.files })
}

/// The probabilities must hold one row of the model's classes per test image.
fn check_probabilities(r: &ReportInput) -> Result<(), Error> {
    let classes = r.net.outputs();
    if r.probabilities.len() == r.test.len() * classes {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{} probabilities for {} test images of {classes} classes",
        r.probabilities.len(),
        r.test.len()
    )))
}

/// Options of a report drawn from a run or ensemble directory.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// The page to write (default: `DIR/report.html`); charts always go to `DIR/report/`.
    pub html: Option<PathBuf>,
    /// Index of the test image whose feature maps are drawn.
    pub sample: usize,
}

/// Writes the report of a run just trained (or opened with [`Run::open`](crate::train::Run::open)),
/// from the evaluation of its model on `test`.
pub fn write(
    run: &mut crate::train::Run,
    test: &Dataset,
    evaluation: &crate::eval::Evaluation,
) -> Result<ReportFiles, Error> {
    let metrics = run.metrics.clone().ok_or_else(|| Error::invalid("the run was not scored"))?;
    let name = run.name().to_string();
    write_run(ReportInput {
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
        robustness: None,
    })
}

/// Writes the report of the run or ensemble directory `dir`, evaluating its model on `test`. A
/// run may lack its history or settings (a model saved by other means): the page says so.
pub fn write_dir(dir: &Path, test: &Dataset, options: &ReportOptions) -> Result<ReportFiles, Error> {
    write_loaded(dir, crate::model::Classifier::load(dir)?, test, options)
}

/// [`write_dir`] with the directory's model already loaded (as `Classifier::load(dir)` loads
/// it), for a caller that loads it before reading the test set.
pub fn write_loaded(
    dir: &Path,
    mut model: crate::model::Classifier,
    test: &Dataset,
    options: &ReportOptions,
) -> Result<ReportFiles, Error> {
    use crate::model::Classifier;
    use crate::train::run::{read_history, read_run_info};
    if options.sample >= test.len() {
        return Err(Error::Invalid(format!(
            "--sample {} is not an image of the test set ({} images, numbered from 0)",
            options.sample,
            test.len()
        )));
    }
    let history = read_history(dir)?;
    let info = read_run_info(dir)?;
    let robustness = crate::train::run::read_robustness(dir)?;
    let e = crate::eval::evaluate(&mut model, test)?;
    let metrics = e.metrics(test);
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
    write_run(ReportInput {
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
        robustness: robustness.as_ref(),
    })
}
