//! The report page: the askama template `templates/report.html` and the data it shows. The
//! template spells the page's sections and markup; this module fills in the text, the tables and
//! the figures (PNG as base64). askama escapes every value, so a model name or a path can hold
//! any character.

use super::ReportInput;
use super::figures::{Figure, Section};
use super::tables::{self, Table};
use crate::Error;
use crate::engine::Network;
use crate::layout::{CHARTS_DIR, TRAIN_JSON};
use askama::Template;
use base64::Engine;
use std::collections::HashMap;
use std::path::Path;

/// A chart embedded in the page.
pub struct Img {
    /// The chart's file stem, also the image's alternative text.
    pub stem: &'static str,
    pub png_base64: String,
    pub caption: String,
}

/// The training settings, or why they are not shown.
pub enum Settings {
    Known(Vec<(String, String)>),
    Missing(String),
}

/// Everything the template shows.
#[derive(Template)]
#[template(path = "report.html")]
pub struct Page {
    title: String,
    lead: String,
    /// What an ensemble averages, before its first member's layers.
    ensemble: Option<String>,
    model_summary: String,
    model: Table,
    settings: Settings,
    /// The epochs of the run, or an ensemble's members; `None`: no history.
    history: Option<Table>,
    curves: Vec<Img>,
    metrics_summary: String,
    metrics: Table,
    metric_figures: Vec<Img>,
    mistakes: Vec<Img>,
    weights: Vec<Img>,
    filters: Vec<Img>,
    features: Vec<Img>,
    robustness: Vec<Img>,
}

/// The page of a run: `net` is the model whose layers are shown, `figures` the charts drawn
/// and `pngs` their PNG files by stem.
pub fn build(r: &ReportInput, net: &Network, figures: &[Figure], pngs: &HashMap<&'static str, Vec<u8>>) -> Page {
    let imgs = |section| images(figures, pngs, section);
    let m = r.metrics;
    let loss = |prefix: &str| m.loss.map_or(String::new(), |l| format!("{prefix}{l:.4}"));
    Page {
        title: format!("digits report: {}", r.name),
        lead: format!(
            "Test accuracy {:.2}% ({} images){}; run directory {}.",
            100.0 * m.accuracy,
            m.samples,
            loss(", test loss "),
            r.dir.display()
        ),
        ensemble: r.ensemble.as_ref().map(|e| ensemble_text(e.members, e.tta)),
        model_summary: model_summary(r, net),
        model: tables::model(net),
        settings: settings(r),
        history: match &r.ensemble {
            Some(e) => Some(tables::members(e.members)),
            None => (!r.history.epochs.is_empty()).then(|| tables::history(r.history)),
        },
        curves: imgs(Section::Curves),
        metrics_summary: format!("Accuracy {:.4}{} on {} test images.", m.accuracy, loss(", loss "), m.samples),
        metrics: tables::metrics(m),
        metric_figures: imgs(Section::Metrics),
        mistakes: imgs(Section::Mistakes),
        weights: imgs(Section::Weights),
        filters: imgs(Section::Filters),
        features: imgs(Section::Features),
        robustness: imgs(Section::Robustness),
    }
}

/// The figures of one section, with their PNGs as base64 and captions naming their files.
fn images(figures: &[Figure], pngs: &HashMap<&'static str, Vec<u8>>, section: Section) -> Vec<Img> {
    figures
        .iter()
        .filter(|f| f.section == section)
        .filter_map(|f| {
            let png = pngs.get(f.stem)?;
            Some(Img {
                stem: f.stem,
                png_base64: base64::engine::general_purpose::STANDARD.encode(png),
                caption: format!(
                    "{} Files: {dir}/{stem}.png, {dir}/{stem}.svg.",
                    f.caption,
                    dir = CHARTS_DIR,
                    stem = f.stem
                ),
            })
        })
        .collect()
}

