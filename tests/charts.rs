//! The charts and the report page: every chart is a valid PNG and SVG of its stated size whose
//! content follows the data; the report embeds every chart under every section heading; and
//! the CLI (`train` → report, `report`, `compare`, `data`) writes them for real runs. The
//! confusion matrix's orientation and the order of the most confident mistakes are checked by
//! checkers that a mutation test shows reject a planted bug (a transposed matrix, a reversed list).

mod common;

use common::{ok, s, temp_dir};
use digits::data::Dataset;
use digits::engine::{Activation, Padding};
use digits::eval::Metrics;
use digits::model::{LayerSpec, ModelSpec};
use digits::report::charts::{
    Chart, ChartFormat, CompareCurves, ConfusionHeatmap, ConvFilters, DigitGrid, DigitTile, FeatureMap, FeatureMaps,
    HeatmapCell, LearningCurves, Mistake, PerClassBars, PixelHistogram, WeightHistograms, confident_mistakes,
    mistakes_grid, render,
};
use digits::report::{ReportInput, data_view, write_run};
use digits::train::{EpochRecord, History};
use std::path::Path;

/// A small deterministic generator (the tests need varied data, not good randomness).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn history(seed: u64, epochs: usize, lr_decay: bool) -> History {
    let mut g = Lcg(seed);
    History {
        epochs: (1..=epochs)
            .map(|e| EpochRecord {
                epoch: e,
                loss: 1.0 / e as f64 + g.next() as f64 * 0.1,
                accuracy: 1.0 - 0.5 / e as f64 - g.next() as f64 * 0.01,
                val_loss: Some(1.1 / e as f64 + g.next() as f64 * 0.1),
                val_accuracy: Some(1.0 - 0.55 / e as f64),
                lr: if lr_decay { 0.001 / e as f64 } else { 0.001 },
                seconds: 1.0,
            })
            .collect(),
    }
}

fn dataset(seed: u64, n: usize) -> Dataset {
    let mut g = Lcg(seed);
    Dataset {
        images: (0..n * 784).map(|_| if g.next() < 0.8 { 0.0 } else { g.next() }).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        rows: 28,
        cols: 28,
        source: "synthetic".into(),
    }
}

/// The texts of an SVG's `<text>` elements, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim().to_string()))
        .collect()
}

fn check_png(bytes: &[u8], (w, h): (u32, u32)) {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png).expect("a valid PNG");
    assert_eq!((img.width(), img.height()), (w, h), "PNG size");
}

fn check_svg(bytes: &[u8], (w, h): (u32, u32)) {
    let s = std::str::from_utf8(bytes).expect("SVG is UTF-8 text");
    assert!(s.starts_with(&format!("<svg width=\"{w}\" height=\"{h}\"")), "{}", &s[..s.len().min(120)]);
    assert!(s.trim_end().ends_with("</svg>"));
    assert!(s.contains("<text"), "an SVG chart has text");
}

/// Renders both charts in both formats: valid files of the stated size, different between
/// the two inputs. Returns the PNG of `a`.
fn check_pair<C: Chart>(a: &C, b: &C, size: (u32, u32)) -> Vec<u8> {
    assert_eq!(a.size(), size, "{} size", a.kind());
    let pa = render(a, ChartFormat::Png).unwrap();
    let pb = render(b, ChartFormat::Png).unwrap();
    let sa = render(a, ChartFormat::Svg).unwrap();
    let sb = render(b, ChartFormat::Svg).unwrap();
    check_png(&pa, a.size());
    check_png(&pb, b.size());
    check_svg(&sa, a.size());
    check_svg(&sb, b.size());
    assert_ne!(pa, pb, "{}: different data, same PNG", a.kind());
    assert_ne!(sa, sb, "{}: different data, same SVG", a.kind());
    // Not blank: a chart has many colours.
    let img = image::load_from_memory(&pa).unwrap().to_rgb8();
    let distinct: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 10, "{}: only {} colours", a.kind(), distinct.len());
    pa
}

