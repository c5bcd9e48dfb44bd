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
