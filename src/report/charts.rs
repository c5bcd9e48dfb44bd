//! The charts: each one a small struct of plain data (slices, a [`History`], a confusion
//! matrix, ...) that draws itself on any `plotters` backend, rendered to PNG or SVG bytes by
//! [`render`] or written to a file by [`save`].
//!
//! Drawing is generic over the backend so the PNG and the SVG of a chart come from the same
//! code. Text uses the bundled DejaVu Sans through `plotters`' `ab_glyph` backend, so drawing
//! needs no fontconfig or system fonts and looks the same on every machine.

use crate::Error;
use crate::eval::metrics::ClassMetrics;
use crate::train::History;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const SANS: &str = "sans-serif";

/// Makes the bundled font the one `plotters` finds under `sans-serif` (once per process).
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let ok = plotters::style::register_font(SANS, FontStyle::Normal, FONT).is_ok();
        debug_assert!(ok, "the bundled font parses");
    });
}

/// The output format of a chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartFormat {
    Png,
    Svg,
}

impl ChartFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ChartFormat::Png => "png",
            ChartFormat::Svg => "svg",
        }
    }
}

/// What a chart's drawing code returns; the backend's error types differ, so they are boxed.
pub type DrawResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A chart: its pixel size and how to draw it on a white canvas of that size.
pub trait Chart {
    /// A short name for messages, e.g. `"confusion matrix"`.
    fn kind(&self) -> &'static str;
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Draws `chart` and returns the encoded file: PNG bytes or SVG text.
pub fn render<C: Chart>(chart: &C, format: ChartFormat) -> Result<Vec<u8>, Error> {
    register_font();
    let (w, h) = chart.size();
    let draw_err = |e: Box<dyn std::error::Error + Send + Sync>| Error::Chart {
        action: "drawing",
        chart: chart.kind(),
        message: e.to_string(),
    };
    match format {
        ChartFormat::Png => {
            let mut buf = vec![255u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
                chart.draw(&root).map_err(draw_err)?;
                root.present().map_err(|e| draw_err(e.into()))?;
            }
            let img = image::RgbImage::from_raw(w, h, buf).expect("buffer sized for the image");
            let mut out = std::io::Cursor::new(Vec::new());
            img.write_to(&mut out, image::ImageFormat::Png).map_err(|e| Error::Chart {
                action: "encoding as PNG",
                chart: chart.kind(),
                message: e.to_string(),
            })?;
            Ok(out.into_inner())
        }
        ChartFormat::Svg => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, (w, h)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_err(e.into()))?;
                chart.draw(&root).map_err(draw_err)?;
                root.present().map_err(|e| draw_err(e.into()))?;
            }
            Ok(text.into_bytes())
        }
    }
}

/// Renders `chart` and writes it (atomically) to `path`; returns the bytes written.
pub fn save<C: Chart>(chart: &C, format: ChartFormat, path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = render(chart, format)?;
    crate::atomic::write(path, &bytes).map_err(|source| Error::Io { path: path.into(), source })?;
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// Shared drawing helpers

/// matplotlib's "tab10": distinct colours that readers of the notebooks know.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const TEXT: RGBColor = RGBColor(30, 30, 30);
const GRID: RGBColor = RGBColor(232, 232, 232);
const GREY: RGBColor = RGBColor(110, 110, 110);

fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from((SANS, size).into_font()).color(&TEXT)
}

fn centered(size: f64) -> TextStyle<'static> {
    font(size).pos(Pos::new(HPos::Center, VPos::Center))
}

fn mix(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let l = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * t).round() as u8;
    RGBColor(l(a.0, b.0), l(a.1, b.1), l(a.2, b.2))
}

fn dark(c: RGBColor) -> bool {
    (0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64) < 140.0
}

/// Viridis (matplotlib's default colour map) by linear interpolation between nine stops.
fn viridis(t: f32) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) as f64 } else { 0.0 };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    mix(RGBColor(a.0, a.1, a.2), RGBColor(b.0, b.1, b.2), x - i as f64)
}