#[test]
fn learning_curves_and_comparison_follow_the_history() {
    let (h1, h2) = (history(1, 6, false), history(2, 6, false));
    check_pair(
        &LearningCurves { title: "a".into(), history: &h1 },
        &LearningCurves { title: "a".into(), history: &h2 },
        (1200, 500),
    );
    // A learning rate that changes gets its own panel.
    let (d1, d2) = (history(1, 5, true), history(3, 5, true));
    check_pair(
        &LearningCurves { title: "decay".into(), history: &d1 },
        &LearningCurves { title: "decay".into(), history: &d2 },
        (1200, 780),
    );
    // One epoch, no validation: still a chart (points, no lines).
    let mut one = history(4, 1, false);
    one.epochs[0].val_loss = None;
    one.epochs[0].val_accuracy = None;
    check_png(&render(&LearningCurves { title: "one".into(), history: &one }, ChartFormat::Png).unwrap(), (1200, 500));
    check_pair(
        &CompareCurves { title: "c".into(), runs: vec![("dropout".into(), &h1), ("none".into(), &h2)] },
        &CompareCurves { title: "c".into(), runs: vec![("dropout".into(), &h1), ("none".into(), &d1)] },
        (1200, 540),
    );
    let svg = String::from_utf8(
        render(
            &CompareCurves { title: "c".into(), runs: vec![("dropout".into(), &h1), ("none".into(), &h2)] },
            ChartFormat::Svg,
        )
        .unwrap(),
    )
    .unwrap();
    let texts = svg_texts(&svg);
    for name in ["dropout", "none", "training", "validation"] {
        assert!(texts.iter().any(|t| t == name), "legend lacks {name}: {texts:?}");
    }
}

#[test]
fn confusion_matrix_and_per_class_charts_follow_the_predictions() {
    let labels: Vec<u8> = (0..500).map(|i| (i % 10) as u8).collect();
    let p1: Vec<u8> = labels.iter().enumerate().map(|(i, &l)| if i % 7 == 0 { (l + 1) % 10 } else { l }).collect();
    let p2: Vec<u8> = labels.iter().enumerate().map(|(i, &l)| if i % 5 == 0 { (l + 3) % 10 } else { l }).collect();
    let (r1, r2) = (Metrics::compute(&labels, &p1, 10, None), Metrics::compute(&labels, &p2, 10, None));
    check_pair(
        &ConfusionHeatmap { title: "cm".into(), matrix: &r1.confusion_matrix },
        &ConfusionHeatmap { title: "cm".into(), matrix: &r2.confusion_matrix },
        (760, 800),
    );
    // The counts are written in the cells.
    let svg = String::from_utf8(
        render(&ConfusionHeatmap { title: "cm".into(), matrix: &r1.confusion_matrix }, ChartFormat::Svg).unwrap(),
    )
    .unwrap();
    let texts = svg_texts(&svg);
    for row in &r1.confusion_matrix {
        for n in row {
            assert!(texts.contains(&n.to_string()), "count {n} missing");
        }
    }
    check_pair(
        &PerClassBars { title: "pc".into(), per_class: &r1.per_class },
        &PerClassBars { title: "pc".into(), per_class: &r2.per_class },
        (1200, 480),
    );
}

// ---------------------------------------------------------------------------------------------
// The confusion matrix's orientation: true classes on rows, predicted classes on columns.

/// An asymmetric matrix whose counts are all different (and differ from the class labels 0-2),
/// so each count names one cell and a transposed drawing moves every off-diagonal count.
const ASYMMETRIC: [[u64; 3]; 3] = [[50, 3, 4], [5, 40, 6], [7, 8, 30]];

fn asymmetric() -> Vec<Vec<u64>> {
    ASYMMETRIC.iter().map(|r| r.to_vec()).collect()
}

fn transposed(m: &[Vec<u64>]) -> Vec<Vec<u64>> {
    (0..m.len()).map(|c| m.iter().map(|row| row[c]).collect()).collect()
}

