//! The charts: each one a small struct of plain data (slices, a [`History`](crate::train::History),
//! a confusion matrix, ...) that draws itself on any `plotters` backend, rendered to PNG or SVG
//! bytes by [`render`] or written to a file by [`save`]. Each chart stands in its own module;
//! `style`, `parts` and `lines` hold what they share.
//!
//! Drawing is generic over the backend so the PNG and the SVG of a chart come from the same
//! code. Text uses the bundled DejaVu Sans through `plotters`' `ab_glyph` backend, so drawing
//! needs no fontconfig or system fonts and looks the same on every machine.

mod calibration;
mod compare;
mod confusion;
mod digit_grid;
mod feature_maps;
mod filters;
mod learning_curves;
mod lines;
mod mistakes;
mod parts;
mod per_class;
mod pixel_histogram;
mod robustness;
mod style;
mod weights;

pub use calibration::{CalibrationChart, coverage_curve};
pub use compare::CompareCurves;
pub use confusion::{ConfusionHeatmap, HeatmapCell};
pub use digit_grid::{DigitGrid, DigitTile};
pub use feature_maps::{FeatureMap, FeatureMaps};
pub use filters::ConvFilters;
pub use learning_curves::LearningCurves;
pub use lines::Line;
pub use mistakes::{Mistake, confident_mistakes, mistakes_grid};
pub use per_class::PerClassBars;
pub use pixel_histogram::{PixelHistogram, pixel_fractions};
pub use robustness::{RobustnessBars, corruption_gallery};
pub use style::PALETTE;
pub use weights::WeightHistograms;

use crate::Error;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
const SANS: &str = "sans-serif";

/// Makes the bundled font the one `plotters` finds under `sans-serif` (once per process).
pub(crate) fn register_font() {
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