/// Blue for negative, white for zero, red for positive; `t` in [-1, 1].
fn diverging(t: f32) -> RGBColor {
    let t = if t.is_finite() { t.clamp(-1.0, 1.0) as f64 } else { 0.0 };
    if t < 0.0 { mix(WHITE, RGBColor(33, 102, 172), -t) } else { mix(WHITE, RGBColor(178, 24, 43), t) }
}

/// A centred "no data" note, so an empty chart says why it is empty.
fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, what: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(what.to_string(), (w as i32 / 2, h as i32 / 2), centered(16.0).color(&GREY)))?;
    Ok(())
}

/// Draws a `rows × cols` single-channel image with its top-left corner at `(x0, y0)`, each
/// value a `scale × scale` square coloured by `color` (`None`: leave the background).
/// Background pixels are skipped, which keeps SVG files of sparse images (digits, ReLU maps) small.
#[allow(clippy::too_many_arguments)]
fn draw_pixels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x0, y0): (i32, i32),
    scale: i32,
    (rows, cols): (usize, usize),
    value: impl Fn(usize, usize) -> f32,
    background: RGBColor,
    color: impl Fn(f32) -> Option<RGBColor>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = (cols as i32 * scale, rows as i32 * scale);
    area.draw(&Rectangle::new([(x0, y0), (x0 + w, y0 + h)], background.filled()))?;
    for r in 0..rows {
        for c in 0..cols {
            if let Some(col) = color(value(r, c)) {
                let (x, y) = (x0 + c as i32 * scale, y0 + r as i32 * scale);
                area.draw(&Rectangle::new([(x, y), (x + scale, y + scale)], col.filled()))?;
            }
        }
    }
    Ok(())
}

fn outline<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, (x0, y0): (i32, i32), (w, h): (i32, i32)) -> DrawResult
where
    DB::ErrorType: 'static,
{
    area.draw(&Rectangle::new([(x0 - 1, y0 - 1), (x0 + w, y0 + h)], ShapeStyle::from(&RGBColor(190, 190, 190))))?;
    Ok(())
}

fn title_block<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, subtitle: Option<&str>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, _) = area.dim_in_pixel();
    area.draw(&Text::new(title.to_string(), (w as i32 / 2, 22), centered(22.0)))?;
    if let Some(s) = subtitle {
        area.draw(&Text::new(s.to_string(), (w as i32 / 2, 48), centered(14.0).color(&GREY)))?;
    }
    Ok(())
}

/// One line of a line chart.
#[derive(Clone, Debug)]
pub struct Line {
    /// Legend entry; `None` draws the line without one.
    pub label: Option<String>,
    pub color: RGBColor,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// Tick labels for epochs: whole numbers only.
fn epoch_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 { format!("{}", x.round() as i64) } else { String::new() }
}

fn fixed3(y: &f64) -> String {
    format!("{y:.3}")
}

fn sci(y: &f64) -> String {
    if *y == 0.0 { "0".into() } else { format!("{y:.1e}") }
}

/// A panel of lines over epochs, with axes, grid and legend.
#[allow(clippy::too_many_arguments)]
fn line_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    lines: &[Line],
    legend: SeriesLabelPosition,
    y_fmt: &dyn Fn(&f64) -> String,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let pts = || lines.iter().flat_map(|l| l.points.iter()).filter(|p| p.0.is_finite() && p.1.is_finite());
    if pts().next().is_none() {
        return no_data(area, &format!("{caption}: no data"));
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts() {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let xpad = ((x1 - x0) * 0.03).max(0.25);
    let ypad = if y1 > y0 { (y1 - y0) * 0.08 } else { y0.abs().max(1e-3) * 0.05 };
    let epochs = (x1 - x0).round() as usize + 1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, font(19.0))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d((x0 - xpad)..(x1 + xpad), (y0 - ypad)..(y1 + ypad))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_labels(epochs.clamp(2, 12))
        .y_labels(8)
        .x_label_formatter(&epoch_label)
        .y_label_formatter(y_fmt)
        .label_style(font(14.0))
        .axis_desc_style(font(15.0))
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .draw()?;
    let mut labelled = false;
    for l in lines {
        let style = l.color.stroke_width(2);
        let pts: Vec<(f64, f64)> = l.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
        let anno = if l.dashed {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 9, 6, style))?
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), style))?
        };
        if let Some(label) = &l.label {
            labelled = true;
            let anno = anno.label(label.as_str());
            if l.dashed {
                anno.legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 4, style));
            } else {
                anno.legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
            }
        }
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, l.color.filled())))?;
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(legend)
            .margin(12)
            .legend_area_size(30)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font(font(14.0))
            .draw()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Learning curves

