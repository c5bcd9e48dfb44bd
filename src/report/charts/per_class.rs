//! Precision, recall and F1 of each class as grouped bars.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::parts::no_data;
use super::style::{GRID, PALETTE, font};
use super::{Chart, DrawResult};
use crate::eval::metrics::ClassMetrics;

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