/// The heatmap's cell layout says `matrix[row][col]` stands in row `row` (top to bottom) and
/// column `col` (left to right) of an even grid.
fn check_cells(cells: &[HeatmapCell], matrix: &[Vec<u64>]) -> Result<(), String> {
    let k = matrix.len();
    if cells.len() != k * k {
        return Err(format!("{} cells for a {k}×{k} matrix", cells.len()));
    }
    let side = cells[0].side;
    let (x0, y0) = (cells[0].x, cells[0].y);
    for c in cells {
        let want = matrix[c.row][c.col];
        if c.count != want {
            return Err(format!("cell (true {}, predicted {}) shows {} instead of {want}", c.row, c.col, c.count));
        }
        if (c.x, c.y) != (x0 + c.col as i32 * side, y0 + c.row as i32 * side) {
            return Err(format!("cell (true {}, predicted {}) drawn at ({}, {})", c.row, c.col, c.x, c.y));
        }
    }
    Ok(())
}

/// A `<text>` of an SVG: its anchor point and content.
fn svg_text_positions(svg: &str) -> Vec<(f64, f64, String)> {
    let attr = |tag: &str, name: &str| -> Option<f64> {
        tag.split_once(&format!(" {name}=\""))?.1.split_once('"')?.0.parse().ok()
    };
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let (tag, rest) = t.split_once('>')?;
            Some((attr(tag, "x")?, attr(tag, "y")?, rest.split_once("</text>")?.0.trim().to_string()))
        })
        .collect()
}

/// Reads the drawn confusion matrix back from the SVG: each count must sit in the row of its
/// true-class label (left of the grid, same height) and the column of its predicted-class label
/// (above the grid, same x), and the "true" and "predicted" axis names must be on those sides.
fn check_confusion_svg(svg: &str, matrix: &[Vec<u64>]) -> Result<(), String> {
    let texts = svg_text_positions(svg);
    let find = |text: &str| -> Vec<(f64, f64)> { texts.iter().filter(|t| t.2 == text).map(|t| (t.0, t.1)).collect() };
    let one = |text: &str| -> Result<(f64, f64), String> {
        match find(text)[..] {
            [p] => Ok(p),
            ref found => Err(format!("text {text:?} drawn {} times", found.len())),
        }
    };
    let (x_true, _) = one("true")?;
    let (_, y_pred) = one("predicted")?;
    for (t, row) in matrix.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            let (x, y) = one(&n.to_string())?;
            // Each class label is drawn twice: left of its row and above its column.
            let row_label = find(&t.to_string()).into_iter().any(|(lx, ly)| ly == y && lx < x && lx > x_true);
            let col_label = find(&p.to_string()).into_iter().any(|(lx, ly)| lx == x && ly < y && ly > y_pred);
            if !row_label || !col_label {
                return Err(format!("count {n} (true {t}, predicted {p}) is not in row {t} and column {p}"));
            }
        }
    }
    Ok(())
}

#[test]
fn confusion_matrix_puts_true_classes_on_rows_and_predictions_on_columns() {
    let m = asymmetric();
    let chart = ConfusionHeatmap { title: "cm".into(), matrix: &m };
    check_cells(&chart.cells(), &m).unwrap();
    let svg = String::from_utf8(render(&chart, ChartFormat::Svg).unwrap()).unwrap();
    check_confusion_svg(&svg, &m).unwrap();
    // Colours: the diagonal is blue (correct), the largest mistake the darkest red.
    let cells = chart.cells();
    let at = |t: usize, p: usize| cells.iter().find(|c| (c.row, c.col) == (t, p)).unwrap().fill;
    assert!(at(1, 1).2 > at(1, 1).0, "diagonal is blue: {:?}", at(1, 1));
    assert!(at(2, 1).0 > at(2, 1).2 && at(2, 1).1 < at(0, 1).1, "8 is a redder mistake than 3");
}