/// Loss and accuracy per epoch, training (solid) against validation (dashed), and the learning
/// rate when it changes during the run.
pub struct LearningCurves<'a> {
    pub title: String,
    pub history: &'a History,
}

impl LearningCurves<'_> {
    fn lr_changes(&self) -> bool {
        let lrs: Vec<f64> = self.history.epochs.iter().map(|r| r.lr).collect();
        lrs.windows(2).any(|w| (w[0] - w[1]).abs() > 1e-12 * w[0].abs().max(w[1].abs()))
    }
}

impl Chart for LearningCurves<'_> {
    fn kind(&self) -> &'static str {
        "learning curves"
    }
    fn size(&self) -> (u32, u32) {
        (1200, if self.lr_changes() { 780 } else { 500 })
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let h = &self.history.epochs;
        let area = root.margin(10, 0, 0, 0).titled(&self.title, font(22.0))?;
        let (top, bottom) = if self.lr_changes() {
            let (t, b) = area.split_vertically(440);
            (t, Some(b))
        } else {
            (area, None)
        };
        let (left, right) = top.split_horizontally(600);
        let series = |f: fn(&crate::train::EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            h.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64, v))).collect()
        };
        let pair = |train: Vec<(f64, f64)>, val: Vec<(f64, f64)>| {
            let mut v = vec![Line { label: Some("training".into()), color: PALETTE[0], dashed: false, points: train }];
            if !val.is_empty() {
                v.push(Line { label: Some("validation".into()), color: PALETTE[1], dashed: true, points: val });
            }
            v
        };
        let loss = pair(series(|r| Some(r.loss)), series(|r| r.val_loss));
        line_panel(&left, "loss", "cross-entropy", &loss, SeriesLabelPosition::UpperRight, &fixed3)?;
        let acc = pair(series(|r| Some(r.accuracy)), series(|r| r.val_accuracy));
        line_panel(&right, "accuracy", "accuracy", &acc, SeriesLabelPosition::LowerRight, &fixed3)?;
        if let Some(b) = bottom {
            let lr = vec![Line { label: None, color: PALETTE[2], dashed: false, points: series(|r| Some(r.lr)) }];
            line_panel(
                &b,
                "learning rate (at the end of each epoch)",
                "learning rate",
                &lr,
                SeriesLabelPosition::UpperRight,
                &sci,
            )?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Several runs overlaid

/// The learning curves of several runs on the same axes: one colour per run, training solid,
/// validation dashed.
pub struct CompareCurves<'a> {
    pub title: String,
    /// (name for the legend, history)
    pub runs: Vec<(String, &'a History)>,
}

impl Chart for CompareCurves<'_> {
    fn kind(&self) -> &'static str {
        "comparison"
    }
    fn size(&self) -> (u32, u32) {
        (1200, 540)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = root.margin(10, 0, 0, 0).titled(&self.title, font(22.0))?;
        let (left, right) = area.split_horizontally(600);
        let lines = |train: fn(&crate::train::EpochRecord) -> Option<f64>,
                     val: fn(&crate::train::EpochRecord) -> Option<f64>| {
            let mut out = Vec::new();
            for (i, (name, h)) in self.runs.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let pts = |f: fn(&crate::train::EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
                    h.epochs.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64, v))).collect()
                };
                out.push(Line { label: Some(name.clone()), color, dashed: false, points: pts(train) });
                out.push(Line { label: None, color, dashed: true, points: pts(val) });
            }
            // Two grey legend entries say which line style is which.
            out.push(Line { label: Some("training".into()), color: GREY, dashed: false, points: vec![] });
            out.push(Line { label: Some("validation".into()), color: GREY, dashed: true, points: vec![] });
            out
        };
        line_panel(
            &left,
            "loss",
            "cross-entropy",
            &lines(|r| Some(r.loss), |r| r.val_loss),
            SeriesLabelPosition::UpperRight,
            &fixed3,
        )?;
        line_panel(
            &right,
            "accuracy",
            "accuracy",
            &lines(|r| Some(r.accuracy), |r| r.val_accuracy),
            SeriesLabelPosition::LowerRight,
            &fixed3,
        )?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Confusion matrix

