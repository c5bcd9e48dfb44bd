//! Histograms of each layer's weights.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::parts::no_data;
use super::style::{GRID, PALETTE, font};
use super::{Chart, DrawResult};

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
        for ((name, values), panel) in self.tensors.iter().zip(area.split_evenly(self.grid())) {
            match Histogram::of(values) {
                Some(h) => draw_histogram(&panel, name, &h)?,
                None => no_data(&panel, &format!("{name}: no finite values"))?,
            }
        }
        Ok(())
    }
}

const BINS: usize = 60;

/// The finite values of a tensor in equal bins between their minimum and maximum, with their
/// count, mean and standard deviation.
struct Histogram {
    lo: f64,
    hi: f64,
    width: f64,
    counts: [u64; BINS],
    n: usize,
    mean: f64,
    std: f64,
}

impl Histogram {
    /// `None` when no value is finite.
    fn of(values: &[f32]) -> Option<Histogram> {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.clone().fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(v), b.max(v)));
        if lo > hi {
            return None;
        }
        // One distinct value: a bin of width 1 around it.
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
        Some(Histogram { lo, hi, width, counts, n, mean, std })
    }
}

/// One tensor's panel: its bars, axes and a caption with its statistics.
fn draw_histogram<DB: DrawingBackend>(panel: &DrawingArea<DB, Shift>, name: &str, h: &Histogram) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let top = *h.counts.iter().max().unwrap_or(&1) as f64 * 1.08;
    let mut chart = ChartBuilder::on(panel)
        .caption(format!("{name}: {} values, mean {:.4}, std {:.4}", h.n, h.mean, h.std), font(16.0))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(h.lo..h.hi, 0.0..top.max(1.0))?;
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
    chart.draw_series(h.counts.iter().enumerate().map(|(i, &c)| {
        let x = h.lo + i as f64 * h.width;
        Rectangle::new([(x, 0.0), (x + h.width, c as f64)], PALETTE[0].mix(0.85).filled())
    }))?;
    Ok(())
}