#[test]
fn confusion_checkers_reject_a_transposed_matrix() {
    let m = asymmetric();
    let t = transposed(&m);
    assert_ne!(t, m);
    // A chart that draws the transposed matrix: the cells and the SVG both give it away.
    let wrong = ConfusionHeatmap { title: "cm".into(), matrix: &t };
    let err = check_cells(&wrong.cells(), &m).unwrap_err();
    assert!(err.contains("shows"), "{err}");
    let svg = String::from_utf8(render(&wrong, ChartFormat::Svg).unwrap()).unwrap();
    let err = check_confusion_svg(&svg, &m).unwrap_err();
    assert!(err.contains("is not in row"), "{err}");
    // Cells that carry the right counts but are laid out column-major (x from the row).
    let swapped: Vec<HeatmapCell> = ConfusionHeatmap { title: "cm".into(), matrix: &m }
        .cells()
        .into_iter()
        .map(|c| HeatmapCell { x: c.y - 20, y: c.x + 20, ..c })
        .collect();
    assert!(check_cells(&swapped, &m).is_err());
}

// ---------------------------------------------------------------------------------------------
// The most confident mistakes: which and in what order.

/// Seven images of three classes: five mistakes, three of them tied at 0.7.
fn mistake_table() -> (Vec<u8>, Vec<f32>) {
    let rows: [(u8, [f32; 3]); 7] = [
        (0, [0.9, 0.05, 0.05]),  // right
        (0, [0.1, 0.7, 0.2]),    // wrong: 1 at 0.7
        (1, [0.95, 0.03, 0.02]), // wrong: 0 at 0.95
        (2, [0.1, 0.7, 0.2]),    // wrong: 1 at 0.7
        (2, [0.2, 0.2, 0.6]),    // right
        (1, [0.5, 0.1, 0.4]),    // wrong: 0 at 0.5
        (0, [0.3, 0.0, 0.7]),    // wrong: 2 at 0.7
    ];
    (rows.iter().map(|r| r.0).collect(), rows.iter().flat_map(|r| r.1).collect())
}

/// `got` must be exactly the `n` most confident mistakes: each one wrong with the model's most
/// probable class and its probability, most confident first, equal probabilities by test index,
/// and no mistake left out that ranks before the last one shown.
fn check_mistakes(labels: &[u8], probs: &[f32], classes: usize, n: usize, got: &[Mistake]) -> Result<(), String> {
    let mut all = Vec::new();
    for (i, (p, &l)) in probs.chunks(classes).zip(labels).enumerate() {
        let best = (0..classes).fold(0, |b, c| if p[c] > p[b] { c } else { b });
        if best != l as usize {
            all.push(Mistake { index: i, label: l, predicted: best as u8, probability: p[best] });
        }
    }
    if got.len() != n.min(all.len()) {
        return Err(format!("{} mistakes shown, {} expected", got.len(), n.min(all.len())));
    }
    let rank = |m: &Mistake| (std::cmp::Reverse(m.probability.to_bits()), m.index);
    for m in got {
        if !all.contains(m) {
            return Err(format!("{m:?} is not one of the model's mistakes"));
        }
    }
    for w in got.windows(2) {
        if rank(&w[0]) >= rank(&w[1]) {
            return Err(format!("#{} comes before #{}", w[0].index, w[1].index));
        }
    }
    if let Some(last) = got.last()
        && let Some(m) = all.iter().find(|m| rank(m) < rank(last) && !got.contains(m))
    {
        return Err(format!("#{} is left out but more confident than #{}", m.index, last.index));
    }
    Ok(())
}