/// The confusion matrix as a heatmap with the counts in the cells: rows are true classes,
/// columns predicted ones. Correct predictions are blue, mistakes red, darker for more.
pub struct ConfusionHeatmap<'a> {
    pub title: String,
    /// `matrix[true][predicted]` counts.
    pub matrix: &'a [Vec<u64>],
}

impl Chart for ConfusionHeatmap<'_> {
    fn kind(&self) -> &'static str {
        "confusion matrix"
    }
    fn size(&self) -> (u32, u32) {
        (760, 800)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let m = self.matrix;
        let k = m.len();
        title_block(
            root,
            &self.title,
            Some("rows: true class · columns: predicted class · blue: correct, red: mistakes"),
        )?;
        if k == 0 {
            return no_data(root, "no predictions");
        }
        let (w, h) = root.dim_in_pixel();
        let (left, top) = (100i32, 120i32);
        let cell = ((w as i32 - left - 30).min(h as i32 - top - 70) / k as i32).max(8);
        let grid = cell * k as i32;
        let total: u64 = m.iter().flatten().sum();
        let correct: u64 = (0..k).map(|i| m[i][i]).sum();
        let max_off = (0..k)
            .flat_map(|t| (0..k).filter(move |&p| p != t).map(move |p| (t, p)))
            .map(|(t, p)| m[t][p])
            .max()
            .unwrap_or(0)
            .max(1);
        let fsize = (cell as f64 * 0.3).clamp(9.0, 18.0);
        root.draw(&Text::new("predicted", (left + grid / 2, top - 44), centered(16.0)))?;
        root.draw(&Text::new("true", (left - 70, top + grid / 2), centered(16.0).transform(FontTransform::Rotate270)))?;
        for i in 0..k {
            let c = left + i as i32 * cell + cell / 2;
            root.draw(&Text::new(i.to_string(), (c, top - 16), centered(15.0)))?;
            let r = top + i as i32 * cell + cell / 2;
            root.draw(&Text::new(i.to_string(), (left - 18, r), centered(15.0)))?;
        }
        for (t, row) in m.iter().enumerate() {
            let row_total = row.iter().sum::<u64>().max(1);
            for (p, &n) in row.iter().enumerate() {
                let fill = if t == p {
                    mix(WHITE, RGBColor(31, 119, 180), 0.25 + 0.75 * n as f64 / row_total as f64)
                } else if n > 0 {
                    mix(WHITE, RGBColor(214, 39, 40), 0.12 + 0.83 * (n as f64 / max_off as f64).sqrt())
                } else {
                    RGBColor(250, 250, 250)
                };
                let (x, y) = (left + p as i32 * cell, top + t as i32 * cell);
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], fill.filled()))?;
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], ShapeStyle::from(&WHITE).stroke_width(1)))?;
                let ink = if dark(fill) {
                    WHITE
                } else if n == 0 {
                    RGBColor(200, 200, 200)
                } else {
                    TEXT
                };
                root.draw(&Text::new(n.to_string(), (x + cell / 2, y + cell / 2), centered(fsize).color(&ink)))?;
            }
        }
        let acc = if total > 0 { 100.0 * correct as f64 / total as f64 } else { 0.0 };
        root.draw(&Text::new(
            format!("{correct} of {total} correct ({acc:.2}%), {} mistakes", total - correct),
            (left + grid / 2, top + grid + 30),
            centered(15.0),
        ))?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Per-class precision, recall, F1

/// Grouped bars of precision, recall and F1 for each class.
pub struct PerClassBars<'a> {
    pub title: String,
    pub per_class: &'a [ClassMetrics],
}