/// What an ensemble averages, and whose layers the page shows.
fn ensemble_text(members: &[(String, crate::train::History)], tta: usize) -> String {
    format!(
        "An ensemble of {} models: it averages their class probabilities{}. The layers, weight \
         distributions, filters and feature maps below are those of the first member, {}.",
        members.len(),
        if tta > 0 { format!(" over the original and {tta} augmented copies of each image") } else { String::new() },
        members.first().map_or("", |m| m.0.as_str())
    )
}

fn model_summary(r: &ReportInput, net: &Network) -> String {
    let (t, n) = net.param_counts();
    format!(
        "{}: {} layers, {} parameters ({t} trainable, {n} non-trainable).",
        if r.ensemble.is_some() { "First member" } else { r.name.as_str() },
        net.layers.len(),
        t + n
    )
}

fn settings(r: &ReportInput) -> Settings {
    match (r.info, &r.ensemble) {
        (Some(info), _) => Settings::Known(tables::settings(info)),
        (None, Some(_)) => Settings::Missing("Each member was trained on its own: see the members' reports.".into()),
        (None, None) => Settings::Missing(format!("No {TRAIN_JSON} in the run directory: the settings are unknown.")),
    }
}

/// The page as HTML; `path` (where it goes) names the page in an error.
pub fn render(page: &Page, path: &Path) -> Result<String, Error> {
    page.render().map_err(|e| Error::format(path, format!("rendering the report page: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tables::Row;

    fn table(cells: &[&str], total: bool) -> Table {
        Table {
            headers: &["name", "value"],
            rows: vec![Row { total, cells: cells.iter().map(|c| c.to_string()).collect() }],
        }
    }

    fn page(hostile: &str) -> Page {
        let img = |stem| Img { stem, png_base64: "iVBORw0KGgo=".into(), caption: hostile.into() };
        Page {
            title: format!("digits report: {hostile}"),
            lead: hostile.into(),
            ensemble: Some(hostile.into()),
            model_summary: hostile.into(),
            model: table(&[hostile, "1"], true),
            settings: Settings::Known(vec![(hostile.into(), hostile.into())]),
            history: None,
            curves: Vec::new(),
            metrics_summary: hostile.into(),
            metrics: table(&["0", hostile], false),
            metric_figures: vec![img("confusion-matrix")],
            mistakes: vec![img("misclassified")],
            weights: vec![img("weights")],
            filters: Vec::new(),
            features: Vec::new(),
            robustness: vec![img("robustness")],
        }
    }

    const HOSTILE: &str = "<script>alert('x')</script> & \"q\"";
    const ESCAPED: &str = "&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; &#38; &#34;q&#34;";

    /// The hostile value stands escaped in each of its 14 places (title and heading, lead, three
    /// paragraphs, two table cells, a setting's name and value, four captions) and never raw.
    fn escape_problem(html: &str) -> Option<String> {
        if html.contains("<script") || html.contains("& \"") {
            return Some("a value is not escaped".into());
        }
        let n = html.matches(ESCAPED).count();
        (n != 14).then(|| format!("the value is escaped in {n} places, not 14"))
    }

    #[test]
    fn report_page_escapes_every_value_and_says_what_is_missing() {
        let html = render(&page(HOSTILE), Path::new("page.html")).unwrap();
        assert_eq!(escape_problem(&html), None);
        for note in ["No history in the run directory.", "No member came with its history.", "no convolution layer"] {
            assert!(html.contains(note), "{note}");
        }
        assert!(html.contains("<tr class=\"total\"><td class=\"l\">&#60;script"), "the total row");
        assert!(html.contains("<img alt=\"weights\" src=\"data:image/png;base64,iVBORw0KGgo=\">"));
    }

    #[test]
    fn escape_checker_rejects_one_raw_value() {
        let html = render(&page(HOSTILE), Path::new("page.html")).unwrap();
        assert!(escape_problem(&html.replacen(ESCAPED, HOSTILE, 1)).is_some());
        assert!(escape_problem(&html.replacen(ESCAPED, "", 1)).is_some());
    }
}
