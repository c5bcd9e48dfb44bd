//! How far a model's confidence can be trusted: the reliability diagram (accuracy against
//! confidence, per bin, beside the diagonal of perfect calibration) and the accuracy–coverage
//! curve (answering only above a confidence threshold: how many images are answered, how many
//! of those right), to pick `predict --min-confidence`.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::parts::no_data;
use super::style::{GREY, GRID, PALETTE, font};
use super::{Chart, DrawResult};
use crate::eval::calibration::Bin;

/// Both panels, from the reliability bins and the (coverage, accuracy) points.
pub struct CalibrationChart {
    pub title: String,
    pub bins: Vec<Bin>,
    pub ece: f64,
    /// (fraction of images answered, accuracy on them), from all answered to the most confident.
    pub coverage: Vec<(f64, f64)>,
}

/// The accuracy–coverage curve of top probabilities `confidence` with `right` telling which
/// were right: each image in turn, most confident first.
pub fn coverage_curve(mut points: Vec<(f64, bool)>) -> Vec<(f64, f64)> {
    points.sort_by(|a, b| b.0.total_cmp(&a.0));
    let n = points.len() as f64;
    let mut right = 0.0;
    let mut out = Vec::new();
    for (i, (_, ok)) in points.iter().enumerate() {
        right += *ok as u8 as f64;
        // 200 points are plenty for the curve.
        if (i + 1) % (points.len() / 200).max(1) == 0 || i + 1 == points.len() {
            out.push(((i + 1) as f64 / n, right / (i + 1) as f64));
        }
    }
    out
}

impl Chart for CalibrationChart {
    fn kind(&self) -> &'static str {
        "calibration"
    }
    fn size(&self) -> (u32, u32) {
        (1200, 520)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        if self.coverage.is_empty() {
            return no_data(root, "no predictions");
        }
        let area = root.margin(10, 0, 0, 0).titled(&self.title, font(22.0))?;
        let (left, right) = area.split_horizontally(600);
        let mut rel = ChartBuilder::on(&left)
            .caption(format!("reliability (ECE {:.4})", self.ece), font(17.0))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..1.0f64, 0.0..1.0f64)?;
        rel.configure_mesh()
            .x_desc("confidence (top probability)")
            .y_desc("accuracy")
            .label_style(font(13.0))
            .axis_desc_style(font(14.0))
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .draw()?;
        rel.draw_series(
            self.bins.iter().filter(|b| b.count > 0).map(|b| {
                Rectangle::new([(b.lo + 0.003, 0.0), (b.hi - 0.003, b.accuracy)], PALETTE[0].mix(0.8).filled())
            }),
        )?;
        rel.draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (1.0, 1.0)], GREY.stroke_width(2))))?;
        let lo = self.coverage.iter().map(|p| p.1).fold(1.0f64, f64::min);
        let lo = ((lo - 0.005) * 100.0).floor() / 100.0;
        let mut cov = ChartBuilder::on(&right)
            .caption("accuracy against coverage", font(17.0))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..1.0f64, lo.max(0.0)..1.0f64)?;
        cov.configure_mesh()
            .x_desc("fraction of images answered (the most confident first)")
            .y_desc("accuracy on them")
            .y_label_formatter(&|y| format!("{y:.3}"))
            .label_style(font(13.0))
            .axis_desc_style(font(14.0))
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .draw()?;
        cov.draw_series(LineSeries::new(self.coverage.iter().copied(), PALETTE[1].stroke_width(2)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_curve_answers_the_most_confident_first() {
        let curve = coverage_curve(vec![(0.9, true), (0.5, false), (0.99, true), (0.6, true)]);
        assert_eq!(curve, vec![(0.25, 1.0), (0.5, 1.0), (0.75, 1.0), (1.0, 0.75)]);
    }
}