impl Chart for PerClassBars<'_> {
    fn kind(&self) -> &'static str {
        "per-class metrics"
    }
    fn size(&self) -> (u32, u32) {
        (1200, 480)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let pc = self.per_class;
        if pc.is_empty() {
            return no_data(root, "no classes");
        }
        let k = pc.len() as f64;
        // Zoom in on the top of the scale, where the classes differ, but keep a whole 0.05 step.
        let lo = pc.iter().flat_map(|m| [m.precision, m.recall, m.f1]).fold(1.0f64, f64::min);
        let lo = ((lo - 0.02) / 0.05).floor().max(0.0) * 0.05;
        // The bars reach the top of the plot in every class: the legend goes in a strip on the right.
        let (w, _) = root.dim_in_pixel();
        let area = root.margin(10, 0, 0, 0).titled(&self.title, font(22.0))?;
        let (plot, side) = area.split_horizontally(w as i32 - 140);
        let mut chart = ChartBuilder::on(&plot)
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(k - 0.5), lo..1.0f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("class")
            .y_desc(if lo > 0.0 { "score (axis starts above 0)" } else { "score" })
            .x_labels(pc.len() + 1)
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 1e-6 && *x >= 0.0 { format!("{}", x.round() as i64) } else { String::new() }
            })
            .y_label_formatter(&|y| format!("{y:.2}"))
            .label_style(font(14.0))
            .axis_desc_style(font(15.0))
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .draw()?;
        type Metric = (&'static str, fn(&ClassMetrics) -> f64);
        let metrics: [Metric; 3] = [("precision", |m| m.precision), ("recall", |m| m.recall), ("F1", |m| m.f1)];
        for (j, (name, f)) in metrics.into_iter().enumerate() {
            let color = PALETTE[j];
            let off = (j as f64 - 1.0) * 0.27;
            chart.draw_series(pc.iter().enumerate().map(|(c, m)| {
                let x = c as f64 + off;
                Rectangle::new([(x - 0.12, lo), (x + 0.12, f(m).max(lo))], color.filled())
            }))?;
            let y = 40 + 26 * j as i32;
            side.draw(&Rectangle::new([(10, y - 7), (24, y + 7)], color.filled()))?;
            side.draw(&Text::new(name, (32, y), font(15.0).pos(Pos::new(HPos::Left, VPos::Center))))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Grids of digits

/// One digit image with a caption of one or more lines.
#[derive(Clone, Debug)]
pub struct DigitTile {
    /// `rows × cols` values in [0, 1] (ink = 1).
    pub pixels: Vec<f32>,
    pub caption: Vec<String>,
}

/// A grid of captioned digit images: the labelled samples of the data view and the model's
/// most confident mistakes use the same code.
pub struct DigitGrid {
    pub title: String,
    pub subtitle: Option<String>,
    /// Image size (rows, cols).
    pub image: (usize, usize),
    pub tiles: Vec<DigitTile>,
    pub columns: usize,
    /// Screen pixels per image pixel.
    pub scale: u32,
}

impl DigitGrid {
    fn caption_lines(&self) -> usize {
        self.tiles.iter().map(|t| t.caption.len()).max().unwrap_or(0)
    }
    fn cell(&self) -> (i32, i32) {
        let (r, c) = self.image;
        let s = self.scale as i32;
        ((c as i32 * s).max(60) + 16, r as i32 * s + 18 * self.caption_lines() as i32 + 16)
    }
    fn header(&self) -> i32 {
        if self.subtitle.is_some() { 70 } else { 48 }
    }
}

impl Chart for DigitGrid {
    fn kind(&self) -> &'static str {
        "digit grid"
    }
    fn size(&self) -> (u32, u32) {
        let cols = self.columns.max(1).min(self.tiles.len().max(1));
        let rows = self.tiles.len().div_ceil(self.columns.max(1)).max(1);
        let (cw, ch) = self.cell();
        ((cols as i32 * cw + 40).max(480) as u32, (self.header() + rows as i32 * ch + 16) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        title_block(root, &self.title, self.subtitle.as_deref())?;
        if self.tiles.is_empty() {
            return no_data(root, "nothing to show");
        }
        let (w, _) = root.dim_in_pixel();
        let cols = self.columns.max(1).min(self.tiles.len());
        let (cw, ch) = self.cell();
        let x_start = (w as i32 - cols as i32 * cw) / 2;
        let (ir, ic) = self.image;
        let s = self.scale as i32;
        let lines = self.caption_lines() as i32;
        for (i, t) in self.tiles.iter().enumerate() {
            let (gx, gy) = (x_start + (i % cols) as i32 * cw, self.header() + (i / cols) as i32 * ch);
            for (j, line) in t.caption.iter().enumerate() {
                root.draw(&Text::new(line.clone(), (gx + cw / 2, gy + 9 + 18 * j as i32), centered(14.0)))?;
            }
            let (x0, y0) = (gx + (cw - ic as i32 * s) / 2, gy + 18 * lines + 4);
            draw_pixels(
                root,
                (x0, y0),
                s,
                (ir, ic),
                |r, c| t.pixels.get(r * ic + c).copied().unwrap_or(0.0),
                WHITE,
                |v| {
                    // Dark ink on white, as digits are written.
                    (v > 0.03).then(|| mix(WHITE, BLACK, v as f64))
                },
            )?;
            outline(root, (x0, y0), (ic as i32 * s, ir as i32 * s))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Weights

/// Histograms of weight values, one panel per tensor (each layer's kernel).
pub struct WeightHistograms<'a> {
    pub title: String,
    /// (name, values)
    pub tensors: Vec<(String, &'a [f32])>,
}

impl WeightHistograms<'_> {
    fn grid(&self) -> (usize, usize) {
        let cols = if self.tensors.len() > 1 { 2 } else { 1 };
        (self.tensors.len().div_ceil(cols).max(1), cols)
    }
}

impl Chart for WeightHistograms<'_> {
    fn kind(&self) -> &'static str {
        "weight histograms"
    }
    fn size(&self) -> (u32, u32) {
        (1200, 50 + 320 * self.grid().0 as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = root.margin(10, 0, 0, 0).titled(&self.title, font(22.0))?;
        if self.tensors.is_empty() {
            return no_data(&area, "no weights");
        }
        const BINS: usize = 60;
        for ((name, values), panel) in self.tensors.iter().zip(area.split_evenly(self.grid())) {
            let finite = values.iter().copied().filter(|v| v.is_finite());
            let (lo, hi) = finite.clone().fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(v), b.max(v)));
            if lo > hi {
                no_data(&panel, &format!("{name}: no finite values"))?;
                continue;
            }
            let (lo, hi) = if hi > lo { (lo as f64, hi as f64) } else { (lo as f64 - 0.5, hi as f64 + 0.5) };
            let width = (hi - lo) / BINS as f64;
            let mut counts = [0u64; BINS];
            let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0usize);
            for v in finite {
                counts[(((v as f64 - lo) / width) as usize).min(BINS - 1)] += 1;
                sum += v as f64;
                sq += v as f64 * v as f64;
                n += 1;
            }
            let mean = sum / n as f64;
            let std = (sq / n as f64 - mean * mean).max(0.0).sqrt();
            let top = *counts.iter().max().unwrap_or(&1) as f64 * 1.08;
            let mut chart = ChartBuilder::on(&panel)
                .caption(format!("{name}: {n} values, mean {mean:.4}, std {std:.4}"), font(16.0))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(lo..hi, 0.0..top.max(1.0))?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_desc("weight")
                .y_desc("count")
                .x_labels(7)
                .y_labels(5)
                .x_label_formatter(&|x| {
                    // Avoid "-0.000" for a tick at zero.
                    let s = format!("{x:.3}");
                    if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') { "0".into() } else { s }
                })
                .y_label_formatter(&|y| format!("{y:.0}"))
                .label_style(font(13.0))
                .axis_desc_style(font(14.0))
                .light_line_style(TRANSPARENT)
                .bold_line_style(GRID)
                .draw()?;
            chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x = lo + i as f64 * width;
                Rectangle::new([(x, 0.0), (x + width, c as f64)], PALETTE[0].mix(0.85).filled())
            }))?;
        }
        Ok(())
    }
}