#[test]
fn confident_mistakes_come_most_confident_first_ties_by_index() {
    let (labels, probs) = mistake_table();
    let all = confident_mistakes(&labels, &probs, 3, 10);
    let order: Vec<usize> = all.iter().map(|m| m.index).collect();
    assert_eq!(order, [2, 1, 3, 6, 5]);
    assert_eq!(all[0], Mistake { index: 2, label: 1, predicted: 0, probability: 0.95 });
    assert_eq!(all[3], Mistake { index: 6, label: 0, predicted: 2, probability: 0.7 });
    check_mistakes(&labels, &probs, 3, 10, &all).unwrap();
    // Cut in the middle of the tie: the lower indices stay.
    let three = confident_mistakes(&labels, &probs, 3, 3);
    assert_eq!(three.iter().map(|m| m.index).collect::<Vec<_>>(), [2, 1, 3]);
    check_mistakes(&labels, &probs, 3, 3, &three).unwrap();
    assert!(confident_mistakes(&labels, &probs, 3, 0).is_empty());
    // The grid shows them in that order, each captioned with its classes, probability and index.
    let d = dataset(3, 7);
    let grid = mistakes_grid("m".into(), &d, &three);
    let captions: Vec<&[String]> = grid.tiles.iter().map(|t| t.caption.as_slice()).collect();
    assert_eq!(captions[0], ["true 1 → 0", "p 0.950 · #2"]);
    assert_eq!(captions[2], ["true 2 → 1", "p 0.700 · #3"]);
    assert_eq!(grid.tiles[1].pixels, d.image(1));
}

#[test]
fn mistake_checker_rejects_a_wrong_order_or_selection() {
    let (labels, probs) = mistake_table();
    let right = confident_mistakes(&labels, &probs, 3, 10);
    let reversed: Vec<Mistake> = right.iter().rev().copied().collect();
    assert!(check_mistakes(&labels, &probs, 3, 10, &reversed).unwrap_err().contains("comes before"));
    // Ties in the wrong order.
    let mut tie = right.clone();
    tie.swap(1, 2);
    assert!(check_mistakes(&labels, &probs, 3, 10, &tie).is_err());
    // The most confident mistake left out of the top three.
    let skipped = confident_mistakes(&labels, &probs, 3, 4)[1..].to_vec();
    assert!(check_mistakes(&labels, &probs, 3, 3, &skipped).unwrap_err().contains("left out"));
    // A right answer passed off as a mistake.
    let mut fake = right[..2].to_vec();
    fake.push(Mistake { index: 0, label: 0, predicted: 1, probability: 0.05 });
    assert!(check_mistakes(&labels, &probs, 3, 3, &fake).unwrap_err().contains("not one of"));
}

#[test]
fn image_charts_follow_their_pixels() {
    let (d1, d2) = (dataset(1, 30), dataset(2, 30));
    let tiles = |d: &Dataset| -> Vec<DigitTile> {
        (0..10)
            .map(|i| DigitTile { pixels: d.image(i).to_vec(), caption: vec![format!("true {i}"), "p 0.9".into()] })
            .collect()
    };
    let grid = |d: &Dataset| DigitGrid {
        title: "g".into(),
        subtitle: None,
        image: (28, 28),
        tiles: tiles(d),
        columns: 5,
        scale: 4,
    };
    let (g1, g2) = (grid(&d1), grid(&d2));
    let size = g1.size();
    assert_eq!(size.1, 48 + 2 * (112 + 36 + 16) + 16);
    check_pair(&g1, &g2, size);
    // The data view's sample grid is the same chart: 10 classes × 12 images.
    let s1 = data_view::sample_grid("samples", &d1, 10, 3);
    assert_eq!(s1.tiles.len(), 30);
    check_pair(&s1, &data_view::sample_grid("samples", &d2, 10, 3), s1.size());
    check_pair(
        &PixelHistogram { title: "px".into(), sets: vec![("train".into(), &d1.images), ("test".into(), &d2.images)] },
        &PixelHistogram { title: "px".into(), sets: vec![("train".into(), &d2.images)] },
        (1000, 480),
    );
    let (k1, k2): (Vec<f32>, Vec<f32>) = {
        let mut g = Lcg(9);
        ((0..5 * 5 * 8).map(|_| g.next() - 0.5).collect(), (0..5 * 5 * 8).map(|_| g.next() - 0.5).collect())
    };
    fn filters(k: &[f32]) -> ConvFilters<'_> {
        ConvFilters { title: "f".into(), kernel: k, shape: [5, 5, 1, 8] }
    }
    let (f1, f2) = (filters(&k1), filters(&k2));
    check_pair(&f1, &f2, f1.size());
    check_pair(
        &WeightHistograms {
            title: "w".into(),
            tensors: vec![("a.kernel".into(), &k1), ("b.kernel".into(), &d1.images)],
        },
        &WeightHistograms {
            title: "w".into(),
            tensors: vec![("a.kernel".into(), &k2), ("b.kernel".into(), &d1.images)],
        },
        (1200, 370),
    );
    fn maps(d: &Dataset) -> FeatureMaps<'_> {
        FeatureMaps {
            title: "fm".into(),
            input: FeatureMap { label: "x".into(), h: 28, w: 28, c: 1, values: d.image(0) },
            layers: vec![FeatureMap { label: "conv".into(), h: 14, w: 14, c: 4, values: &d.images[..14 * 14 * 4] }],
        }
    }
    let (m1, m2) = (maps(&d1), maps(&d2));
    check_pair(&m1, &m2, m1.size());
}

