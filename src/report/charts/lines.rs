//! Line panels over epochs (axes, grid, legend), shared by the learning-curve charts.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::ops::Range;

use super::DrawResult;
use super::parts::no_data;
use super::style::{GRID, font};

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
pub(super) fn epoch_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 { format!("{}", x.round() as i64) } else { String::new() }
}

pub(super) fn fixed3(y: &f64) -> String {
    format!("{y:.3}")
}

pub(super) fn sci(y: &f64) -> String {
    if *y == 0.0 { "0".into() } else { format!("{y:.1e}") }
}

/// The x and y ranges of a panel (with a margin around the points), and how many epochs it spans;
/// `None` when no line has a finite point.
fn bounds(lines: &[Line]) -> Option<(Range<f64>, Range<f64>, usize)> {
    let mut pts = lines.iter().flat_map(|l| l.points.iter()).filter(|p| p.0.is_finite() && p.1.is_finite()).peekable();
    pts.peek()?;
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let xpad = ((x1 - x0) * 0.03).max(0.25);
    let ypad = if y1 > y0 { (y1 - y0) * 0.08 } else { y0.abs().max(1e-3) * 0.05 };
    let epochs = (x1 - x0).round() as usize + 1;
    Some(((x0 - xpad)..(x1 + xpad), (y0 - ypad)..(y1 + ypad), epochs))
}

/// A panel of lines over epochs, with axes, grid and legend.
pub(super) fn line_panel<DB: DrawingBackend>(
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
    let Some((xs, ys, epochs)) = bounds(lines) else {
        return no_data(area, &format!("{caption}: no data"));
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, font(19.0))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(xs, ys)?;
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
        labelled |= draw_line(&mut chart, l)?;
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

/// Draws one line and its points; returns whether it has a legend entry.
fn draw_line<DB: DrawingBackend>(
    chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    l: &Line,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>>
where
    DB::ErrorType: 'static,
{
    let style = l.color.stroke_width(2);
    let pts: Vec<(f64, f64)> = l.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
    let anno = if l.dashed {
        chart.draw_series(DashedLineSeries::new(pts.clone(), 9, 6, style))?
    } else {
        chart.draw_series(LineSeries::new(pts.clone(), style))?
    };
    if let Some(label) = &l.label {
        let anno = anno.label(label.as_str());
        if l.dashed {
            anno.legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 4, style));
        } else {
            anno.legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
    }
    chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, l.color.filled())))?;
    Ok(l.label.is_some())
}