/// The filters of a convolution layer: one tile per output channel, weights coloured red
/// (positive) and blue (negative) on a scale shared by all filters. With several input
/// channels a tile shows their mean.
pub struct ConvFilters<'a> {
    pub title: String,
    /// Keras layout `[kh, kw, c_in, c_out]`.
    pub kernel: &'a [f32],
    pub shape: [usize; 4],
}

impl ConvFilters<'_> {
    fn layout(&self) -> (i32, usize, usize) {
        let [kh, kw, _, cout] = self.shape;
        let scale = (72 / kh.max(kw).max(1)).max(2) as i32;
        let cols = cout.clamp(1, 16);
        (scale, cols, cout.div_ceil(cols).max(1))
    }
}

impl Chart for ConvFilters<'_> {
    fn kind(&self) -> &'static str {
        "convolution filters"
    }
    fn size(&self) -> (u32, u32) {
        let [kh, kw, _, _] = self.shape;
        let (s, cols, rows) = self.layout();
        let (tw, th) = (kw as i32 * s + 14, kh as i32 * s + 30);
        ((cols as i32 * tw + 40).max(520) as u32, (80 + rows as i32 * th + 10) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let [kh, kw, cin, cout] = self.shape;
        let max = self.kernel.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        title_block(
            root,
            &self.title,
            Some(&format!("{kh}×{kw} weights per filter; red positive, blue negative, scale ±{max:.3}")),
        )?;
        let (s, cols, _) = self.layout();
        let (w, _) = root.dim_in_pixel();
        let (tw, th) = (kw as i32 * s + 14, kh as i32 * s + 30);
        let x_start = (w as i32 - cols as i32 * tw) / 2;
        let mean = |r: usize, c: usize, f: usize| -> f32 {
            let base = (r * kw + c) * cin * cout;
            (0..cin).map(|i| self.kernel.get(base + i * cout + f).copied().unwrap_or(0.0)).sum::<f32>()
                / cin.max(1) as f32
        };
        for f in 0..cout {
            let (gx, gy) = (x_start + (f % cols) as i32 * tw, 70 + (f / cols) as i32 * th);
            root.draw(&Text::new(f.to_string(), (gx + tw / 2, gy + 8), centered(12.0).color(&GREY)))?;
            let (x0, y0) = (gx + 7, gy + 18);
            draw_pixels(root, (x0, y0), s, (kh, kw), |r, c| mean(r, c, f), WHITE, |v| Some(diverging(v / max)))?;
            outline(root, (x0, y0), (kw as i32 * s, kh as i32 * s))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Feature maps

/// One layer's output for one input, as `h × w × c` (channels last).
#[derive(Clone, Debug)]
pub struct FeatureMap<'a> {
    pub label: String,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub values: &'a [f32],
}

/// The input digit, then every channel of each given layer output as a small image (viridis,
/// each channel scaled to its own range so weak channels still show their pattern).
pub struct FeatureMaps<'a> {
    pub title: String,
    pub input: FeatureMap<'a>,
    pub layers: Vec<FeatureMap<'a>>,
}

const FM_COLS: usize = 16;
const FM_TILE: i32 = 64;
const FM_GAP: i32 = 6;
const FM_HEAD: i32 = 34;

impl FeatureMaps<'_> {
    fn block_height(m: &FeatureMap) -> i32 {
        let rows = m.c.div_ceil(FM_COLS).max(1) as i32;
        FM_HEAD + rows * (FM_TILE + FM_GAP) + 8
    }
}