#[test]
fn empty_inputs_draw_a_note_instead_of_failing() {
    let empty = History::default();
    check_png(&render(&LearningCurves { title: "e".into(), history: &empty }, ChartFormat::Png).unwrap(), (1200, 500));
    check_png(&render(&ConfusionHeatmap { title: "e".into(), matrix: &[] }, ChartFormat::Png).unwrap(), (760, 800));
    // A ragged matrix (hostile input) is drawn as it is, not a panic.
    let ragged = [vec![1], vec![2, 3, 4]];
    check_png(&render(&ConfusionHeatmap { title: "r".into(), matrix: &ragged }, ChartFormat::Png).unwrap(), (760, 800));
    check_png(
        &render(&WeightHistograms { title: "e".into(), tensors: vec![] }, ChartFormat::Png).unwrap(),
        (1200, 370),
    );
}

const SECTIONS: [&str; 9] = [
    "Model",
    "Training settings",
    "History",
    "Learning curves",
    "Test metrics",
    "Misclassified digits",
    "Weight distributions",
    "Convolution filters",
    "Feature maps",
];

/// Every chart of a CNN's report, in page order; an MLP's are the first six.
const CNN_CHARTS: [&str; 8] = [
    "learning-curves",
    "confusion-matrix",
    "per-class",
    "calibration",
    "misclassified",
    "weights",
    "conv-filters",
    "feature-maps",
];

/// The page is one self-contained document: every section, every chart as an embedded PNG
/// that decodes, balanced tags, and nothing loaded from elsewhere.
fn check_report_html(html: &str, charts: &[&str]) {
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for s in SECTIONS {
        assert!(html.contains(&format!("\">{s}</h2>")), "section {s} missing");
    }
    for c in charts {
        assert!(html.contains(&format!("<img alt=\"{c}\" src=\"data:image/png;base64,")), "chart {c} not embedded");
    }
    assert_eq!(html.matches("<img").count(), charts.len());
    use base64::Engine;
    for part in html.split("data:image/png;base64,").skip(1) {
        let b64 = &part[..part.find('"').unwrap()];
        let png = base64::engine::general_purpose::STANDARD.decode(b64).expect("valid base64");
        image::load_from_memory_with_format(&png, image::ImageFormat::Png).expect("embedded PNG decodes");
    }
    for tag in ["html", "head", "body", "main", "table", "tr", "figure", "figcaption", "h2", "p", "nav", "style"] {
        let open = html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count();
        assert_eq!(open, html.matches(&format!("</{tag}>")).count(), "<{tag}> not balanced");
    }
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"), "self-contained");
}

