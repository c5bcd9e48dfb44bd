//! Accuracy on the clean test set and under each of MNIST-C's corruptions, as bars: one run,
//! or several side by side (`digits compare`).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::digit_grid::{DigitGrid, DigitTile};
use super::parts::no_data;
use super::style::{GRID, PALETTE, font};
use super::{Chart, DrawResult};
use crate::data::Dataset;
use crate::eval::Robustness;
use crate::eval::corruptions::{ALL, SIDE, corrupt_one};

/// Accuracy per corruption (clean first), one colour per run.
pub struct RobustnessBars<'a> {
    pub title: String,
    /// (name for the legend, result)
    pub runs: Vec<(String, &'a Robustness)>,
}

impl RobustnessBars<'_> {
    /// The corruptions' names, clean first (from the first run: every run has the same 15).
    fn names(&self) -> Vec<String> {
        let first = self.runs.first().map(|(_, r)| r.corruptions.iter().map(|c| c.corruption.clone()));
        std::iter::once("clean".to_string()).chain(first.into_iter().flatten()).collect()
    }
}

impl Chart for RobustnessBars<'_> {
    fn kind(&self) -> &'static str {
        "robustness"
    }
    fn size(&self) -> (u32, u32) {
        (1200, 600)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        if self.runs.is_empty() {
            return no_data(root, "no robustness results");
        }
        let names = self.names();
        let k = names.len() as f64;
        let (w, _) = root.dim_in_pixel();
        let area = root.margin(10, 0, 0, 0).titled(&self.title, font(22.0))?;
        let (plot, side) = area.split_horizontally(w as i32 - 230);
        // Horizontal bars, clean at the top: the names read across, however many runs.
        let mut chart = ChartBuilder::on(&plot)
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(110)
            .build_cartesian_2d(0.0..1.0f64, -0.5f64..(k - 0.5))?;
        let label = |y: &f64| {
            let i = y.round();
            let at = (k - 1.0 - i) as usize;
            if (y - i).abs() < 1e-6 && i >= 0.0 { names.get(at).cloned().unwrap_or_default() } else { String::new() }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("accuracy")
            .y_labels(names.len() + 1)
            .y_label_formatter(&label)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .label_style(font(13.0))
            .axis_desc_style(font(15.0))
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .draw()?;
        let n = self.runs.len() as f64;
        let width = 0.8 / n;
        for (j, (name, r)) in self.runs.iter().enumerate() {
            let color = PALETTE[j % PALETTE.len()];
            let values = std::iter::once(r.clean_accuracy).chain(r.corruptions.iter().map(|c| c.accuracy));
            let off = 0.4 - width * (j as f64 + 0.5);
            chart.draw_series(values.enumerate().map(|(c, v)| {
                let y = k - 1.0 - c as f64 + off;
                Rectangle::new([(0.0, y - width * 0.45), (v, y + width * 0.45)], color.filled())
            }))?;
            let y = 40 + 26 * j as i32;
            side.draw(&Rectangle::new([(10, y - 7), (24, y + 7)], color.filled()))?;
            let text = format!("{name} (mean {:.3})", r.mean_corruption_accuracy);
            side.draw(&Text::new(text, (32, y), font(13.0).pos(Pos::new(HPos::Left, VPos::Center))))?;
        }
        Ok(())
    }
}

/// The first `count` test images (of distinct classes where they can be), clean and under each
/// corruption as the robustness suite with `seed` corrupted them: one row per image.
pub fn corruption_gallery(title: String, test: &Dataset, seed: u64, count: usize) -> DigitGrid {
    let mut picked: Vec<usize> = Vec::new();
    for (i, &label) in test.labels.iter().enumerate() {
        if picked.len() < count && picked.iter().all(|&j| test.labels[j] != label) {
            picked.push(i);
        }
    }
    let mut tiles = Vec::new();
    for &i in &picked {
        let img = test.image(i);
        tiles.push(DigitTile { pixels: img.to_vec(), caption: vec!["clean".into()] });
        for c in ALL {
            tiles.push(DigitTile { pixels: corrupt_one(img, c, seed, i), caption: vec![c.name().replace('_', " ")] });
        }
    }
    DigitGrid { title, subtitle: None, image: (SIDE, SIDE), tiles, columns: ALL.len() + 1, scale: 3 }
}