impl Chart for FeatureMaps<'_> {
    fn kind(&self) -> &'static str {
        "feature maps"
    }
    fn size(&self) -> (u32, u32) {
        let input = FM_HEAD + 2 * FM_TILE + 16;
        let h: i32 = 60 + input + self.layers.iter().map(Self::block_height).sum::<i32>();
        ((FM_COLS as i32 * (FM_TILE + FM_GAP) + 40) as u32, h as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        title_block(root, &self.title, None)?;
        let left = 20 + FM_GAP / 2;
        let mut y = 52;
        let head = |y: i32, text: String| {
            root.draw(&Text::new(text, (left, y + FM_HEAD / 2), font(16.0).pos(Pos::new(HPos::Left, VPos::Center))))
        };
        let map_tile = |m: &FeatureMap, ch: usize, (x0, y0): (i32, i32), size: i32| -> DrawResult {
            let at = |r: usize, c: usize| m.values.get((r * m.w + c) * m.c + ch).copied().unwrap_or(0.0);
            let (mut lo, mut hi) = (f32::MAX, f32::MIN);
            for r in 0..m.h {
                for c in 0..m.w {
                    let v = at(r, c);
                    if v.is_finite() {
                        (lo, hi) = (lo.min(v), hi.max(v));
                    }
                }
            }
            let span = if hi > lo { hi - lo } else { 1.0 };
            let scale = (size / m.h.max(m.w).max(1) as i32).max(1);
            let lo_c = lo;
            draw_pixels(root, (x0, y0), scale, (m.h, m.w), at, viridis(0.0), |v| {
                let t = (v - lo_c) / span;
                (t > 0.004).then(|| viridis(t))
            })?;
            Ok(())
        };
        head(y, format!("input: {} ({}×{})", self.input.label, self.input.h, self.input.w))?;
        map_tile(&self.input, 0, (left, y + FM_HEAD), 2 * FM_TILE)?;
        y += FM_HEAD + 2 * FM_TILE + 16;
        for m in &self.layers {
            head(y, format!("{}: {}×{}×{}", m.label, m.h, m.w, m.c))?;
            for ch in 0..m.c {
                let x0 = left + (ch % FM_COLS) as i32 * (FM_TILE + FM_GAP);
                let y0 = y + FM_HEAD + (ch / FM_COLS) as i32 * (FM_TILE + FM_GAP);
                map_tile(m, ch, (x0, y0), FM_TILE)?;
            }
            y += Self::block_height(m);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Pixel values

/// Histogram of pixel values of one or more data sets, as the fraction of pixels per bin on a
/// log scale (blank pixels dominate: most of an MNIST image is background).
pub struct PixelHistogram<'a> {
    pub title: String,
    /// (name, pixel values in [0, 1])
    pub sets: Vec<(String, &'a [f32])>,
}

/// Fraction of values per bin for `bins` equal bins over [0, 1].
pub fn pixel_fractions(values: &[f32], bins: usize) -> Vec<f64> {
    let mut counts = vec![0u64; bins];
    for &v in values {
        let i = ((v.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let n = values.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

impl Chart for PixelHistogram<'_> {
    fn kind(&self) -> &'static str {
        "pixel histogram"
    }
    fn size(&self) -> (u32, u32) {
        (1000, 480)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        const BINS: usize = 32;
        let fr: Vec<Vec<f64>> = self.sets.iter().map(|(_, v)| pixel_fractions(v, BINS)).collect();
        let min = fr.iter().flatten().copied().filter(|&f| f > 0.0).fold(1.0f64, f64::min);
        if fr.iter().flatten().all(|&f| f == 0.0) {
            return no_data(root, "no pixels");
        }
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, font(22.0))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0f64..1.0, (min / 2.0..1.5f64).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("pixel value (0 = background, 1 = ink)")
            .y_desc("fraction of pixels (log scale)")
            .x_labels(11)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_label_formatter(&|y| {
                let p = y * 100.0;
                if p >= 1.0 { format!("{p:.0}%") } else { format!("{}%", format!("{p:.4}").trim_end_matches('0')) }
            })
            .label_style(font(14.0))
            .axis_desc_style(font(15.0))
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .draw()?;
        let n = self.sets.len().max(1) as f64;
        let bw = 1.0 / BINS as f64;
        for (j, ((name, _), f)) in self.sets.iter().zip(&fr).enumerate() {
            let color = PALETTE[j % PALETTE.len()];
            // Side-by-side bars within each bin, one per set.
            let (w, off) = (bw * 0.8 / n, bw * 0.1);
            chart
                .draw_series(f.iter().enumerate().filter(|(_, v)| **v > 0.0).map(|(i, &v)| {
                    let x = i as f64 * bw + off + j as f64 * w;
                    Rectangle::new([(x, min / 2.0), (x + w, v)], color.mix(0.85).filled())
                }))?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .margin(12)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(180, 180, 180))
            .label_font(font(14.0))
            .draw()?;
        Ok(())
    }
}