/// A small CNN: a 3×3 convolution of `filters` channels, 2×2 pooling, optional dropout, softmax.
fn tiny_cnn(name: &str, filters: usize, dropout: bool) -> ModelSpec {
    let mut layers = vec![LayerSpec::conv(filters, 3, Padding::Same, Activation::Relu), LayerSpec::max_pool(2)];
    if dropout {
        layers.push(LayerSpec::dropout(0.5));
    }
    layers.extend([LayerSpec::flatten(), LayerSpec::dense(10, Activation::Softmax)]);
    ModelSpec::new(name, "", layers)
}

#[test]
fn run_report_embeds_every_chart_under_every_section() {
    let spec = tiny_cnn("tiny <cnn>", 4, false);
    let mut net = spec.build(0).unwrap();
    let test = dataset(5, 60);
    let probabilities = net.predict(&test.images, 32);
    let predicted: Vec<u8> = probabilities.chunks(10).map(|p| digits::engine::loss::argmax(p) as u8).collect();
    let metrics = Metrics::compute(&test.labels, &predicted, 10, Some(2.3));
    let hist = history(7, 3, false);
    let dir = temp_dir("report");
    let files = write_run(ReportInput {
        dir: &dir,
        html: None,
        name: spec.display_name().into(),
        info: None,
        history: &hist,
        metrics: &metrics,
        net: &mut net,
        test: &test,
        probabilities: &probabilities,
        sample: 3,
        ensemble: None,
        robustness: None,
    })
    .unwrap();
    assert_eq!(files.html, dir.join("report.html"));
    let charts = CNN_CHARTS;
    for c in charts {
        for ext in ["png", "svg"] {
            let p = dir.join("report").join(format!("{c}.{ext}"));
            assert!(files.charts.contains(&p), "{} not written", p.display());
            let bytes = std::fs::read(&p).unwrap();
            if ext == "png" {
                image::load_from_memory(&bytes).expect("PNG decodes");
            } else {
                assert!(bytes.starts_with(b"<svg"));
            }
        }
    }
    // The mistakes grid shows the most confident mistakes in order (its captions end in `#index`).
    let svg = std::fs::read_to_string(dir.join("report/misclassified.svg")).unwrap();
    let shown: Vec<usize> =
        svg_texts(&svg).iter().filter_map(|t| t.rsplit_once(" · #").and_then(|(_, i)| i.parse().ok())).collect();
    let expected = confident_mistakes(&test.labels, &probabilities, 10, digits::report::MISTAKES);
    assert!(!expected.is_empty());
    assert_eq!(shown, expected.iter().map(|m| m.index).collect::<Vec<_>>());
    let html = std::fs::read_to_string(&files.html).unwrap();
    check_report_html(&html, &charts);
    assert!(html.contains("tiny &#60;cnn&#62;") && !html.contains("tiny <cnn>"), "names are escaped");
    assert!(html.contains("No train.json"), "missing settings are said to be missing");
}

// ---------------------------------------------------------------------------------------------
// The command line, on real (small) runs.

fn png_size(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img.width(), img.height())
}

#[test]
fn train_writes_the_report_and_compare_overlays_two_runs() {
    let dir = temp_dir("cli-mlp");
    let mut runs = Vec::new();
    for (name, seed) in [("dropout", "0"), ("other-seed", "1")] {
        let run = dir.join(name);
        let out = ok(&[
            "train",
            "--model",
            "mlp-64-64",
            "--limit",
            "2000",
            "--epochs",
            "2",
            "--validation-split",
            "0.1",
            "--seed",
            seed,
            "--out",
            s(&run),
        ]);
        let last = out.lines().last().unwrap();
        assert_eq!(last, format!("report: {}", run.join("report.html").display()), "{out}");
        let html = std::fs::read_to_string(run.join("report.html")).unwrap();
        check_report_html(&html, &CNN_CHARTS[..6]);
        assert!(html.contains("no convolution layer"), "an MLP has no filters to show");
        assert_eq!(png_size(&run.join("report/learning-curves.png")), (1200, 500));
        assert_eq!(png_size(&run.join("report/confusion-matrix.png")), (760, 800));
        runs.push(run);
    }
    // Two different runs: different pictures.
    let a = std::fs::read(runs[0].join("report/learning-curves.png")).unwrap();
    let b = std::fs::read(runs[1].join("report/learning-curves.png")).unwrap();
    assert_ne!(a, b);

    let out_dir = dir.join("cmp");
    let out = ok(&["compare", s(&runs[0]), s(&runs[1]), "--out", s(&out_dir)]);
    assert!(out.contains("dropout") && out.contains("other-seed"), "{out}");
    assert_eq!(png_size(&out_dir.join("compare.png")), (1200, 540));
    let svg = std::fs::read_to_string(out_dir.join("compare.svg")).unwrap();
    let texts = svg_texts(&svg);
    assert!(texts.iter().any(|t| t == "dropout") && texts.iter().any(|t| t == "other-seed"), "legend: {texts:?}");
}

