//! The distribution of pixel values of one or more data sets.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::parts::no_data;
use super::style::{GRID, PALETTE, font};
use super::{Chart, DrawResult};

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

/// A fraction as a percentage: whole percents from 1% up, otherwise up to four decimals.
fn percent(y: &f64) -> String {
    let p = y * 100.0;
    if p >= 1.0 { format!("{p:.0}%") } else { format!("{}%", format!("{p:.4}").trim_end_matches('0')) }
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
            .y_label_formatter(&percent)
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