#[test]
fn report_of_a_cnn_run_shows_filters_and_feature_maps() {
    let dir = temp_dir("cli-cnn");
    let run = dir.join("cnn");
    ok(&["train", "--model", "cnn-32-64", "--limit", "1000", "--epochs", "1", "--out", s(&run)]);
    let page = dir.join("page.html");
    let out = ok(&["report", s(&run), "--out", s(&page), "--sample", "1"]);
    assert!(out.starts_with(&format!("report: {}", page.display())), "{out}");
    let html = std::fs::read_to_string(&page).unwrap();
    check_report_html(&html, &CNN_CHARTS);
    assert!(html.contains("test image #1"), "the chosen sample");
    let (w, h) = png_size(&run.join("report/feature-maps.png"));
    assert!(w > 1000 && h > 1000, "every channel of 4 layers: {w}×{h}");
}

#[test]
fn data_prints_counts_and_statistics_and_draws_the_views() {
    let dir = temp_dir("data");
    let v: serde_json::Value = serde_json::from_str(&ok(&["data", "--out", dir.s(), "--json"])).unwrap();
    let sets = v["sets"].as_array().unwrap();
    assert_eq!(sets[0]["samples"], 60000);
    assert_eq!(sets[1]["samples"], 10000);
    let counts: u64 = sets[1]["class_counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum();
    assert_eq!(counts, 10000);
    // MNIST's well-known normalisation constants.
    assert!((sets[0]["pixel_mean"].as_f64().unwrap() - 0.1307).abs() < 1e-3);
    assert!((sets[0]["pixel_std"].as_f64().unwrap() - 0.3081).abs() < 1e-3);
    assert_eq!(png_size(&dir.join("pixel-histogram.png")), (1000, 480));
    assert!(png_size(&dir.join("samples.png")).1 > 600);
    let table = ok(&["data", "--out", dir.s()]);
    assert!(table.contains("class 9") && table.contains("zero pixels") && table.contains("pixel std"), "{table}");
}

#[test]
fn layer_outputs_give_every_layer_and_end_in_the_prediction() {
    let spec = tiny_cnn("t", 3, true);
    let mut net = spec.build(1).unwrap();
    let d = dataset(11, 2);
    let outs = net.layer_outputs(d.image(1));
    let kinds: Vec<&str> = outs.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, ["Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense"]);
    for o in &outs {
        assert_eq!(o.values.len(), o.shape.len(), "{}", o.name);
    }
    assert_eq!((outs[0].shape.h, outs[0].shape.w, outs[0].shape.c), (28, 28, 3));
    assert_eq!((outs[1].shape.h, outs[1].shape.w, outs[1].shape.c), (14, 14, 3));
    // Inference mode: dropout passes its input through.
    assert_eq!(outs[2].values, outs[1].values);
    let p = net.predict(d.image(1), 1);
    let last = &outs.last().unwrap().values;
    assert!(last.iter().zip(&p).all(|(a, b)| (a - b).abs() < 1e-6), "{last:?} vs {p:?}");
    assert!((last.iter().sum::<f32>() - 1.0).abs() < 1e-5, "softmax applied");
}
